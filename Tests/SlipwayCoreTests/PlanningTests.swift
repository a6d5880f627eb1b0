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
                                    cachedRun: { $0 == d.key ? .some(7) : nil }, previous: { _ in nil }, force: false)
        let byStage = Dictionary(uniqueKeysWithValues: plans.map { ($0.stage, $0.decision) })
        #expect(byStage["a"] == .run(reasons: ["first run"]))
        #expect(byStage["b"] == .afterUpstream(["a"]))
        #expect(byStage["c"] == .blocked("dep missing.csv does not exist"))
        #expect(byStage["d"] == .cached(fromRun: 7))
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
