import Foundation
import SlipwayCore
import SlipwayPostgres

extension PostgresRegistry: ApprovalStore {
    static let requestColumns = """
        id, model, version, environment, packageDigest, reasons, evidence, requester, createdAt, expiresAt, requiredApprovals,
        status, resolvedAt, deploymentID, reason
        """
    static let voteColumns = "id, requestID, approver, keyFingerprint, decision, comment, at, payload, signature"

    public func createApprovalRequest(_ new: NewApprovalRequest, superseding: (_ pending: [ApprovalRequestRecord]) -> [Int64],
                                      requested: AuditComposer<ApprovalRequestRecord>,
                                      superseded: AuditComposer<ApprovalRequestRecord>) throws -> (request: ApprovalRequestRecord, superseded: [Int64]) {
        try audited { c, audit in
            let now = clock.now()
            for draft in new.audit { _ = try audit.append(draft, at: now) }
            // Under the audit lock (and the rows locked), so the requests the
            // rule sees pending are still pending when they are superseded.
            let pending = try c.execute("""
                SELECT \(Self.requestColumns) FROM approvalRequest WHERE status = 'pending' ORDER BY id FOR UPDATE
                """).map(ApprovalRequestRecord.init(pg:))
            let older = try Self.checkedSupersession(superseding(pending), pending: pending)
            for id in older {
                let row = try ApprovalRequestRecord(pg: try c.execute("""
                    UPDATE approvalRequest SET status = 'superseded', resolvedAt = $1 WHERE id = $2 RETURNING \(Self.requestColumns)
                    """, [now, id]).first!)
                _ = try audit.append(superseded(row), at: now)
            }
            let reasons = String(decoding: try JSONEncoder().encode(new.reasons), as: UTF8.self)
            let row = try ApprovalRequestRecord(pg: try c.execute("""
                INSERT INTO approvalRequest (model, version, environment, packageDigest, reasons, evidence, requester, createdAt,
                                             expiresAt, requiredApprovals, status, reason)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11) RETURNING \(Self.requestColumns)
                """, [new.model, new.version, new.environment, new.packageDigest, reasons, new.evidence, new.requester, now,
                      new.expiresAt, new.requiredApprovals, new.reason]).first!)
            _ = try audit.append(requested(row), at: now)
            return (row, older)
        }
    }

    public func approvalRequest(id: Int64) throws -> ApprovalRequestRecord? {
        try pool.read { c in
            try c.execute("SELECT \(Self.requestColumns) FROM approvalRequest WHERE id = $1", [id]).first.map(ApprovalRequestRecord.init(pg:))
        }
    }

    public func approvalRequests(all: Bool, limit: Int) throws -> [ApprovalRequestRecord] {
        try pool.read { c in
            try c.execute("""
                SELECT \(Self.requestColumns) FROM approvalRequest \(all ? "" : "WHERE status = 'pending'") ORDER BY id DESC LIMIT $1
                """, [max(0, limit)]).map(ApprovalRequestRecord.init(pg:))
        }
    }

    public func approvalVotes(requestID: Int64) throws -> [ApprovalVoteRecord] {
        try pool.read { c in try votes(c, requestID: requestID) }
    }

    func votes(_ c: PGConnection, requestID: Int64) throws -> [ApprovalVoteRecord] {
        try c.execute("SELECT \(Self.voteColumns) FROM approvalVote WHERE requestID = $1 ORDER BY id", [requestID]).map(ApprovalVoteRecord.init(pg:))
    }

    public func recordApprovalVote(_ vote: ApprovalVoteRecord, audit drafts: [AuditDraft],
                                   check: (ApprovalRequestRecord, [ApprovalVoteRecord]) throws -> ApprovalStatus?,
                                   voted: AuditComposer<ApprovalVoteRecord>,
                                   resolved: AuditComposer<ApprovalRequestRecord>) throws -> ApprovalVoteRecord {
        try audited { c, audit in
            // The request's row is locked, so `check` sees the votes as they are when this one lands.
            guard let request = try c.execute("SELECT \(Self.requestColumns) FROM approvalRequest WHERE id = $1 FOR UPDATE", [vote.requestID])
                .first.map(ApprovalRequestRecord.init(pg:)) else {
                throw NotFound(what: "approval request \(vote.requestID)")
            }
            let resolving = try check(request, try votes(c, requestID: vote.requestID))
            for draft in drafts { _ = try audit.append(draft, at: vote.at) }
            var v = vote
            v.id = try c.execute("""
                INSERT INTO approvalVote (requestID, approver, keyFingerprint, decision, comment, at, payload, signature)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id
                """, [v.requestID, v.approver, v.keyFingerprint, v.decision.rawValue, v.comment, v.at, v.payload, v.signature])
                .scalar(Int64.self)
            _ = try audit.append(voted(v), at: vote.at)
            if let resolving {
                let row = try ApprovalRequestRecord(pg: try c.execute("""
                    UPDATE approvalRequest SET status = $1, resolvedAt = $2 WHERE id = $3 RETURNING \(Self.requestColumns)
                    """, [resolving.rawValue, vote.at, vote.requestID]).first!)
                _ = try audit.append(resolved(row), at: vote.at)
            }
            return v
        }
    }

    public func expireApprovalRequests(now: Millis, audit compose: AuditComposer<ApprovalRequestRecord>) throws -> [Int64] {
        let due = try pool.read { c in
            try c.execute("SELECT 1 FROM approvalRequest WHERE status = 'pending' AND expiresAt <= $1 LIMIT 1", [now]).isEmpty
        }
        guard !due else { return [] }
        return try audited { c, audit in
            let expired = try c.execute("""
                UPDATE approvalRequest SET status = 'expired', resolvedAt = $1 WHERE status = 'pending' AND expiresAt <= $1
                RETURNING \(Self.requestColumns)
                """, [now]).map(ApprovalRequestRecord.init(pg:)).sorted { $0.id < $1.id }
            for row in expired {
                _ = try audit.append(compose(row), at: now)
            }
            return expired.map(\.id)
        }
    }

    /// Checks, in the transaction starting a deployment, that an approved
    /// request is as the engine verified it and not used yet; then marks it
    /// used by that deployment, audited by `compose`.
    func useApproval(_ c: PGConnection, _ audit: inout AuditAppender, _ use: ApprovalUse, deploymentID: Int64, at: Millis,
                     compose: AuditComposer<ApprovalRequestRecord>) throws {
        guard let request = try c.execute("SELECT \(Self.requestColumns) FROM approvalRequest WHERE id = $1 FOR UPDATE", [use.requestID])
            .first.map(ApprovalRequestRecord.init(pg:)) else {
            throw NotFound(what: "approval request \(use.requestID)")
        }
        if let used = request.deploymentID {
            throw RegistryConflict(reason: "approval request \(use.requestID) was already carried out" + (used > 0 ? " by deployment \(used)" : ""))
        }
        guard request.status == .approved, RecordDigest.of(request) == use.digest else {
            throw RegistryConflict(reason: "approval request \(use.requestID) changed since it was checked (now \(request.status.rawValue))")
        }
        let row = try ApprovalRequestRecord(pg: try c.execute("""
            UPDATE approvalRequest SET deploymentID = $1 WHERE id = $2 RETURNING \(Self.requestColumns)
            """, [deploymentID, use.requestID]).first!)
        _ = try audit.append(compose(row), at: at)
    }
}
