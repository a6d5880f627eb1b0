import SlipwayCore
import SlipwayStore

/// What the audit trail says about the model catalogue: `model.registered`,
/// `alias.changed`, `model.edited` and `gate.decided`, the decisive ones carrying the key and digest of the row it
/// describes (see ``RecordDigest``), so `audit verify` catches a row edited
/// afterwards. Composed here once for every store.
enum ModelEvents {
    static func registered(_ record: ModelVersionRecord) -> AuditDraft {
        AuditDraft(actor: record.createdBy, kind: .modelRegistered, subject: "model/\(record.model)/\(record.version)",
                   payload: AuditChain.payload(["run": String(record.runID), "digest": record.artifactDigest,
                                                "record": RecordDigest.key(modelVersion: record.id),
                                                "record_sha256": RecordDigest.of(record)]))
    }

    static func aliasChanged(_ event: AliasEvent) -> AuditDraft {
        var fields = ["environment": event.environment, "reason": event.reason]
        if let cause = event.cause { fields["cause"] = cause.rawValue }
        fields["version"] = event.version.map(String.init) ?? "none"
        fields["previous"] = event.previousVersion.map(String.init) ?? "none"
        fields["record"] = RecordDigest.key(alias: event.id)
        fields["record_sha256"] = RecordDigest.of(event)
        return AuditDraft(actor: event.actor, kind: .aliasChanged, subject: "model/\(event.model)", payload: AuditChain.payload(fields))
    }

    /// `model.edited`: each tag set (`tag.NAME`, `(removed)` for one removed) and the new description.
    static func edited(model: String, version: Int, tags: [String: String?], description: String?, actor: String) -> AuditDraft {
        var fields: [String: String] = [:]
        for (k, v) in tags { fields["tag." + k] = v ?? "(removed)" }
        if let description { fields["description"] = description }
        return AuditDraft(actor: actor, kind: .modelEdited, subject: "model/\(model)/\(version)", payload: AuditChain.payload(fields))
    }

    /// `gate.decided`, with the digest of the result's row.
    static func gateDecided(_ result: GateResultRecord, id: Int64, actor: String) -> AuditDraft {
        AuditDraft(actor: actor, kind: .gateDecided, subject: "run/\(result.runID)/\(result.stage)/\(result.metric)",
                   payload: AuditChain.payload(["passed": result.passed ? "true" : "false", "explanation": result.explanation,
                                                "record": RecordDigest.key(gate: id), "record_sha256": RecordDigest.of(result)]))
    }
}

/// The catalogue writes as the engine makes them, audited by ``ModelEvents``.
extension ModelStore {
    /// Registers the next version of a model, audited as `model.registered`.
    public func registerVersion(_ new: NewModelVersion) throws -> ModelVersionRecord {
        try registerVersion(new, audit: ModelEvents.registered)
    }

    /// Points `environment` at `version` (nil to clear it), audited as
    /// `alias.changed`; with `beginning`, journals the deploy call that carries
    /// it out in the same transaction.
    @discardableResult
    public func setAlias(model: String, environment: String, version: Int?, actor: String, reason: String, cause: AliasCause,
                         beginning call: ((AliasEvent) -> DeployCallRecord)?) throws -> AliasEvent {
        try setAlias(model: model, environment: environment, version: version, actor: actor, reason: reason, cause: cause,
                     beginning: call, audit: ModelEvents.aliasChanged)
    }

    /// Sets tags (nil removes one) and/or the description, audited as `model.edited`.
    public func editVersion(model: String, version: Int, tags: [String: String?], description: String?, actor: String) throws -> ModelVersionRecord {
        try editVersion(model: model, version: version, tags: tags, description: description,
                        audit: ModelEvents.edited(model: model, version: version, tags: tags, description: description, actor: actor))
    }

    /// Records gate results, each audited as `gate.decided` by `actor`.
    public func recordGateResults(_ results: [GateResultRecord], actor: String) throws {
        try recordGateResults(results, audit: { ModelEvents.gateDecided($0, id: $1, actor: actor) })
    }

    /// A change made by a promotion (the cause of most changes; a rollback or
    /// an abort names its cause).
    @discardableResult
    public func setAlias(model: String, environment: String, version: Int?, actor: String, reason: String) throws -> AliasEvent {
        try setAlias(model: model, environment: environment, version: version, actor: actor, reason: reason, cause: .promotion, beginning: nil)
    }

    /// A change with no deploy call of its own.
    @discardableResult
    public func setAlias(model: String, environment: String, version: Int?, actor: String, reason: String, cause: AliasCause) throws -> AliasEvent {
        try setAlias(model: model, environment: environment, version: version, actor: actor, reason: reason, cause: cause, beginning: nil)
    }
}

extension DeploymentStore {
    /// Makes a deployment's version live, audited as `alias.changed`, unless
    /// the deployment changed meanwhile (``RegistryConflict``).
    @discardableResult
    public func setAlias(for deployment: DeploymentRecord, version: Int, actor: String, reason: String, cause: AliasCause) throws -> AliasEvent {
        try setAlias(for: deployment, version: version, actor: actor, reason: reason, cause: cause, audit: ModelEvents.aliasChanged)
    }
}
