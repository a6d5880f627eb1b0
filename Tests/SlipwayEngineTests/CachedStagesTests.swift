import Foundation
import Testing
import SlipwayStore
@testable import SlipwayEngine

/// A no-op re-run takes its stages from the cache together (``CachedStages``)
/// and records them as the one-stage-at-a-time path does.
@Suite struct CachedStagesTests {
    /// 30 stages in a data chain, 30 independent ones, a gated stage and a
    /// stage that writes a metrics file.
    static let spec: String = {
        var yaml = "project: p\npipelines:\n  main:\n    stages:\n"
        for i in 0..<30 {
            yaml += "      c\(i): {cmd: c\(i), deps: [\(i == 0 ? "raw.txt" : "chain/\(i - 1).txt")], outs: [chain/\(i).txt]}\n"
            yaml += "      i\(i): {cmd: i\(i), outs: [solo/\(i).txt]}\n"
        }
        yaml += "      scored: {cmd: scored, metrics: [scores.json]}\n"
        yaml += "      gated: {cmd: gated, deps: [scores.json], metrics: [gate.json], gates: {acc: \">= 0.5\"}}\n"
        return yaml
    }()

    static var scripts: [String: FakeExecutor.Script] {
        var s: [String: FakeExecutor.Script] = [:]
        for i in 0..<30 {
            s["c\(i)"] = .init(writes: ["chain/\(i).txt": "link \(i)"])
            s["i\(i)"] = .init(writes: ["solo/\(i).txt": "alone \(i)"])
        }
        s["scored"] = .init(writes: ["scores.json": #"{"acc": 0.75}"#])
        s["gated"] = .init(writes: ["gate.json": #"{"acc": 0.5}"#])
        return s
    }

    func prepare() throws -> (Workspace, LoadedSpec, any Registry) {
        let (ws, loaded, registry) = try makeWorkspace(Self.spec)
        try "raw".write(toFile: ws.root + "/raw.txt", atomically: true, encoding: .utf8)
        for dir in ["chain", "solo"] { try FileManager.default.createDirectory(atPath: ws.root + "/" + dir, withIntermediateDirectories: true) }
        return (ws, loaded, registry)
    }

    func run(_ ws: Workspace, _ loaded: LoadedSpec, _ registry: any Registry, _ fake: FakeExecutor) throws -> RunResult {
        try PipelineRunner(workspace: ws, loaded: loaded, pipeline: nil, registry: registry, executor: fake).run(options: .init(jobs: 3))
    }

    @Test func aNoOpRerunTakesEveryStageFromTheCache() throws {
        let (ws, loaded, registry) = try prepare()
        let first = try run(ws, loaded, registry, FakeExecutor(Self.scripts))
        #expect(first.run.status == .succeeded)
        try FileManager.default.removeItem(atPath: ws.root + "/chain/15.txt")
        let before = try registry.latestAuditSeq()
        let idle = FakeExecutor([:])
        let second = try run(ws, loaded, registry, idle)
        #expect(second.run.status == .succeeded, "\(second.stages.compactMap(\.record.message))")
        #expect(idle.ran.isEmpty)
        #expect(try String(contentsOfFile: ws.root + "/chain/15.txt", encoding: .utf8) == "link 15")

        let old = Dictionary(uniqueKeysWithValues: try registry.stageRuns(runID: first.run.id).map { ($0.stage, $0) })
        let records = try registry.stageRuns(runID: second.run.id)
        #expect(records.count == 62)
        for r in records {
            #expect(r.status == .cached, "\(r.stage)")
            // The fake executor is not the stages' (local): the reason says where the result came from.
            #expect(r.reason == "same inputs as run \(first.run.id) (which ran on fake; the executor is not part of the cache key): "
                + "outs restored from the store", "\(r.stage)")
            #expect(r.cacheKey != nil && r.cacheKey == old[r.stage]?.cacheKey, "\(r.stage)")
            #expect(r.inputs != nil && r.inputs == old[r.stage]?.inputs, "\(r.stage)")
            #expect(r.startedAt != nil && r.endedAt != nil)
            // Taken together, a cached stage writes no log file: the faces show
            // its reason instead. One restored on its own (after a gate) has one.
            if let logPath = r.logPath {
                #expect(try String(contentsOfFile: ws.root + "/" + logPath, encoding: .utf8) == "[slipway] cached: \(r.reason)\n")
            } else {
                #expect(StageLogLines.withoutLog(r) == "[slipway] cached: \(r.reason)")
            }
        }
        #expect(records.filter { $0.logPath == nil }.count > records.count / 2)
        // What the stages read and made, their metrics and the gate, as in the first run.
        #expect(try registry.artifacts(runID: second.run.id) == (try registry.artifacts(runID: first.run.id)))
        #expect(try registry.runDatasets(runID: second.run.id).map(\.path) == (try registry.runDatasets(runID: first.run.id)).map(\.path))
        #expect(try registry.metrics(runID: second.run.id).map { "\($0.stage).\($0.key)=\($0.value)" }.sorted() == ["gated.acc=0.5", "scored.acc=0.75"])
        #expect(try registry.gateResults(runID: second.run.id).map(\.passed) == [true])
        // One audit event per stage, in the order the stages were taken, then the run's end.
        let events = try registry.auditEvents(after: before, limit: 1_000)
        let finished = events.filter { $0.kind == "stage.finished" }.map(\.subject)
        #expect(Set(finished) == Set(records.map { "run/\(second.run.id)/\($0.stage)" }))
        #expect(finished.count == records.count)
        #expect(events.map(\.kind).first == "run.started" && events.map(\.kind).last == "run.finished")
        #expect(second.unchangedVersion != nil)
    }

    @Test func aStageWhoseRestoreFailsIsLeftToTheSchedulerWithWhatFollowsIt() throws {
        let (ws, loaded, registry) = try prepare()
        #expect(try run(ws, loaded, registry, FakeExecutor(Self.scripts)).run.status == .succeeded)
        // `solo/` becomes a symlink (to a folder inside the workspace): a
        // restore will not write through it, nor will a stage clear its out there.
        let fm = FileManager.default
        try fm.moveItem(atPath: ws.root + "/solo", toPath: ws.root + "/elsewhere")
        try fm.removeItem(atPath: ws.root + "/elsewhere/7.txt")
        try fm.createSymbolicLink(atPath: ws.root + "/solo", withDestinationPath: "elsewhere")
        let idle = FakeExecutor([:])
        let second = try run(ws, loaded, registry, idle)
        let byStage = Dictionary(uniqueKeysWithValues: second.stages.map { ($0.record.stage, $0.record) })
        let seven = try #require(byStage["i7"])
        #expect(seven.status == .failed)
        #expect(seven.reason.hasPrefix("cache restore failed"))
        #expect(seven.message?.contains("cannot clear out solo/7.txt") == true)
        // The other stages whose outs are in place still come from the cache.
        #expect(byStage["i8"]?.status == .cached && byStage["c29"]?.status == .cached)
        #expect(second.run.status == .failed)
        #expect(idle.ran.isEmpty)
    }

    /// A link of a chain whose out cannot be put in place is left to the
    /// scheduler with everything after it; the rest of the batch is taken
    /// from the cache. Each stage ends once in the trail and the chain verifies.
    @Test func aChainLinkWhoseOutCannotBePlacedLeavesWhatFollowsToTheScheduler() throws {
        // A chain of ten whose sixth link writes into `side/`, and ten stages beside it.
        var yaml = "project: p\npipelines:\n  main:\n    stages:\n"
        var scripts: [String: FakeExecutor.Script] = [:]
        func out(_ i: Int) -> String { i == 5 ? "side/5.txt" : "chain/\(i).txt" }
        for i in 0..<10 {
            yaml += "      c\(i): {cmd: c\(i), deps: [\(i == 0 ? "raw.txt" : out(i - 1))], outs: [\(out(i))]}\n"
            yaml += "      i\(i): {cmd: i\(i), outs: [solo/\(i).txt]}\n"
            scripts["c\(i)"] = .init(writes: [out(i): "link \(i)"])
            scripts["i\(i)"] = .init(writes: ["solo/\(i).txt": "alone \(i)"])
        }
        let (ws, loaded, registry) = try makeWorkspace(yaml)
        let fm = FileManager.default
        try "raw".write(toFile: ws.root + "/raw.txt", atomically: true, encoding: .utf8)
        for dir in ["chain", "solo", "side"] { try fm.createDirectory(atPath: ws.root + "/" + dir, withIntermediateDirectories: true) }
        let first = try run(ws, loaded, registry, FakeExecutor(scripts))
        #expect(first.run.status == .succeeded)
        // `side/` becomes a symlink (to a folder inside the workspace) without
        // c5's out: a restore will not write through it. solo/3.txt is gone too.
        try fm.moveItem(atPath: ws.root + "/side", toPath: ws.root + "/elsewhere")
        try fm.removeItem(atPath: ws.root + "/elsewhere/5.txt")
        try fm.createSymbolicLink(atPath: ws.root + "/side", withDestinationPath: "elsewhere")
        try fm.removeItem(atPath: ws.root + "/solo/3.txt")
        let before = try registry.latestAuditSeq()
        let idle = FakeExecutor([:])
        let second = try run(ws, loaded, registry, idle)
        let byStage = Dictionary(uniqueKeysWithValues: second.stages.map { ($0.record.stage, $0.record) })
        // Before it in the chain, and beside it, from the cache (solo/3.txt put back).
        for name in ["c0", "c4"] + (0..<10).map({ "i\($0)" }) { #expect(byStage[name]?.status == .cached, "\(name)") }
        #expect(try String(contentsOfFile: ws.root + "/solo/3.txt", encoding: .utf8) == "alone 3")
        // c5 was left to the scheduler, which could not restore its out either; what follows it never ran.
        #expect(byStage["c5"]?.status == .failed && byStage["c5"]?.reason.hasPrefix("cache restore failed") == true, "\(String(describing: byStage["c5"]))")
        for i in 6..<10 { #expect(byStage["c\(i)"]?.status == .cancelled, "c\(i)") }
        #expect(!fm.fileExists(atPath: ws.root + "/elsewhere/5.txt"))
        #expect(idle.ran.isEmpty)
        // One end per stage, and the chain verifies.
        let records = try registry.stageRuns(runID: second.run.id)
        let ended = try registry.auditEvents(after: before, limit: 1_000).filter { $0.kind == "stage.finished" }.map(\.subject)
        #expect(ended.count == Set(ended).count)
        #expect(Set(ended) == Set(records.filter { $0.status.isFinished }.map { "run/\(second.run.id)/\($0.stage)" }))
        #expect(records.filter { $0.status == .cached }.count == 15)
        #expect(try registry.artifacts(runID: second.run.id).count == 15)
        #expect(try AuditVerifier(registry: registry, workspace: ws).verify().ok)
    }

    @Test func aChangeInTheMiddleOfAChainRunsTheRestAfterIt() throws {
        let (ws, loaded, registry) = try prepare()
        #expect(try run(ws, loaded, registry, FakeExecutor(Self.scripts)).run.status == .succeeded)
        try "edited".write(toFile: ws.root + "/chain/14.txt", atomically: true, encoding: .utf8)
        // c14 restores its out (its inputs did not change); c15 reads it back as it was.
        var scripts = Self.scripts
        scripts["c15"] = .init(writes: ["chain/15.txt": "link 15, again"])
        let fake = FakeExecutor(scripts)
        let second = try run(ws, loaded, registry, fake)
        #expect(second.run.status == .succeeded)
        #expect(fake.ran.isEmpty)
        #expect(try String(contentsOfFile: ws.root + "/chain/14.txt", encoding: .utf8) == "link 14")
        // A changed command makes c15 run, then c16, which reads what c15 wrote;
        // c16 writes what it wrote before, so c17 and the rest come from the cache.
        let changed = Self.spec.replacingOccurrences(of: "c15: {cmd: c15,", with: "c15: {cmd: c15 --again,")
        try changed.write(toFile: ws.root + "/slipway.yaml", atomically: true, encoding: .utf8)
        let third = try run(ws, try ws.loadSpec(), registry, fake)
        #expect(fake.ran == ["c15", "c16"])
        let byStage = Dictionary(uniqueKeysWithValues: third.stages.map { ($0.record.stage, $0.record) })
        #expect(byStage["c15"]?.reason == "command changed")
        #expect(byStage["c16"]?.reason == "dep changed: chain/15.txt")
        #expect(byStage["c14"]?.status == .cached && byStage["c17"]?.status == .cached && byStage["c29"]?.status == .cached)
        #expect(third.run.status == .succeeded)
    }

    @Test func aStageWhoseDepLeavesTheWorkspaceIsRefusedNotRestored() throws {
        let (ws, loaded, registry) = try prepare()
        #expect(try run(ws, loaded, registry, FakeExecutor(Self.scripts)).run.status == .succeeded)
        // raw.txt becomes a symlink to a file outside with the same content: the key is unchanged.
        let outside = NSTemporaryDirectory() + "slipway-outside-\(UUID().uuidString).txt"
        try "raw".write(toFile: outside, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.removeItem(atPath: ws.root + "/raw.txt")
        try FileManager.default.createSymbolicLink(atPath: ws.root + "/raw.txt", withDestinationPath: outside)
        let idle = FakeExecutor([:])
        let second = try run(ws, loaded, registry, idle)
        let byStage = Dictionary(uniqueKeysWithValues: second.stages.map { ($0.record.stage, $0.record) })
        #expect(byStage["c0"]?.status == .failed)
        #expect(byStage["c0"]?.reason == "dep refused")
        #expect(byStage["c0"]?.message?.contains("resolves outside the workspace") == true)
        #expect(byStage["c1"]?.status != .cached && byStage["c29"]?.status != .cached)
        #expect(byStage["i3"]?.status == .cached)
        #expect(second.run.status == .failed)
        #expect(idle.ran.isEmpty)
    }

    /// Past ``PipelineRunner/stagesPerThread`` twice over, the stages' inputs
    /// are worked out in two halves on two threads: the plan is the one a
    /// single pass makes, whichever half a changed dep falls in.
    @Test func aBigPipelineIsPlannedInHalvesAsOnePassWouldPlanIt() throws {
        let n = PipelineRunner.stagesPerThread * 3 / 2
        var yaml = "project: p\npipelines:\n  main:\n    stages:\n"
        var scripts: [String: FakeExecutor.Script] = [:]
        for i in 0..<n {
            yaml += "      c\(i): {cmd: c\(i), deps: [\(i == 0 ? "raw.txt" : "chain/\(i - 1).txt")], outs: [chain/\(i).txt]}\n"
            yaml += "      i\(i): {cmd: i\(i), deps: [in/\(i).txt], outs: [solo/\(i).txt]}\n"
            scripts["c\(i)"] = .init(writes: ["chain/\(i).txt": "link \(i)"])
            scripts["i\(i)"] = .init(writes: ["solo/\(i).txt": "alone \(i)"])
        }
        let (ws, loaded, registry) = try makeWorkspace(yaml)
        try "raw".write(toFile: ws.root + "/raw.txt", atomically: true, encoding: .utf8)
        for dir in ["chain", "solo", "in"] { try FileManager.default.createDirectory(atPath: ws.root + "/" + dir, withIntermediateDirectories: true) }
        for i in 0..<n { try "input \(i)".write(toFile: ws.root + "/in/\(i).txt", atomically: true, encoding: .utf8) }
        #expect(try run(ws, loaded, registry, FakeExecutor(scripts)).run.status == .succeeded)

        // One changed dep in each half (the stages alternate c, i: i10 is in
        // the first half, i250 in the second), and one dep gone from the second.
        try "changed".write(toFile: ws.root + "/in/10.txt", atomically: true, encoding: .utf8)
        try "changed".write(toFile: ws.root + "/in/250.txt", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: ws.root + "/in/260.txt")
        let runner = try PipelineRunner(workspace: ws, loaded: loaded, pipeline: nil, registry: registry, executor: FakeExecutor(scripts))
        let plans = Dictionary(uniqueKeysWithValues: runner.plan().map { ($0.stage, $0) })
        #expect(plans.count == 2 * n)
        #expect(plans.filter { if case .cached = $0.value.decision { false } else { true } }.keys.sorted() == ["i10", "i250", "i260"])
        #expect(plans["i10"]?.explanation.contains("in/10.txt") == true)
        #expect(plans["i250"]?.explanation.contains("in/250.txt") == true)
        #expect(plans["i260"]?.explanation.contains("in/260.txt") == true)

        let fake = FakeExecutor(scripts)
        let second = try run(ws, loaded, registry, fake)
        #expect(fake.ran == ["i10", "i250"])
        let byStage = Dictionary(uniqueKeysWithValues: second.stages.map { ($0.record.stage, $0.record) })
        #expect(byStage.values.filter { $0.status == .cached }.count == 2 * n - 3)
        #expect(byStage["i260"]?.status == .failed)
        #expect(byStage["i10"]?.reason == "dep changed: in/10.txt")
        #expect(byStage["i250"]?.reason == "dep changed: in/250.txt")
    }
}

/// A param set back to an earlier value restores the upstream stage's old
/// outs; what reads them must be taken from the cache entry made from those
/// outs, not from the one made from the outs the restore replaced.
@Suite struct RestoredUpstreamTests {
    static let spec = """
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: a, params: [p], outs: [x.txt, d/y.txt]}
              b: {cmd: b, deps: [x.txt], outs: [b.txt]}
              c: {cmd: c, deps: [d], outs: [c.txt]}

        """

    static func scripts(_ v: String) -> [String: FakeExecutor.Script] {
        ["a": .init(writes: ["x.txt": "x\(v)", "d/y.txt": "y\(v)"]),
         "b": .init(writes: ["b.txt": "b from x\(v)"]),
         "c": .init(writes: ["c.txt": "c from y\(v)"])]
    }

    @Test func goingBackToAnEarlierParamRestoresWhatFollowsFromThatParam() throws {
        let (ws, _, registry) = try makeWorkspace("project: p\npipelines:\n  main:\n    stages:\n      a: {cmd: a}\n")
        try "p: 0\n".write(toFile: ws.paramsPath, atomically: true, encoding: .utf8)
        try Self.spec.write(toFile: ws.specPath, atomically: true, encoding: .utf8)
        let loaded = try ws.loadSpec()
        try FileManager.default.createDirectory(atPath: ws.root + "/d", withIntermediateDirectories: true)
        func run(_ v: String, _ fake: FakeExecutor) throws -> RunResult {
            try PipelineRunner(workspace: ws, loaded: loaded, pipeline: nil, registry: registry, executor: fake,
                               overrides: [ParamOverride(key: "p", value: v)]).run(options: .init(jobs: 2))
        }
        func read(_ path: String) throws -> String { try String(contentsOfFile: ws.root + "/" + path, encoding: .utf8) }
        #expect(try run("1", FakeExecutor(Self.scripts("1"))).run.status == .succeeded)
        #expect(try run("2", FakeExecutor(Self.scripts("2"))).run.status == .succeeded)
        for v in ["1", "2", "1"] {
            let idle = FakeExecutor([:])
            let again = try run(v, idle)
            #expect(again.run.status == .succeeded, "\(again.stages.compactMap(\.record.message))")
            #expect(idle.ran.isEmpty)
            #expect(try read("x.txt") == "x\(v)")
            #expect(try read("b.txt") == "b from x\(v)")
            #expect(try read("c.txt") == "c from y\(v)")
            // What each stage is recorded to have read is what it was given.
            let made = v == "1" ? 1 : 2
            for r in try registry.stageRuns(runID: again.run.id) {
                #expect(r.status == .cached, "\(r.stage)")
                #expect(r.reason.hasPrefix("same inputs as run \(made)"), "\(r.stage): \(r.reason)")
            }
            let read = Dictionary(uniqueKeysWithValues: try registry.runDatasets(runID: again.run.id).map { ("\($0.stage) \($0.path)", $0.hash) })
            let first = Dictionary(uniqueKeysWithValues: try registry.runDatasets(runID: Int64(made)).map { ("\($0.stage) \($0.path)", $0.hash) })
            #expect(read == first)
        }
    }
}

/// An env file another stage writes is read after that stage, wherever the
/// reader is declared, and a restored one is what the reader is planned with.
@Suite struct EnvFileEdgeTests {
    @Test func aReaderDeclaredBeforeTheWriterOfItsEnvFileWaitsForIt() throws {
        let spec = """
            project: p
            pipelines:
              main:
                stages:
                  reader: {cmd: r, env: [cfg.env], outs: [r.txt]}
                  writer: {cmd: w, params: [p], outs: [cfg.env]}

            """
        let (ws, _, registry) = try makeWorkspace("project: p\npipelines:\n  main:\n    stages:\n      a: {cmd: a}\n")
        try "p: 0\n".write(toFile: ws.paramsPath, atomically: true, encoding: .utf8)
        try spec.write(toFile: ws.specPath, atomically: true, encoding: .utf8)
        let loaded = try ws.loadSpec()
        func run(_ v: String, _ fake: FakeExecutor) throws -> RunResult {
            try PipelineRunner(workspace: ws, loaded: loaded, pipeline: nil, registry: registry, executor: fake,
                               overrides: [ParamOverride(key: "p", value: v)]).run(options: .init(jobs: 2))
        }
        func scripts(_ v: String) -> [String: FakeExecutor.Script] {
            ["writer": .init(seconds: 0.05, writes: ["cfg.env": "P=\(v)\n"]), "reader": .init(writes: ["r.txt": "read P=\(v)"])]
        }
        for v in ["1", "2"] {
            let fake = FakeExecutor(scripts(v))
            let result = try run(v, fake)
            #expect(result.run.status == .succeeded, "\(result.stages.compactMap(\.record.message))")
            let w = try #require(fake.spans["writer"]), r = try #require(fake.spans["reader"])
            #expect(r.start >= w.end)
        }
        // Back to 1: both from the cache, the reader with the env file the restore puts back.
        let idle = FakeExecutor([:])
        let back = try run("1", idle)
        #expect(back.run.status == .succeeded && idle.ran.isEmpty)
        #expect(try String(contentsOfFile: ws.root + "/r.txt", encoding: .utf8) == "read P=1")
        #expect(try String(contentsOfFile: ws.root + "/cfg.env", encoding: .utf8) == "P=1\n")
    }
}
