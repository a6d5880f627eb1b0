/// The life of a run.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case running, succeeded, failed, cancelled, interrupted

    public var isFinished: Bool { self != .running }
}

public enum StageStatus: String, Codable, Sendable, CaseIterable {
    case pending, running, succeeded, failed, cached, cancelled, interrupted

    public var isFinished: Bool { ![.pending, .running].contains(self) }
    /// Finished with its outputs in place.
    public var isSuccess: Bool { self == .succeeded || self == .cached }
}
