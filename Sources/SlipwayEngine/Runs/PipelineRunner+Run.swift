import Foundation
import SlipwayStore

/// A run from start to end: the run lock and orphans followed first, the
/// stages scheduled on their threads, the version registered with the run's
/// end, and the deploy stage's promotion.
extension PipelineRunner {
    /// Runs the pipeline to the end and returns what happened. Throws when the
    /// registry fails (``RegistryWriteFailed``) or cannot be reached.
    public func run(options: Options) throws -> RunResult {
        // One run of a pipeline at a time per workspace: runs of the same
        // pipeline write the same outs. The lock dies with its process.
        let runLock = try RunLock.acquire(workspace: workspace, pipeline: pipeline.name) { [reporter] in
            reporter?.waiting("another run of pipeline '\(self.pipeline.name)' is in progress; waiting for it to finish")
        }
        defer { runLock.release() }
        // A run of this pipeline whose process died with cluster jobs still
        // queued or running: follow them to their end first, so nothing runs twice
        // (their results are then this run's cache hits).
        try RunTakeover(workspace: workspace, registry: registry, executors: executors, say: { [reporter] in reporter?.waiting($0) })
            .followOrphans(pipeline: pipeline.name, holdingLock: true)
        var params: [String: String] = [:]
        for stage in pipeline.stages { for p in stage.params { params[p.value] = loaded.params[p.value] ?? "" } }
        let run: RunRecord
        do {
            run = try registry.startRun(NewRun(pipeline: pipeline.name, trigger: options.trigger,
                                               provenance: Provenance.collect(workspace: workspace),
                                               pid: getpid(), params: params, claiming: options.claiming,
                                               overrides: Dictionary(overrides.map { ($0.key, $0.value) }) { _, last in last }))
        } catch let conflict as RegistryConflict where !options.claiming.isEmpty {
            throw TriggersAlreadyStarted(reason: conflict.reason)
        }
        reporter?.runStarted(run)

        let heartbeat = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        heartbeat.schedule(deadline: .now() + 1, repeating: 1)
        heartbeat.setEventHandler { [registry, cancellation] in
            try? registry.heartbeat(runID: run.id)
            // A cancel asked from elsewhere (`slipway cancel`, the console, another host).
            if !cancellation.isCancelled, (try? registry.run(id: run.id))??.cancelRequestedAt != nil { cancellation.cancel() }
        }
        heartbeat.resume()
        defer { heartbeat.cancel() }

        let metrics = MetricsRecorder(store: registry)
        let state = RunState(scheduler: SchedulerState(graph: graph, jobs: options.jobs), registry: registry, reporter: reporter)
        // The run's stages are written pending on a second thread while this
        // one works out which of them the cache has (reads only).
        let adding = Background { [registry, order = state.scheduler.order] in try registry.addStageRuns(runID: run.id, stages: order) }
        // What an earlier process read may be stale now that this run holds the pipeline.
        facts.known.forget()
        facts.preload()
        // Not for a run that is over already: a registry that failed to take
        // the stages would fail each read of the plan too (after its retries).
        let cached = options.force || cancellation.isCancelled || adding.hasFailed ? nil : cachedCandidates()
        do {
            state.records.reserveCapacity(state.scheduler.order.count)
            state.outcomes.reserveCapacity(state.scheduler.order.count)
            for r in try adding.wait() { state.records[r.stage] = r }
            try FileSystem.makeDirectory(workspace.logsDir + "/run-\(run.id)")
        } catch {
            state.fatal = error
        }
        let runTracking = tracking.map { RunTracking(factory: $0, workspace: workspace, runID: run.id, pipeline: pipeline.name) }
        defer { runTracking?.stop() }
        if let cached, state.fatal == nil, !cancellation.isCancelled {
            restoreCachedStages(cached, run: run, state: state)
        }
        let execution = StageExecution(workspace: workspace, facts: facts, registry: registry, executors: executors,
                                       cancellation: cancellation, reporter: reporter, builtins: builtins, metrics: metrics,
                                       signing: loaded.spec.signing, packageVersion: options.packageVersion,
                                       tracking: runTracking)

        let lock = state.lock
        lock.lock()
        while !state.scheduler.isDone {
            if (cancellation.isCancelled || state.fatal != nil), !state.scheduler.isCancelled {
                state.settle(state.scheduler.cancel(reason: state.fatal == nil ? "run cancelled" : "not started: the registry failed"))
                if state.fatal != nil { cancellation.cancel() }
            }
            for name in state.scheduler.startable() {
                guard var r = state.records[name], let stage = stages[name] else { continue }
                r.status = .running
                r.startedAt = SystemClock.nowMillis()
                r.logPath = ".slipway/logs/run-\(run.id)/\(name).log"
                state.records[name] = r
                let started = r
                Thread.detachNewThread {
                    var outcome: StageOutcome
                    var failure: (any Error)?
                    do {
                        outcome = try execution.execute(stage: stage, record: started, run: run, force: options.force)
                    } catch {
                        failure = error
                        var failed = started
                        failed.status = .failed
                        failed.endedAt = SystemClock.nowMillis()
                        failed.message = "the registry failed: \(error)"
                        outcome = StageOutcome(record: failed, failure: .slipway(failed.message!))
                    }
                    lock.lock()
                    if let failure { state.fatal = state.fatal ?? failure }
                    state.outcomes[name] = outcome
                    state.records[name] = outcome.record
                    // A cancel settles what waits as cancelled, not as "upstream failed".
                    if self.cancellation.isCancelled, !state.scheduler.isCancelled { state.settle(state.scheduler.cancel()) }
                    state.settle(state.scheduler.finish(name, outcome.record.status))
                    lock.broadcast()
                    lock.unlock()
                }
            }
            if state.scheduler.isDone { break }
            // Wake on a finished stage, or every 100 ms to notice a cancel.
            _ = lock.wait(until: Date().addingTimeInterval(0.1))
        }
        lock.unlock()
        runTracking?.stop()
        do { try metrics.close() } catch { state.fatal = state.fatal ?? error }
        facts.hasher.flush()

        let fatal = state.fatal, records = state.records, outcomes = state.outcomes
        let order = state.scheduler.order
        let finals = order.compactMap { records[$0] }
        var status: RunStatus = fatal != nil ? .failed : state.scheduler.runStatus
        let failedNames = finals.filter { $0.status == .failed }.map(\.stage)
        var message: String? = failedNames.isEmpty ? (status == .cancelled ? "cancelled" : nil)
            : "stage \(failedNames.joined(separator: ", ")) failed: " + (finals.first { $0.status == .failed }?.message ?? "")
        if let fatal { message = "the registry failed: \(fatal)" }
        var registering: NewModelVersion?
        var packaged: OCILayoutDirectory?
        if status == .succeeded {
            registering = ModelRegistration.newVersion(run: run, pipeline: pipeline, outputs: try registry.artifacts(runID: run.id))
            // A package stage's image: its digest goes into the version record.
            if let stage = pipeline.stages.first(where: { $0.builtin == .package }),
               let out = stage.options["out"]?.stringValue {
                let layout = OCILayoutDirectory(path: workspace.absolute(out))
                do {
                    guard let built = try ImageCatalog.built(in: layout) else {
                        throw ImageMissing(reason: "no image tagged with a version is there")
                    }
                    // The package is the model: the same image is the same version.
                    registering?.artifactDigest = built.manifest.digest
                    registering?.imageDigest = built.manifest.digest
                    registering?.expectedVersion = options.packageVersion == nil ? built.version : nil
                    packaged = layout
                } catch {
                    // Never a version without its image: promotion would have no package to verify.
                    status = .failed
                    message = "stage \(stage.name)'s image in \(out) cannot be read: \(error); no version registered"
                    registering = nil
                }
            }
        }
        // The image goes into the catalog before the version that names it.
        let catalog = ImageCatalog(workspace: workspace)
        var provisionalTag: String?
        if let packaged, let r = registering, let digest = r.imageDigest, !catalog.holds(model: r.model, digest: digest) {
            let tag = ImageCatalog.provisionalTag(digest: digest, builtAs: r.expectedVersion)
            do {
                try catalog.publish(from: packaged, model: r.model, digest: digest, tag: tag)
                provisionalTag = tag
            } catch {
                status = .failed
                message = "the package's image could not be copied to .slipway/images: \(error); no version registered"
                registering = nil
            }
        }
        CrashPoint.reach("run.before-finish")
        let registration = try registry.finishRun(id: run.id, status: status, message: message, registering: registering)
        CrashPoint.reach("run.after-register")
        if let fatal { throw RegistryWriteFailed(runID: run.id, underlying: "\(fatal)") }
        if case .registered(let v) = registration, let packaged, let tag = v.imageTag, tag != provisionalTag {
            do {
                try catalog.publish(from: packaged, version: v)
            } catch {
                reporter?.waiting("the image of \(v.label) is in .slipway/images under its digest, but could not be tagged \(tag): \(error)")
            }
        }
        let finalRun = try registry.run(id: run.id) ?? run
        var result = RunResult(run: finalRun, stages: order.map { outcomes[$0] ?? StageOutcome(record: records[$0]!) },
                               gates: try registry.gateResults(runID: run.id), registration: registration)
        if let env = DeployStage.target(pipeline, loaded.spec), let summary = deployment(registration, to: env, run: finalRun, deploys: options.deploys) {
            result.deployment = summary
            // The deploy stage says what it deployed (a cache hit of its inputs
            // would otherwise say "outs restored" for a new version).
            if let name = pipeline.stages.first(where: { $0.builtin == .deploy })?.name, var record = records[name] {
                record.reason = summary
                if let i = result.stages.firstIndex(where: { $0.record.stage == name }) { result.stages[i].record.reason = summary }
                do { try registry.updateStageRun(record) } catch {
                    reporter?.waiting("the deploy stage's record could not say what it deployed (\(summary)): \(error)")
                }
            }
        }
        return result
    }

