import Foundation
import Testing
@testable import SlipwayCore

func pipeline(_ yaml: String) throws -> PipelineSpec {
    try SpecParser.parse("project: p\npipelines:\n  main:\n    stages:\n" + yaml).pipelines[0]
}

@Suite struct SchedulerStateTests {
    let graph = StageGraph(names: ["a", "b", "c", "d"], upstream: ["c": ["a"], "d": ["c"]])

    @Test func startsWhatIsReadyWithinTheJobLimit() {
        var s = SchedulerState(graph: graph, jobs: 1)
        #expect(s.startable() == ["a"])
        #expect(s.startable() == [])
        s.finish("a", .succeeded)
        #expect(s.startable() == ["b"])
        var wide = SchedulerState(graph: graph, jobs: 4)
        #expect(wide.startable() == ["a", "b"])
    }

    @Test func aFailureSettlesOnlyItsDependents() {
        var s = SchedulerState(graph: graph, jobs: 4)
        _ = s.startable()
        let settled = s.finish("a", .failed)
        #expect(settled.map(\.stage) == ["c", "d"])
        #expect(settled[0].reason == "upstream a did not succeed")
        #expect(settled[1].reason == "upstream c did not succeed")
        #expect(!s.isDone)
        s.finish("b", .succeeded)
        #expect(s.isDone)
        #expect(s.runStatus == .failed)
    }

    @Test func aCachedStageCountsAsSuccess() {
        var s = SchedulerState(graph: graph, jobs: 4)
        _ = s.startable()
        s.finish("a", .cached)
        #expect(s.startable() == ["c"])
    }

    @Test func cancelSettlesEverythingWaiting() {
        var s = SchedulerState(graph: graph, jobs: 1)
        _ = s.startable()
        let settled = s.cancel()
        #expect(settled.map(\.stage) == ["b", "c", "d"])
        #expect(s.startable().isEmpty)
        s.finish("a", .cancelled)
        #expect(s.isDone)
        #expect(s.runStatus == .cancelled)
    }

    @Test func allSucceeded() {
        var s = SchedulerState(graph: graph, jobs: 4)
        for _ in 0..<4 { for n in s.startable() { s.finish(n, .succeeded) } }
        #expect(s.isDone && s.runStatus == .succeeded)
    }
}

@Suite struct RunPlannerTests {
    @Test func theCacheKeyCoversCommandDepsParamsAndOuts() throws {
        let p = try pipeline("      t: {cmd: train, deps: [d.csv], params: [lr], outs: [m.bin]}\n")
        let params = Params(values: ["lr": "0.1"])
        guard case .ready(let a) = RunPlanner.inputs(of: p.stages[0], hashes: ["d.csv": "h1"], params: params),
              case .ready(let b) = RunPlanner.inputs(of: p.stages[0], hashes: ["d.csv": "h2"], params: params),
              case .ready(let c) = RunPlanner.inputs(of: p.stages[0], hashes: ["d.csv": "h1"], params: Params(values: ["lr": "0.2"])),
              case .ready(let same) = RunPlanner.inputs(of: p.stages[0], hashes: ["d.csv": "h1"], params: params) else {
            Issue.record("inputs not ready"); return
        }
        #expect(a.key == same.key)
        #expect(a.key != b.key && a.key != c.key)
        #expect(RunPlanner.inputs(of: p.stages[0], hashes: [:], params: params) == .missing(path: "d.csv"))
        #expect(RunPlanner.reasons(inputs: c, previous: a, forced: false) == ["param changed: lr (0.1 → 0.2)"])
        #expect(RunPlanner.reasons(inputs: a, previous: a, forced: true) == ["forced (--force)"])
    }

    @Test func plansCachedRunAfterUpstreamAndBlocked() throws {
        let p = try pipeline("""
              a: {cmd: a, outs: [a.out]}
              b: {cmd: b, deps: [a.out], outs: [b.out]}
              c: {cmd: c, deps: [missing.csv]}
              d: {cmd: d}

        """)
        let graph = StageGraph(pipeline: p)
        var inputs: [String: RunPlanner.StageInputs] = [:]
        for s in p.stages { inputs[s.name] = RunPlanner.inputs(of: s, hashes: ["a.out": "h"], params: Params()) }
        guard case .ready(let d) = inputs["d"] else { Issue.record("d"); return }
        let plans = RunPlanner.plan(pipeline: p, graph: graph, inputs: inputs,
                                    stored: { $0 == d.key ? .init(run: 7, outputs: [:]) : nil }, previous: { _ in nil }, force: false).stages
        let byStage = Dictionary(uniqueKeysWithValues: plans.map { ($0.stage, $0.decision) })
        #expect(byStage["a"] == .run(reasons: ["first run"]))
        #expect(byStage["b"] == .afterUpstream(["a"]))
        #expect(byStage["c"] == .blocked("dep missing.csv does not exist"))
        #expect(byStage["d"] == .cached(fromRun: 7))
    }
}

