import Testing
@testable import SlipwayCore

@Suite struct StageGraphTests {
    func pipeline(_ yaml: String) throws -> PipelineSpec {
        try SpecParser.parse("project: p\npipelines:\n  main:\n    stages:\n" + yaml).pipelines[0]
    }

    @Test func orderFollowsNeedsAndData() throws {
        let p = try pipeline("""
              evaluate: {cmd: e, deps: [model.json], needs: [prepare]}
              train: {cmd: t, deps: [data/train.csv], outs: [model.json]}
              prepare: {cmd: p, outs: [data]}
              report: {cmd: r}
        """)
        let g = StageGraph(pipeline: p)
        #expect(g.upstream["evaluate"]!.sorted() == ["prepare", "train"])
        #expect(g.upstream["train"] == ["prepare"]) // data/train.csv lies inside the out `data`
        let order = try #require(g.topologicalOrder())
        #expect(Set(order) == ["prepare", "report", "train", "evaluate"])
        #expect(order.firstIndex(of: "prepare")! < order.firstIndex(of: "train")!)
        #expect(order.firstIndex(of: "train")! < order.firstIndex(of: "evaluate")!)
        #expect(g.dependents(of: "prepare") == ["train", "evaluate"])
        #expect(g.findCycle() == nil)
    }

    @Test func cycleIsReportedAsALoop() {
        let g = StageGraph(names: ["a", "b", "c"], upstream: ["a": ["c"], "b": ["a"], "c": ["b"]])
        let cycle = g.findCycle()!
        #expect(cycle.count == 4)
        #expect(cycle.first == cycle.last)
        #expect(Set(cycle) == ["a", "b", "c"])
        #expect(g.topologicalOrder() == nil)
    }

    @Test func independentStagesKeepDeclarationOrder() {
        let g = StageGraph(names: ["x", "y", "z"], upstream: [:])
        #expect(g.topologicalOrder() == ["x", "y", "z"])
    }
}

@Suite struct CacheKeyTests {
    let base = CacheInputs(command: "python3 train.py", deps: ["train.py": "aa", "data.csv": "bb"],
                           params: ["train.lr": "0.1"], envFiles: ["requirements.txt": "cc"], outputs: ["model.json"])

    @Test func sameInputsSameKey() {
        var reordered = CacheInputs(command: "python3 train.py", deps: ["data.csv": "bb"], params: ["train.lr": "0.1"],
                                    envFiles: ["requirements.txt": "cc"], outputs: ["model.json"])
        reordered.deps["train.py"] = "aa"
        #expect(reordered.key == base.key)
        #expect(base.changes(since: reordered).isEmpty)
        #expect(base.key.count == 64)
    }

    @Test func eachInputChangesTheKey() {
        var variants: [CacheInputs] = []
        var v = base; v.command = "python3 train.py --fast"; variants.append(v)
        v = base; v.deps["data.csv"] = "bx"; variants.append(v)
        v = base; v.deps["extra.csv"] = "dd"; variants.append(v)
        v = base; v.params["train.lr"] = "0.2"; variants.append(v)
        v = base; v.params["train.epochs"] = "3"; variants.append(v)
        v = base; v.envFiles["requirements.txt"] = "cx"; variants.append(v)
        v = base; v.builtin = "uses=validate"; variants.append(v)
        v = base; v.outputs = ["model.bin"]; variants.append(v)
        let keys = Set(variants.map(\.key) + [base.key])
        #expect(keys.count == variants.count + 1)
    }

    @Test func changesAreExplained() {
        var v = base
        v.params["train.lr"] = "0.2"
        v.deps["data.csv"] = "zz"
        #expect(v.changes(since: base) == ["dep changed: data.csv", "param changed: train.lr (0.1 → 0.2)"])
        #expect(v.changes(since: nil) == ["first run"])
        var c = base; c.command = "x"
        #expect(c.changes(since: base) == ["command changed"])
        var e = base; e.envFiles = [:]
        #expect(e.changes(since: base) == ["env file removed: requirements.txt"])
    }

    @Test func fieldsCannotBleedIntoEachOther() {
        let a = CacheInputs(command: "a", params: ["k": "v\nparam x"])
        let b = CacheInputs(command: "a", params: ["k": "v", "x": ""])
        #expect(a.key != b.key)
    }
}

@Suite struct SmallPartsTests {
    @Test(arguments: [
        ("::metric name=loss value=0.42 step=3", MetricPoint(key: "loss", value: 0.42, step: 3)),
        ("::metric value=1e-3 name=val/acc", MetricPoint(key: "val/acc", value: 0.001)),
        ("  ::metric name=x value=-2\r", MetricPoint(key: "x", value: -2)),
    ])
    func metricLines(line: String, expected: MetricPoint) {
        #expect(MetricParsing.parseLine(line) == expected)
    }