    /// The stages the cache may give this run (``CachedStages/candidates(plans:graph:stages:)``),
    /// with the inputs and keys they were picked by.
    struct CachedCandidates {
        let names: [String]
        let inputs: [String: RunPlanner.StageInputs]
        let keys: [String: String]
    }

    private func cachedCandidates() -> CachedCandidates {
        let (inputs, keys) = currentInputs()
        // The plan's inputs: a stage after a cached one has those the restore puts in place.
        let planned = plan(force: false, inputs: inputs, keys: keys)
        let names = CachedStages.candidates(plans: planned.stages, graph: graph, stages: stages)
        return CachedCandidates(names: names, inputs: planned.inputs, keys: planned.keys)
    }

    /// Takes what the cache has from the cache before anything runs: the
    /// candidates ``CachedStages`` picked from the plan are restored and
    /// recorded together, and settled in the scheduler; the rest run as usual.
    private func restoreCachedStages(_ cached: CachedCandidates, run: RunRecord, state: RunState) {
        guard !cached.names.isEmpty else { return }
        let batch = CachedStages(workspace: workspace, facts: facts, registry: registry, reporter: reporter)
        state.lock.lock()
        defer { state.lock.unlock() }
        do {
            try batch.restore(cached.names, stages: stages, graph: graph, inputs: cached.inputs, keys: cached.keys,
                              records: state.records, run: run) { recorded in
                for r in recorded {
                    state.records[r.stage] = r
                    state.outcomes[r.stage] = StageOutcome(record: r)
                    state.scheduler.finish(r.stage, .cached)
                }
            }
        } catch {
            state.fatal = error
        }
    }

