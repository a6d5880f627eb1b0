import SlipwayCore
import SlipwayStore

/// What the audit trail says about the model catalogue: `model.registered`
/// and `alias.changed`, each carrying the key and digest of the row it
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
