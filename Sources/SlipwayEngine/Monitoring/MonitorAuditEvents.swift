import SlipwayCore
import SlipwayStore

/// What the audit trail says about monitors: `monitor.batch` for every
/// production batch, `monitor.alert` for the alert it raises, composed here
/// once for every store.
enum MonitorEvents {
    /// `monitor.batch`: the batch's bytes, size and verdict (the reason it
    /// was rejected, or how many features drifted).
    static func batchRecorded(_ b: MonitorBatchRecord) -> AuditDraft {
        var fields = ["monitor": b.monitor, "sha256": b.contentHash, "source": b.source, "rows": String(b.rows), "status": b.status.rawValue]
        if b.status == .rejected { fields["reason"] = b.reason } else { fields["drifted"] = "\(b.driftedFeatures) of \(b.features)" }
        return AuditDraft(actor: "slipway", kind: .batchRecorded, subject: "monitor/\(b.monitor)/batch/\(b.id)", payload: AuditChain.payload(fields))
    }

    /// `monitor.alert`, with why it starts nothing when it is suppressed.
    static func alert(_ alert: MonitorAlertRecord, actor: String) -> AuditDraft {
        var fields = ["monitor": alert.monitor, "batch": String(alert.batchID), "kind": alert.kind, "detail": alert.detail]
        if let suppressed = alert.suppressed { fields["suppressed"] = suppressed }
        return AuditDraft(actor: actor, kind: .monitorAlert, subject: "monitor/\(alert.monitor)/alert/\(alert.id)", payload: AuditChain.payload(fields))
    }
}

/// Which trigger events an alert fires: none when it is suppressed (no
/// pipeline to start, or inside the cool-down); otherwise one per pipeline,
/// of kind `performance` for a performance breach and `drift` for anything
/// else, keyed by the alert (`drift:MONITOR:alert/ID`) so the same alert never
/// starts a pipeline twice, its cause naming the monitor, alert and batch.
enum AlertTriggers {
    static func fired(by alert: MonitorAlertRecord, pipelines: [String]) -> [NewTrigger] {
        guard alert.suppressed == nil else { return [] }
        let cause = ["monitor": alert.monitor, "alert": String(alert.id), "batch": String(alert.batchID), "kind": alert.kind, "detail": alert.detail]
        return pipelines.map { pipeline in
            NewTrigger(pipeline: pipeline, kind: alert.kind == "performance" ? "performance" : "drift",
                       key: "\(alert.kind):\(alert.monitor):alert/\(alert.id)", cause: cause)
        }
    }
}

/// The monitor writes as the engine makes them.
extension MonitorStore {
    /// Records a batch, its scores and its alert in one transaction, audited
    /// by ``MonitorEvents``; the alert's trigger events are the ones
    /// ``AlertTriggers`` names for `alert.pipelines`, each audited as
    /// `trigger.fired` by the alert's actor.
    public func recordBatch(_ new: NewBatch) throws -> RecordedBatch {
        let actor = new.alert?.actor ?? "slipway"
        let pipelines = new.alert?.pipelines ?? []
        return try recordBatch(new, audit: BatchEvents(
            recorded: MonitorEvents.batchRecorded,
            alerted: { MonitorEvents.alert($0, actor: actor) },
            triggers: { AlertTriggers.fired(by: $0, pipelines: pipelines) },
            fired: { TriggerEvents.fired($0, id: $1, actor: actor) }))
    }
}
