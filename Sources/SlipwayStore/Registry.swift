/// SlipwayStore: the registry, where every run, stage run, param, metric,
/// dataset version, cache entry and audit event is kept.
///
/// Callers (the engine, the console, the command line) see only the protocols
/// in this file and the plain record values in `Records/`. The SQLite
/// implementation (``SQLiteRegistry``, through GRDB) is one conformance; a
/// PostgreSQL one can be added beside it without changing any caller.
/// This target must not import the engine or the console.
import SlipwayCore

/// The audit event of a write, composed by the caller from the row as the
/// store wrote it (its id, its time). The engine's services decide what the
/// trail says about each write; the store appends the draft to the chain in
/// the write's own transaction and adds nothing to it.
public typealias AuditComposer<Row> = (Row) -> AuditDraft

/// Runs and their stage runs: the life of a pipeline execution.
public protocol RunStore: Sendable {
    /// Creates a run in `running` state, with its provenance and params, and
    /// audits it with the event `audit` composes. Returns the new run with its id.
    /// With `run.claiming`, the queued trigger events are marked started by
    /// this run in the same transaction; if none of them is still queued the
    /// run is not created (RegistryConflict): another run took them.
    func startRun(_ run: NewRun, audit: AuditComposer<RunRecord>) throws -> RunRecord
    /// Sets a finished run's status and end time, audited with the event
    /// `audit` composes from the run as it was. With `registering`, the run's
    /// model version is registered in the same transaction (a run that is not
    /// marked finished never has a version), audited by `registered`, unless
    /// the caller's rule `unchanged`, shown the model's newest version as it
    /// is in the transaction, says that version already is the run's (then
    /// `.unchanged(newest)`), or, shown the newest version with the run's
    /// artifact digest, says that one is (a run gone back to an earlier
    /// config: `.madeAgain` with that version, never a second copy of it).
    /// Either way the run is recorded as having made that version
    /// (``ModelStore/modelVersion(runID:)``).
    @discardableResult
    func finishRun(id: Int64, status: RunStatus, message: String?, registering: NewModelVersion?,
                   unchanged: (_ newest: ModelVersionRecord) -> Bool,
                   audit: AuditComposer<RunRecord>, registered: AuditComposer<ModelVersionRecord>) throws -> Registration?
    /// Proves the owning process is alive (see ``RunRecord/heartbeatAt``).
    func heartbeat(runID: Int64) throws
    func run(id: Int64) throws -> RunRecord?
    /// Newest first.
    func runs(limit: Int, offset: Int) throws -> [RunRecord]
    /// A pipeline's runs, newest first.
    func runs(pipeline: String, limit: Int) throws -> [RunRecord]
    func runCount() throws -> Int
    /// Runs whose status is still `running` (alive or not).
    func activeRuns() throws -> [RunRecord]
    /// Marks a run whose process died as `interrupted`, and its unfinished stage
    /// runs too, keeping everything already recorded; `audit` is appended
    /// when the run was still running.
    func markInterrupted(runID: Int64, reason: String, audit: AuditDraft) throws
    /// Makes `owner` the owner of a running run whose owner `previous` died
    /// (to follow its cluster jobs to their end), with a fresh heartbeat, and
    /// appends `audit`. False (nothing appended) when the run is no longer
    /// running or no longer `previous`'s: another process took it first.
    func takeOverRun(id: Int64, from previous: RunOwner, to owner: RunOwner, audit: AuditDraft) throws -> Bool
    /// Records that someone asked to cancel a running run (audited with the
    /// event `audit` composes from the run as it is then); its owner (or
    /// whoever finds it orphaned) stops its jobs. Returns the run as it is
    /// now; a run that is not running, or already asked, is returned unchanged.
    func requestCancel(runID: Int64, audit: AuditComposer<RunRecord>) throws -> RunRecord?