extension RunPlannerTests {
    /// `a` comes from the cache with an out other than the workspace's (a
    /// param set back to an earlier value): `b`, which reads it, is planned
    /// with the stored out, not with the file the restore replaces.
    @Test func aStageAfterACachedOneIsPlannedWithWhatTheRestorePutsInPlace() throws {
        let p = try pipeline("""
              a: {cmd: a, params: [p], outs: [x.txt, d/y.txt]}
              b: {cmd: b, deps: [x.txt], outs: [b.out]}
              c: {cmd: c, deps: [d], outs: [c.out]}
              e: {cmd: e, deps: [b.out], outs: [e.out]}

        """)
        let graph = StageGraph(pipeline: p)
        #expect(graph.upstream["c"] == ["a"])
        var inputs: [String: RunPlanner.StageInputs] = [:]
        let now = ["x.txt": "x-now", "d": "d-now", "b.out": "b-now"]
        for s in p.stages { inputs[s.name] = RunPlanner.inputs(of: s, hashes: now, params: Params(values: ["p": "1"])) }
        guard case .ready(let a) = inputs["a"], case .ready(var b) = inputs["b"] else { Issue.record("inputs"); return }
        b.deps["x.txt"] = "x-stored"
        let stored: [String: RunPlanner.StoredResult] = [
            a.key: .init(run: 1, outputs: ["x.txt": "x-stored", "d/y.txt": "y-stored"]),
            b.key: .init(run: 1, outputs: ["b.out": "b-now"]),
        ]
        func plan(differs: Bool) -> RunPlanner.Plan {
            RunPlanner.plan(pipeline: p, graph: graph, inputs: inputs, stored: { stored[$0] }, previous: { _ in nil },
                            force: false, differsNow: { _, _ in differs })
        }
        let planned = plan(differs: true)
        let by = Dictionary(uniqueKeysWithValues: planned.stages.map { ($0.stage, $0.decision) })
        #expect(by["a"] == .cached(fromRun: 1))
        // The key b would have with today's x.txt is not the one it is planned with.
        #expect(by["b"] == .cached(fromRun: 1))
        #expect(planned.keys["b"] == b.key)
        #expect(planned.inputs["b"] == .ready(b))
        // A folder holding a restored out that changes cannot be hashed before the restore.
        #expect(by["c"] == .afterRestore(["a"]))
        // b restores the b.out the workspace holds: e is planned as it is.
        #expect(by["e"] == .run(reasons: ["first run"]))
        // Restored outs the workspace already holds change nothing.
        let same = Dictionary(uniqueKeysWithValues: plan(differs: false).stages.map { ($0.stage, $0.decision) })
        #expect(same["c"] == .run(reasons: ["first run"]))
    }

    /// After a param is set back, the keys a restore gives the stages below
    /// are read together, a level per round; none is looked up alone.
    @Test func keysARestoreChangesAreReadInBulk() throws {
        var yaml = "      a: {cmd: a, params: [p], outs: [x.txt]}\n"
        for i in 0..<300 { yaml += "      m\(i): {cmd: m, deps: [x.txt], outs: [m/\(i).txt]}\n" }
        yaml += "      report: {cmd: r, deps: [m], outs: [r.txt]}\n"
        let p = try pipeline(yaml + "\n")
        let graph = StageGraph(pipeline: p)
        func inputs(_ x: String, _ param: String) -> [String: RunPlanner.StageInputs] {
            var hashes = ["x.txt": x, "m": "m-" + x]
            for i in 0..<300 { hashes["m/\(i).txt"] = "m\(i)-" + x }
            var result: [String: RunPlanner.StageInputs] = [:]
            for s in p.stages { result[s.name] = RunPlanner.inputs(of: s, hashes: hashes, params: Params(values: ["p": param])) }
            return result
        }
        // The store holds every stage's result for p=1; the workspace holds p=2's.
        var stored: [String: RunPlanner.StoredResult] = [:]
        for (name, i) in inputs("x1", "1") {
            guard case .ready(let ready) = i else { continue }
            let out = p.stages.first { $0.name == name }!.cachedOutputs[0]
            stored[ready.key] = .init(run: 1, outputs: [out: name == "a" ? "x1" : name == "report" ? "r1" : "\(out)-1"])
        }
        let now = inputs("x2", "1")
        var asked: Set<String> = []
        var bulk: [Int] = []
        var alone = 0
        var previousAsked = 0
        let keys = now.compactMapValues { i -> String? in if case .ready(let r) = i { return r.key } else { return nil } }
        asked.formUnion(keys.values)
        let plan = RunPlanner.plan(pipeline: p, graph: graph, inputs: now,
                                   read: { asked.contains($0) ? .some(stored[$0]) : nil },
                                   readAll: { bulk.append($0.count); asked.formUnion($0) },
                                   lookUp: { alone += 1; return stored[$0] },
                                   previous: { _ in previousAsked += 1; return nil }, force: false, keys: keys, differsNow: { _, _ in true })
        let by = Dictionary(uniqueKeysWithValues: plan.stages.map { ($0.stage, $0.decision) })
        #expect(by["a"] == .cached(fromRun: 1))
        #expect((0..<300).allSatisfy { by["m\($0)"] == .cached(fromRun: 1) })
        // report reads the folder the members' restores change: decided then.
        #expect(by["report"] == .afterRestore((0..<300).map { "m\($0)" }.sorted()))
        #expect(bulk == [300])
        #expect(alone == 0)
        // Only report runs (after the restore): a trial round asks no stage's previous run.
        #expect(previousAsked == 0)
    }

