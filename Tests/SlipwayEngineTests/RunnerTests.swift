import Foundation
import Synchronization
import Testing
import SlipwayStore
@testable import SlipwayEngine

/// An executor that plays a script per stage instead of running commands:
/// how long the stage takes, what it prints and writes, how it ends.
final class FakeExecutor: Executor, @unchecked Sendable {
    struct Script {
        var seconds: Double = 0
        var outcome: JobOutcome = .exited(0)
        var writes: [String: String] = [:]
        var lines: [String] = []
        var during: (@Sendable () -> Void)?
    }

    let scripts: [String: Script]
    let lock = NSLock()
    private(set) var spans: [String: (start: Double, end: Double)] = [:]
    private(set) var cancelled: [JobHandle] = []
    var ran: [String] { lock.withLock { spans.keys.sorted() } }

    init(_ scripts: [String: Script]) { self.scripts = scripts }

    var name: String { "fake" }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    func run(_ job: Job, observer: any JobObserver, cancellation: CancellationFlag) -> JobOutcome {
        let stage = job.environment["SLIPWAY_STAGE"] ?? "?"
        let script = scripts[stage] ?? Script()
        observer.started(handle: JobHandle(executor: "fake", location: "test", id: stage))
        let start = Self.now()
        defer { lock.withLock { spans[stage] = (start, Self.now()) } }
        script.during?()
        while Self.now() - start < script.seconds {
            if cancellation.isCancelled { return .cancelled }
            usleep(5_000)
        }
        for line in script.lines { observer.stdoutLine(Substring(line)) }
        for (path, text) in script.writes {
            try? text.write(toFile: job.workingDirectory + "/" + path, atomically: true, encoding: .utf8)
        }
        return script.outcome
    }

    func cancel(_ handle: JobHandle) -> Bool {
        lock.withLock { cancelled.append(handle) }
        return handle.executor == name
    }
}

/// A workspace with `slipway.yaml` and its registry, in a temporary folder.
func makeWorkspace(_ spec: String) throws -> (Workspace, LoadedSpec, any Registry) {
    let root = NSTemporaryDirectory() + "slipway-engine-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    try spec.write(toFile: root + "/slipway.yaml", atomically: true, encoding: .utf8)
    let ws = Workspace(root: root)
    return (ws, try ws.loadSpec(), try ws.openRegistry())
}

@Suite struct RunnerTests {
    func run(_ spec: String, _ scripts: [String: FakeExecutor.Script], jobs: Int = 4,
             cancellation flag: CancellationFlag = CancellationFlag()) throws -> (RunResult, FakeExecutor, any Registry, Workspace) {
        let (ws, loaded, registry) = try makeWorkspace(spec)
        let fake = FakeExecutor(scripts)
        let runner = try PipelineRunner(workspace: ws, loaded: loaded, pipeline: nil, registry: registry, executor: fake, cancellation: flag)
        return (try runner.run(options: .init(jobs: jobs)), fake, registry, ws)
    }

    func status(_ r: RunResult, _ stage: String) -> StageStatus? {
        r.stages.first { $0.record.stage == stage }?.record.status
    }

    @Test func independentStagesRunInParallel() throws {
        let spec = """
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: a}
              b: {cmd: b}
              c: {cmd: c, needs: [a, b]}
        """
        // Each waits until the other has started: they can only both finish if
        // they run at the same time (one after the other, each would time out).
        let aStarted = DispatchSemaphore(value: 0), bStarted = DispatchSemaphore(value: 0)
        let met = Mutex(0)
        let (r, fake, _, _) = try run(spec, [
            "a": .init(during: { aStarted.signal(); if bStarted.wait(timeout: .now() + 30) == .success { met.withLock { $0 += 1 } } }),
            "b": .init(during: { bStarted.signal(); if aStarted.wait(timeout: .now() + 30) == .success { met.withLock { $0 += 1 } } }),
        ], jobs: 2)
        #expect(r.run.status == .succeeded)
        #expect(met.withLock { $0 } == 2, "a and b overlap")
        let a = try #require(fake.spans["a"]), b = try #require(fake.spans["b"]), c = try #require(fake.spans["c"])
        #expect(c.start >= max(a.end, b.end), "c waits for both")
    }

    @Test func jobsLimitsHowManyRunAtOnce() throws {
        let spec = """
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: a}
              b: {cmd: b}
        """
        let (r, fake, _, _) = try run(spec, ["a": .init(seconds: 0.2), "b": .init(seconds: 0.2)], jobs: 1)
        #expect(r.run.status == .succeeded)
        let a = try #require(fake.spans["a"]), b = try #require(fake.spans["b"])
        #expect(a.end <= b.start || b.end <= a.start)
    }

