import Foundation

public enum ApprovalStatus: String, Codable, Sendable, CaseIterable {
    case pending, approved, rejected, expired, superseded
}

public struct NewApprovalRequest: Sendable {
    public var model: String
    public var version: Int
    public var environment: String
    public var packageDigest: String?
    public var reasons: [String]
    /// The evidence snapshot, as JSON.
    public var evidence: String
    public var requester: String
    public var expiresAt: Millis
    public var requiredApprovals: Int
    /// Why the requester asks (`promote --reason`), in their words; empty when none was given.
    public var reason: String = ""
    /// Events recorded in the same transaction, before the request's own
    /// (the risk classification that led to it, a change of approvers).
    public var audit: [AuditDraft] = []

    public init(model: String, version: Int, environment: String, packageDigest: String?, reasons: [String], evidence: String,
                requester: String, expiresAt: Millis, requiredApprovals: Int) {
        self.model = model
        self.version = version
        self.environment = environment
        self.packageDigest = packageDigest
        self.reasons = reasons
        self.evidence = evidence
        self.requester = requester
        self.expiresAt = expiresAt
        self.requiredApprovals = requiredApprovals
    }
}

public struct ApprovalRequestRecord: Codable, Sendable, Hashable {
    public var id: Int64
    public var model: String
    public var version: Int
    public var environment: String
    public var packageDigest: String?
    /// The risk reasons, as a JSON array.
    public var reasons: String
    public var evidence: String
    public var requester: String
    public var createdAt: Millis
    public var expiresAt: Millis
    public var requiredApprovals: Int
    public var status: ApprovalStatus
    public var resolvedAt: Millis?
    /// The deployment that carried out this (approved) request: a request is used once.
    public var deploymentID: Int64?
    /// Why the requester asked (`promote --reason`); nil on requests made before it was kept.
    public var reason: String? = nil

    public var reasonList: [String] { (try? JSONDecoder().decode([String].self, from: Data(reasons.utf8))) ?? [] }

    public init(id: Int64, model: String, version: Int, environment: String, packageDigest: String? = nil, reasons: String, evidence: String, requester: String, createdAt: Millis, expiresAt: Millis, requiredApprovals: Int, status: ApprovalStatus, resolvedAt: Millis? = nil, deploymentID: Int64? = nil, reason: String? = nil) {
        self.id = id
        self.model = model
        self.version = version
        self.environment = environment
        self.packageDigest = packageDigest
        self.reasons = reasons
        self.evidence = evidence
        self.requester = requester
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.requiredApprovals = requiredApprovals
        self.status = status
        self.resolvedAt = resolvedAt
        self.deploymentID = deploymentID
        self.reason = reason
    }
}

/// An approved request a deployment carries out, as the engine verified it:
/// the store starts the deployment only if the request's row still has this
/// digest (see ``RecordDigest``) and no deployment used it yet, and
/// marks it used in the same transaction.
public struct ApprovalUse: Sendable, Hashable {
    public var requestID: Int64
    public var digest: String

    public init(requestID: Int64, digest: String) {
        self.requestID = requestID
        self.digest = digest
    }
}

public struct ApprovalVoteRecord: Codable, Sendable, Hashable {
    public enum Decision: String, Codable, Sendable { case approve, reject }
    public var id: Int64
    public var requestID: Int64
    public var approver: String
    public var keyFingerprint: String
    public var decision: Decision
    public var comment: String
    public var at: Millis
    /// The exact text that was signed.
    public var payload: String
    /// The armored SSHSIG signature over `payload` (namespace `slipway-approval`).
    public var signature: String

    public init(id: Int64 = 0, requestID: Int64, approver: String, keyFingerprint: String, decision: Decision, comment: String,
                at: Millis, payload: String, signature: String) {
        self.id = id
        self.requestID = requestID
        self.approver = approver
        self.keyFingerprint = keyFingerprint
        self.decision = decision
        self.comment = comment
        self.at = at
        self.payload = payload
        self.signature = signature
    }
}
