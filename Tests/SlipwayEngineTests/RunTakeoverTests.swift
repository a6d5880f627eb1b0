import Foundation
import Synchronization
import Testing
import SlipwayStore
@testable import SlipwayEngine

/// A cluster executor whose jobs outlive their owner: `reattach` plays the
/// rest of the job (what it prints and writes, how it ends).
final class FakeClusterExecutor: Executor, @unchecked Sendable {
    let lines: [String]
    let writes: [String: String]
    let outcome: JobOutcome
    private let state = Mutex<(reattached: [JobHandle], cancelled: [JobHandle])>(([], []))

    init(lines: [String] = [], writes: [String: String] = [:], outcome: JobOutcome = .exited(0)) {
        self.lines = lines
        self.writes = writes
        self.outcome = outcome
    }

    var name: String { "slurm" }
    var jobsOutliveOwner: Bool { true }
    var reattached: [JobHandle] { state.withLock { $0.reattached } }
    var cancelled: [JobHandle] { state.withLock { $0.cancelled } }

    func run(_ job: Job, observer: any JobObserver, cancellation: CancellationFlag) -> JobOutcome { .failedToStart("not here") }

    func cancel(_ handle: JobHandle) -> Bool {
        state.withLock { $0.cancelled.append(handle) }
        return true
    }

    func reattach(_ handle: JobHandle, job: Job, observer: any JobObserver, cancellation: CancellationFlag) -> JobOutcome? {
        state.withLock { $0.reattached.append(handle) }
        if cancellation.isCancelled { return .cancelled }
        if let h = FileHandle(forWritingAtPath: job.logPath) {
            h.seekToEndOfFile()
            h.write(Data(lines.map { $0 + "\n" }.joined().utf8))
            try? h.close()
        }
        for (path, text) in writes { try? text.write(toFile: job.workingDirectory + "/" + path, atomically: true, encoding: .utf8) }
        // From the start of the log, as a real re-attach reads it.
        LogTail(path: job.logPath).pump(observer, final: true)
        return outcome
    }
}

@Suite struct RunTakeoverTests {
    /// A pid that no longer runs.
    func deadPid() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    /// A run of `train` left by a dead process with its job on the cluster,
    /// one metric point already recorded from the log.
    func orphan() throws -> (Workspace, any Registry, RunRecord, StageRunRecord) {
        let (ws, _, registry) = try makeWorkspace("""
        project: p
        pipelines:
          main:
            stages:
              train: {cmd: ./train.sh, outs: [model.txt], executor: {kind: slurm, cpus: 2}}
              evaluate: {cmd: ./eval.sh, deps: [model.txt], needs: [train]}
        """)
        let run = try registry.startRun(NewRun(pipeline: "main", trigger: "manual",
                                               provenance: Provenance(user: "u", host: Provenance.hostName(), slipwayVersion: "t"),
                                               pid: try deadPid(), params: [:]))
        var stages = try registry.addStageRuns(runID: run.id, stages: ["train", "evaluate"])
        let inputs = CacheInputs(command: "./train.sh", outputs: ["model.txt"])
        stages[0].status = .running
        stages[0].startedAt = SystemClock.nowMillis()
        stages[0].cacheKey = inputs.key
        stages[0].inputs = String(decoding: try JSONEncoder().encode(inputs), as: UTF8.self)
        stages[0].logPath = ".slipway/logs/run-\(run.id)/train.log"
        try registry.updateStageRun(stages[0])
        try registry.setStageJob(stageRunID: stages[0].id, pid: nil, job: "slurm:c:77")
        try FileManager.default.createDirectory(atPath: ws.logsDir + "/run-\(run.id)", withIntermediateDirectories: true)
        try "epoch 1\n::metric name=loss value=0.9 step=1\n".write(toFile: ws.root + "/" + stages[0].logPath!, atomically: true, encoding: .utf8)
        try registry.appendMetrics([MetricRecord(runID: run.id, stageRunID: stages[0].id, stage: "train", key: "loss", step: 1,
                                                 value: 0.9, timestamp: SystemClock.nowMillis())])
        return (ws, registry, run, stages[0])
    }

