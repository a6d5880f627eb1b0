import Foundation
import Testing
import SlipwayCore
import SlipwayEngine
@testable import SlipwayStore

/// The registry's reads and writes of many stages at once: each must answer
/// what the one-at-a-time calls answer, at sizes past any per-statement limit.
@Suite struct BulkContractTests {
    /// A finished stage run with recorded inputs.
    func complete(_ r: any Registry, _ stage: StageRunRecord, _ status: StageStatus = .succeeded, inputs: String? = "{}") throws {
        var s = stage
        s.status = status
        s.inputs = inputs
        s.reason = "done"
        try r.updateStageRun(s)
    }

    @Test(arguments: StoreKind.allCases)
    func stageRunsByID(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run = try startRun(r)
        let stages = try r.addStageRuns(runID: run.id, stages: (0..<2_500).map { "s\($0)" })
        let asked = stages.map(\.id) + [stages[7].id, 999_999]
        let found = try r.stageRuns(ids: asked)
        #expect(found.count == stages.count)
        for s in stages { #expect(found[s.id] == s) }
        #expect(found[999_999] == nil)
        #expect(try r.stageRuns(ids: []).isEmpty)
        #expect(try r.stageRun(id: stages[42].id) == found[stages[42].id])
    }

    @Test(arguments: StoreKind.allCases)
    func stageRunOriginsAreTheNarrowedStageRuns(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run = try startRun(r)
        let stages = try r.addStageRuns(runID: run.id, stages: (0..<1_200).map { "s\($0)" })
        for (i, s) in stages.enumerated() where i % 3 == 0 {
            var done = s
            done.cacheKey = "key\(i)"
            try complete(r, done, inputs: #"{"deps":{"in/\#(i)":"h"}}"#)
            try r.setStageJob(stageRunID: s.id, pid: nil, job: "local:host:\(i)")
        }
        let asked = stages.map(\.id) + [stages[3].id, 999_999]
        let origins = try r.stageRunOrigins(ids: asked)
        let full = try r.stageRuns(ids: asked)
        #expect(origins.count == stages.count)
        #expect(origins == full.mapValues(StageRunOrigin.init))
        #expect(origins[stages[3].id] == StageRunOrigin(runID: run.id, cacheKey: "key3", inputs: #"{"deps":{"in/3":"h"}}"#, job: "local:host:3"))
        #expect(origins[stages[4].id] == StageRunOrigin(runID: run.id, cacheKey: nil, inputs: nil, job: nil))
        #expect(try r.stageRunOrigins(ids: []).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func cacheEntriesByKey(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run = try startRun(r)
        let stage = try r.addStageRuns(runID: run.id, stages: ["s"])[0]
        var saved: [CacheEntry] = []
        for i in 0..<1_500 {
            let e = CacheEntry(key: "key\(i)", pipeline: "p", stage: "s", stageRunID: stage.id, outputs: ["out/\(i)": "h\(i)"], createdAt: Millis(i))
            try r.saveCacheEntry(e)
            saved.append(e)
        }
        let found = try r.cacheEntries(keys: saved.map(\.key) + ["missing", "key3"])
        #expect(found.count == saved.count)
        for e in saved { #expect(found[e.key] == e) }
        #expect(try r.cacheEntry(key: "key3") == found["key3"])
        #expect(try r.cacheEntries(keys: []).isEmpty)
        // Most of the table (a store may read it whole), and a small part of it:
        // only what was asked for comes back.
        for share in [800, 300, 5] {
            let asked = saved.prefix(share).map(\.key) + ["missing"]
            let part = try r.cacheEntries(keys: asked)
            #expect(part.count == share && part.values.allSatisfy { found[$0.key] == $0 } && part["key\(share)"] == nil, "\(share)")
        }
        // The stat cache is read in bulk the same way.
        let states = (0..<2_000).map { FileState(path: "f\($0)", size: Int64($0), mtimeNanos: 1, inode: 2, hash: "h\($0)") }
        try r.saveFileStates(states)
        let back = try r.fileStates(paths: states.map(\.path) + ["nope"])
        #expect(back.count == states.count && back["f1999"] == states[1999])
        for share in [1_200, 250, 3] {
            let part = try r.fileStates(paths: states.suffix(share).map(\.path))
            #expect(part.count == share && part.values.allSatisfy { back[$0.path] == $0 } && part["f0"] == nil, "\(share)")
        }
        // Two paths Swift holds equal (é written whole, and e with an accent
        // after it) are two files: asking for one never gives the other's state.
        let decomposed = FileState(path: "caf\u{65}\u{301}.csv", size: 1, mtimeNanos: 1, inode: 1, hash: "decomposed")
        try r.saveFileStates([decomposed])
        let composed = try r.fileStates(paths: ["caf\u{e9}.csv"] + states.prefix(1_500).map(\.path))
        #expect(composed.count == 1_500 && composed.values.allSatisfy { $0.hash != "decomposed" })
        #expect(try r.fileStates(paths: [decomposed.path] + states.prefix(1_500).map(\.path)).values.contains { $0.hash == "decomposed" })
    }

    @Test(arguments: StoreKind.allCases)
    func lastCompletedStageRunsAgreeWithOneAtATime(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let names = (0..<150).map { "s\($0)" }
        // Five runs; in each, a different share of the stages completes.
        for k in 0..<5 {
            let run = try startRun(r)
            for (i, s) in try r.addStageRuns(runID: run.id, stages: names).enumerated() {
                switch (i + k) % 7 {
                case 0: try complete(r, s, .cached)
                case 1: try complete(r, s, .failed)
                case 2: try complete(r, s, .succeeded, inputs: nil)
                case 3 where k < 2: try complete(r, s)
                case 4: break
                default: if i % 5 != 0 { try complete(r, s) }
                }
            }
            try r.finishRun(id: run.id, status: .succeeded, message: nil)
        }
        // Another pipeline with the same stage names must not answer for this one.
        let other = try startRun(r, pipeline: "q")
        for s in try r.addStageRuns(runID: other.id, stages: names) { try complete(r, s) }
        let asked = names + ["never"]
        for subset in [asked, Array(asked.prefix(10)), ["s3", "never"]] {
            let bulk = try r.lastCompletedStageRuns(pipeline: "p", stages: subset)
            for stage in subset {
                #expect(bulk[stage] == (try r.lastCompletedStageRun(pipeline: "p", stage: stage)), "\(stage)")
            }
            #expect(Set(bulk.keys).isSubset(of: Set(subset)))
        }
        #expect(try r.lastCompletedStageRuns(pipeline: "p", stages: ["never"]).isEmpty)
        #expect(try r.lastCompletedStageRuns(pipeline: "nope", stages: names).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func restoredStagesRecordWhatTheOneAtATimeCallsRecord(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let first = try startRun(r)
        let sources = try r.addStageRuns(runID: first.id, stages: ["a", "b", "c"])
        try r.appendMetrics([
            MetricRecord(runID: first.id, stageRunID: sources[0].id, stage: "a", key: "acc", step: nil, value: 0.9, timestamp: 5),
            MetricRecord(runID: first.id, stageRunID: sources[0].id, stage: "a", key: "loss", step: 1, value: 0.5, timestamp: 6),
            MetricRecord(runID: first.id, stageRunID: sources[0].id, stage: "a", key: "loss", step: 2, value: 0.25, timestamp: 7),
        ])
        try r.recordValidation(ValidationRecord(runID: first.id, stageRunID: sources[1].id, dataset: "d.csv", passed: true, report: "{\"x\":1}"))
        for s in sources { try complete(r, s) }
        try r.finishRun(id: first.id, status: .succeeded, message: nil)

        func restored(_ s: StageRunRecord) -> RestoredStage {
            var done = s
            done.status = .cached
            done.startedAt = 100
            done.endedAt = 101
            done.cacheKey = "key-\(s.stage)"
            done.inputs = "{\"stage\":\"\(s.stage)\"}"
            done.reason = "same inputs as run \(first.id): outs restored from the store"
            done.logPath = ".slipway/logs/run-\(s.runID)/\(s.stage).log"
            let source = sources.first { $0.stage == s.stage }!.id
            return RestoredStage(stageRun: done, source: source, datasets: ["in/\(s.stage).csv": "d-\(s.stage)", "params.py": "p"],
                                 outputs: s.stage == "c" ? [:] : ["out/\(s.stage)": "o-\(s.stage)", "m/\(s.stage).json": "j"])
        }
        // The same three stages, recorded in one call and one at a time.
        let bulkRun = try startRun(r)
        let bulk = try r.addStageRuns(runID: bulkRun.id, stages: ["a", "b", "c"]).map(restored)
        let eventsBefore = try r.latestAuditSeq()
        try r.recordRestoredStages(bulk)
        let bulkEvents = try r.auditEvents(after: eventsBefore, limit: 100)
        let singleRun = try startRun(r)
        let single = try r.addStageRuns(runID: singleRun.id, stages: ["a", "b", "c"]).map(restored)
        let singleBefore = try r.latestAuditSeq()
        for s in single {
            try r.recordRunDatasets(runID: s.stageRun.runID, stage: s.stageRun.stage,
                                    versions: s.datasets.sorted { $0.key < $1.key }.map { (path: $0.key, hash: $0.value) })
            try r.copyMetrics(fromStageRun: s.source, to: s.stageRun)
            try r.copyValidations(fromStageRun: s.source, to: s.stageRun)
            try r.recordArtifacts(runID: s.stageRun.runID, stageRunID: s.stageRun.id, outputs: s.outputs)
            try r.updateStageRun(s.stageRun)
        }
        let singleEvents = try r.auditEvents(after: singleBefore, limit: 100)

        func same<T: Equatable>(_ read: (Int64) throws -> T, _ normalise: (T) -> T = { $0 }) throws -> Bool {
            normalise(try read(bulkRun.id)) == normalise(try read(singleRun.id))
        }
        #expect(try r.stageRuns(runID: bulkRun.id) == bulk.map(\.stageRun))
        #expect(try r.stageRuns(runID: singleRun.id).map(\.reason) == single.map(\.stageRun.reason))
        #expect(try same({ try r.metrics(runID: $0).map { [$0.stage, $0.key, "\($0.step ?? -1)", "\($0.value)", "\($0.timestamp)"] } }))
        #expect(try r.metrics(runID: bulkRun.id).count == 3)
        #expect(try same({ try r.validations(runID: $0).map { [$0.dataset, $0.report, "\($0.passed)"] } }))
        #expect(try r.validations(runID: bulkRun.id).count == 1)
        #expect(try same({ try r.runDatasets(runID: $0).map { [$0.stage, $0.path, $0.hash] } }))
        #expect(try same { try r.artifacts(runID: $0) })
        #expect(try r.artifacts(runID: bulkRun.id).count == 4)
        // One stage.finished event per stage, with the same payloads.
        #expect(bulkEvents.map(\.kind) == ["stage.finished", "stage.finished", "stage.finished"])
        #expect(bulkEvents.map(\.payload) == singleEvents.map(\.payload))
        #expect(bulkEvents.map(\.subject) == bulk.map { "run/\(bulkRun.id)/\($0.stageRun.stage)" })
        // The chain still verifies, and the head moved to the newest event.
        #expect(try r.auditHeadWitness()?.seq == r.latestAuditSeq())
        // A batch in which one stage run is finished already: that one is left
        // as it is, without an event, and the chain goes on whole around it.
        let mixedRun = try startRun(r)
        let mixed = try r.addStageRuns(runID: mixedRun.id, stages: ["a", "b"]).map(restored)
        let beforeMixed = try r.latestAuditSeq()
        try r.recordRestoredStages([mixed[0], bulk[2], mixed[1]])
        let mixedEvents = try r.auditEvents(after: beforeMixed, limit: 100)
        #expect(mixedEvents.map(\.subject) == ["run/\(mixedRun.id)/a", "run/\(mixedRun.id)/b"])
        #expect(AuditChain.verify(try r.auditEvents(after: 0, limit: 1_000)) == nil)
        #expect(try r.auditHeadWitness()?.seq == r.latestAuditSeq())
        #expect(try r.stageRuns(runID: bulkRun.id) == bulk.map(\.stageRun))
        // A stage run that does not exist is refused, and nothing of the call is kept.
        var ghost = bulk[0]
        ghost.stageRun.id = 987_654
        let afterGhost = try r.latestAuditSeq()
        #expect(throws: (any Error).self) { try r.recordRestoredStages([bulk[1], ghost]) }
        #expect(try r.latestAuditSeq() == afterGhost)
        try r.recordRestoredStages([])
    }

    /// A batch naming one stage run twice leaves what two calls leave: the
    /// second outputs and state win, and each change to an end is audited.
    @Test(arguments: StoreKind.allCases)
    func aStageRunGivenTwiceInABatchEndsAsTwoCallsLeaveIt(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run = try startRun(r)
        let stage = try r.addStageRuns(runID: run.id, stages: ["a"])[0]
        func restored(_ status: StageStatus, _ outputs: [String: String]) -> RestoredStage {
            var s = stage
            s.status = status
            s.reason = "\(status.rawValue) \(outputs.keys.sorted())"
            return RestoredStage(stageRun: s, source: stage.id, datasets: ["in": "h"], outputs: outputs)
        }
        let before = try r.latestAuditSeq()
        try r.recordRestoredStages([restored(.cached, ["x": "1", "y": "1"]), restored(.failed, ["y": "2"]), restored(.failed, [:])])
        #expect(try r.artifacts(runID: run.id) == ["y": "2"])
        #expect(try r.stageRun(id: stage.id)?.status == .failed)
        #expect(try r.auditEvents(after: before, limit: 10).map { $0.payload.contains("\"failed\"") } == [false, true])
        #expect(try r.runDatasets(runID: run.id).map(\.hash) == ["h"])
    }
}
