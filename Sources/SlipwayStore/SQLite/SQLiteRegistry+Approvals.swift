import Foundation
import GRDB
import SlipwayCore

extension SQLiteRegistry: ApprovalStore {
    public func createApprovalRequest(_ new: NewApprovalRequest, actor: String) throws -> (request: ApprovalRequestRecord, superseded: [Int64]) {
        try pool.write { db in
            let now = Clock.nowMillis()
            let older = try Int64.fetchAll(db, sql: """
                SELECT id FROM approvalRequest WHERE model = ? AND environment = ? AND status = 'pending'
                """, arguments: [new.model, new.environment])
            for id in older {
                try db.execute(sql: "UPDATE approvalRequest SET status = 'superseded', resolvedAt = ? WHERE id = ?", arguments: [now, id])
                _ = try appendAudit(db, AuditDraft(actor: actor, kind: .approvalResolved, subject: "approval/\(id)",
                                                   payload: AuditChain.payload(["status": "superseded",
                                                                                "by": "\(new.model):\(new.version)"])), at: now)
            }
            let reasons = String(decoding: try JSONEncoder().encode(new.reasons), as: UTF8.self)
            var record = ApprovalRequestRecord(id: 0, model: new.model, version: new.version, environment: new.environment,
                                               packageDigest: new.packageDigest, reasons: reasons, evidence: new.evidence,
                                               requester: new.requester, createdAt: now, expiresAt: new.expiresAt,
                                               requiredApprovals: new.requiredApprovals, status: .pending, resolvedAt: nil)
            try db.execute(sql: """
                INSERT INTO approvalRequest (model, version, environment, packageDigest, reasons, evidence, requester, createdAt,
                                             expiresAt, requiredApprovals, status)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')
                """, arguments: [record.model, record.version, record.environment, record.packageDigest, record.reasons,
                                 record.evidence, record.requester, now, record.expiresAt, record.requiredApprovals])
            record.id = db.lastInsertedRowID
            var fields = ["model": new.model, "version": String(new.version), "environment": new.environment,
                          "reasons": reasons, "requester": new.requester, "required": String(new.requiredApprovals),
                          "evidence_sha256": Digests.sha256Hex(Array(new.evidence.utf8))]
            if let d = new.packageDigest { fields["package"] = d }
            _ = try appendAudit(db, AuditDraft(actor: actor, kind: .approvalRequested, subject: "approval/\(record.id)",
                                               payload: AuditChain.payload(fields)), at: now)
            return (record, older)
        }
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

    public func recordApprovalVote(_ vote: ApprovalVoteRecord, resolving: ApprovalStatus?) throws -> ApprovalVoteRecord {
        try pool.write { db in
            guard let request = try ApprovalRequestRecord.fetchOne(db, key: vote.requestID) else {
                throw NotFound(what: "approval request \(vote.requestID)")
            }
            guard request.status == .pending else {
                throw RegistryConflict(reason: "approval request \(vote.requestID) is \(request.status.rawValue)")
            }
            var v = vote
            try db.execute(sql: """
                INSERT INTO approvalVote (requestID, approver, keyFingerprint, decision, comment, at, payload, signature)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [v.requestID, v.approver, v.keyFingerprint, v.decision.rawValue, v.comment, v.at, v.payload, v.signature])
            v.id = db.lastInsertedRowID
            _ = try appendAudit(db, AuditDraft(actor: vote.approver, kind: .approvalVoted, subject: "approval/\(vote.requestID)",
                                               payload: AuditChain.payload(["decision": vote.decision.rawValue, "comment": vote.comment,
                                                                            "key": vote.keyFingerprint, "signed_payload": vote.payload,
                                                                            "signature": vote.signature,
                                                                            "record": RecordDigest.key(vote: v.id),
                                                                            "record_sha256": RecordDigest.of(v)])), at: vote.at)
            if let resolving {
                try db.execute(sql: "UPDATE approvalRequest SET status = ?, resolvedAt = ? WHERE id = ?",
                               arguments: [resolving.rawValue, vote.at, vote.requestID])
                _ = try appendAudit(db, AuditDraft(actor: vote.approver, kind: .approvalResolved, subject: "approval/\(vote.requestID)",
                                                   payload: AuditChain.payload(["status": resolving.rawValue])), at: vote.at)
            }
            return v
        }
    }

    public func expireApprovalRequests(now: Millis) throws -> [Int64] {
        let due = try pool.read { try Int64.fetchAll($0, sql: "SELECT id FROM approvalRequest WHERE status = 'pending' AND expiresAt <= ?", arguments: [now]) }
        guard !due.isEmpty else { return [] }
        return try pool.write { db in
            var expired: [Int64] = []
            for id in due {
                try db.execute(sql: "UPDATE approvalRequest SET status = 'expired', resolvedAt = ? WHERE id = ? AND status = 'pending'", arguments: [now, id])
                guard db.changesCount > 0 else { continue }
                _ = try appendAudit(db, AuditDraft(actor: "slipway", kind: .approvalResolved, subject: "approval/\(id)",
                                                   payload: AuditChain.payload(["status": "expired"])), at: now)
                expired.append(id)
            }
            return expired
        }
    }
}
