
/// Digests of the registry records that decisions stand on. An audit event
/// about such a record carries `record` (its key, e.g. `gate/12`) and
/// `record_sha256` in its payload, so editing the record afterwards (a gate
/// result flipped to passed, an alias pointed elsewhere) is caught by
/// `slipway audit verify` even though the event itself is untouched.
///
/// The encoding is shared by every store implementation: each field is
/// length-prefixed text; numbers are exact (doubles by their bit pattern).
public enum RecordDigest {
    public static func key(gate id: Int64) -> String { "gate/\(id)" }
    public static func key(alias id: Int64) -> String { "alias/\(id)" }
    public static func key(modelVersion id: Int64) -> String { "model-version/\(id)" }
    public static func key(validation id: Int64) -> String { "validation/\(id)" }

    static func digest(_ tag: String, _ fields: [String?]) -> String {
        var bytes: [UInt8] = Array("slipway-record/1 \(tag)\n".utf8)
        for field in fields {
            guard let field else { bytes.append(contentsOf: Array("-\n".utf8)); continue }
            bytes.append(contentsOf: Array("\(field.utf8.count):".utf8))
            bytes.append(contentsOf: Array(field.utf8))
            bytes.append(10)
        }
        return Digests.sha256Hex(bytes)
    }

    /// Exact text of a double; NaN as absent (what SQL stores for it).
    static func exact(_ v: Double?) -> String? { v.flatMap { $0.isNaN ? nil : String($0.bitPattern, radix: 16) } }

    public static func of(_ r: GateResultRecord) -> String {
        digest("gate", [String(r.runID), String(r.stageRunID), r.stage, r.metric, r.condition, exact(r.candidate),
                        exact(r.production), exact(r.threshold), r.baselineModel, r.baselineVersion.map(String.init),
                        r.passed ? "1" : "0", r.explanation])
    }

    public static func of(_ a: AliasEvent) -> String {
        // The cause is covered once recorded (changes from before causes have none).
        digest("alias", [String(a.id), a.model, a.environment, a.version.map(String.init), a.previousVersion.map(String.init),
                         String(a.at), a.actor, a.reason] + (a.cause.map { [$0.rawValue] } ?? []))
    }

    /// Covers the immutable fields; tags and description are edited by
    /// audited `model.edited` events.
    public static func of(_ v: ModelVersionRecord) -> String {
        var fields: [String?] = [String(v.id), v.model, String(v.version), String(v.runID), v.pipeline, v.gitCommit,
                                 v.artifactDigest, String(v.createdAt), v.createdBy]
        // Added with packaging; absent from versions registered before it, whose digests stay as they were.
        if let image = v.imageDigest { fields.append(image) }
        return digest("model-version", fields)
    }

    public static func key(vote id: Int64) -> String { "vote/\(id)" }

    public static func of(_ v: ApprovalVoteRecord) -> String {
        digest("vote", [String(v.id), String(v.requestID), v.approver, v.keyFingerprint, v.decision.rawValue, v.comment,
                        String(v.at), v.payload, v.signature])
    }

    /// An approval request; its status, resolution and use change over its
    /// life, and each change is an event carrying the new digest.
    public static func key(request id: Int64) -> String { "approval/\(id)" }

    public static func of(_ r: ApprovalRequestRecord) -> String {
        digest("approval-request", [String(r.id), r.model, String(r.version), r.environment, r.packageDigest, r.reasons,
                                    Digests.sha256Hex(Array(r.evidence.utf8)), r.requester, String(r.createdAt), String(r.expiresAt),
                                    String(r.requiredApprovals), r.status.rawValue, r.resolvedAt.map(String.init),
                                    r.deploymentID.map(String.init)] + (r.reason.map { [$0] } ?? []))
    }

    public static func of(_ v: ValidationRecord) -> String {
        digest("validation", [v.runID.map(String.init), v.stageRunID.map(String.init), v.dataset, v.passed ? "1" : "0",
                              v.report, String(v.createdAt)])
    }
}

/// The newest audit event as recorded in a second place, outside the
/// event table, so deleting the newest events is caught.
public struct AuditHeadWitness: Sendable, Hashable, Codable {
    public var seq: Int64
    public var hash: String

    public init(seq: Int64, hash: String) {
        self.seq = seq
        self.hash = hash
    }
}