    /// Creates the stage runs of a run, all `pending`.
    func addStageRuns(runID: Int64, stages: [String]) throws -> [StageRunRecord]
    /// Saves a stage run's new state; a transition that ends it is audited
    /// with the event `audit` composes from the stage run and its run's user
    /// (nil when no such run is found).
    func updateStageRun(_ stageRun: StageRunRecord, audit: (_ ended: StageRunRecord, _ runUser: String?) -> AuditDraft) throws
    /// Records the job a running stage started (its process group and the executor's handle).
    func setStageJob(stageRunID: Int64, pid: Int32?, job: String) throws
    /// Records a running stage's reported progress.
    func setStageProgress(stageRunID: Int64, done: Int64, total: Int64) throws
    /// Records what the executor says about a stage's job (pending and why,
    /// its node, the resources it used).
    func setStageJobStatus(stageRunID: Int64, status: JobStatus) throws
    func stageRuns(runID: Int64) throws -> [StageRunRecord]
    func stageRun(id: Int64) throws -> StageRunRecord?
    /// Stage runs by id, read together; ids that name none are left out.
    func stageRuns(ids: [Int64]) throws -> [Int64: StageRunRecord]
    /// What ``stageRuns(ids:)`` would answer, narrowed to ``StageRunOrigin``:
    /// the planner asks it of every cache entry's producer.
    func stageRunOrigins(ids: [Int64]) throws -> [Int64: StageRunOrigin]
    /// The stage run of this pipeline's stage that finished with known inputs
    /// (succeeded or cached) in the newest run where one did: what "why did it
    /// run" compares with.
    func lastCompletedStageRun(pipeline: String, stage: String) throws -> StageRunRecord?
    /// ``lastCompletedStageRun(pipeline:stage:)`` of many stages, read
    /// together; stages that never completed are left out.
    func lastCompletedStageRuns(pipeline: String, stages: [String]) throws -> [String: StageRunRecord]
    /// Records stages a run restored from the cache, in one transaction: for
    /// each, what ``recordRunDatasets``, ``copyMetrics``, ``copyValidations``,
    /// ``recordArtifacts`` and then ``updateStageRun`` (with its audit event)
    /// record one at a time; `audit` as in ``updateStageRun(_:audit:)``, and
    /// pure: a store may call it on another thread while the rows are written.
    func recordRestoredStages(_ stages: [RestoredStage], audit: @escaping @Sendable (_ ended: StageRunRecord, _ runUser: String?) -> AuditDraft) throws
    func params(runID: Int64) throws -> [String: String]
    /// The params the run was given on the command line (`run --set`, a
    /// sweep) rather than read from params.yaml: key → value.
    func paramOverrides(runID: Int64) throws -> [String: String]
}

/// Metric points, written in batches while stages run.
public protocol MetricStore: Sendable {
    func appendMetrics(_ points: [MetricRecord]) throws
    func metrics(runID: Int64) throws -> [MetricRecord]
    /// Copies the metrics one stage run reported into another (for a cache hit).
    func copyMetrics(fromStageRun source: Int64, to target: StageRunRecord) throws
}

/// What stages logged through the tracking endpoint besides metrics.
public protocol TrackingStore: Sendable {
    /// Records values; a key a stage run already has for that kind takes the new value.
    func recordTracked(_ values: [TrackedValueRecord]) throws
    /// A run's values, in stage-run, kind and key order.
    func trackedValues(runID: Int64) throws -> [TrackedValueRecord]
    /// Copies what one stage run logged to another (for a cache hit).
    func copyTracked(fromStageRun source: Int64, to target: StageRunRecord) throws
}

/// What registering a run's model did.
public enum Registration: Sendable, Hashable {
    case registered(ModelVersionRecord)
    /// The artifacts are those of this, the newest, version: nothing new.
    case unchanged(ModelVersionRecord)
    /// The artifacts are those of this earlier version (a param set back to
    /// an earlier value): the run made it again, and nothing new is registered.
    case madeAgain(ModelVersionRecord)

    /// The version the run's outputs are, new or not.
    public var version: ModelVersionRecord {
        switch self {
        case .registered(let v), .unchanged(let v), .madeAgain(let v): return v
        }
    }
}

