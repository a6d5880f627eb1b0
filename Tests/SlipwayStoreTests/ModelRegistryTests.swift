import Foundation
import GRDB
import Synchronization
import Testing
import SlipwayStore
import SlipwayCore
import SlipwayEngine
@testable import SlipwayStore

@Suite struct ModelRegistryTests {
    func registryWithRuns(_ n: Int) throws -> (SQLiteRegistry, String, [Int64]) {
        let path = temporaryDirectory() + "/r.sqlite"
        let registry = try SQLiteRegistry(path: path)
        var ids: [Int64] = []
        for _ in 0..<n {
            ids.append(try registry.startRun(NewRun(pipeline: "p", trigger: "manual", provenance: provenance, pid: 1, params: [:])).id)
        }
        return (registry, path, ids)
    }

    func new(_ run: Int64, digest: String = UUID().uuidString) -> NewModelVersion {
        NewModelVersion(model: "clf", runID: run, pipeline: "p", gitCommit: "abc", artifactDigest: digest, createdBy: "ana")
    }

    @Test func versionsAreNumberedPerModelAndNeverReused() throws {
        let (registry, _, runs) = try registryWithRuns(3)
        #expect(try registry.registerVersion(new(runs[0])).version == 1)
        #expect(try registry.registerVersion(new(runs[1])).version == 2)
        var other = new(runs[2]); other.model = "other"
        #expect(try registry.registerVersion(other).version == 1)
        #expect(try registry.modelVersion(runID: runs[1])?.version == 2)
        #expect(try registry.modelVersions(model: "clf", limit: 10).map(\.version) == [2, 1])
        let models = try registry.models()
        #expect(models.map(\.name) == ["clf", "other"])
        #expect(models[0].latestVersion == 2 && models[0].versionCount == 2)
    }

    @Test func editsAndDecisionsAreAudited() throws {
        let (registry, _, runs) = try registryWithRuns(1)
        _ = try registry.registerVersion(new(runs[0]))
        let edited = try registry.editVersion(model: "clf", version: 1, tags: ["stage": "candidate"], description: "first try", actor: "ana")
        #expect(edited.tags == ["stage": "candidate"] && edited.description == "first try")
        let removal: [String: String?] = ["stage": nil]
        let removed = try registry.editVersion(model: "clf", version: 1, tags: removal, description: nil, actor: "ana")
        #expect(removed.tags.isEmpty)
        try registry.setAlias(model: "clf", environment: "production", version: 1, actor: "ana", reason: "go")
        try registry.recordGateResults([GateResultRecord(runID: runs[0], stageRunID: 1, stage: "eval", metric: "acc", condition: ">= 0.8",
                                                         candidate: 0.9, production: nil, threshold: 0.8, baselineModel: nil,
                                                         baselineVersion: nil, passed: true, explanation: "acc 0.9 >= 0.8 → pass")],
                                       actor: "ana")
        #expect(try registry.gateResults(runID: runs[0]).map(\.passed) == [true])
        let kinds = try registry.auditEvents(after: 0, limit: 100).map(\.kind)
        #expect(kinds == ["run.started", "model.registered", "model.edited", "model.edited", "alias.changed", "gate.decided"])
        #expect(AuditChain.verify(try registry.auditEvents(after: 0, limit: 100)) == nil)
    }

    @Test func nanMetricsRoundTrip() throws {
        let (registry, _, runs) = try registryWithRuns(1)
        try registry.appendMetrics([MetricRecord(runID: runs[0], stageRunID: nil, stage: "s", key: "k", step: nil, value: .nan, timestamp: 0),
                                    MetricRecord(runID: runs[0], stageRunID: nil, stage: "s", key: "k", step: nil, value: .infinity, timestamp: 0)])
        let back = try registry.metrics(runID: runs[0])
        #expect(back[0].value.isNaN)
        #expect(back[1].value == .infinity)
    }
}
