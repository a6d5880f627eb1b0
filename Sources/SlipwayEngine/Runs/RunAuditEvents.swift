import SlipwayCore
import SlipwayStore

/// What the audit trail says about a run's life: the payload of each `run.*`
/// event. Decided here, once, for every store: a store appends the drafts
/// composed here to its chain, in the write's transaction, and adds nothing.
///
/// The payloads are part of the registry's history: an existing chain is
/// verified against them, so a field is never renamed or reformatted.
enum RunEvents {
    /// `run.started`: the pipeline, what started it, where, the commit, and
    /// the params given on the command line (`run --set`, a sweep).
    static func started(_ run: RunRecord, overrides: [String: String]) -> AuditDraft {
        var fields = ["pipeline": run.pipeline, "trigger": run.trigger, "host": run.host]
        if !overrides.isEmpty {
            fields["overrides"] = overrides.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        if let c = run.gitCommit { fields["commit"] = c + (run.gitDirty == true ? "-dirty" : "") }
        return AuditDraft(actor: run.user, kind: .runStarted, subject: "run/\(run.id)", payload: AuditChain.payload(fields))
    }

    /// `run.finished`, attributed to the run's user.
    static func finished(_ run: RunRecord, status: RunStatus, message: String?) -> AuditDraft {
        var fields = ["status": status.rawValue]
        if let message { fields["message"] = message }
        return AuditDraft(actor: run.user, kind: .runFinished, subject: "run/\(run.id)", payload: AuditChain.payload(fields))
    }

    static func interrupted(runID: Int64, reason: String) -> AuditDraft {
        AuditDraft(actor: "slipway", kind: .runInterrupted, subject: "run/\(runID)", payload: AuditChain.payload(["reason": reason]))
    }

    static func takenOver(runID: Int64, from previous: RunOwner, to owner: RunOwner, reason: String) -> AuditDraft {
        AuditDraft(actor: "slipway", kind: .runTakenOver, subject: "run/\(runID)",
                   payload: AuditChain.payload(["from": "pid \(previous.pid) on \(previous.host)",
                                                "to": "pid \(owner.pid) on \(owner.host)", "reason": reason]))
    }

    /// `stage.finished`: how a stage run ended, attributed to its run's user
    /// (slipway when the run is not found).
    static func stageFinished(_ stageRun: StageRunRecord, runUser: String?) -> AuditDraft {
        // A run restoring 1,000 stages from the cache composes 1,000 of these.
        let payload = AuditChain.payload(ascending: [
            "cache_key": stageRun.cacheKey, "exit_code": stageRun.exitCode.map { String($0) }, "message": stageRun.message,
            "reason": stageRun.reason, "stage": stageRun.stage, "status": stageRun.status.rawValue,
        ])
        return AuditDraft(actor: runUser ?? "slipway", kind: .stageFinished, subject: "run/\(stageRun.runID)/\(stageRun.stage)",
                          payload: payload)
    }

    /// `run.cancel_requested`, naming the process that owns the run when asked.
    static func cancelRequested(_ run: RunRecord, actor: String) -> AuditDraft {
        AuditDraft(actor: actor, kind: .runCancelRequested, subject: "run/\(run.id)",
                   payload: AuditChain.payload(["owner": "pid \(run.pid) on \(run.host)"]))
    }
}

/// The run writes as the engine makes them: each with its audit event composed by ``RunEvents``.
extension RunStore {
    /// Creates a run in `running` state, audited as `run.started`.
    public func startRun(_ run: NewRun) throws -> RunRecord {
        try startRun(run, audit: { RunEvents.started($0, overrides: run.overrides) })
    }

    /// Finishes a run, audited as `run.finished` (and `model.registered` when
    /// `registering` registers a version).
    @discardableResult
    public func finishRun(id: Int64, status: RunStatus, message: String?, registering: NewModelVersion?) throws -> Registration? {
        try finishRun(id: id, status: status, message: message, registering: registering,
                      unchanged: { newest in registering.map { ModelRegistration.isUnchanged($0, newest: newest) } ?? false },
                      audit: { RunEvents.finished($0, status: status, message: message) }, registered: ModelEvents.registered)
    }

    public func finishRun(id: Int64, status: RunStatus, message: String?) throws {
        try finishRun(id: id, status: status, message: message, registering: nil)
    }

    public func markInterrupted(runID: Int64, reason: String) throws {
        try markInterrupted(runID: runID, reason: reason, audit: RunEvents.interrupted(runID: runID, reason: reason))
    }

    public func takeOverRun(id: Int64, from previous: RunOwner, to owner: RunOwner, reason: String) throws -> Bool {
        try takeOverRun(id: id, from: previous, to: owner, audit: RunEvents.takenOver(runID: id, from: previous, to: owner, reason: reason))
    }

    /// Saves a stage run's new state; one that ends is audited as `stage.finished`.
    public func updateStageRun(_ stageRun: StageRunRecord) throws {
        try updateStageRun(stageRun, audit: RunEvents.stageFinished)
    }

    /// Records stages a run restored from the cache, each audited as `stage.finished`.
    public func recordRestoredStages(_ stages: [RestoredStage]) throws {
        try recordRestoredStages(stages, audit: RunEvents.stageFinished)
    }

    public func requestCancel(runID: Int64, actor: String) throws -> RunRecord? {
        try requestCancel(runID: runID, audit: { RunEvents.cancelRequested($0, actor: actor) })
    }
}