/// Registered models, their immutable versions, and which version is live in
/// each environment (with the full history of those assignments).
public protocol ModelStore: Sendable {
    /// Registers the next version of `model` (numbered 1, 2, … per model, never
    /// reused), created from a run, audited with the event `audit` composes.
    func registerVersion(_ new: NewModelVersion, audit: AuditComposer<ModelVersionRecord>) throws -> ModelVersionRecord
    func modelVersion(model: String, version: Int) throws -> ModelVersionRecord?
    /// The version a run made: the one it registered, or the one its outputs
    /// already were when it finished (``Registration/unchanged(_:)``); nil
    /// when it made none.
    func modelVersion(runID: Int64) throws -> ModelVersionRecord?
    /// Newest first.
    func modelVersions(model: String, limit: Int) throws -> [ModelVersionRecord]
    func models() throws -> [ModelSummary]
    /// Environment → the version live there now.
    func liveVersions(model: String) throws -> [String: Int]
    /// Points `environment` at `version` (nil to clear it), audited with the
    /// event `audit` composes from the change. With `beginning`, the deploy call that carries the change out
    /// (named from the event) is journalled as started in the same
    /// transaction, so a driver killed after the change leaves a call the
    /// next driver makes again, never a change without one.
    @discardableResult
    func setAlias(model: String, environment: String, version: Int?, actor: String, reason: String, cause: AliasCause,
                  beginning call: ((AliasEvent) -> DeployCallRecord)?, audit: AuditComposer<AliasEvent>) throws -> AliasEvent
    /// The version live in `environment` at `time` (now when nil).
    func alias(model: String, environment: String, at time: Millis?) throws -> Int?
    /// Alias changes, oldest first, optionally for one environment and up to a time.
    func aliasHistory(model: String, environment: String?, until time: Millis?) throws -> [AliasEvent]
    /// Sets tags (nil value removes one) and/or the description, appending
    /// `audit` in the same transaction.
    func editVersion(model: String, version: Int, tags: [String: String?], description: String?, audit: AuditDraft) throws -> ModelVersionRecord
    /// Records gate results, each audited with the event `audit` composes
    /// from the result and its new id.
    func recordGateResults(_ results: [GateResultRecord], audit: (_ result: GateResultRecord, _ id: Int64) -> AuditDraft) throws
    func gateResults(runID: Int64) throws -> [GateResultRecord]
    /// Outputs (path → hash) every stage run of a run produced or restored.
    func recordArtifacts(runID: Int64, stageRunID: Int64, outputs: [String: String]) throws
    func artifacts(runID: Int64) throws -> [String: String]
    /// Newest run of a pipeline (any status).
    func latestRun(pipeline: String) throws -> RunRecord?
    /// Records that a version's image is now in an image registry, audited
    /// with the event `audit` composes from the row as written (`pushedAt` and
    /// the id are set by the store).
    func recordImagePush(_ push: ImagePushRecord, audit: AuditComposer<ImagePushRecord>) throws -> ImagePushRecord
    /// Where the version's image was pushed, oldest first.
    func imagePushes(model: String, version: Int) throws -> [ImagePushRecord]
}

/// Data validation reports (schema checks and drift), kept as JSON.
public protocol ValidationStore: Sendable {
    /// Records a report; one that belongs to a run is audited with the event
    /// `audit` composes from the report, its new id and the run's user (nil
    /// when no such run is found).
    func recordValidation(_ record: ValidationRecord, audit: (_ record: ValidationRecord, _ id: Int64, _ runUser: String?) -> AuditDraft) throws
    func validations(runID: Int64) throws -> [ValidationRecord]
    /// The reports of several runs in one read, oldest first.
    func validations(runIDs: [Int64]) throws -> [ValidationRecord]
    /// Copies a stage run's reports to another stage run (for a cache hit).
    func copyValidations(fromStageRun source: Int64, to target: StageRunRecord) throws
}

/// Dataset versions by content hash.
public protocol DatasetStore: Sendable {
    /// Records a dataset version; an unchanged (path, hash) returns the existing
    /// record with `isNew` false; a new one is audited with the event `audit` composes.
    func addDataset(path: String, hash: String, size: Int64, addedBy: String,
                    audit: AuditComposer<DatasetRecord>) throws -> (record: DatasetRecord, isNew: Bool)
    func datasets() throws -> [DatasetRecord]
    func recordRunDatasets(runID: Int64, stage: String, versions: [(path: String, hash: String)]) throws
    func runDatasets(runID: Int64) throws -> [RunDatasetRecord]
}