    /// A matrix over the shards of a cached stage's folder out: the folder
    /// is compared with the stored one once, not once per member.
    @Test func aRestoredFolderIsComparedOncePerPlan() throws {
        var yaml = "      split: {cmd: split, outs: [shards]}\n"
        for i in 0..<2_000 { yaml += "      m\(i): {cmd: m, deps: [shards/\(i).csv], outs: [m/\(i).txt]}\n" }
        let p = try pipeline(yaml + "\n")
        let graph = StageGraph(pipeline: p)
        var inputs: [String: RunPlanner.StageInputs] = [:]
        var hashes: [String: String] = [:]
        for i in 0..<2_000 { hashes["shards/\(i).csv"] = "s\(i)" }
        for s in p.stages { inputs[s.name] = RunPlanner.inputs(of: s, hashes: hashes, params: Params()) }
        guard case .ready(let split) = inputs["split"] else { Issue.record("split"); return }
        var asked = 0
        let plan = RunPlanner.plan(pipeline: p, graph: graph, inputs: inputs,
                                   stored: { $0 == split.key ? .init(run: 1, outputs: ["shards": "stored"]) : nil },
                                   previous: { _ in nil }, force: false, differsNow: { _, _ in asked += 1; return true })
        #expect(asked == 1)
        #expect(plan.stages.filter { $0.decision == .afterRestore(["split"]) }.count == 2_000)
    }

    /// A folder dep waits for the stages that write inside it, and a
    /// missing one that they make is rebuilt, not blocked.
    @Test func aFolderDepWaitsForTheStagesWritingInsideIt() throws {
        let p = try pipeline("""
              m1: {cmd: m1, outs: [models/1.pkl]}
              m2: {cmd: m2, outs: [models/2.pkl]}
              pick: {cmd: pick, deps: [models], outs: [best.pkl]}
              other: {cmd: o, deps: [models/raw.csv]}

        """)
        let graph = StageGraph(pipeline: p)
        #expect(graph.upstream["pick"] == ["m1", "m2"])
        #expect(graph.upstream["other"] == [])
        var inputs: [String: RunPlanner.StageInputs] = [:]
        for s in p.stages { inputs[s.name] = RunPlanner.inputs(of: s, hashes: [:], params: Params()) }
        let plans = RunPlanner.plan(pipeline: p, graph: graph, inputs: inputs, stored: { _ in nil }, previous: { _ in nil }, force: false)
        let by = Dictionary(uniqueKeysWithValues: plans.stages.map { ($0.stage, $0.decision) })
        #expect(by["pick"] == .afterUpstream(["m1", "m2"]))
        // A sibling of the outs is not made by them.
        #expect(by["other"] == .blocked("dep models/raw.csv does not exist"))
    }
}

@Suite struct HostileYAMLTests {
    @Test func aliasBombIsRefusedQuickly() {
        var text = "a: &a [x,x,x,x,x,x,x,x,x]\n"
        for (i, name) in ["b", "c", "d", "e", "f", "g", "h", "i"].enumerated() {
            let prev = i == 0 ? "a" : ["b", "c", "d", "e", "f", "g", "h"][i - 1]
            text += "\(name): &\(name) [" + Array(repeating: "*\(prev)", count: 9).joined(separator: ",") + "]\n"
        }
        #expect(throws: SpecErrors.self) { try Params.parse(yaml: text) }
        do { _ = try Params.parse(yaml: text) } catch {
            #expect(error.issues[0].description.contains("params.yaml:"))
            #expect(error.issues[0].description.contains("expand to more than"))
        }
    }

