import Foundation

/// Runs one pipeline: decides per stage whether it can come from the cache,
/// runs the rest on the executor in DAG order (independent stages in
/// parallel, up to `jobs` at once), stores outs and metrics, and records
/// everything in the registry as it happens.
public final class PipelineRunner: @unchecked Sendable {
    public struct Options: Sendable {
        public var jobs: Int
        public var force: Bool
        public var trigger: String

        public init(jobs: Int = ProcessInfo.processInfo.activeProcessorCount, force: Bool = false, trigger: String = "manual") {
            self.jobs = max(1, jobs)
            self.force = force
            self.trigger = trigger
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case unknownPipeline(String, available: [String])
        case noPipelineNamed

        public var description: String {
            switch self {
            case .unknownPipeline(let name, let available):
                let hint = Suggestions.closest(to: name, in: available).map { " (did you mean '\($0)'?)" } ?? ""
                return "no pipeline '\(name)' in slipway.yaml\(hint); pipelines: \(available.joined(separator: ", "))"
            case .noPipelineNamed:
                return "slipway.yaml has several pipelines: name the one to run"
            }
        }
    }

    let workspace: Workspace
    let loaded: LoadedSpec
    let pipeline: PipelineSpec
    let graph: StageGraph
    let registry: any Registry
    let executor: any Executor
    let cancellation: CancellationFlag
    let reporter: (any RunReporter)?
    let builtins: [BuiltinStage: any BuiltinStageHandler]
    let store: ContentStore
    let hasher: FileHasher

    public init(workspace: Workspace, loaded: LoadedSpec, pipeline name: String?, registry: any Registry,
                executor: any Executor = ProcessExecutor(), cancellation: CancellationFlag = CancellationFlag(),
                reporter: (any RunReporter)? = nil,
                builtins: [BuiltinStage: any BuiltinStageHandler] = [.validate: ValidateStage()]) throws {
        let names = loaded.spec.pipelines.map(\.name)
        let chosen: PipelineSpec
        if let name {
            guard let p = loaded.spec.pipeline(named: name) else { throw Failure.unknownPipeline(name, available: names) }
            chosen = p
        } else {
            guard loaded.spec.pipelines.count == 1 else { throw Failure.noPipelineNamed }
            chosen = loaded.spec.pipelines[0]
        }
        self.workspace = workspace
        self.loaded = loaded
        self.pipeline = chosen
        self.graph = StageGraph(pipeline: chosen)
        self.registry = registry
        self.executor = executor
        self.cancellation = cancellation
        self.reporter = reporter
        self.builtins = builtins
        self.store = ContentStore(workspace: workspace)
        self.hasher = FileHasher(root: workspace.root, cache: registry)
    }

    public var pipelineName: String { pipeline.name }

    // MARK: - Inputs and plans

    /// The cache inputs of a stage as the workspace is now; nil (with the
    /// missing path) when a dep does not exist.
    func inputs(of stage: StageSpec) -> Result<CacheInputs, FileHasher.Missing> {
        var deps: [String: String] = [:]
        var env: [String: String] = [:]
        do {
            for d in stage.deps { deps[d.value] = try hasher.hash(d.value) }
            for e in stage.env { env[e.value] = try hasher.hash(e.value) }
        } catch let missing as FileHasher.Missing {
            return .failure(missing)
        } catch {
            return .failure(FileHasher.Missing(path: "\(error)"))
        }
        var params: [String: String] = [:]
        for p in stage.params { params[p.value] = loaded.params[p.value] ?? "" }
        var builtin = ""
        if let b = stage.builtin {
            builtin = "uses=" + b.rawValue + " " + SpecValue.map(stage.options.map { .init(key: $0.key, value: $0.value) }).canonical
        }
        let gates = stage.gates.map { "\($0.metric)\u{1F}\($0.condition.text)" }.sorted().joined(separator: "\u{1E}")
        if !gates.isEmpty { builtin += " gates=" + gates }
        return .success(CacheInputs(command: stage.command?.value ?? "", deps: deps, params: params,
                                    envFiles: env, builtin: builtin, outputs: stage.cachedOutputs))
    }