/// The stage run cache and the file stat cache.
public protocol CacheStore: Sendable {
    func cacheEntry(key: String) throws -> CacheEntry?
    /// Cache entries by key, read together; keys with no entry are left out.
    func cacheEntries(keys: [String]) throws -> [String: CacheEntry]
    func saveCacheEntry(_ entry: CacheEntry) throws
    func fileStates(paths: [String]) throws -> [String: FileState]
    func saveFileStates(_ states: [FileState]) throws
}

/// The append-only, hash-chained audit log.
public protocol AuditStore: Sendable {
    @discardableResult
    func appendAudit(_ event: AuditDraft) throws -> AuditEvent
    /// Appends several events in one transaction, in order.
    func appendAudit(_ events: [AuditDraft]) throws
    func auditEvents(after seq: Int64, limit: Int) throws -> [AuditEvent]
    /// Calls `body` with each event after `seq` in order, without holding them
    /// all in memory, until it returns false.
    func forEachAuditEvent(after seq: Int64, _ body: (AuditEvent) throws -> Bool) throws
    /// Events matching a query, oldest first.
    func auditEvents(matching query: AuditQuery) throws -> [AuditEvent]
    /// The sequence number of the newest event (0 when the log is empty).
    func latestAuditSeq() throws -> Int64
    /// The chain head as kept in the store's second place (nil when that
    /// record is missing, which itself means tampering).
    func auditHeadWitness() throws -> AuditHeadWitness?
    /// Record key → digest of that record as it is now, for every record an
    /// event describes (see ``RecordDigest``).
    func auditedRecordDigests() throws -> [String: String]
}

/// Approval requests for high-risk promotions, and the signed votes on them.
public protocol ApprovalStore: Sendable {
    /// Creates a pending request, after appending `new.audit`, and marks
    /// `superseded` the pending requests `superseding` names (it is given every
    /// pending request as they are in the transaction; the rule is the
    /// caller's), in one transaction. Each superseded row is audited by
    /// `superseded`, then the new row by `requested`. Returns the request and
    /// the ids it superseded, oldest first.
    func createApprovalRequest(_ new: NewApprovalRequest, superseding: (_ pending: [ApprovalRequestRecord]) -> [Int64],
                               requested: AuditComposer<ApprovalRequestRecord>,
                               superseded: AuditComposer<ApprovalRequestRecord>) throws -> (request: ApprovalRequestRecord, superseded: [Int64])
    func approvalRequest(id: Int64) throws -> ApprovalRequestRecord?
    /// Newest first; pending only unless `all`.
    func approvalRequests(all: Bool, limit: Int) throws -> [ApprovalRequestRecord]
    func approvalVotes(requestID: Int64) throws -> [ApprovalVoteRecord]
    /// Records a signed vote (audited by `voted`, with its id), after the
    /// events in `audit`, in one transaction. `check` runs first in that
    /// transaction with the request and its votes as they are then: it throws
    /// to refuse (nothing is written), or returns the status the vote resolves
    /// the request to (nil: still pending); the resolved row is audited by `resolved`.
    func recordApprovalVote(_ vote: ApprovalVoteRecord, audit: [AuditDraft],
                            check: (ApprovalRequestRecord, [ApprovalVoteRecord]) throws -> ApprovalStatus?,
                            voted: AuditComposer<ApprovalVoteRecord>,
                            resolved: AuditComposer<ApprovalRequestRecord>) throws -> ApprovalVoteRecord
    /// Marks pending requests past their expiry `expired`, each row audited
    /// by `audit`; returns their ids.
    func expireApprovalRequests(now: Millis, audit: AuditComposer<ApprovalRequestRecord>) throws -> [Int64]
}

