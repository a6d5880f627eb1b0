import Foundation
import SlipwayCore

/// The audit events a store still composes itself when it writes a record:
/// monitor batches, alerts and the triggers an alert fires.
///
/// Written once, for every store: the SQLite and the PostgreSQL registries
/// both call these, so they append the same events for the same writes (a
/// contract test compares them). The events of runs and stages, datasets, validations,
/// the model catalogue, gates, approvals and deployment starts are composed by the engine's services
/// (`SlipwayEngine/<Feature>/*AuditEvents.swift`) and handed to the store;
/// these follow them there.
enum RecordEvents {
    static func imagePushed(_ push: ImagePushRecord) -> AuditDraft {
        AuditDraft(actor: push.pushedBy, kind: .imagePushed, subject: "model/\(push.model)/\(push.version)",
                   payload: AuditChain.payload(["reference": push.reference, "digest": push.digest]))
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
