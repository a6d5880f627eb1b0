import Foundation
import Testing
@testable import SlipwayCore

/// `matrix:` stages: expansion, names, templated paths, needs, and the
/// mistakes lint must catch.
@Suite struct MatrixTests {
    static let sweep = """
    project: p
    pipelines:
      main:
        stages:
          prepare: {cmd: ./prepare.sh, deps: [raw.csv], outs: [data/train.csv]}
          train:
            matrix:
              lr: [0.1, 0.01]
              arch: [small, large]
            cmd: python train.py --lr ${matrix.lr} --arch ${matrix.arch}
            deps: [data/train.csv]
            params: [train.epochs]
            outs: ["models/${matrix.arch}-${matrix.lr}.pkl"]
            metrics: ["metrics/${matrix.arch}-${matrix.lr}.json"]
          report: {cmd: ./report.sh, needs: [train], outs: [report.md]}
          small-only: {cmd: ./s.sh, needs: ["train[arch=small]"], outs: [s.md]}
    """

    func issues(_ yaml: String) -> [SpecIssue] {
        do {
            _ = try SpecParser.parse(yaml)
            return []
        } catch {
            return error.issues
        }
    }

    @Test func expandsToOneStagePerCombinationWithItsValuesPutIn() throws {
        let spec = try SpecParser.parse(Self.sweep)
        let stages = try #require(spec.pipelines.first).stages
        #expect(stages.map(\.name) == ["prepare", "train[lr=0.1,arch=small]", "train[lr=0.1,arch=large]",
                                       "train[lr=0.01,arch=small]", "train[lr=0.01,arch=large]", "report", "small-only"])
        let m = stages[2]
        #expect(m.command?.value == "python train.py --lr 0.1 --arch large")
        #expect(m.outs.map(\.value) == ["models/large-0.1.pkl"])
        #expect(m.metrics.map(\.value) == ["metrics/large-0.1.json"])
        #expect(m.deps.map(\.value) == ["data/train.csv"])
        #expect(m.params.map(\.value) == ["train.epochs"])
        #expect(m.matrix == MatrixMember(base: "train", axes: ["lr", "arch"], values: ["0.1", "large"]))
        // Needs naming the matrix take every member; a selector takes those it selects.
        #expect(stages[5].needs.map(\.value) == Array(stages[1...4].map(\.name)))
        #expect(stages[6].needs.map(\.value) == ["train[lr=0.1,arch=small]", "train[lr=0.01,arch=small]"])
        // Members come after `prepare` (data edge) and before `report` (needs).
        let graph = StageGraph(pipeline: spec.pipelines[0])
        #expect(graph.upstream["train[lr=0.01,arch=large]"] == ["prepare"])
        #expect(graph.upstream["report"]?.count == 4)
    }

    @Test func eachMemberHasItsOwnCacheKeyWithItsValues() throws {
        // The command does not mention the values: the key still differs.
        let yaml = """
        project: p
        pipelines: {main: {stages: {t: {matrix: {seed: range(3)}, cmd: ./t.sh, outs: ["out/${matrix.seed}"]}}}}
        """
        let stages = try SpecParser.parse(yaml).pipelines[0].stages
        #expect(stages.map(\.name) == ["t[seed=0]", "t[seed=1]", "t[seed=2]"])
        var keys: Set<String> = []
        for s in stages {
            guard case .ready(let inputs) = RunPlanner.inputs(of: s, hashes: [:], params: Params()) else { Issue.record("not ready"); continue }
            #expect(inputs.params["matrix.seed"] == s.matrix?.values.first)
            keys.insert(inputs.key)
        }
        #expect(keys.count == 3)
        // A plain stage's key is what it was before matrices existed.
        let plain = try SpecParser.parse("project: p\npipelines: {main: {stages: {t: {cmd: ./t.sh, outs: [out/x]}}}}\n").pipelines[0].stages[0]
        guard case .ready(let inputs) = RunPlanner.inputs(of: plain, hashes: [:], params: Params()) else { Issue.record("not ready"); return }
        #expect(inputs.params.isEmpty)
    }

    @Test func rangesAreWholeNumbersAsPythonMakesThem() throws {
        #expect(try Matrix.range("range(3)")?.get() == ["0", "1", "2"])
        #expect(try Matrix.range("range(2, 8, 3)")?.get() == ["2", "5"])
        #expect(try Matrix.range("range(3, 0, -1)")?.get() == ["3", "2", "1"])
        #expect(try Matrix.range(" range(0, 64) ")?.get().count == 64)
        #expect(Matrix.range("[1, 2]") == nil)
        if case .failure(let p)? = Matrix.range("range(1, 2, 0)") { #expect(p.message.contains("step")) } else { Issue.record("step 0 accepted") }
        if case .failure? = Matrix.range("range(a)") {} else { Issue.record("range(a) accepted") }
        if case .failure? = Matrix.range("range(5, 5)") {} else { Issue.record("an empty range accepted") }
        if case .failure(let p)? = Matrix.range("range(0, 10000000)") { #expect(p.message.contains("at most")) } else { Issue.record("a huge range accepted") }
    }

    @Test func membersThatShareAnOutAreReportedOnce() {
        let found = issues("""
        project: p
        pipelines:
          main:
            stages:
              train:
                matrix: {lr: [0.1, 0.01, 0.001], arch: [a, b]}
                cmd: ./t.sh
                outs: ["models/${matrix.arch}.pkl"]
        """)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.message.contains("more than one member of matrix 'train'") == true)
        #expect(found.first?.message.contains("${matrix.lr}, ${matrix.arch}") == true)
        #expect(found.first?.line == 8)
    }

    @Test func badAxesValuesAndReferencesNameTheirPlace() {
        let cases: [(String, String)] = [
            ("{lr: [0.1, 0.1]}", "lists '0.1' twice"),
            ("{lr: []}", "has no value"),
            ("{}", "declares no axis"),
            ("[0.1, 0.2]", "must be a mapping of axes"),
            ("{lr: 0.1}", "must be a list of values or range"),
            ("{lr: [\"a/b\"]}", "may hold only letters"),
            ("{lr: [.hidden]}", "must not start with '.'"),
            ("{lr: [\"a..b\"]}", "must not contain '..'"),
            ("{\"l-r\": [1]}", "axis name 'l-r'"),
            ("{lr: \"range(0, 0)\"}", "makes no value"),
            ("{a: range(1000), b: range(1000)}", "makes 1000000 members; at most 100000"),
        ]
        for (matrix, expected) in cases {
            let found = issues("project: p\npipelines: {main: {stages: {t: {matrix: \(matrix), cmd: ./t.sh, outs: [o/x]}}}}\n")
            #expect(found.contains { $0.message.contains(expected) && $0.keyPath.hasPrefix("pipelines.main.stages.t.matrix") }, "\(matrix): \(found)")
        }
        // A matrix that cannot expand is still a stage its dependents may name: one issue, not two.
        let needed = issues("project: p\npipelines: {main: {stages: {t: {matrix: {lr: [1, 1]}, cmd: ./t.sh, outs: [\"o/${matrix.lr}\"]}, "
                            + "r: {cmd: ./r.sh, needs: [t]}}}}\n")
        #expect(needed.count == 1 && needed[0].message.contains("lists '1' twice"), "\(needed)")
        let typo = issues("project: p\npipelines: {main: {stages: {t: {matrix: {lr: [1, 2]}, cmd: \"./t.sh --lr ${matrix.rl}\", outs: [\"o/${matrix.lr}\"]}}}}\n")
        #expect(typo.count == 1 && typo[0].message.contains("${matrix.rl} names no axis (did you mean 'lr'?)"), "\(typo)")
        #expect(typo.first?.keyPath == "pipelines.main.stages.t.cmd")
        let builtin = issues("project: p\npipelines: {main: {stages: {v: {matrix: {s: [1, 2]}, uses: validate, data: \"d${matrix.s}.csv\"}}}}\n")
        #expect(builtin.contains { $0.message.contains("a built-in stage (`uses:`) has no matrix") }, "\(builtin)")
    }

    @Test func aValueCannotMakeAPathSlipwayKeepsForItself() {
        // `${matrix.f}.yaml` with f = slipway names the spec: refused, once.
        let found = issues("project: p\npipelines: {main: {stages: {t: {matrix: {f: [slipway, other]}, cmd: ./t.sh, outs: [\"${matrix.f}.yaml\"]}}}}\n")
        #expect(found.count == 1 && found[0].message.contains("'slipway.yaml' (member t[f=slipway]) is the workspace's spec"), "\(found)")
        let params = issues("project: p\npipelines: {main: {stages: {t: {matrix: {f: [params, PARAMS]}, cmd: ./t.sh, outs: [\"${matrix.f}.yaml\"]}}}}\n")
        // Two members hit the same rule through the same path as written: said once.
        #expect(params.count == 1 && params[0].message.contains("(member t[f=params]) is the workspace's params file"), "\(params)")
    }

    @Test func needsOfAMemberAreCheckedOnce() {
        let unknown = issues("project: p\npipelines: {main: {stages: {t: {matrix: {s: range(50)}, cmd: ./t.sh, needs: [prepar], outs: [\"o/${matrix.s}\"]}, prepare: {cmd: p, outs: [d]}}}}\n")
        #expect(unknown.count == 1 && unknown[0].message.contains("unknown stage 'prepar' (did you mean 'prepare'?)"), "\(unknown)")
        let own = issues("project: p\npipelines: {main: {stages: {t: {matrix: {s: range(2)}, cmd: ./t.sh, needs: [t], outs: [\"o/${matrix.s}\"]}}}}\n")
        #expect(own.contains { $0.message == "a member of matrix 't' cannot need its own matrix" }, "\(own)")
        // A member may need the member of another matrix with its own value.
        let paired = try? SpecParser.parse("""
        project: p
        pipelines:
          main:
            stages:
              train: {matrix: {s: range(3)}, cmd: ./t.sh, outs: ["m/${matrix.s}"]}
              eval: {matrix: {s: range(3)}, cmd: ./e.sh, needs: ["train[s=${matrix.s}]"], outs: ["e/${matrix.s}"]}
        """)
        #expect(paired?.pipelines[0].stage(named: "eval[s=2]")?.needs.map(\.value) == ["train[s=2]"])
    }

    @Test func tenThousandMembersExpandWithANeedOnAll() throws {
        let yaml = "project: p\npipelines: {main: {stages: {t: {matrix: {a: range(100), b: range(100)}, cmd: \"./t.sh ${matrix.a} ${matrix.b}\", outs: [\"o/${matrix.a}/${matrix.b}\"]}, all: {cmd: x, needs: [t], outs: [r]}}}}\n"
        let spec = try SpecParser.parse(yaml)
        #expect(spec.pipelines[0].stages.count == 10_001)
        #expect(spec.pipelines[0].stages.last?.needs.count == 10_000)
    }
}
