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
}
