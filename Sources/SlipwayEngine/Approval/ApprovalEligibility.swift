import Foundation

/// Who may vote on a request, decided once here: the vote checks it when it
/// is signed, and the faces ask before anyone signs (the console's sign-off
/// dialog says up front that, and why, a vote would be refused).
extension ApprovalService {
    /// One way a person took part in what a request promotes.
    public struct Involvement: Sendable, Hashable {
        /// The user name, e-mail or name it was recorded under.
        public var identity: String
        /// What they did, in words: "requested it (request 3)", "ran it (run 12)", "authored its commit 5e0a1f2".
        public var role: String
    }

    /// Who asked for the promotion, who ran the version's run, who authored its commit.
    public func involvement(_ request: ApprovalRequestRecord, version: ModelVersionRecord) throws -> [Involvement] {
        var out = [Involvement(identity: request.requester, role: "requested it (request \(request.id))")]
        if let run = try registry.run(id: version.runID) { out.append(Involvement(identity: run.user, role: "ran it (run \(run.id))")) }
        if let commit = version.gitCommit, let author = GitState.run(["log", "-1", "--format=%ae%n%an", commit], in: workspace.root) {
            for line in author.split(separator: "\n") where !line.isEmpty {
                out.append(Involvement(identity: String(line), role: "authored its commit \(commit.prefix(7))"))
            }
        }
        return out
    }

    /// The first way `approver` took part, if any: no one signs off their own change.
    public static func selfApproval(_ approver: PolicySpec.Approver, _ involved: [Involvement]) -> Involvement? {
        let identities = Set(approver.users + [approver.name])
        return involved.first { identities.contains($0.identity) }
    }

    /// Why the holder of the key `raw` cannot vote on `request` now, or nil
    /// when they can: not an approver, already voted, or took part in the
    /// change (say which part). The same rules ``vote(requestID:decision:keyPath:comment:voter:)``
    /// applies when the vote is signed.
    public func whyCannotVote(_ request: ApprovalRequestRecord, key raw: [UInt8], votes: [ApprovalVoteRecord], now: Millis) throws -> String? {
        guard request.status == .pending, request.expiresAt > now else { return "request \(request.id) is \(request.status == .pending ? "expired" : request.status.rawValue): nothing to vote on" }
        guard let approver = policy.approver(withKey: raw) else { return "your key belongs to no approver in policy.approvers: a vote would be refused" }
        if let earlier = votes.first(where: { $0.approver == approver.name }) {
            return "\(approver.name) already voted on request \(request.id) (\(earlier.decision == .approve ? "approved" : "rejected")): one vote each"
        }
        guard let version = try registry.modelVersion(model: request.model, version: request.version) else { return nil }
        if let hit = Self.selfApproval(approver, try involvement(request, version: version)) {
            return "\(approver.name) cannot approve \(version.label): they \(hit.role), as \(hit.identity)"
        }
        return nil
    }
}
