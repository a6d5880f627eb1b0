import Foundation
import Testing
@testable import SlipwayConsole
@testable import SlipwayEngine
@testable import SlipwayStore

/// A stage a no-op re-run took from the cache with the rest writes no log
/// file; the console shows its reason where its log would be.
@Suite struct CachedStageLogTests {
    @Test func aStageTakenFromTheCacheShowsWhyInsteadOfALog() throws {
        let dir = NSTemporaryDirectory() + "slipway-console-cached-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/.slipway", withIntermediateDirectories: true)
        try "project: c\npipelines:\n  main:\n    stages:\n      prep: {cmd: \"true\"}\n      train: {cmd: \"true\"}\n"
            .write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        let ws = Workspace(root: dir)
        let registry = try ws.connect()
        let provenance = Provenance(user: "ana", host: "h", slipwayVersion: "0")
        let first = try registry.startRun(NewRun(pipeline: "main", trigger: "manual", provenance: provenance, pid: getpid(), params: [:]))
        let made = try registry.addStageRuns(runID: first.id, stages: ["prep", "train"])
        let again = try registry.startRun(NewRun(pipeline: "main", trigger: "manual", provenance: provenance, pid: getpid(), params: [:]))
        let restored = try registry.addStageRuns(runID: again.id, stages: ["prep", "train"]).enumerated().map { i, r in
            var r = r
            r.status = .cached
            r.startedAt = 1_000
            r.endedAt = 1_000
            r.reason = "same inputs as run \(first.id): outs restored from the store"
            return RestoredStage(stageRun: r, source: made[i].id, datasets: [:], outputs: [:])
        }
        try registry.recordRestoredStages(restored)

        let snapshot = ConsoleLoader(workspace: ws, registry: registry).load(selectedRun: again.id, selectedModel: nil)
        let detail = try #require(snapshot.detail)
        let note = "[slipway] cached: same inputs as run \(first.id): outs restored from the store"
        #expect(detail.logs["prep"] == [note])
        #expect(detail.logs["train"] == [note])
        #expect(detail.logTail == [note])
    }

    /// Stages outside the loader's window of logs read: the opened run still
    /// shows a cached stage's reason, without asking for another snapshot.
    @Test func theOpenedRunShowsWhyForCachedStagesOutsideTheLogWindow() {
        var s = ConsoleState()
        s.width = 120
        s.height = 30
        var snap = ConsoleSnapshot()
        snap.pipelines = ["main"]
        let run = RunRecord(id: 3, pipeline: "main", trigger: "manual", status: .succeeded, startedAt: 0, endedAt: 5_000, pid: 1,
                            host: "h", heartbeatAt: 0, user: "ana", gitCommit: nil, gitDirty: nil, slipwayVersion: "0", message: nil)
        snap.runs = [run]
        let stages = (0..<100).map {
            StageRunRecord(id: Int64($0), runID: 3, stage: "s\($0)", status: .cached, startedAt: 1_000, endedAt: 1_000,
                           reason: "same inputs as run 2: outs restored from the store (s\($0))")
        }
        snap.detail = .init(run: run, stages: stages, series: [:], logTail: [], logStage: "s99")
        _ = s.update(.data(snap))
        _ = s.update(.event(.key(.enter)))
        for _ in 0..<40 { _ = s.update(.event(.key(.char("k")))) }
        let shown = s.runView?.stage ?? -1
        #expect(shown < 99 - ConsoleLoader.logWindow)
        #expect(ConsoleView.render(s).text.contains("[slipway] cached: same inputs as run 2"))
    }
}