/// Deployments in progress and done, the journal of deploy calls, and the
/// analysis values measured along the way. All deployment state lives here, so
/// an agent killed between any two steps resumes at the right one.
public protocol DeploymentStore: Sendable {
    /// Creates a `progressing` deployment at step 0 (phase `deploy`); an active
    /// deployment in the same environment is ended `aborted` first. Audited,
    /// after `new.audit`. With `new.approval`, the request must still be
    /// approved, unused and unchanged (RegistryConflict otherwise) and is
    /// marked used by the new deployment, all in one transaction. The events
    /// are composed by the caller (`audit`).
    func startDeployment(_ new: NewDeployment, audit: DeploymentStartEvents) throws -> (deployment: DeploymentRecord, aborted: DeploymentRecord?)
    func deployment(id: Int64) throws -> DeploymentRecord?
    /// The active (progressing, paused, watching) deployment of an environment.
    func activeDeployment(environment: String) throws -> DeploymentRecord?
    /// Every active deployment, oldest first.
    func activeDeployments() throws -> [DeploymentRecord]
    /// Newest first, optionally for one environment.
    func deployments(environment: String?, limit: Int) throws -> [DeploymentRecord]
    /// Saves a deployment's new state with its audit events, in one
    /// transaction, unless it changed since `expected` (then RegistryConflict).
    func updateDeployment(_ deployment: DeploymentRecord, expectedUpdatedAt: Millis, audit: [AuditDraft]) throws
    /// The journal entry of a call, if it was started.
    func deployCall(callID: String) throws -> DeployCallRecord?
    /// Journals a call as started (before it runs) by `call.owner`. When the
    /// journal already has it unfinished, `takeOver` decides (given that
    /// entry: its owner, when it started) whether this caller makes it again;
    /// returns the entry and whether the caller is to make the call.
    func beginDeployCall(_ call: DeployCallRecord, takeOver: (DeployCallRecord) -> Bool) throws -> (call: DeployCallRecord, mine: Bool)
    /// Journals a call's outcome and, in the same transaction, the
    /// deployment's next state and the audit events.
    func finishDeployCall(callID: String, outcome: String, ok: Bool, then deployment: DeploymentRecord?, audit: [AuditDraft]) throws
    /// Makes a deployment's version live (audited) unless the deployment
    /// changed since `deployment.updatedAt` (RegistryConflict: another driver
    /// aborted or rolled it back meanwhile), checked in the same transaction.
    @discardableResult
    func setAlias(for deployment: DeploymentRecord, version: Int, actor: String, reason: String, cause: AliasCause,
                  audit: AuditComposer<AliasEvent>) throws -> AliasEvent
    func deployCalls(environment: String?, limit: Int) throws -> [DeployCallRecord]
    /// Calls journalled as started and not finished (in flight, or cut short), oldest first.
    func unfinishedDeployCalls() throws -> [DeployCallRecord]
    func recordAnalysis(_ samples: [AnalysisSampleRecord]) throws
    func analysisSamples(deploymentID: Int64) throws -> [AnalysisSampleRecord]
    /// The measurements of one round of one step's analysis, oldest first.
    func analysisSamples(deploymentID: Int64, step: Int, round: Int) throws -> [AnalysisSampleRecord]
}

/// The events of starting a deployment, composed by the caller from the rows
/// as the store writes them.
public struct DeploymentStartEvents {
    /// For the active deployment the new one ends (`deployment.ended`).
    public var ended: AuditComposer<DeploymentRecord>
    /// For the new deployment, with its id (`deployment.started`).
    public var started: AuditComposer<DeploymentRecord>
    /// For the approved request it uses up, as it is after (`approval.used`).
    public var approvalUsed: AuditComposer<ApprovalRequestRecord>

    public init(ended: @escaping AuditComposer<DeploymentRecord>, started: @escaping AuditComposer<DeploymentRecord>,
                approvalUsed: @escaping AuditComposer<ApprovalRequestRecord>) {
        self.ended = ended
        self.started = started
        self.approvalUsed = approvalUsed
    }
}

