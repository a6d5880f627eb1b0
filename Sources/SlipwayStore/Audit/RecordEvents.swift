import Foundation
import SlipwayCore

/// The audit events a store appends when it writes a record: what each
/// event says about the record (its payload fields, with the record's key
/// and digest where `audit verify` compares the row with the event).
///
/// Written once, for every store: the SQLite and the PostgreSQL registries
/// both call these, so they append the same events for the same writes (a
/// contract test compares them). These compositions are decisions about what
/// the audit trail says; they are kept here, together, until the engine's
/// services compose them and hand the drafts to the store.
enum RecordEvents {
    // MARK: - Runs and data

    static func runStarted(_ run: RunRecord, overrides: [String: String] = [:]) -> AuditDraft {
        var fields = ["pipeline": run.pipeline, "trigger": run.trigger, "host": run.host]
        if !overrides.isEmpty {
            fields["overrides"] = overrides.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        if let c = run.gitCommit { fields["commit"] = c + (run.gitDirty == true ? "-dirty" : "") }
        return AuditDraft(actor: run.user, kind: .runStarted, subject: "run/\(run.id)", payload: AuditChain.payload(fields))
    }

    static func runFinished(_ run: RunRecord, status: RunStatus, message: String?) -> AuditDraft {
        var fields = ["status": status.rawValue]
        if let message { fields["message"] = message }
        return AuditDraft(actor: run.user, kind: .runFinished, subject: "run/\(run.id)", payload: AuditChain.payload(fields))
    }

    static func runInterrupted(runID: Int64, reason: String) -> AuditDraft {
        AuditDraft(actor: "slipway", kind: .runInterrupted, subject: "run/\(runID)", payload: AuditChain.payload(["reason": reason]))
    }

    static func runTakenOver(runID: Int64, from previous: RunOwner, to owner: RunOwner, reason: String) -> AuditDraft {
        AuditDraft(actor: "slipway", kind: .runTakenOver, subject: "run/\(runID)",
                   payload: AuditChain.payload(["from": "pid \(previous.pid) on \(previous.host)",
                                                "to": "pid \(owner.pid) on \(owner.host)", "reason": reason]))
    }

    static func runCancelRequested(_ run: RunRecord, actor: String) -> AuditDraft {
        AuditDraft(actor: actor, kind: .runCancelRequested, subject: "run/\(run.id)",
                   payload: AuditChain.payload(["owner": "pid \(run.pid) on \(run.host)"]))
    }

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

    static func modelRegistered(_ record: ModelVersionRecord) -> AuditDraft {
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

    static func modelEdited(model: String, version: Int, tags: [String: String?], description: String?, actor: String) -> AuditDraft {
        var fields: [String: String] = [:]
        for (k, v) in tags { fields["tag." + k] = v ?? "(removed)" }
        if let description { fields["description"] = description }
        return AuditDraft(actor: actor, kind: .modelEdited, subject: "model/\(model)/\(version)", payload: AuditChain.payload(fields))
    }

    static func imagePushed(_ push: ImagePushRecord) -> AuditDraft {
        AuditDraft(actor: push.pushedBy, kind: .imagePushed, subject: "model/\(push.model)/\(push.version)",
                   payload: AuditChain.payload(["reference": push.reference, "digest": push.digest]))
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

    // MARK: - Approvals

    /// The fields of a new request's `approval.requested` event (the row's key and digest are added by ``request(_:actor:kind:fields:)``).
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

    static func voted(_ vote: ApprovalVoteRecord) -> AuditDraft {
        AuditDraft(actor: vote.approver, kind: .approvalVoted, subject: "approval/\(vote.requestID)",
                   payload: AuditChain.payload(["decision": vote.decision.rawValue, "comment": vote.comment,
                                                "key": vote.keyFingerprint, "signed_payload": vote.payload,
                                                "signature": vote.signature, "record": RecordDigest.key(vote: vote.id),
                                                "record_sha256": RecordDigest.of(vote)]))
    }

    // MARK: - Deployments

    static func deploymentEnded(_ deployment: DeploymentRecord, actor: String) -> AuditDraft {
        AuditDraft(actor: actor, kind: .deploymentEnded, subject: "deployment/\(deployment.id)",
                   payload: AuditChain.payload(["state": deployment.state.rawValue, "detail": deployment.detail]))
    }

    static func deploymentStarted(_ record: DeploymentRecord, _ new: NewDeployment) -> AuditDraft {
        var fields = ["model": new.model, "version": String(new.version), "environment": new.environment,
                      "steps": record.steps, "reason": new.reason]
        if let s = new.stableVersion { fields["stable"] = String(s) }
        if let use = new.approval { fields["request"] = String(use.requestID) }
        return AuditDraft(actor: new.actor, kind: .deploymentStarted, subject: "deployment/\(record.id)", payload: AuditChain.payload(fields))
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
