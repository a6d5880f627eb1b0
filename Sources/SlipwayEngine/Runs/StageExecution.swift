import Foundation

/// Runs one stage of a run, or restores it from the cache: clears its outs,
/// runs its command on the executor (or its built-in handler), reads its
/// metrics files, stores its outs, records the cache entry, decides its gates.
///
/// What goes wrong with the stage is its result (``StageFailure``); what
/// goes wrong with the registry is thrown, because the audit trail depends on
/// every write here.
struct StageExecution: @unchecked Sendable {
    let workspace: Workspace
    let facts: StageFacts
    let registry: any Registry
    let executor: any Executor
    let cancellation: CancellationFlag
    let reporter: (any RunReporter)?
    let builtins: [BuiltinStage: any BuiltinStageHandler]
    let metrics: MetricsRecorder
    let signing: SigningSpec
    let packageVersion: Int?

    var pipeline: PipelineSpec { facts.pipeline }
    var files: ContainedFiles { ContainedFiles(root: workspace.root) }

    func execute(stage: StageSpec, record: StageRunRecord, run: RunRecord, force: Bool) throws -> StageOutcome {
        var r = record
        try registry.updateStageRun(r)
        reporter?.stageStarted(r)
        var warnings: [String] = []
        func finish(_ status: StageStatus, _ failure: StageFailure? = nil) throws -> StageOutcome {
            r.status = status
            r.endedAt = Clock.nowMillis()
            if let failure { r.message = failure.description }
            try registry.updateStageRun(r)
            reporter?.stageFinished(r)
            return StageOutcome(record: r, failure: failure, warnings: warnings)
        }

        let inputs: CacheInputs
        switch facts.inputs(of: stage) {
        case .missing(let path):
            r.reason = "dep missing"
            return try finish(.failed, .depMissing(path))
        case .ready(let i): inputs = i
        }
        let key = inputs.key
        r.cacheKey = key
        r.inputs = String(decoding: try JSONEncoder.sorted.encode(inputs), as: UTF8.self)
        try registry.recordRunDatasets(runID: run.id, stage: stage.name,
                                       versions: inputs.deps.sorted { $0.key < $1.key }.map { (path: $0.key, hash: $0.value) })
        let logPath = workspace.root + "/" + (r.logPath ?? "")

        if !force, let entry = facts.usableCacheEntry(key) {
            var restored = true
            do {
                try facts.restoreOutputs(of: entry)
            } catch {
                restored = false
                r.reason = "cache restore failed (\(error)); running"
            }
            if restored {
                r.reason = facts.restoredReason(entry)
                try registry.copyMetrics(fromStageRun: entry.stageRunID, to: r)
                try registry.copyValidations(fromStageRun: entry.stageRunID, to: r)
                try registry.recordArtifacts(runID: run.id, stageRunID: r.id, outputs: entry.outputs)
                try? FileSystem.writeFile(logPath, Data("[slipway] cached: \(r.reason)\n".utf8))
                if let failure = try decideGates(stage: stage, stageRun: r, run: run) { return try finish(.failed, failure) }
                return try finish(.cached)
            }
        }
        if r.reason.isEmpty {
            r.reason = RunPlanner.reasons(inputs: inputs, previous: facts.previousInputs(of: stage.name), forced: force)
                .joined(separator: "; ")
        }
        try registry.updateStageRun(r)

        // Outs are removed first, so a stage never sees (or passes off) stale
        // results; each removal refuses to pass through a symlink.
        for out in stage.cachedOutputs {
            do {
                try files.remove(out)
                try files.makeParent(out)
            } catch {
                return try finish(.failed, .slipway("cannot clear out \(out): \(error)"))
            }
        }

        if let builtin = stage.builtin {
            guard let handler = builtins[builtin] else {
                return try finish(.failed, .slipway("built-in stage `uses: \(builtin.rawValue)` is not available in slipway \(Slipway.version)"))
            }
            let context = BuiltinContext(workspace: workspace, registry: registry, run: run, stageRun: r, logPath: logPath,
                                         pipeline: pipeline, signing: signing, packageVersion: packageVersion)
            if let failure = try handler.execute(stage: stage, context: context) { return try finish(.failed, failure) }
        } else {
            var env: [String: String] = [
                "SLIPWAY_RUN_ID": String(run.id),
                "SLIPWAY_STAGE": stage.name,
                "SLIPWAY_WORKSPACE": workspace.root,
            ]
            for p in stage.params { env[Params.environmentName(for: p.value)] = facts.params[p.value] ?? "" }
            let job = Job(command: stage.command?.value ?? "", workingDirectory: workspace.root, environment: env,
                          logPath: logPath, timeout: stage.timeout)
            let observer = StageObserver(registry: registry, record: r, metrics: metrics, logPath: logPath)
            let outcome = executor.run(job, observer: observer, cancellation: cancellation)
            warnings = observer.warnings
            try observer.checkRegistryWrites()
            r.pid = observer.pid
            r.exitCode = outcome.exitCode
            if outcome == .cancelled { return try finish(.cancelled) }
            guard outcome.succeeded else { return try finish(.failed, .command(outcome)) }
        }

        // Metrics files, then the outs into the store.
        for m in stage.metrics {
            guard FileSystem.staysInside(root: workspace.root, relative: m.value),
                  let data = FileManager.default.contents(atPath: workspace.absolute(m.value)) else {
                return try finish(.failed, .output("metrics file \(m.value) was not written"))
            }
            do {
                let now = Clock.nowMillis()
                metrics.record(try MetricParsing.parseJSON(data).map {
                    MetricRecord(runID: run.id, stageRunID: r.id, stage: stage.name, key: $0.key, step: $0.step, value: $0.value, timestamp: now)
                })
            } catch {
                return try finish(.failed, .output("metrics file \(m.value) \(error)"))
            }
        }
        try metrics.flushReportingErrors()
        var outputs: [String: String] = [:]
        for out in stage.cachedOutputs {
            guard FileSystem.exists(workspace.absolute(out)) else {
                return try finish(.failed, .output("declared out \(out) was not written"))
            }
            guard FileSystem.staysInside(root: workspace.root, relative: out) else {
                return try finish(.failed, .output("out \(out) is a symlink that leaves the workspace"))
            }
            do {
                outputs[out] = try facts.store.save(out, hasher: facts.hasher)
            } catch {
                return try finish(.failed, .slipway("cannot store out \(out): \(error)"))
            }
        }
        facts.hasher.flush()
        let entry = CacheEntry(key: key, pipeline: pipeline.name, stage: stage.name, stageRunID: r.id,
                               outputs: outputs, createdAt: Clock.nowMillis())
        try registry.saveCacheEntry(entry)
        facts.remember(entry)
        try registry.recordArtifacts(runID: run.id, stageRunID: r.id, outputs: outputs)
        if let failure = try decideGates(stage: stage, stageRun: r, run: run) { return try finish(.failed, failure) }
        return try finish(.succeeded)
    }