    func previousInputs(of stage: StageSpec) -> CacheInputs? {
        guard let prev = try? registry.lastCompletedStageRun(pipeline: pipeline.name, stage: stage.name),
              let json = prev.inputs else { return nil }
        return try? JSONDecoder().decode(CacheInputs.self, from: Data(json.utf8))
    }

    func usableCacheEntry(_ key: String) -> CacheEntry? {
        guard let entry = try? registry.cacheEntry(key: key) else { return nil }
        return entry.outputs.values.allSatisfy(store.contains) ? entry : nil
    }

    /// What a run would do now, stage by stage (for `run --explain`).
    public func plan(force: Bool = false) -> [StagePlan] {
        hasher.preload(pipeline.stages.flatMap { $0.deps.map(\.value) + $0.env.map(\.value) + $0.cachedOutputs })
        var willRun: Set<String> = []
        var plans: [StagePlan] = []
        for name in graph.topologicalOrder() ?? graph.names {
            let stage = pipeline.stage(named: name)!
            let runningUps = graph.upstream[name, default: []].filter(willRun.contains)
            if !runningUps.isEmpty {
                willRun.insert(name)
                plans.append(StagePlan(stage: name, decision: .afterUpstream(runningUps)))
                continue
            }
            switch inputs(of: stage) {
            case .failure(let missing):
                let producer = pipeline.stages.first { s in s.cachedOutputs.contains { WorkspacePath.contains($0, missing.path) } }
                if producer != nil {
                    willRun.insert(name)
                    plans.append(StagePlan(stage: name, decision: .run(reasons: ["dep \(missing.path) will be restored or rebuilt"])))
                } else {
                    plans.append(StagePlan(stage: name, decision: .blocked("dep \(missing.path) does not exist")))
                }
            case .success(let inputs):
                if !force, let entry = usableCacheEntry(inputs.key) {
                    let run = (try? registry.stageRun(id: entry.stageRunID))??.runID
                    plans.append(StagePlan(stage: name, decision: .cached(fromRun: run)))
                } else {
                    willRun.insert(name)
                    plans.append(StagePlan(stage: name, decision: .run(reasons: reasons(for: stage, inputs: inputs, forced: force))))
                }
            }
        }
        hasher.flush()
        return plans
    }

    func reasons(for stage: StageSpec, inputs: CacheInputs, forced: Bool) -> [String] {
        if forced { return ["forced (--force)"] }
        let changes = inputs.changes(since: previousInputs(of: stage))
        return changes.isEmpty ? ["outputs of the last run are not in the store"] : changes
    }

    // MARK: - Running

    private let lock = NSCondition()
    private var records: [String: StageRunRecord] = [:]
    private var checkFailures: Set<String> = []
    private var finished: Set<String> = []
    private var runningCount = 0

