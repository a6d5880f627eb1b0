import Foundation
import GRDB
import SlipwayCore

extension SQLiteRegistry: ApprovalStore {
    public func createApprovalRequest(_ new: NewApprovalRequest, superseding: (_ pending: [ApprovalRequestRecord]) -> [Int64],
                                      requested: AuditComposer<ApprovalRequestRecord>,
                                      superseded: AuditComposer<ApprovalRequestRecord>) throws -> (request: ApprovalRequestRecord, superseded: [Int64]) {
        try pool.write { db in
            let now = clock.now()
            for draft in new.audit { _ = try appendAudit(db, draft, at: now) }
            let pending = try ApprovalRequestRecord.fetchAll(db, sql: "SELECT * FROM approvalRequest WHERE status = 'pending' ORDER BY id")
            let older = try Self.checkedSupersession(superseding(pending), pending: pending)
            for id in older {
                try db.execute(sql: "UPDATE approvalRequest SET status = 'superseded', resolvedAt = ? WHERE id = ?", arguments: [now, id])
                try appendRequestEvent(db, id: id, at: now, audit: superseded)
            }
            let reasons = String(decoding: try JSONEncoder().encode(new.reasons), as: UTF8.self)
            try db.execute(sql: """
                INSERT INTO approvalRequest (model, version, environment, packageDigest, reasons, evidence, requester, createdAt,
                                             expiresAt, requiredApprovals, status, reason)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)
                """, arguments: [new.model, new.version, new.environment, new.packageDigest, reasons,
                                 new.evidence, new.requester, now, new.expiresAt, new.requiredApprovals, new.reason])
            let id = db.lastInsertedRowID
            let record = try appendRequestEvent(db, id: id, at: now, audit: requested)
            return (record, older)
        }
    }

    /// Appends the event `audit` composes about a request's row as it is now.
    @discardableResult
    func appendRequestEvent(_ db: Database, id: Int64, at: Millis, audit: AuditComposer<ApprovalRequestRecord>) throws -> ApprovalRequestRecord {
        guard let row = try ApprovalRequestRecord.fetchOne(db, key: id) else { throw NotFound(what: "approval request \(id)") }
        _ = try appendAudit(db, audit(row), at: at)
        return row
    }

    public func approvalRequest(id: Int64) throws -> ApprovalRequestRecord? {
        try pool.read { try ApprovalRequestRecord.fetchOne($0, key: id) }
    }

    public func approvalRequests(all: Bool, limit: Int) throws -> [ApprovalRequestRecord] {
        try pool.read { db in
            try ApprovalRequestRecord.fetchAll(db, sql: "SELECT * FROM approvalRequest \(all ? "" : "WHERE status = 'pending'") ORDER BY id DESC LIMIT ?",
                                               arguments: [limit])
        }
    }

    public func approvalVotes(requestID: Int64) throws -> [ApprovalVoteRecord] {
        try pool.read { try ApprovalVoteRecord.fetchAll($0, sql: "SELECT * FROM approvalVote WHERE requestID = ? ORDER BY id", arguments: [requestID]) }
    }

    public func recordApprovalVote(_ vote: ApprovalVoteRecord, audit: [AuditDraft],
                                   check: (ApprovalRequestRecord, [ApprovalVoteRecord]) throws -> ApprovalStatus?,
                                   voted: AuditComposer<ApprovalVoteRecord>,
                                   resolved: AuditComposer<ApprovalRequestRecord>) throws -> ApprovalVoteRecord {
        try pool.write { db in
            guard let request = try ApprovalRequestRecord.fetchOne(db, key: vote.requestID) else {
                throw NotFound(what: "approval request \(vote.requestID)")
            }
            let votes = try ApprovalVoteRecord.fetchAll(db, sql: "SELECT * FROM approvalVote WHERE requestID = ? ORDER BY id", arguments: [vote.requestID])
            let resolving = try check(request, votes)
            for draft in audit { _ = try appendAudit(db, draft, at: vote.at) }
            var v = vote
            try db.execute(sql: """
                INSERT INTO approvalVote (requestID, approver, keyFingerprint, decision, comment, at, payload, signature)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [v.requestID, v.approver, v.keyFingerprint, v.decision.rawValue, v.comment, v.at, v.payload, v.signature])
            v.id = db.lastInsertedRowID
            _ = try appendAudit(db, voted(v), at: vote.at)
            if let resolving {
                try db.execute(sql: "UPDATE approvalRequest SET status = ?, resolvedAt = ? WHERE id = ?",
                               arguments: [resolving.rawValue, vote.at, vote.requestID])
                try appendRequestEvent(db, id: vote.requestID, at: vote.at, audit: resolved)
            }
            return v
        }
    }

    public func expireApprovalRequests(now: Millis, audit: AuditComposer<ApprovalRequestRecord>) throws -> [Int64] {
        let due = try pool.read { try Int64.fetchAll($0, sql: "SELECT id FROM approvalRequest WHERE status = 'pending' AND expiresAt <= ?", arguments: [now]) }
        guard !due.isEmpty else { return [] }
        return try pool.write { db in
            var expired: [Int64] = []
            for id in due {
                try db.execute(sql: "UPDATE approvalRequest SET status = 'expired', resolvedAt = ? WHERE id = ? AND status = 'pending'", arguments: [now, id])
                guard db.changesCount > 0 else { continue }
                try appendRequestEvent(db, id: id, at: now, audit: audit)
                expired.append(id)
            }
            return expired
        }
    }

    /// Checks, in the transaction starting a deployment, that an approved
    /// request is as the engine verified it and not used yet; then marks it
    /// used by that deployment, audited by `audit`.
    func useApproval(_ db: Database, _ use: ApprovalUse, deploymentID: Int64, at: Millis, audit: AuditComposer<ApprovalRequestRecord>) throws {
        guard let request = try ApprovalRequestRecord.fetchOne(db, key: use.requestID) else {
            throw NotFound(what: "approval request \(use.requestID)")
        }
        if let used = request.deploymentID {
            throw RegistryConflict(reason: "approval request \(use.requestID) was already carried out" + (used > 0 ? " by deployment \(used)" : ""))
        }
        guard request.status == .approved, RecordDigest.of(request) == use.digest else {
            throw RegistryConflict(reason: "approval request \(use.requestID) changed since it was checked (now \(request.status.rawValue))")
        }
        try db.execute(sql: "UPDATE approvalRequest SET deploymentID = ? WHERE id = ?", arguments: [deploymentID, use.requestID])
        try appendRequestEvent(db, id: use.requestID, at: at, audit: audit)
    }
}

extension ApprovalStore {
    /// The ids a caller's supersession rule named, oldest first, refused
    /// unless each is one of the pending requests it was shown.
    static func checkedSupersession(_ ids: [Int64], pending: [ApprovalRequestRecord]) throws -> [Int64] {
        let open = Set(pending.map(\.id))
        if let stray = ids.first(where: { !open.contains($0) }) {
            throw RegistryConflict(reason: "approval request \(stray) is not pending: it cannot be superseded")
        }
        return Array(Set(ids)).sorted()
    }
}
