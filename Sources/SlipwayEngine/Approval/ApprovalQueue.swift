import Foundation
import SlipwayCore
import SlipwayStore

/// The approvals queue, defined once for every face: `slipway approvals`,
/// `slipway status`, the console's Approvals tab and its header count.
///
/// A request is *pending* while its status is `pending` and it has not
/// expired. Requests past their expiry are marked `expired` (audited as
/// `approval.resolved`) whenever the queue is read, so every face sees the
/// same list at the same moment.
public struct ApprovalQueue: Sendable {
    public let registry: any Registry

    /// How many pending requests any face shows at most.
    public static let pendingLimit = 500

    public init(registry: any Registry) {
        self.registry = registry
    }

    /// Marks the requests whose time ran out as expired (audited); returns their ids.
    @discardableResult
    public func expireDue(now: Millis) throws -> [Int64] {
        try registry.expireApprovalRequests(now: now)
    }

    /// Pending requests, newest first, after expiring the due ones.
    public func pending(now: Millis, limit: Int = pendingLimit) throws -> [ApprovalRequestRecord] {
        try expireDue(now: now)
        return try registry.approvalRequests(all: false, limit: limit).filter { $0.status == .pending && $0.expiresAt > now }
    }

    /// Every request, pending or resolved, newest first, after expiring the due ones.
    public func history(now: Millis, limit: Int = pendingLimit) throws -> [ApprovalRequestRecord] {
        try expireDue(now: now)
        return try registry.approvalRequests(all: true, limit: limit)
    }

    /// What the Approvals tab and `slipway approvals --all` list: the pending
    /// requests first, then the newest resolved ones, each with its votes.
    public struct Listing: Sendable {
        public var pending: [ApprovalRequestRecord]
        public var resolved: [ApprovalRequestRecord]
        public var votes: [Int64: [ApprovalVoteRecord]]
        public var all: [ApprovalRequestRecord] { pending + resolved }
    }

    /// Where the version a request promotes came from: its run, what started
    /// that run (a trigger event's cause, or the person who ran it), its commit.
    public struct Origin: Sendable, Hashable {
        public var runID: Int64
        public var trigger: String
        public var user: String
        public var commit: String?
        public var dirty: Bool
        /// The trigger events' causes, in words (``RunCause/lines``).
        public var causes: [String]

        /// "run 12, started by ana" or "run 12, started by drift alert 3 of monitor churn …".
        public var summary: String {
            let by = causes.first ?? (trigger == "manual" ? "by hand by \(user)" : "\(trigger), by \(user)")
            return "run \(runID), started \(causes.isEmpty ? by : "by " + by)"
        }
    }

    public func origin(of request: ApprovalRequestRecord) throws -> Origin? {
        guard let version = try registry.modelVersion(model: request.model, version: request.version),
              let run = try registry.run(id: version.runID) else { return nil }
        let causes = (try? RunCause.of(run: run.id, registry: registry).flatMap(\.lines)) ?? []
        return Origin(runID: run.id, trigger: run.trigger, user: run.user, commit: version.gitCommit ?? run.gitCommit,
                      dirty: run.gitDirty ?? false, causes: causes)
    }

    public func listing(now: Millis, resolvedLimit: Int = 50) throws -> Listing {
        let pending = try self.pending(now: now)
        let resolved = resolvedLimit > 0
            ? try registry.approvalRequests(all: true, limit: resolvedLimit + pending.count).filter { $0.status != .pending }.prefix(resolvedLimit)
            : []
        var votes: [Int64: [ApprovalVoteRecord]] = [:]
        for r in pending + resolved { votes[r.id] = try registry.approvalVotes(requestID: r.id) }
        return Listing(pending: pending, resolved: Array(resolved), votes: votes)
    }
}