    /// Runs the pipeline to the end and returns what happened. Throws only when
    /// the registry itself fails.
    public func run(options: Options) throws -> RunResult {
        // One run of a pipeline at a time per workspace: runs of the same
        // pipeline write the same outs. The lock dies with its process.
        let runLock = try RunLock.acquire(workspace: workspace, pipeline: pipeline.name) { [reporter] in
            reporter?.waiting("another run of pipeline '\(self.pipeline.name)' is in progress; waiting for it to finish")
        }
        defer { runLock.release() }
        var params: [String: String] = [:]
        for stage in pipeline.stages { for p in stage.params { params[p.value] = loaded.params[p.value] ?? "" } }
        let run = try registry.startRun(NewRun(pipeline: pipeline.name, trigger: options.trigger,
                                               provenance: Provenance.collect(workspace: workspace),
                                               pid: getpid(), params: params))
        reporter?.runStarted(run)
        let order = graph.topologicalOrder() ?? graph.names
        for r in try registry.addStageRuns(runID: run.id, stages: order) { records[r.stage] = r }
        hasher.preload(pipeline.stages.flatMap { $0.deps.map(\.value) + $0.env.map(\.value) + $0.cachedOutputs })

        let heartbeat = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        heartbeat.schedule(deadline: .now() + 1, repeating: 1)
        heartbeat.setEventHandler { [registry] in try? registry.heartbeat(runID: run.id) }
        heartbeat.resume()
        defer { heartbeat.cancel() }

        let metrics = MetricsRecorder(store: registry)
        try? FileSystem.makeDirectory(workspace.logsDir + "/run-\(run.id)")

        lock.lock()
        while finished.count < order.count {
            func settle(_ name: String, _ reason: String) {
                var r = records[name]!
                r.status = .cancelled
                r.reason = reason
                records[name] = r
                finished.insert(name)
                try? registry.updateStageRun(r)
                reporter?.stageFinished(r)
            }
            // A stage whose upstream did not succeed never starts (in DAG
            // order, so this reaches every dependent in one pass).
            for name in order where records[name]!.status == .pending {
                let failed = graph.upstream[name, default: []].filter { finished.contains($0) && !records[$0]!.status.isSuccess }
                if !failed.isEmpty { settle(name, "upstream \(failed.joined(separator: ", ")) did not succeed") }
            }
            // After a failure or a cancel, nothing new starts; running stages finish.
            let failedSomewhere = records.values.contains { $0.status == .failed }
            if cancellation.isCancelled || failedSomewhere {
                for name in order where records[name]!.status == .pending {
                    settle(name, cancellation.isCancelled ? "run cancelled" : "not started: another stage failed")
                }
            } else {
                for name in order where records[name]!.status == .pending && runningCount < options.jobs {
                    guard graph.upstream[name, default: []].allSatisfy({ records[$0]!.status.isSuccess }) else { continue }
                    var r = records[name]!
                    r.status = .running
                    r.startedAt = Clock.nowMillis()
                    r.logPath = ".slipway/logs/run-\(run.id)/\(name).log"
                    records[name] = r
                    runningCount += 1
                    let stage = pipeline.stage(named: name)!
                    let started = r
                    Thread.detachNewThread { [self] in
                        let (result, isCheck) = execute(stage: stage, record: started, run: run, force: options.force, metrics: metrics)
                        if stage.builtin == .package, result.status.isSuccess {
                            registerVersion(run: run, outputs: (try? registry.artifacts(runID: run.id)) ?? [:])
                        }
                        lock.lock()
                        records[name] = result
                        if isCheck { checkFailures.insert(name) }
                        finished.insert(name)
                        runningCount -= 1
                        lock.broadcast()
                        lock.unlock()
                    }
                }
            }
            if finished.count >= order.count { break }
            // Wake on a finished stage, or every 100 ms to notice a cancel.
            lock.wait(until: Date().addingTimeInterval(0.1))
        }
        lock.unlock()
        try metrics.close()
        hasher.flush()

        let finals = order.map { records[$0]! }
        let status: RunStatus
        if finals.contains(where: { $0.status == .failed }) {
            status = .failed
        } else if cancellation.isCancelled || finals.contains(where: { $0.status == .cancelled }) {
            status = .cancelled
        } else {
            status = .succeeded
        }
        let failedNames = finals.filter { $0.status == .failed }.map(\.stage)
        let message: String? = failedNames.isEmpty ? (status == .cancelled ? "cancelled" : nil)
            : "stage \(failedNames.joined(separator: ", ")) failed: " + (finals.first { $0.status == .failed }?.message ?? "")
        if status == .succeeded, !pipeline.stages.contains(where: { $0.builtin == .package }) {
            registerVersion(run: run, outputs: try registry.artifacts(runID: run.id))
        }
        try registry.finishRun(id: run.id, status: status, message: message)
        let finalRun = try registry.run(id: run.id) ?? run
        return RunResult(run: finalRun, stages: finals.map { StageOutcome(record: $0, isCheckFailure: checkFailures.contains($0.stage)) },
                         gates: (try? registry.gateResults(runID: run.id)) ?? [],
                         registered: lock.withLock { registered }, unchangedVersion: lock.withLock { unchangedVersion },
                         registrationError: lock.withLock { registrationError })
    }

    private var registered: ModelVersionRecord?
    private var unchangedVersion: ModelVersionRecord?

    /// Registers the run's model as a new version, unless its artifacts are the
    /// same as the newest version's (a no-op re-run makes no new version).
    private func registerVersion(run: RunRecord, outputs: [String: String]) {
        let digest = Digests.sha256Hex(Array(outputs.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined().utf8))
        let model = pipeline.modelName
        do {
            if let latest = try registry.modelVersions(model: model, limit: 1).first, latest.artifactDigest == digest {
                lock.withLock { unchangedVersion = latest }
                return
            }
            let version = try registry.registerVersion(NewModelVersion(model: model, runID: run.id, pipeline: pipeline.name,
                                                                       gitCommit: run.gitCommit, artifactDigest: digest,
                                                                       createdBy: run.user))
            lock.withLock { registered = version }
        } catch {
            lock.withLock { registrationError = "\(error)" }
        }
    }

