import Foundation
import SlipwayStore

/// What asking for a promotion would do, said before it is asked for: the
/// same classification ``ApprovalService/requestPromotion(_:)`` makes, with
/// nothing written. The console's promote dialog shows it for the chosen
/// environment (a high-risk request and how many approvals it needs, a
/// version rolled back from there a moment ago, a refusal).
extension ApprovalService {
    public struct PromotionPreview: Sendable, Hashable {
        public var model: String
        public var version: Int
        public var environment: String
        /// nil when the promotion would be refused.
        public var risk: Risk?
        public var reasons: [String] = []
        public var requiredApprovals = 0
        public var approvers = 0
        public var alreadyLive = false
        public var refusal: String?
        /// "clf:3 was rolled back from production 30s ago by oncall: …", when it was, lately.
        public var recentUndo: String?

        /// The lines a person reads before confirming.
        public var warnings: [String] {
            var out: [String] = []
            let label = "\(model):\(version)"
            if let refusal { out.append("Refused: \(refusal)") }
            else if alreadyLive { out.append("\(label) is already live in \(environment): nothing would change.") }
            else if risk == .high {
                out.append("HIGH RISK (\(reasons.joined(separator: "; "))): opens an approval request; it needs \(requiredApprovals) of \(approvers) approvers before it goes live.")
            } else if risk == .low {
                out.append("Low risk" + (reasons.isEmpty ? "" : " (\(reasons.joined(separator: "; ")))") + ": it goes ahead now.")
            }
            if let recentUndo { out.append("Warning: \(recentUndo).") }
            return out
        }
    }

    /// How recent an undo must be to be warned about.
    public static let recentUndoSeconds: Double = 3600

    static func ago(_ ms: Millis) -> String {
        let s = max(0, ms / 1000)
        return s < 90 ? "\(s) s ago" : s < 5400 ? "\(s / 60) min ago" : "\(s / 3600) h ago"
    }

    public func preview(model: String, version: Int, environment: String, now: Millis) -> PromotionPreview {
        var p = PromotionPreview(model: model, version: version, environment: environment)
        do {
            let candidate = try promotion.check(PromotionService.Request(model: model, version: version, environment: environment, actor: "", reason: ""))
            let live = try registry.alias(model: model, environment: environment, at: nil)
            p.alreadyLive = live == version
            let liveVersion = try live.flatMap { try registry.modelVersion(model: model, version: $0) }
            let (risk, reasons) = RiskClassifier.classify(try facts(candidate: candidate, live: liveVersion, environment: environment), policy: policy)
            p.risk = risk
            p.reasons = reasons
            p.requiredApprovals = policy.requiredApprovals(for: environment)
            p.approvers = policy.approvers.count
            if let undo = try registry.aliasHistory(model: model, environment: environment, until: nil)
                .filter({ $0.why.undoesPrevious && $0.previousVersion == version && Double(now - $0.at) / 1000 < Self.recentUndoSeconds })
                .max(by: { $0.at < $1.at }) {
                let verb = undo.why == .abort ? "aborted in" : "rolled back from"
                p.recentUndo = "\(model):\(version) was \(verb) \(environment) \(Self.ago(now - undo.at)) by \(undo.actor)"
                    + (undo.reason.isEmpty ? "" : " (\(undo.reason))")
            }
        } catch {
            p.refusal = "\(error)"
        }
        return p
    }
}