/// Monitors' production batches, their per-feature drift scores, alerts, and
/// the trigger events that start pipeline runs.
public protocol MonitorStore: Sendable {
    /// Records a batch, its scores and its alert (with the trigger events
    /// `audit.triggers` says the alert fires) in one transaction, each row
    /// audited with the event `audit` composes, so a crash leaves all or none;
    /// a batch whose content hash the monitor already has is not recorded
    /// again (nothing is appended). The alert's `triggerID` is the first event
    /// recorded.
    func recordBatch(_ new: NewBatch, audit: BatchEvents) throws -> RecordedBatch
    func batch(id: Int64) throws -> MonitorBatchRecord?
    func batch(monitor: String, contentHash: String) throws -> MonitorBatchRecord?
    /// Newest first.
    func batches(monitor: String, limit: Int) throws -> [MonitorBatchRecord]
    func batchCount(monitor: String) throws -> Int
    func scores(batchID: Int64) throws -> [MonitorScoreRecord]
    /// Every feature's scores over the newest `batches` batches, oldest first, in one read.
    func recentScores(monitor: String, batches: Int) throws -> [String: [MonitorScoreRecord]]
    /// A feature's scores, oldest first, the newest `limit`.
    func scoreHistory(monitor: String, feature: String, limit: Int) throws -> [MonitorScoreRecord]
    /// Newest first.
    func alerts(monitor: String?, limit: Int) throws -> [MonitorAlertRecord]
    /// Records a trigger event, audited with the event `audit` composes from
    /// it and its new id, unless one with the same key exists for the pipeline
    /// (then nil, nothing appended): the same event never starts two runs.
    func fireTrigger(_ new: NewTrigger, audit: TriggerComposer) throws -> TriggerEventRecord?
    func triggerEvents(pipeline: String?, state: TriggerEventRecord.State?, limit: Int) throws -> [TriggerEventRecord]
    /// The events a run started.
    func triggerEvents(runID: Int64) throws -> [TriggerEventRecord]
    /// The newest event with this key prefix (`commit:main:`), for "what did we see last".
    func latestTrigger(pipeline: String, keyPrefix: String) throws -> TriggerEventRecord?
}

/// The audit event of a recorded trigger event, composed by the caller from
/// the event it asked for and the new row's id.
public typealias TriggerComposer = (_ trigger: NewTrigger, _ id: Int64) -> AuditDraft

/// The events of recording a monitor batch, composed by the caller from the
/// rows as the store writes them, and the caller's rule for the trigger
/// events an alert fires.
public struct BatchEvents {
    /// For the new batch, with its id (`batch.recorded`).
    public var recorded: AuditComposer<MonitorBatchRecord>
    /// For the batch's alert, with its id (`monitor.alert`).
    public var alerted: AuditComposer<MonitorAlertRecord>
    /// The trigger events the alert, as written (with its id), fires; none
    /// for an alert that starts nothing. The rule is the caller's.
    public var triggers: (MonitorAlertRecord) -> [NewTrigger]
    /// For each trigger event recorded (`trigger.fired`).
    public var fired: TriggerComposer

    public init(recorded: @escaping AuditComposer<MonitorBatchRecord>, alerted: @escaping AuditComposer<MonitorAlertRecord>,
                triggers: @escaping (MonitorAlertRecord) -> [NewTrigger], fired: @escaping TriggerComposer) {
        self.recorded = recorded
        self.alerted = alerted
        self.triggers = triggers
        self.fired = fired
    }
}

/// Cheap change detection for live views: the value changes whenever any
/// process commits a write.
public protocol ChangeSource: Sendable {
    func changeToken() throws -> Int64
    /// A push channel for changes, where the store has one (PostgreSQL's
    /// LISTEN/NOTIFY): live views wait on it and poll ``changeToken()`` only
    /// as a fallback. Nil for a store that has none (SQLite: views poll).
    func changeFeed() throws -> (any ChangeFeed)?
}

extension ChangeSource {
    public func changeFeed() throws -> (any ChangeFeed)? { nil }
}

/// Announces committed writes by any process on any machine.
public protocol ChangeFeed: AnyObject, Sendable {
    /// Blocks up to `timeout` seconds. True when a write was announced, or
    /// when announcements may have been missed (a reconnection): the caller
    /// re-reads. False when the time ran out quietly.
    func wait(timeout: Double) throws -> Bool
    /// Unblocks a waiter within its timeout and releases the connection.
    func close()
}

/// Everything a caller needs from the registry.
public typealias Registry = RunStore & MetricStore & DatasetStore & CacheStore & AuditStore & ChangeSource & ModelStore & ValidationStore
    & ApprovalStore & DeploymentStore & MonitorStore & TrackingStore