    @Test(arguments: ["::metric", "::metric name=loss", "::metric value=3", "::metricname=x value=1",
                      "metric name=x value=1", "::metric name=x value=abc", "::metric name=x value=1 step=1.5"])
    func notMetricLines(line: String) {
        #expect(MetricParsing.parseLine(line) == nil)
    }

    @Test func metricsJSONFlattens() throws {
        let points = try MetricParsing.parseJSON(Array(#"{"acc": 0.9, "eval": {"f1": 0.5, "ok": true, "name": "x", "n": "3"}, "list": [1]}"#.utf8).data)
        #expect(points == [MetricPoint(key: "acc", value: 0.9), MetricPoint(key: "eval.f1", value: 0.5),
                           MetricPoint(key: "eval.n", value: 3), MetricPoint(key: "eval.ok", value: 1)])
        #expect(throws: MetricParsing.FileError.self) { try MetricParsing.parseJSON(Array("[1]".utf8).data) }
        #expect(throws: MetricParsing.FileError.self) { try MetricParsing.parseJSON(Array("{".utf8).data) }
    }

    @Test func paramsFlattenAndNameVariables() throws {
        let p = try Params.parse(yaml: "train:\n  lr: 0.01\n  layers: [64, 32]\nmodel: {arch: gbm}\n")
        #expect(p.values == ["train.lr": "0.01", "train.layers": "[64, 32]", "model.arch": "gbm"])
        #expect(Params.environmentName(for: "train.lr") == "SLIPWAY_PARAM_TRAIN_LR")
        #expect(Params.environmentName(for: "model.hidden-size2") == "SLIPWAY_PARAM_MODEL_HIDDEN_SIZE2")
    }

    @Test func durations() {
        #expect(Durations.seconds(from: "30s") == 30)
        #expect(Durations.seconds(from: "1h30m") == 5400)
        #expect(Durations.seconds(from: "250ms") == 0.25)
        #expect(Durations.seconds(from: "90") == 90)
        #expect(Durations.seconds(from: "soon") == nil)
        #expect(Durations.seconds(from: "5x") == nil)
        #expect(Durations.format(0.84) == "0.8s")
        #expect(Durations.format(102) == "1:42")
        #expect(Durations.format(3723) == "1:02:03")
    }

    @Test func workspacePaths() throws {
        #expect(try WorkspacePath.normalize("a/./b/../c/").get() == "a/c")
        #expect(WorkspacePath.normalize("..") == .failure(.escapes))
        #expect(WorkspacePath.normalize("/x") == .failure(.absolute))
        #expect(WorkspacePath.normalize(".") == .failure(.empty))
        // A combining mark after a slash does not join it to the next name:
        // the file system splits on the byte.
        #expect(WorkspacePath.normalize("../\u{301}x") == .failure(.escapes))
        #expect(try WorkspacePath.normalize("a/../\u{301}x/./").get() == "\u{301}x")
        #expect(WorkspacePath.reserved("a/\u{301}/.git", writing: false) != nil)
        #expect(WorkspacePath.selfAndAncestors("a/\u{301}b/c") == ["a/\u{301}b/c", "a/\u{301}b", "a"])
        #expect(WorkspacePath.contains("data", "data/x.csv"))
        #expect(!WorkspacePath.contains("data", "database.csv"))
        #expect(WorkspacePath.contains("data", "data/\u{301}x") && WorkspacePath.contains("data", "data"))
        #expect(!WorkspacePath.contains("data/x", "data") && !WorkspacePath.contains("dat", "data"))
        #expect(WorkspacePath.reserved(".git", writing: false) != nil)
        #expect(WorkspacePath.reserved("sub/.GIT/config", writing: false) != nil)
        #expect(WorkspacePath.reserved(".slipway/registry.sqlite", writing: false) != nil)
        #expect(WorkspacePath.reserved("slipway.yaml", writing: true) != nil && WorkspacePath.reserved("slipway.yaml", writing: false) == nil)
        #expect(WorkspacePath.reserved("Params.yaml", writing: true) != nil)
        #expect(WorkspacePath.reserved("sub/params.yaml", writing: true) == nil)
        #expect(WorkspacePath.reserved(".github/workflows/ci.yaml", writing: true) == nil)
        #expect(WorkspacePath.reserved("données/.SLIPWAY/x", writing: false) != nil)
        #expect(WorkspacePath.reserved("données/.gît", writing: false) == nil && WorkspacePath.reserved(".gi", writing: false) == nil)
    }

    @Test func suggestions() {
        #expect(Suggestions.closest(to: "trian", in: ["train", "evaluate"]) == "train")
        #expect(Suggestions.closest(to: "zzz", in: ["train", "evaluate"]) == nil)
    }
}

extension Array where Element == UInt8 {
    var data: Foundation.Data { Foundation.Data(self) }
}

import Foundation