    private var registrationError: String?

    /// Runs (or restores) one stage; returns its final record and whether a
    /// failure was a failed check.
    private func execute(stage: StageSpec, record: StageRunRecord, run: RunRecord, force: Bool,
                         metrics: MetricsRecorder) -> (StageRunRecord, Bool) {
        var r = record
        try? registry.updateStageRun(r)
        reporter?.stageStarted(r)
        var isCheck = false
        func finish(_ status: StageStatus, _ message: String? = nil) -> (StageRunRecord, Bool) {
            r.status = status
            r.endedAt = Clock.nowMillis()
            if let message { r.message = message }
            try? registry.updateStageRun(r)
            reporter?.stageFinished(r)
            return (r, isCheck)
        }

        let inputs: CacheInputs
        switch self.inputs(of: stage) {
        case .failure(let missing):
            r.reason = "dep missing"
            return finish(.failed, "dep \(missing.path) does not exist")
        case .success(let i): inputs = i
        }
        let key = inputs.key
        r.cacheKey = key
        r.inputs = String(decoding: (try? JSONEncoder.sorted.encode(inputs)) ?? Data(), as: UTF8.self)
        let datasetVersions = inputs.deps.sorted { $0.key < $1.key }.map { (path: $0.key, hash: $0.value) }
        try? registry.recordRunDatasets(runID: run.id, stage: stage.name, versions: datasetVersions)

        if !force, let entry = usableCacheEntry(key) {
            do {
                for (path, hash) in entry.outputs.sorted(by: { $0.key < $1.key }) {
                    // An out already in place with the right content stays as it is.
                    if FileSystem.exists(workspace.absolute(path)), (try? hasher.hash(path)) == hash { continue }
                    try store.restore(path, hash: hash)
                }
                let from = (try? registry.stageRun(id: entry.stageRunID))??.runID
                r.reason = "same inputs as " + (from.map { "run \($0)" } ?? "an earlier run") + ": outs restored from the store"
                try? registry.copyMetrics(fromStageRun: entry.stageRunID, to: r)
                try? registry.copyValidations(fromStageRun: entry.stageRunID, to: r)
                try? registry.recordArtifacts(runID: run.id, stageRunID: r.id, outputs: entry.outputs)
                let log = workspace.root + "/" + (r.logPath ?? "")
                try? FileSystem.writeFile(log, Data("[slipway] cached: \(r.reason)\n".utf8))
                if let failure = decideGates(stage: stage, stageRun: r, run: run) {
                    isCheck = true
                    return finish(.failed, failure)
                }
                return finish(.cached)
            } catch {
                r.reason = "cache restore failed (\(error)); running"
            }
        }
        if r.reason.isEmpty { r.reason = reasons(for: stage, inputs: inputs, forced: force).joined(separator: "; ") }
        try? registry.updateStageRun(r)

        // Outs are removed first, so a stage never sees (or passes off) stale results.
        for out in stage.cachedOutputs {
            do {
                try FileSystem.remove(workspace.absolute(out))
                try FileSystem.makeDirectory((workspace.absolute(out) as NSString).deletingLastPathComponent)
            } catch {
                return finish(.failed, "cannot clear out \(out): \(error)")
            }
        }

        let logPath = workspace.root + "/" + r.logPath!
        if let builtin = stage.builtin {
            guard let handler = builtins[builtin] else {
                return finish(.failed, "built-in stage `uses: \(builtin.rawValue)` is not available in slipway \(Slipway.version)")
            }
            let context = BuiltinContext(workspace: workspace, registry: registry, run: run, stageRun: r, logPath: logPath)
            if let failure = handler.execute(stage: stage, context: context) {
                isCheck = failure.isCheckFailure
                return finish(.failed, failure.message)
            }
        } else {
            var env: [String: String] = [
                "SLIPWAY_RUN_ID": String(run.id),
                "SLIPWAY_STAGE": stage.name,
                "SLIPWAY_WORKSPACE": workspace.root,
            ]
            for p in stage.params { env[Params.environmentName(for: p.value)] = loaded.params[p.value] ?? "" }
            let job = Job(command: stage.command?.value ?? "", workingDirectory: workspace.root, environment: env,
                          logPath: logPath, timeout: stage.timeout)
            let observer = StageObserver(registry: registry, record: r, metrics: metrics)
            let outcome = executor.run(job, observer: observer, cancellation: cancellation)
            r.pid = observer.pid
            r.exitCode = outcome.exitCode
            if outcome == .cancelled { return finish(.cancelled, "cancelled") }
            guard outcome.succeeded else { return finish(.failed, outcome.summary) }
        }

        // Metrics files, then the outs into the store.
        for m in stage.metrics {
            let path = workspace.absolute(m.value)
            guard let data = FileManager.default.contents(atPath: path) else {
                return finish(.failed, "metrics file \(m.value) was not written")
            }
            do {
                let now = Clock.nowMillis()
                metrics.record(try MetricParsing.parseJSON(data).map {
                    MetricRecord(runID: run.id, stageRunID: r.id, stage: stage.name, key: $0.key, step: $0.step, value: $0.value, timestamp: now)
                })
            } catch {
                return finish(.failed, "metrics file \(m.value) \(error)")
            }
        }
        metrics.flush()
        var outputs: [String: String] = [:]
        for out in stage.cachedOutputs {
            guard FileSystem.exists(workspace.absolute(out)) else {
                return finish(.failed, "declared out \(out) was not written")
            }
            guard FileSystem.staysInside(root: workspace.root, relative: out) else {
                return finish(.failed, "out \(out) is a symlink that leaves the workspace")
            }
            do {
                outputs[out] = try store.save(out, hasher: hasher)
            } catch {
                return finish(.failed, "cannot store out \(out): \(error)")
            }
        }
        hasher.flush()
        do {
            try registry.saveCacheEntry(CacheEntry(key: key, pipeline: pipeline.name, stage: stage.name, stageRunID: r.id,
                                                   outputs: outputs, createdAt: Clock.nowMillis()))
            try registry.recordArtifacts(runID: run.id, stageRunID: r.id, outputs: outputs)
        } catch {
            return finish(.failed, "cannot record the stage's outputs: \(error)")
        }
        if let failure = decideGates(stage: stage, stageRun: r, run: run) {
            isCheck = true
            return finish(.failed, failure)
        }
        return finish(.succeeded)
    }