    /// What the deploy stage does once the run has finished: promote the
    /// version the run made when it is not the one the pipeline's run before
    /// made (a new version, or an earlier one a param set back made again).
    /// A run that makes what the run before it made deploys nothing, so a
    /// re-run does not undo a rollback or a promotion; a sweep's members
    /// deploy nothing (``Options/deploys``), and do not count as the run
    /// before. Nil when the run made no version.
    private func deployment(_ registration: Registration?, to env: String, run: RunRecord, deploys: Bool) -> String? {
        guard let registration else { return nil }
        let made = registration.version
        guard deploys else {
            return "\(made.label) not deployed to \(env): " + (run.trigger == "sweep"
                ? "run \(run.id) is a sweep member; promote the sweep's winner with `slipway promote`"
                : "run \(run.id) (\(run.trigger)) does not deploy")
        }
        if case .registered = registration { return deploy(made, to: env, run: run) }
        do {
            let again = "\(made.label) not deployed to \(env) again: "
            let hint = " (promote it to put it back: `slipway promote \(made.label) --to \(env)`)"
            if let before = try runBefore(run) {
                let theirs = try registry.modelVersion(runID: before.id)
                if let theirs, theirs.model == made.model, theirs.version == made.version {
                    return again + "run \(before.id) made it too" + hint
                }
                // A run finished before runs recorded the version they made
                // again: the newest made again is taken as nothing new, as then.
                if theirs == nil, case .unchanged = registration {
                    return again + "it is the newest version, and run \(before.id) recorded none" + hint
                }
            }
        } catch {
            return "\(made.label) not deployed to \(env): the registry could not be read: \(error)"
        }
        return deploy(made, to: env, run: run)
    }