    /// Decides and records the stage's gates; the failure when any gate failed.
    private func decideGates(stage: StageSpec, stageRun: StageRunRecord, run: RunRecord) throws -> StageFailure? {
        guard !stage.gates.isEmpty else { return nil }
        let results = try GateEvaluator(registry: registry, model: pipeline.modelName).evaluate(stage: stage, stageRun: stageRun)
        try registry.recordGateResults(results, actor: run.user)
        let failed = results.filter { !$0.passed }
        return failed.isEmpty ? nil : .gates(failed.map(\.explanation))
    }
}

/// Routes a running command's reports into the registry: metric points,
/// progress, its job handle; warns once about a `::metric` line that does not parse.
final class StageObserver: JobObserver, @unchecked Sendable {
    let registry: any Registry
    let metrics: MetricsRecorder
    let record: StageRunRecord
    let logPath: String
    private let lock = NSLock()
    private var _pid: Int32?
    private var _warnings: [String] = []
    private var writeError: (any Error)?
    private var lastProgressWrite: UInt64 = 0
    private var pendingProgress: (Int64, Int64)?

    init(registry: any Registry, record: StageRunRecord, metrics: MetricsRecorder, logPath: String) {
        self.registry = registry
        self.record = record
        self.metrics = metrics
        self.logPath = logPath
    }

    var pid: Int32? { lock.withLock { _pid } }
    var warnings: [String] { lock.withLock { _warnings } }

    /// Throws the first registry write that failed while the job ran; writes
    /// the last progress report that was held back.
    func checkRegistryWrites() throws {
        if let (done, total) = lock.withLock({ pendingProgress }) {
            try registry.setStageProgress(stageRunID: record.id, done: done, total: total)
        }
        if let e = lock.withLock({ writeError }) { throw e }
    }

    func started(handle: JobHandle) {
        let pgid = handle.executor == "local" ? Int32(handle.id) : nil
        lock.withLock { _pid = pgid }
        do {
            try registry.setStageJob(stageRunID: record.id, pid: pgid, job: handle.description)
        } catch {
            lock.withLock { writeError = writeError ?? error }
        }
    }

    func stdoutLine(_ line: Substring) {
        switch MetricParsing.classify(line) {
        case .text: return
        case .metric(let point):
            metrics.record(MetricRecord(runID: record.runID, stageRunID: record.id, stage: record.stage, key: point.key,
                                        step: point.step, value: point.value, timestamp: Clock.nowMillis()))
        case .progress(let done, let total):
            // At most four writes a second; the last report is written when the job ends.
            let now = DispatchTime.now().uptimeNanoseconds
            let due = lock.withLock { () -> Bool in
                if now - lastProgressWrite < 250_000_000 { pendingProgress = (done, total); return false }
                lastProgressWrite = now
                pendingProgress = nil
                return true
            }
            guard due else { return }
            do { try registry.setStageProgress(stageRunID: record.id, done: done, total: total) } catch {
                lock.withLock { writeError = writeError ?? error }
            }
        case .malformed(let text):
            let first = lock.withLock { () -> Bool in
                guard _warnings.isEmpty else { return false }
                _warnings.append("ignored a line that does not parse: \(text) (write `::metric name=NAME value=NUMBER [step=N]`)")
                return true
            }
            guard first else { return }
            // O_APPEND: the line lands whole beside the output the executor is writing.
            let fd = open(logPath, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard fd >= 0 else { return }
            let note = Array("[slipway] warning: ignored a line that does not parse: \(text)\n".utf8)
            _ = note.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