    /// Decides and records the stage's gates; returns the failure message when
    /// any gate failed.
    private func decideGates(stage: StageSpec, stageRun: StageRunRecord, run: RunRecord) -> String? {
        guard !stage.gates.isEmpty else { return nil }
        do {
            let results = try GateEvaluator(registry: registry, model: pipeline.modelName).evaluate(stage: stage, stageRun: stageRun)
            try registry.recordGateResults(results, actor: run.user)
            let failed = results.filter { !$0.passed }
            guard !failed.isEmpty else { return nil }
            return "gate failed: " + failed.map(\.explanation).joined(separator: "; ")
        } catch {
            return "cannot decide gates: \(error)"
        }
    }
}

/// Routes a running command's reports into the registry.
final class StageObserver: JobObserver, @unchecked Sendable {
    let registry: any Registry
    let metrics: MetricsRecorder
    let record: StageRunRecord
    private let lock = NSLock()
    private var _pid: Int32?

    init(registry: any Registry, record: StageRunRecord, metrics: MetricsRecorder) {
        self.registry = registry
        self.record = record
        self.metrics = metrics
    }

    var pid: Int32? { lock.withLock { _pid } }

    func started(handle: Int32) {
        lock.withLock { _pid = handle }
        var r = record
        r.pid = handle
        try? registry.updateStageRun(r)
    }

    func stdoutLine(_ line: Substring) {
        guard let point = MetricParsing.parseLine(line) else { return }
        metrics.record(MetricRecord(runID: record.runID, stageRunID: record.id, stage: record.stage, key: point.key,
                                    step: point.step, value: point.value, timestamp: Clock.nowMillis()))
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}