    @Test func aFailureStopsOnlyItsDependents() throws {
        let spec = """
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: a}
              b: {cmd: b}
              c: {cmd: c, needs: [a]}
              d: {cmd: d, needs: [b]}
              e: {cmd: e, needs: [c]}
        """
        let (r, fake, _, _) = try run(spec, ["a": .init(outcome: .exited(2)), "b": .init(seconds: 0.2)])
        #expect(r.run.status == .failed)
        #expect(status(r, "a") == .failed)
        #expect(r.stages.first { $0.record.stage == "a" }?.failure == .command(.exited(2)))
        #expect(status(r, "b") == .succeeded)
        #expect(status(r, "d") == .succeeded)
        #expect(status(r, "c") == .cancelled)
        #expect(status(r, "e") == .cancelled)
        #expect(r.stages.first { $0.record.stage == "c" }?.record.reason == "upstream a did not succeed")
        #expect(!fake.ran.contains("c") && !fake.ran.contains("e"))
        #expect(r.exitStatus == .stageFailed)
        #expect(r.registered == nil)
    }

    @Test func cancelSettlesWaitingStagesAndStopsRunningOnes() throws {
        let spec = """
        project: p
        pipelines:
          main:
            stages:
              slow: {cmd: slow}
              after: {cmd: after, needs: [slow]}
        """
        // Cancelled once `slow` has started, however long the run took to get there.
        let flag = CancellationFlag()
        let (r, fake, _, _) = try run(spec, ["slow": .init(seconds: 10, during: { flag.cancel() })], cancellation: flag)
        #expect(r.run.status == .cancelled)
        #expect(status(r, "slow") == .cancelled)
        #expect(status(r, "after") == .cancelled)
        #expect(r.stages.first { $0.record.stage == "after" }?.record.reason == "run cancelled")
        #expect(try #require(fake.spans["slow"]).end - (fake.spans["slow"]?.start ?? 0) < 5)
    }

    @Test func aTimeoutFailsTheStage() throws {
        let spec = """
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: a, timeout: 1s}
              b: {cmd: b, needs: [a]}
        """
        let (r, _, _, _) = try run(spec, ["a": .init(outcome: .timedOut(after: 1))])
        #expect(r.run.status == .failed)
        #expect(r.stages[0].failure == .command(.timedOut(after: 1)))
        #expect(r.stages[0].record.message == "timed out after 1.0s" || r.stages[0].record.message?.hasPrefix("timed out") == true)
        #expect(status(r, "b") == .cancelled)
    }

    @Test func parallelStagesMayStoreTheSameContent() throws {
        // Two stages write identical files at the same moment: both go into the
        // store as one object, and neither fails on the other's temporary file.
        let spec = """
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: a, outs: [a.txt]}
              b: {cmd: b, outs: [b.txt]}
              c: {cmd: c, outs: [c.txt]}
              d: {cmd: d, outs: [d.txt]}
        """
        let (ws, loaded, registry) = try makeWorkspace(spec)
        for i in 0..<15 {
            let same = "same content \(i)\n"
            let fake = FakeExecutor(["a": .init(writes: ["a.txt": same]), "b": .init(writes: ["b.txt": same]),
                                     "c": .init(writes: ["c.txt": same]), "d": .init(writes: ["d.txt": same])])
            let r = try PipelineRunner(workspace: ws, loaded: loaded, pipeline: nil, registry: registry, executor: fake)
                .run(options: .init(jobs: 4, force: true))
            #expect(r.run.status == .succeeded, "\(r.stages.compactMap(\.record.message))")
        }
    }

    @Test func aCacheHitRestoresOutsWithoutRunning() throws {
        let spec = """
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: a, outs: [out.txt]}
        """
        let (ws, loaded, registry) = try makeWorkspace(spec)
        let first = FakeExecutor(["a": .init(writes: ["out.txt": "made once"])])
        let r1 = try PipelineRunner(workspace: ws, loaded: loaded, pipeline: nil, registry: registry, executor: first).run(options: .init())
        #expect(r1.run.status == .succeeded)
        #expect(r1.registered?.version == 1)
        try FileManager.default.removeItem(atPath: ws.root + "/out.txt")
        let second = FakeExecutor([:])
        let r2 = try PipelineRunner(workspace: ws, loaded: loaded, pipeline: nil, registry: registry, executor: second).run(options: .init())
        #expect(r2.run.status == .succeeded)
        #expect(second.ran.isEmpty)
        #expect(r2.stages[0].record.status == .cached)
        #expect(try String(contentsOfFile: ws.root + "/out.txt", encoding: .utf8) == "made once")
        #expect(r2.registered == nil)
        #expect(r2.unchangedVersion?.version == 1)
    }

