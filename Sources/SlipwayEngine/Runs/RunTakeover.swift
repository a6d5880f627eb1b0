import Foundation

/// Takes over a run whose `slipway` process died while cluster jobs it
/// started were still queued or running (`kill -9`, a lost login node):
/// becomes the run's owner, follows each job to its end through the executor
/// that owns its handle (``Executor/reattach(_:job:observer:cancellation:)``)
/// and records the outcome as the stage would have (exit code, metrics,
/// outs in the store, the cache entry, gates). A run whose cancel was asked
/// has its jobs cancelled instead. Stages that had not started do not run:
/// the run ends `interrupted` (or `failed`, `cancelled`), and the next run of
/// the pipeline finds the followed stages' results in the cache. Nothing runs
/// twice.
///
/// Exclusive three ways: the pipeline's ``RunLock`` (so a new run of the
/// pipeline waits for the jobs instead of submitting them again), the
/// registry's compare-and-set of the run's owner, and only a dead owner is
/// replaced.
public struct RunTakeover: Sendable {
    let workspace: Workspace
    let registry: any Registry
    let executors: Executors
    let say: @Sendable (String) -> Void
    var reaper = RunReaper()

    public init(workspace: Workspace, registry: any Registry, executors: Executors = Executors(),
                say: @escaping @Sendable (String) -> Void = { _ in }) {
        self.workspace = workspace
        self.registry = registry
        self.executors = executors
        self.say = say
    }

    /// What happened to a run taken over.
    public struct Result: Sendable {
        public var runID: Int64
        public var status: RunStatus
        public var stages: [StageRunRecord]
        public var message: String
    }

    /// Whether a dead run has jobs worth following (or a cancel to carry out).
    func needsTakeover(_ run: RunRecord) throws -> Bool {
        if run.cancelRequestedAt != nil { return true }
        return try registry.stageRuns(runID: run.id).contains { stage in
            guard stage.status == .running, let h = stage.job.flatMap(JobHandle.init),
                  let executor = executors.executor(for: h) else { return false }
            return executor.jobsOutliveOwner
        }
    }

    /// Takes over every dead run of `pipeline` that needs it, one after the
    /// other. `holdingLock`: the caller holds the pipeline's run lock.
    @discardableResult
    public func followOrphans(pipeline: String, holdingLock: Bool) throws -> [Result] {
        var results: [Result] = []
        for run in try registry.activeRuns() where run.pipeline == pipeline && reaper.isDead(run) {
            guard try needsTakeover(run) else { continue }
            if let r = try takeOver(runID: run.id, holdingLock: holdingLock) { results.append(r) }
        }
        return results
    }

    /// Takes run `runID` over if its owner is dead, and follows it to the
    /// end (blocking). Nil when there is nothing to take: the run is finished,
    /// its owner lives, or another process took it (or holds its pipeline).
    /// `ready` is called once this process owns the run.
    public func takeOver(runID: Int64, holdingLock: Bool, cancellation: CancellationFlag = CancellationFlag(),
                         ready: () -> Void = {}) throws -> Result? {
        guard let first = try registry.run(id: runID), first.status == .running, reaper.isDead(first) else { return nil }
        var lock: RunLock?
        if !holdingLock {
            guard let l = try RunLock.attempt(workspace: workspace, pipeline: first.pipeline) else { return nil }
            lock = l
        }
        defer { lock?.release() }
        // Under the lock: still orphaned, and ours only if the registry agrees.
        guard let run = try registry.run(id: runID), run.status == .running, reaper.isDead(run) else { return nil }
        let me = RunOwner(pid: getpid(), host: Provenance.hostName())
        guard try registry.takeOverRun(id: run.id, from: run.owner, to: me,
                                       reason: "its process (pid \(run.pid) on \(run.host)) died; following its jobs") else { return nil }
        ready()

        if run.cancelRequestedAt != nil { cancellation.cancel() }
        let heartbeat = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        heartbeat.schedule(deadline: .now() + 1, repeating: 1)
        heartbeat.setEventHandler { [registry] in
            try? registry.heartbeat(runID: run.id)
            if !cancellation.isCancelled, (try? registry.run(id: run.id))??.cancelRequestedAt != nil { cancellation.cancel() }
        }
        heartbeat.resume()
        defer { heartbeat.cancel() }
        return try follow(run, cancellation: cancellation)
    }

    /// Carries a taken-over run to its end.
    func follow(_ run: RunRecord, cancellation: CancellationFlag) throws -> Result {
        let loaded = try? workspace.loadSpec()
        let pipeline = loaded?.spec.pipeline(named: run.pipeline)
        let stages = try registry.stageRuns(runID: run.id)
        let metrics = MetricsRecorder(store: registry)
        let facts = pipeline.map {
            StageFacts(pipeline: $0, params: loaded!.params, registry: registry, workspace: workspace)
        }
        let recorded = try registry.metrics(runID: run.id)
        let outcomes = Mutex<[String: StageRunRecord]>([:])
        let group = DispatchGroup()
        for stage in stages where stage.status == .running {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let done = (try? self.followStage(stage, run: run, pipeline: pipeline, facts: facts, metrics: metrics,
                                                  recorded: recorded, cancellation: cancellation)) ?? nil
                outcomes.withLock { $0[stage.stage] = done }
            }
        }
        group.wait()
        try metrics.close()