    /// The count is skipped only for short text without aliases, which cannot
    /// hold `maxNodes` values: a long flat list is still counted and refused.
    @Test func manyValuesWithoutAliasesAreStillCounted() throws {
        let flat = "k: [" + Array(repeating: "a", count: BoundedYAML.maxNodes).joined(separator: ",") + "]\n"
        #expect(!flat.contains("*"))
        #expect(throws: SpecErrors.self) { try BoundedYAML.compose(flat, file: "params.yaml", resolver: .basic) }
        let short = "k: [" + Array(repeating: "a", count: 1_000).joined(separator: ",") + "]\n"
        #expect(try BoundedYAML.compose(short, file: "params.yaml", resolver: .basic)?.mapping?["k"]?.sequence?.count == 1_000)
    }

    @Test func oversizedDocumentsAreRefused() {
        let big = "k: \"" + String(repeating: "x", count: BoundedYAML.maxBytes) + "\"\n"
        #expect(throws: SpecErrors.self) { try Params.parse(yaml: big) }
    }

    @Test func safeNames() {
        for ok in ["train", "eval-2", "weather_clf", "v1.2", "A"] { #expect(SafeName.isSafe(ok), "\(ok)") }
        for bad in ["", "../x", "a/b", "a..b", ".hidden", "-flag", "with space", "tab\tname", "é", String(repeating: "a", count: 101)] {
            #expect(!SafeName.isSafe(bad), "\(bad)")
        }
    }
}

@Suite struct StageLineTests {
    @Test func classifiesLines() {
        #expect(MetricParsing.classify("hello") == .text)
        #expect(MetricParsing.classify("::metric name=loss value=0.5 step=2") == .metric(MetricPoint(key: "loss", value: 0.5, step: 2)))
        #expect(MetricParsing.classify("::progress step=3 total=10") == .progress(done: 3, total: 10))
        #expect(MetricParsing.classify("::progress step=30 total=10") == .progress(done: 10, total: 10))
        #expect(MetricParsing.classify("::metric loss=0.5 step=1") == .malformed("::metric loss=0.5 step=1"))
        #expect(MetricParsing.classify("::progress total=0") == .malformed("::progress total=0"))
        #expect(MetricParsing.classify("::metrics are great") == .text)
    }

    @Test func readsPythonNonFiniteNumbers() throws {
        let points = try MetricParsing.parseJSON(Data(#"{"a": NaN, "b": -Infinity, "c": "NaN is a word", "d": [Infinity], "e": 1}"#.utf8))
        let byKey = Dictionary(uniqueKeysWithValues: points.map { ($0.key, $0.value) })
        #expect(byKey["a"]?.isNaN == true)
        #expect(byKey["b"] == -.infinity)
        #expect(byKey["c"] == nil)
        #expect(byKey["e"] == 1)
    }

    /// `1e999` is infinity whether a stage prints it on a `::metric` line or
    /// writes it in a metrics file: one rule (kept as the non-finite value it
    /// denotes, which fails a gate, and warned about), not a failed stage here
    /// and a stored value there.
    @Test func anOutOfRangeNumberReadsTheSameFromALineAndAFile() throws {
        let points = try MetricParsing.parseJSON(Data(#"{"big": 1e999, "small": -1E+999, "tiny": 1e-999, "s": "1e999", "x": 2}"#.utf8))
        let byKey = Dictionary(uniqueKeysWithValues: points.map { ($0.key, $0.value) })
        #expect(byKey["big"] == .infinity)
        #expect(byKey["small"] == -.infinity)
        #expect(byKey["tiny"] == 0)
        #expect(byKey["s"] == .infinity)
        #expect(byKey["x"] == 2)
        #expect(MetricParsing.classify("::metric name=big value=1e999") == .metric(MetricPoint(key: "big", value: byKey["big"]!)))
        #expect(MetricParsing.classify("::metric name=small value=-1E+999") == .metric(MetricPoint(key: "small", value: byKey["small"]!)))
        #expect(MetricParsing.nonFiniteWarning(MetricPoint(key: "big", value: .infinity))?.contains("big is Infinity") == true)
        #expect(MetricParsing.nonFiniteWarning(MetricPoint(key: "n", value: .nan))?.contains("n is NaN") == true)
        #expect(MetricParsing.nonFiniteWarning(MetricPoint(key: "x", value: 2)) == nil)
    }

    @Test func invalidJSONNamesLineAndColumn() {
        do {
            _ = try MetricParsing.parseJSON(Data("{\"a\": 1,\n \"b\": oops}".utf8))
            Issue.record("accepted invalid JSON")
        } catch {
            #expect(error.description.contains("line 2, column"), "\(error)")
        }
    }
}
