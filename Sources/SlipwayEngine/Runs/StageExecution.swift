import Foundation
import SlipwayStore

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
    let executors: Executors
    let cancellation: CancellationFlag
    let reporter: (any RunReporter)?
    let builtins: [BuiltinStage: any BuiltinStageHandler]
    let metrics: MetricsRecorder
    let signing: SigningSpec
    let packageVersion: Int?
    /// The run's tracking endpoint (MLflow), when the run serves one.
    var tracking: RunTracking? = nil

    var pipeline: PipelineSpec { facts.pipeline }
    var files: ContainedFiles { ContainedFiles(root: workspace.root) }

    func execute(stage: StageSpec, record: StageRunRecord, run: RunRecord, force: Bool) throws -> StageOutcome {
        var r = record
        try registry.updateStageRun(r)
        reporter?.stageStarted(r)
        var warnings: [String] = []
        func finish(_ status: StageStatus, _ failure: StageFailure? = nil) throws -> StageOutcome {
            try end(&r, status, failure, warnings: warnings)
        }

        // Every dep is read now: one that leads out of the workspace through a
        // symlink (planted by an earlier stage, say) is refused, not read.
        for dep in (stage.deps + stage.env).map(\.value) {
            do { _ = try files.readable(dep) } catch {
                r.reason = "dep refused"
                return try finish(.failed, .input("dep \(error)"))
            }
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
                r.reason = facts.restoredReason(entry, stage: stage)
                try registry.copyMetrics(fromStageRun: entry.stageRunID, to: r)
                try registry.copyValidations(fromStageRun: entry.stageRunID, to: r)
                try registry.copyTracked(fromStageRun: entry.stageRunID, to: r)
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
            if let failure = try collect(stage: stage, record: r, run: run, key: key, warnings: &warnings) { return try finish(.failed, failure) }
            return try finish(.succeeded)
        }
        let executor = executors.executor(for: stage.executor)
        var job = Self.job(for: stage, run: run, record: r, workspace: workspace, params: facts.params, logPath: logPath)
        // The stage's MLflow artifact area is cleared like an out, whether or
        // not it gets a scope, so what is stored from it was written now.
        let area = RunTracking.artifactArea(stage: stage.name)
        do { try files.remove(area) } catch {
            return try finish(.failed, .slipway("cannot clear \(area): \(error)"))
        }
        // The run's MLflow endpoint listens on loopback: a local stage's only.
        var trackingWarnings: [String] = []
        let tracked = stage.executor.kind == .local
            ? tracking?.open(stage: stage.name, record: r, run: run, logPath: logPath, registry: registry, metrics: metrics,
                             warnings: &trackingWarnings)
            : nil
        job.environment.merge(tracked?.environment ?? [:]) { _, endpoint in endpoint }
        if let tracked { job.secrets.append(tracked.scope.token) }
        let observer = StageObserver(registry: registry, record: r, metrics: metrics, logPath: logPath)
        let started = SystemClock.nowMillis()
        let outcome = executor.run(job, observer: observer, cancellation: cancellation)
        trackingWarnings += tracked?.close(declared: stage.params.map(\.value), params: facts.params) ?? []
        return try finishCommand(stage: stage, record: r, run: run, key: key, outcome: outcome, observer: observer, since: started,
                                 warnings: trackingWarnings)
    }

    /// The job a command stage runs: its command in the workspace, with its
    /// params and `SLIPWAY_*` in the environment, its log, its executor's resources.
    static func job(for stage: StageSpec, run: RunRecord, record: StageRunRecord, workspace: Workspace, params: Params,
                    logPath: String) -> Job {
        var env: [String: String] = [
            "SLIPWAY_RUN_ID": String(run.id),
            "SLIPWAY_STAGE": stage.name,
            "SLIPWAY_WORKSPACE": workspace.root,
        ]
        for p in stage.params { env[Params.environmentName(for: p.value)] = params[p.value] ?? "" }
        if let m = stage.matrix { for (a, v) in zip(m.axes, m.values) { env[Matrix.environmentName(for: a)] = v } }
        return Job(command: stage.command?.value ?? "", workingDirectory: workspace.root, environment: env,
                   logPath: logPath, timeout: stage.timeout, resources: stage.executor,
                   name: "slipway-r\(run.id)-\(stage.name)-s\(record.id)", workArea: workspace.stateDir + "/runs/run-\(run.id)")
    }

    /// A command stage after its job ended (here, or followed by whoever took
    /// the run over): its exit, then its results.
    func finishCommand(stage: StageSpec, record: StageRunRecord, run: RunRecord, key: String, outcome: JobOutcome,
                       observer: StageObserver, since started: Millis, warnings more: [String] = []) throws -> StageOutcome {
        var r = record
        var warnings = observer.finishWarnings() + more
        try observer.checkRegistryWrites()
        r.pid = observer.pid
        r.exitCode = outcome.exitCode
        // Every stage says where it ran and for how long; a cluster's executor said more while it ran.
        if observer.lastStatus == nil || observer.lastStatus?.executor == "local" {
            let elapsed = Double(SystemClock.nowMillis() - started) / 1000
            try registry.setStageJobStatus(stageRunID: r.id, status: JobStatus(
                executor: observer.handle?.executor ?? "local", jobID: observer.handle.flatMap { $0.id.hasPrefix("name=") ? nil : $0.id },
                state: outcome.succeeded ? "COMPLETED" : (outcome == .cancelled ? "CANCELLED" : "FAILED"),
                node: observer.handle?.executor == "local" ? observer.handle?.location : nil, elapsed: elapsed,
                exitCode: outcome.exitCode.map { "\($0):0" } ?? { if case .signalled(let s) = outcome { return "0:\(s)" }; return nil }()))
        }
        func finish(_ status: StageStatus, _ failure: StageFailure? = nil) throws -> StageOutcome {
            try end(&r, status, failure, warnings: warnings)
        }
        if outcome == .cancelled { return try finish(.cancelled) }
        guard outcome.succeeded else { return try finish(.failed, .command(outcome)) }
        if let failure = try collect(stage: stage, record: r, run: run, key: key, warnings: &warnings) { return try finish(.failed, failure) }
        return try finish(.succeeded)
    }

    /// Records how the stage ended and tells the reporter.
    private func end(_ r: inout StageRunRecord, _ status: StageStatus, _ failure: StageFailure?, warnings: [String]) throws -> StageOutcome {
        r.status = status
        r.endedAt = SystemClock.nowMillis()
        if let failure { r.message = failure.description }
        try registry.updateStageRun(r)
        reporter?.stageFinished(r)
        return StageOutcome(record: r, failure: failure, warnings: warnings)
    }

    /// What a stage leaves: its metrics files read, its outs into the store,
    /// the cache entry, its gates decided. The failure, if any.
    func collect(stage: StageSpec, record r: StageRunRecord, run: RunRecord, key: String, warnings: inout [String]) throws -> StageFailure? {
        for m in stage.metrics {
            guard FileSystem.staysInside(root: workspace.root, relative: m.value),
                  let data = FileManager.default.contents(atPath: workspace.absolute(m.value)) else {
                return .output("metrics file \(m.value) was not written")
            }
            do {
                let now = SystemClock.nowMillis()
                let points = try MetricParsing.parseJSON(data)
                // The same rule as for `::metric` lines: a non-finite value is kept, and said.
                warnings += points.compactMap(MetricParsing.nonFiniteWarning).map { "metrics file \(m.value): \($0)" }
                metrics.record(points.map {
                    MetricRecord(runID: run.id, stageRunID: r.id, stage: stage.name, key: $0.key, step: $0.step, value: $0.value, timestamp: now)
                })
            } catch {
                return .output("metrics file \(m.value) \(error)")
            }
        }
        try metrics.flushReportingErrors()
        var outputs: [String: String] = [:]
        for out in storedOutputs(stage) {
            guard FileSystem.exists(workspace.absolute(out)) else {
                return .output("declared out \(out) was not written")
            }
            guard FileSystem.staysInside(root: workspace.root, relative: out) else {
                return .output("out \(out) is a symlink that leaves the workspace")
            }
            do {
                outputs[out] = try facts.store.save(out, hasher: facts.hasher)
            } catch {
                return .slipway("cannot store out \(out): \(error)")
            }
        }
        facts.hasher.flush()
        let entry = CacheEntry(key: key, pipeline: pipeline.name, stage: stage.name, stageRunID: r.id,
                               outputs: outputs, createdAt: SystemClock.nowMillis())
        try registry.saveCacheEntry(entry)
        facts.remember(entry)
        try registry.recordArtifacts(runID: run.id, stageRunID: r.id, outputs: outputs)
        return try decideGates(stage: stage, stageRun: r, run: run)
    }

    /// The outs to store: the declared ones, and the stage's MLflow
    /// artifacts when it wrote any (so a cache hit restores them too).
    private func storedOutputs(_ stage: StageSpec) -> [String] {
        var outs = stage.cachedOutputs
        let area = RunTracking.artifactArea(stage: stage.name)
        if stage.builtin == nil, FileSystem.exists(workspace.absolute(area)),
           !outs.contains(where: { WorkspacePath.contains($0, area) }) {
            outs.append(area)
        }
        return outs
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
/// progress, its job handle. Warns about each `::metric`/`::progress` line
/// that does not parse (at most ``burst`` at once, then ``perSecond``: a
/// flood of bad lines does not become a flood of warnings) and, at the end,
/// says how many were dropped; warns once per metric about a non-finite value.
final class StageObserver: JobObserver, @unchecked Sendable {
    static let burst = 20.0
    static let perSecond = 5.0
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
    private var malformed = 0
    private var unshown = 0
    private var tokens = StageObserver.burst
    private var lastRefill = DispatchTime.now().uptimeNanoseconds
    private var nonFinite: Set<String> = []
    private var _handle: JobHandle?
    private var _status: JobStatus?
    /// Metric points already recorded by an earlier owner of this stage
    /// (a run taken over re-reads the log from its start): skipped once each.
    private var alreadyRecorded: [MetricKey: Int] = [:]

    struct MetricKey: Hashable {
        var key: String
        var step: Int64?
        var value: UInt64
    }

    init(registry: any Registry, record: StageRunRecord, metrics: MetricsRecorder, logPath: String) {
        self.registry = registry
        self.record = record
        self.metrics = metrics
        self.logPath = logPath
    }

    var pid: Int32? { lock.withLock { _pid } }
    var warnings: [String] { lock.withLock { _warnings } }
    var handle: JobHandle? { lock.withLock { _handle } }
    var lastStatus: JobStatus? { lock.withLock { _status } }

    /// Skips these points when the log reports them again (see ``alreadyRecorded``).
    func skipping(_ points: [MetricRecord]) {
        lock.withLock {
            for p in points { alreadyRecorded[MetricKey(key: p.key, step: p.step, value: p.value.bitPattern), default: 0] += 1 }
        }
    }

    /// The warnings, ending with how many lines were dropped (also in the log).
    func finishWarnings() -> [String] {
        let (count, hidden) = lock.withLock { (malformed, unshown) }
        if count > 0 {
            let summary = "dropped \(count) malformed line\(count == 1 ? "" : "s") (`::metric`/`::progress` lines that do not parse)"
                + (hidden > 0 ? "; \(hidden) of them not warned about one by one" : "")
            lock.withLock { _warnings.append(summary) }
            appendToLog("[slipway] " + summary)
        }
        return warnings
    }

    private func appendToLog(_ line: String) {
        // O_APPEND: the line lands whole beside the output the executor is writing.
        let fd = open(logPath, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { return }
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

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
        lock.withLock { _pid = pgid; _handle = handle }
        do {
            try registry.setStageJob(stageRunID: record.id, pid: pgid, job: handle.description)
        } catch {
            lock.withLock { writeError = writeError ?? error }
        }
    }

    func status(_ status: JobStatus) {
        lock.withLock { _status = status }
        do {
            try registry.setStageJobStatus(stageRunID: record.id, status: status)
        } catch {
            lock.withLock { writeError = writeError ?? error }
        }
    }

    func stdoutLine(_ line: Substring) {
        switch MetricParsing.classify(line) {
        case .text: return
        case .metric(let point):
            let seen = lock.withLock { () -> Bool in
                let k = MetricKey(key: point.key, step: point.step, value: point.value.bitPattern)
                guard let n = alreadyRecorded[k], n > 0 else { return false }
                alreadyRecorded[k] = n - 1
                return true
            }
            if seen { return }
            if let warning = MetricParsing.nonFiniteWarning(point), lock.withLock({ nonFinite.insert(point.key).inserted }) {
                lock.withLock { _warnings.append(warning) }
                appendToLog("[slipway] warning: " + warning)
            }
            metrics.record(MetricRecord(runID: record.runID, stageRunID: record.id, stage: record.stage, key: point.key,
                                        step: point.step, value: point.value, timestamp: SystemClock.nowMillis()))
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
            let shown = lock.withLock { () -> Bool in
                malformed += 1
                // A token bucket: `burst` warnings at once, then `perSecond`.
                let now = DispatchTime.now().uptimeNanoseconds
                tokens = min(Self.burst, tokens + Double(now - lastRefill) / 1e9 * Self.perSecond)
                lastRefill = now
                guard tokens >= 1 else { unshown += 1; return false }
                tokens -= 1
                _warnings.append("ignored a line that does not parse: \(text) (write `::metric name=NAME value=NUMBER [step=N]`)")
                return true
            }
            if shown { appendToLog("[slipway] warning: ignored a line that does not parse: \(text)") }
        }
    }
}