        let now = try registry.stageRuns(runID: run.id)
        let followed = outcomes.withLock { $0 }
        let words = followed.values.sorted { $0.id < $1.id }.map { "\($0.stage) \($0.status.rawValue)" }
        let what = words.isEmpty ? "" : "; followed its jobs to their end: " + words.joined(separator: ", ")
        let failed = now.filter { $0.status == .failed }
        let status: RunStatus
        var message: String
        if !failed.isEmpty {
            status = .failed
            message = "stage \(failed.map(\.stage).joined(separator: ", ")) failed: " + (failed.first?.message ?? "") + what
        } else if cancellation.isCancelled {
            status = .cancelled
            message = "cancelled after its process (pid \(run.pid) on \(run.host)) died" + what
        } else {
            status = .interrupted
            message = "its process (pid \(run.pid) on \(run.host)) died" + what
                + (now.contains { $0.status == .pending || $0.status == .running } ? "; run the pipeline again for the rest (what finished comes from the cache)" : "")
        }
        // Stages that never started stay as the run left them, marked with it.
        for var s in now where s.status == .pending {
            s.status = status == .interrupted ? .interrupted : .cancelled
            s.reason = status == .interrupted ? "not started: its run's process died" : "not started: the run \(status.rawValue)"
            try registry.updateStageRun(s)
        }
        if status == .interrupted {
            try registry.markInterrupted(runID: run.id, reason: message)
        } else {
            try registry.finishRun(id: run.id, status: status, message: message)
        }
        say("run \(run.id) \(status.rawValue): \(message)")
        return Result(runID: run.id, status: status, stages: try registry.stageRuns(runID: run.id), message: message)
    }

    /// Follows one stage's job; the stage's final record.
    func followStage(_ stage: StageRunRecord, run: RunRecord, pipeline: PipelineSpec?, facts: StageFacts?, metrics: MetricsRecorder,
                     recorded: [MetricRecord], cancellation: CancellationFlag) throws -> StageRunRecord? {
        var r = stage
        let logPath = workspace.root + "/" + (stage.logPath ?? ".slipway/logs/run-\(run.id)/\(stage.stage).log")
        guard let handle = stage.job.flatMap(JobHandle.init), let executor = executors.executor(for: handle),
              executor.jobsOutliveOwner else {
            // A local process group died with its owner's pipe: stop what is left of it.
            if let h = stage.job.flatMap(JobHandle.init) { executors.executor(for: h)?.cancel(h) }
            r.status = .interrupted
            r.endedAt = SystemClock.nowMillis()
            r.message = "its run's process died while it ran"
            try registry.updateStageRun(r)
            return r
        }
        let spec = pipeline?.stage(named: stage.stage)
        let inputs = stage.inputs.flatMap { try? JSONDecoder().decode(CacheInputs.self, from: Data($0.utf8)) }
        // Its results are kept only if the stage is still the stage that ran.
        let sameStage = spec.map { s in inputs.map { $0.command == (s.command?.value ?? "") && $0.outputs.sorted() == s.cachedOutputs.sorted() } ?? false } ?? false
        let stageSpec = spec ?? StageSpec(name: stage.stage, command: Located(inputs?.command ?? ""))
        let params = facts?.params ?? Params(values: [:])
        let job = StageExecution.job(for: stageSpec, run: run, record: stage, workspace: workspace, params: params, logPath: logPath)
        let observer = StageObserver(registry: registry, record: stage, metrics: metrics, logPath: logPath)
        observer.skipping(recorded.filter { $0.stageRunID == stage.id })
        say("run \(run.id): following stage \(stage.stage) (\(handle)) to its end")
        let started = stage.startedAt ?? SystemClock.nowMillis()
        guard let outcome = executor.reattach(handle, job: job, observer: observer, cancellation: cancellation) else {
            executor.cancel(handle)
            r.status = .interrupted
            r.endedAt = SystemClock.nowMillis()
            r.message = "its run's process died and \(handle.executor) cannot follow \(handle)"
            try registry.updateStageRun(r)
            return r
        }
        if case .lost(let why) = outcome, handle.id.hasPrefix("name=") {
            // Never submitted: nothing ran, nothing failed.
            try observer.checkRegistryWrites()
            r.status = .interrupted
            r.endedAt = SystemClock.nowMillis()
            r.message = "its run's process died before the job was submitted (\(why))"
            try registry.updateStageRun(r)
            return r
        }
        if let facts, let key = stage.cacheKey, sameStage {
            let execution = StageExecution(workspace: workspace, facts: facts, registry: registry, executors: executors,
                                           cancellation: cancellation, reporter: nil, builtins: [:], metrics: metrics,
                                           signing: SigningSpec(), packageVersion: nil)
            return try execution.finishCommand(stage: stageSpec, record: stage, run: run, key: key, outcome: outcome,
                                               observer: observer, since: started).record
        }
        // The stage changed in slipway.yaml since: its exit is recorded, its outs are not cached.
        try observer.checkRegistryWrites()
        r.exitCode = outcome.exitCode
        r.endedAt = SystemClock.nowMillis()
        r.status = outcome == .cancelled ? .cancelled : (outcome.succeeded ? .interrupted : .failed)
        r.message = outcome.succeeded ? "its job succeeded, but the stage changed in slipway.yaml since; its outs were not cached"
            : StageFailure.command(outcome).description
        try registry.updateStageRun(r)
        return r
    }
}

import Synchronization
import SlipwayStore