    /// The pipeline's newest run started before `run` that succeeded and was
    /// not a sweep member: what a deploy stage last saw. Looked for among the
    /// newest runs, past a sweep of the most members and as many failures.
    private func runBefore(_ run: RunRecord) throws -> RunRecord? {
        try registry.runs(pipeline: pipeline.name, limit: SweepService.maximumMembers * 4).first {
            $0.id < run.id && $0.status == .succeeded && $0.trigger != "sweep"
        }
    }

    /// The deploy stage's promotion, after the run registered its version: a
    /// refusal or a failed deploy is reported, not a failure of the run.
    func deploy(_ version: ModelVersionRecord, to env: String, run: RunRecord) -> String {
        let request = PromotionService.Request(model: version.model, version: version.version, environment: env,
                                               actor: run.user, reason: "deploy stage of run \(run.id)")
        do {
            switch try ApprovalService(workspace: workspace, registry: registry, spec: loaded.spec).requestPromotion(request) {
            case .decided(let outcome, _): return outcome.summary(version.label)
            case .alreadyLive: return "\(version.label) is already live in \(env)"
            case .queued(let r, _): return "\(version.label) → \(env) is high risk: waiting for approval (request \(r.id))"
            }
        } catch {
            return "\(version.label) → \(env) not promoted: \(error)"
        }
    }
}

/// The mutable state of one run in progress, shared by the scheduling loop
/// and the stage threads under `lock`.
private final class RunState: @unchecked Sendable {
    let lock = NSCondition()
    var scheduler: SchedulerState
    var records: [String: StageRunRecord] = [:]
    var outcomes: [String: StageOutcome] = [:]
    /// The first registry failure: it stops the run.
    var fatal: (any Error)?
    let registry: any Registry
    let reporter: (any RunReporter)?

    init(scheduler: SchedulerState, registry: any Registry, reporter: (any RunReporter)?) {
        self.scheduler = scheduler
        self.registry = registry
        self.reporter = reporter
    }

    /// Records stages the scheduler settled without running them (hold `lock`).
    func settle(_ settled: [(stage: String, reason: String)]) {
        for (name, reason) in settled {
            guard var r = records[name] else { continue }
            r.status = .cancelled
            r.reason = reason
            records[name] = r
            outcomes[name] = StageOutcome(record: r)
            do { try registry.updateStageRun(r) } catch { fatal = fatal ?? error }
            reporter?.stageFinished(r)
        }
    }
}

/// A package stage that succeeded left no image a version could be registered with.
struct ImageMissing: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