    @Test func anOrphanedJobIsFollowedToItsEndAndRecordedOnce() throws {
        let (ws, registry, run, train) = try orphan()
        let cluster = FakeClusterExecutor(lines: ["::metric name=loss value=0.5 step=2"], writes: ["model.txt": "m"])
        let takeover = RunTakeover(workspace: ws, registry: registry, executors: Executors(local: FakeExecutor([:]), slurm: cluster))
        var owned = false
        let result = try #require(try takeover.takeOver(runID: run.id, holdingLock: false, ready: { owned = true }))
        #expect(owned)
        #expect(cluster.reattached == [JobHandle(executor: "slurm", location: "c", id: "77")])
        #expect(result.status == .interrupted)
        let stages = try registry.stageRuns(runID: run.id)
        #expect(stages.map(\.status) == [.succeeded, .interrupted])
        // The point the first owner recorded is not recorded again; the new one is.
        let loss = try registry.metrics(runID: run.id).filter { $0.key == "loss" }.map(\.value)
        #expect(loss == [0.9, 0.5])
        // Its out is stored under its cache key: the next run reuses it.
        #expect(try registry.cacheEntry(key: train.cacheKey!)?.outputs["model.txt"] != nil)
        #expect(try registry.auditEvents(after: 0, limit: 100).contains { $0.kind == "run.taken_over" })
        // Nothing left to take.
        #expect(try takeover.takeOver(runID: run.id, holdingLock: false) == nil)
    }

    @Test func aRunWhoseCancelWasAskedHasItsJobsCancelled() throws {
        let (ws, registry, run, _) = try orphan()
        _ = try registry.requestCancel(runID: run.id, actor: "ana")
        let cluster = FakeClusterExecutor()
        let takeover = RunTakeover(workspace: ws, registry: registry, executors: Executors(local: FakeExecutor([:]), slurm: cluster))
        let result = try #require(try takeover.takeOver(runID: run.id, holdingLock: false))
        #expect(result.status == .cancelled)
        #expect(try registry.stageRuns(runID: run.id).map(\.status) == [.cancelled, .cancelled])
        // The reaper, given the same run, cancels through the handle without following.
        let (ws2, registry2, run2, _) = try orphan()
        _ = ws2
        _ = try registry2.requestCancel(runID: run2.id, actor: "ana")
        let reaped = try RunReaper(executors: [FakeExecutor([:]), cluster]).reap(registry2)
        #expect(reaped == [run2.id])
        #expect(cluster.cancelled.contains(JobHandle(executor: "slurm", location: "c", id: "77")))
        #expect(try registry2.run(id: run2.id)?.status == .cancelled)
    }

    @Test func theReaperHandsOrphanedClusterJobsToAFollowerAndNeverCancelsThem() throws {
        let (_, registry, run, _) = try orphan()
        final class Recorder: RunFollowerLauncher, @unchecked Sendable {
            let asked = Mutex<[Int64]>([])
            func follow(runID: Int64) throws { asked.withLock { $0.append(runID) } }
        }
        let recorder = Recorder()
        let cluster = FakeClusterExecutor()
        let reaped = try RunReaper(executors: [FakeExecutor([:]), cluster], follower: recorder).reap(registry)
        #expect(reaped.isEmpty)
        #expect(recorder.asked.withLock { $0 } == [run.id])
        #expect(cluster.cancelled.isEmpty)
        #expect(try registry.run(id: run.id)?.status == .running)
    }

    @Test func aStageThatChangedSinceIsNotCached() throws {
        let (ws, registry, run, train) = try orphan()
        try "project: p\npipelines:\n  main:\n    stages:\n      train: {cmd: ./train-v2.sh, outs: [model.txt], executor: slurm}\n"
            .write(toFile: ws.specPath, atomically: true, encoding: .utf8)
        let cluster = FakeClusterExecutor(writes: ["model.txt": "m"])
        let takeover = RunTakeover(workspace: ws, registry: registry, executors: Executors(local: FakeExecutor([:]), slurm: cluster))
        _ = try takeover.takeOver(runID: run.id, holdingLock: false)
        let stage = try #require(try registry.stageRun(id: train.id))
        #expect(stage.status == .interrupted)
        #expect(stage.message?.contains("changed in slipway.yaml") == true)
        #expect(try registry.cacheEntry(key: train.cacheKey!) == nil)
    }
}