    @Test func metricLinesProgressAndWarningsReachTheRegistry() throws {
        let spec = """
        project: p
        pipelines:
          main:
            stages:
              train: {cmd: train}
        """
        let lines = ["::metric name=loss value=0.5 step=1", "::progress step=3 total=10", "::metric loss=1", "::metric name=x"]
        let (r, _, registry, _) = try run(spec, ["train": .init(lines: lines)])
        #expect(r.run.status == .succeeded)
        #expect(try registry.metrics(runID: r.run.id).map(\.key) == ["loss"])
        let stage = try #require(try registry.stageRuns(runID: r.run.id).first)
        #expect(stage.progressDone == 3 && stage.progressTotal == 10)
        #expect(stage.job == "fake:test:train")
        #expect(r.warnings.count == 3, "\(r.warnings)")
        #expect(r.warnings.first?.contains("::metric loss=1") == true)
        #expect(r.warnings.dropFirst().first?.contains("::metric name=x") == true, "\(r.warnings)")
        #expect(r.warnings.last?.contains("dropped 2 malformed lines") == true, "\(r.warnings)")
    }

    /// Eleven bad lines, eleven warnings (not just the first), and the
    /// stage's end says how many were dropped.
    @Test func everyMalformedMetricLineIsWarnedAndTheStageSaysHowManyWereDropped() throws {
        let spec = "project: p\npipelines: {main: {stages: {train: {cmd: train}}}}\n"
        let lines = (1...11).map { "::metric bad\($0) " } + ["::metric name=ok value=1"]
        let (r, _, registry, _) = try run(spec, ["train": .init(lines: lines)])
        #expect(r.run.status == .succeeded)
        for i in 1...11 { #expect(r.warnings.contains { $0.contains("::metric bad\(i) ") }, "bad\(i): \(r.warnings)") }
        #expect(r.warnings.last?.contains("dropped 11 malformed lines") == true, "\(r.warnings)")
        #expect(try registry.metrics(runID: r.run.id).map(\.key) == ["ok"])
    }

    /// A flood of bad lines does not become a flood of warnings; the count is still exact.
    @Test func aFloodOfMalformedMetricLinesIsRateLimitedButCounted() throws {
        let spec = "project: p\npipelines: {main: {stages: {train: {cmd: train}}}}\n"
        let (r, _, _, _) = try run(spec, ["train": .init(lines: Array(repeating: "::metric oops", count: 5000))])
        #expect(r.run.status == .succeeded)
        #expect(r.warnings.count > 10 && r.warnings.count < 200, "\(r.warnings.count)")
        #expect(r.warnings.last?.contains("dropped 5000 malformed lines") == true, "\(r.warnings.last ?? "")")
    }

    /// `1e999` is infinity from a line and from a metrics file alike: kept as
    /// the value it denotes, with a warning, never a failed stage on one path
    /// and a silent infinity on the other.
    @Test func nonFiniteMetricsFollowOneRuleFromLinesAndFiles() throws {
        let spec = "project: p\npipelines: {main: {stages: {train: {cmd: train, metrics: [m.json]}}}}\n"
        let (r, _, registry, _) = try run(spec, ["train": .init(writes: ["m.json": #"{"huge": 1e999, "acc": 0.5}"#],
                                                               lines: ["::metric name=big value=1e999"])])
        #expect(r.run.status == .succeeded, "\(r.stages.map { $0.failure?.description ?? "" })")
        let values = Dictionary(try registry.metrics(runID: r.run.id).map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(values["big"] == .infinity && values["huge"] == .infinity && values["acc"] == 0.5, "\(values)")
        #expect(r.warnings.contains { $0.contains("big is Infinity") }, "\(r.warnings)")
        #expect(r.warnings.contains { $0.contains("huge is Infinity") && $0.contains("m.json") }, "\(r.warnings)")
    }

    @Test func aRegistryWriteThatFailsFailsTheRun() throws {
        let spec = """
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: a, outs: [out.txt]}
              b: {cmd: b, needs: [a]}
        """
        let (ws, loaded, registry) = try makeWorkspace(spec)
        // While `a` runs, the table its outputs are recorded in disappears.
        let breakRegistry: @Sendable () -> Void = {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["sqlite3", ws.registryPath, "DROP TABLE artifact;"]
            try? p.run()
            p.waitUntilExit()
        }
        let fake = FakeExecutor(["a": .init(writes: ["out.txt": "x"], during: breakRegistry)])
        let runner = try PipelineRunner(workspace: ws, loaded: loaded, pipeline: nil, registry: registry, executor: fake)
        #expect(throws: PipelineRunner.RegistryWriteFailed.self) { try runner.run(options: .init()) }
        #expect(!fake.ran.contains("b"))
        let run = try #require(try registry.runs(limit: 1, offset: 0).first)
        #expect(run.status == .failed)
        #expect(run.message?.contains("the registry failed") == true)
        #expect(try registry.modelVersion(runID: run.id) == nil)
    }
}

@Suite struct ReaperTests {
    func registryWithRun(pid: Int32, startedAt: Millis? = nil, heartbeatAge: Millis) throws -> (any Registry, RunRecord) {
        let (_, _, registry) = try makeWorkspace("project: p\npipelines:\n  main:\n    stages:\n      a: {cmd: a}\n")
        let run = try registry.startRun(NewRun(pipeline: "main", trigger: "manual",
                                               provenance: Provenance(user: "u", host: Provenance.hostName(), slipwayVersion: "t"),
                                               pid: pid, params: [:]))
        var stage = try registry.addStageRuns(runID: run.id, stages: ["a"])[0]
        stage.status = .running
        try registry.updateStageRun(stage)
        try registry.setStageJob(stageRunID: stage.id, pid: nil, job: "fake:test:a")
        return (registry, run)
    }

    @Test func aDeadRunIsInterruptedAndItsJobsCancelledByTheirExecutor() throws {
        // A pid that exited: spawn and reap a child.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let (registry, run) = try registryWithRun(pid: p.processIdentifier, heartbeatAge: 0)
        let fake = FakeExecutor([:])
        let reaped = try RunReaper(executors: [fake]).reap(registry)
        #expect(reaped == [run.id])
        #expect(try registry.run(id: run.id)?.status == .interrupted)
        #expect(fake.cancelled == [JobHandle(executor: "fake", location: "test", id: "a")])
    }

    @Test func aStoppedButLivingOwnerIsNotReaped() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = ["30"]
        try p.run()
        defer { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        kill(p.processIdentifier, SIGSTOP)
        usleep(100_000)
        let (registry, run) = try registryWithRun(pid: p.processIdentifier, heartbeatAge: 0)
        // Long past any heartbeat deadline: still alive, so still running.
        let reaped = try RunReaper(executors: [FakeExecutor([:])]).reap(registry, now: SystemClock.nowMillis() + 3_600_000)
        #expect(reaped.isEmpty)
        #expect(try registry.run(id: run.id)?.status == .running)
    }

    @Test func aReusedPidDoesNotKeepADeadRunAlive() throws {
        // This process started long before a run recorded "now + 1 h" would have.
        let (registry, run) = try registryWithRun(pid: getpid(), heartbeatAge: 0)
        #expect(try RunReaper(executors: []).reap(registry).isEmpty)
        _ = run
        let later = try registry.startRun(NewRun(pipeline: "main", trigger: "manual",
                                                 provenance: Provenance(user: "u", host: Provenance.hostName(), slipwayVersion: "t"),
                                                 pid: getpid(), params: [:]))
        // The owner's recorded start is after this pid's process began: fine. Fake a
        // run whose owner last beat before this process began, as if the pid had been reused.
        var reused = later
        reused.startedAt = 1_000
        reused.heartbeatAt = 1_000
        #expect(RunReaper().isDead(reused, host: Provenance.hostName(), now: SystemClock.nowMillis()))
        #expect(!RunReaper().isDead(later, host: Provenance.hostName(), now: SystemClock.nowMillis()))
    }

    @Test func localExecutorOnlyCancelsItsOwnHandles() {
        let local = ProcessExecutor()
        #expect(!local.cancel(JobHandle(executor: "slurm", location: "cluster", id: "12345")))
        #expect(!local.cancel(JobHandle(executor: "local", location: "another-host", id: "12345")))
        #expect(JobHandle("local:host:42") == JobHandle(executor: "local", location: "host", id: "42"))
        #expect(JobHandle("nonsense") == nil)
    }
}
