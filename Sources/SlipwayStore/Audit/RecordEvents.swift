import Foundation
import SlipwayCore

/// The audit events a store still composes itself when it writes a record:
/// stage ends, datasets, catalogue edits, gates, validations, monitor batches,
/// alerts and triggers (each payload with the record's key and digest where
/// `audit verify` compares the row with the event).
///
/// Written once, for every store: the SQLite and the PostgreSQL registries
/// both call these, so they append the same events for the same writes (a
/// contract test compares them). The events of runs, the model catalogue,
/// approvals and deployment starts are composed by the engine's services
/// (`SlipwayEngine/<Feature>/*AuditEvents.swift`) and handed to the store;
/// these follow them there.
enum RecordEvents {
    // MARK: - Stages, data and the catalogue

    /// A stage run's end, attributed to `actor` (the run's user).
    static func stageFinished(_ stageRun: StageRunRecord, actor: String) -> AuditDraft {
        var fields = ["stage": stageRun.stage, "status": stageRun.status.rawValue, "reason": stageRun.reason]
        if let key = stageRun.cacheKey { fields["cache_key"] = key }
        if let code = stageRun.exitCode { fields["exit_code"] = String(code) }
        if let m = stageRun.message { fields["message"] = m }
        return AuditDraft(actor: actor, kind: .stageFinished, subject: "run/\(stageRun.runID)/\(stageRun.stage)", payload: AuditChain.payload(fields))
    }

    static func datasetAdded(_ record: DatasetRecord) -> AuditDraft {
        AuditDraft(actor: record.addedBy, kind: .datasetAdded, subject: "dataset/\(record.path)",
                   payload: AuditChain.payload(["hash": record.hash, "size": String(record.size)]))
    }

    static func modelEdited(model: String, version: Int, tags: [String: String?], description: String?, actor: String) -> AuditDraft {
        var fields: [String: String] = [:]
        for (k, v) in tags { fields["tag." + k] = v ?? "(removed)" }
        if let description { fields["description"] = description }
        return AuditDraft(actor: actor, kind: .modelEdited, subject: "model/\(model)/\(version)", payload: AuditChain.payload(fields))
    }

    static func gateDecided(_ result: GateResultRecord, id: Int64, actor: String) -> AuditDraft {
        AuditDraft(actor: actor, kind: .gateDecided, subject: "run/\(result.runID)/\(result.stage)/\(result.metric)",
                   payload: AuditChain.payload(["passed": result.passed ? "true" : "false", "explanation": result.explanation,
                                                "record": RecordDigest.key(gate: id), "record_sha256": RecordDigest.of(result)]))
    }

    static func dataValidated(_ record: ValidationRecord, id: Int64, runID: Int64, actor: String) -> AuditDraft {
        AuditDraft(actor: actor, kind: .dataValidated, subject: "run/\(runID)/\(record.dataset)",
                   payload: AuditChain.payload(["passed": record.passed ? "true" : "false",
                                                "report_sha256": Digests.sha256Hex(Array(record.report.utf8)),
                                                "record": RecordDigest.key(validation: id), "record_sha256": RecordDigest.of(record)]))
    }

    // MARK: - Monitors and triggers

    static func batchRecorded(_ b: MonitorBatchRecord) -> AuditDraft {
        var fields = ["monitor": b.monitor, "sha256": b.contentHash, "source": b.source, "rows": String(b.rows), "status": b.status.rawValue]
        if b.status == .rejected { fields["reason"] = b.reason } else { fields["drifted"] = "\(b.driftedFeatures) of \(b.features)" }
        return AuditDraft(actor: "slipway", kind: .batchRecorded, subject: "monitor/\(b.monitor)/batch/\(b.id)", payload: AuditChain.payload(fields))
    }

    static func monitorAlert(_ alert: MonitorAlertRecord, actor: String) -> AuditDraft {
        var fields = ["monitor": alert.monitor, "batch": String(alert.batchID), "kind": alert.kind, "detail": alert.detail]
        if let suppressed = alert.suppressed { fields["suppressed"] = suppressed }
        return AuditDraft(actor: actor, kind: .monitorAlert, subject: "monitor/\(alert.monitor)/alert/\(alert.id)", payload: AuditChain.payload(fields))
    }

    /// The trigger events an unsuppressed alert fires: one per pipeline, keyed by the alert.
    static func alertTriggers(_ alert: MonitorAlertRecord, pipelines: [String]) -> [(pipeline: String, kind: String, key: String, cause: [String: String])] {
        let cause = ["monitor": alert.monitor, "alert": String(alert.id), "batch": String(alert.batchID), "kind": alert.kind, "detail": alert.detail]
        return pipelines.map { pipeline in
            (pipeline, alert.kind == "performance" ? "performance" : "drift", "\(alert.kind):\(alert.monitor):alert/\(alert.id)", cause)
        }
    }

    static func triggerFired(id: Int64, pipeline: String, key: String, cause: [String: String], actor: String) -> AuditDraft {
        var fields = cause
        fields["pipeline"] = pipeline
        fields["key"] = key
        return AuditDraft(actor: actor, kind: .triggerFired, subject: "trigger/\(id)", payload: AuditChain.payload(fields))
    }
}
