/// Why an environment's live version changed: recorded with every alias
/// change, so decisions (which version a rollback goes back to) read a
/// type, never the change's message.
public enum AliasCause: String, Sendable, Hashable, Codable, CaseIterable {
    /// `slipway promote` or the console's promote, carried out without a canary.
    case promotion
    /// An approved request carried out without a canary.
    case approval
    /// An automatic follow-on promotion (`auto: true`, its `requires` healthy), without a canary.
    case auto
    /// A deployment's canary reached its last step (100 %).
    case canary
    /// A person's rollback (`slipway rollback`, the console's `r`), or the
    /// agent's rollback of a watch that breached.
    case rollback
    /// A canary that failed its analysis or was aborted: its stable version put back.
    case abort

    /// The live version was taken away from the one before: that version is
    /// no candidate for a later rollback.
    public var undoesPrevious: Bool { self == .rollback || self == .abort }
}
