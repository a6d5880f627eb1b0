import SlipwayCore
import SlipwayStore

/// What the audit trail says about approval requests and votes: the
/// `approval.*` payloads, composed here once for every store. Every event
/// about a request carries the key and digest of the request's row as it is
/// after the change (status, resolution and use change over its life).
enum ApprovalEvents {
    /// The fields of a new request's `approval.requested` event; `reasons` is
    /// the list as the row keeps it (JSON).
    static func requestedFields(_ new: NewApprovalRequest, reasons: String) -> [String: String] {
        var fields = ["model": new.model, "version": String(new.version), "environment": new.environment,
                      "reasons": reasons, "requester": new.requester, "required": String(new.requiredApprovals),
                      "evidence_sha256": Digests.sha256Hex(Array(new.evidence.utf8))]
        if let d = new.packageDigest { fields["package"] = d }
        if !new.reason.isEmpty { fields["reason"] = new.reason }
        return fields
    }

    /// An event about a request's row as it is now, with its digest.
    static func request(_ row: ApprovalRequestRecord, actor: String, kind: AuditKind, fields: [String: String]) -> AuditDraft {
        var f = fields
        f["record"] = RecordDigest.key(request: row.id)
        f["record_sha256"] = RecordDigest.of(row)
        return AuditDraft(actor: actor, kind: kind, subject: "approval/\(row.id)", payload: AuditChain.payload(f))
    }

    static func requested(_ row: ApprovalRequestRecord, _ new: NewApprovalRequest, actor: String) -> AuditDraft {
        request(row, actor: actor, kind: .approvalRequested, fields: requestedFields(new, reasons: row.reasons))
    }

    /// `approval.resolved` for a request a newer one replaced.
    static func superseded(_ row: ApprovalRequestRecord, by new: NewApprovalRequest, actor: String) -> AuditDraft {
        request(row, actor: actor, kind: .approvalResolved, fields: ["status": "superseded", "by": "\(new.model):\(new.version)"])
    }

    /// `approval.resolved` with the status the request now has (a vote's outcome, or expiry).
    static func resolved(_ row: ApprovalRequestRecord, actor: String) -> AuditDraft {
        request(row, actor: actor, kind: .approvalResolved, fields: ["status": row.status.rawValue])
    }

    /// `approval.used`: the deployment that carries out the request.
    static func used(_ row: ApprovalRequestRecord, actor: String) -> AuditDraft {
        request(row, actor: actor, kind: .approvalUsed, fields: ["deployment": row.deploymentID.map(String.init) ?? ""])
    }

    /// `approval.voted`, carrying the signed payload and the signature.
    static func voted(_ vote: ApprovalVoteRecord) -> AuditDraft {
        AuditDraft(actor: vote.approver, kind: .approvalVoted, subject: "approval/\(vote.requestID)",
                   payload: AuditChain.payload(["decision": vote.decision.rawValue, "comment": vote.comment,
                                                "key": vote.keyFingerprint, "signed_payload": vote.payload,
                                                "signature": vote.signature, "record": RecordDigest.key(vote: vote.id),
                                                "record_sha256": RecordDigest.of(vote)]))
    }
}

/// Which pending requests a new request replaces: at most one request per
/// model and environment waits for votes, so asking again (a new version, or
/// the same one with new evidence) supersedes the older ones there. Requests
/// for other models or environments are left alone.
enum ApprovalSupersession {
    static func superseded(by new: NewApprovalRequest, among pending: [ApprovalRequestRecord]) -> [Int64] {
        pending.filter { $0.status == .pending && $0.model == new.model && $0.environment == new.environment }
            .map(\.id).sorted()
    }
}

/// The approval writes as the engine makes them: the supersession rule and
/// the `approval.*` events above, handed to the store.
extension ApprovalStore {
    /// Creates a pending request (audited as `approval.requested`, after
    /// `new.audit`) and supersedes the older pending ones for the same model
    /// and environment (each audited as `approval.resolved`), in one
    /// transaction; returns the request and the ids it superseded.
    public func createApprovalRequest(_ new: NewApprovalRequest, actor: String) throws -> (request: ApprovalRequestRecord, superseded: [Int64]) {
        try createApprovalRequest(new, superseding: { ApprovalSupersession.superseded(by: new, among: $0) },
                                  requested: { ApprovalEvents.requested($0, new, actor: actor) },
                                  superseded: { ApprovalEvents.superseded($0, by: new, actor: actor) })
    }

    /// Records a signed vote (`approval.voted`), and the request's resolution
    /// when `check` returns one (`approval.resolved`, by the voter).
    public func recordApprovalVote(_ vote: ApprovalVoteRecord, audit: [AuditDraft],
                                   check: (ApprovalRequestRecord, [ApprovalVoteRecord]) throws -> ApprovalStatus?) throws -> ApprovalVoteRecord {
        try recordApprovalVote(vote, audit: audit, check: check, voted: ApprovalEvents.voted,
                               resolved: { ApprovalEvents.resolved($0, actor: vote.approver) })
    }

    /// Marks pending requests past their expiry `expired`, each audited as
    /// `approval.resolved` by slipway; returns their ids.
    public func expireApprovalRequests(now: Millis) throws -> [Int64] {
        try expireApprovalRequests(now: now, audit: { ApprovalEvents.resolved($0, actor: "slipway") })
    }
}
