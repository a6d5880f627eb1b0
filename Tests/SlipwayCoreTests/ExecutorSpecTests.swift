import Foundation
import Testing
@testable import SlipwayCore

@Suite struct ExecutorSpecTests {
    func parse(_ yaml: String) throws -> WorkspaceSpec { try SpecParser.parse(yaml) }

    func issues(_ yaml: String) -> [SpecIssue] {
        do { _ = try SpecParser.parse(yaml); return [] } catch { return error.issues }
    }

    @Test func stagesRunWhereTheyOrTheirPipelineSay() throws {
        let spec = try parse("""
        project: p
        pipelines:
          train:
            executor: {kind: slurm, partition: cpu, account: ml, time: "1:00:00"}
            stages:
              prep: {cmd: ./prep.sh, outs: [data.csv]}
              fit:
                cmd: python3 train.py
                deps: [data.csv]
                executor: {partition: gpu, gres: "gpu:1", cpus: 8, mem: 32G, time: 2:00:00, qos: normal, sbatch: [--constraint=a100, --exclusive]}
              report: {cmd: ./report.sh, executor: local, needs: [fit]}
              check: {uses: validate, data: data.csv, needs: [prep]}
          quick:
            stages:
              one: {cmd: "true"}
              two: {cmd: "true", executor: slurm}
        """)
        let train = try #require(spec.pipeline(named: "train"))
        #expect(train.executor == ExecutorSpec(kind: .slurm, partition: "cpu", time: "1:00:00", account: "ml"))
        #expect(train.stage(named: "prep")?.executor == train.executor)
        // The stage's keys win; the rest comes from the pipeline.
        #expect(train.stage(named: "fit")?.executor == ExecutorSpec(kind: .slurm, partition: "gpu", gres: "gpu:1", cpus: 8, mem: "32G",
                                                                  time: "2:00:00", account: "ml", qos: "normal",
                                                                  sbatch: ["--constraint=a100", "--exclusive"]))
        // Another kind takes nothing from the default.
        #expect(train.stage(named: "report")?.executor == .local)
        #expect(train.stage(named: "check")?.executor == .local)
        let quick = try #require(spec.pipeline(named: "quick"))
        #expect(quick.stage(named: "one")?.executor == .local)
        #expect(quick.stage(named: "two")?.executor == ExecutorSpec(kind: .slurm))
        #expect(train.stage(named: "fit")?.executor.requestSummary == "partition=gpu gres=gpu:1 cpus=8 mem=32G time=2:00:00 account=ml qos=normal --constraint=a100 --exclusive")
    }

    /// Every member of a matrix runs where its stage says, over the
    /// pipeline's default; a stage beside it keeps the default.
    @Test func matrixMembersRunWhereTheirStageSays() throws {
        let spec = try parse("""
        project: p
        pipelines:
          sweep:
            executor: {kind: slurm, partition: cpu, account: ml}
            stages:
              prep: {cmd: ./prep.sh, outs: [data.csv]}
              train:
                cmd: python3 train.py
                deps: [data.csv]
                matrix: {lr: [0.1, 0.01], arch: [small, large]}
                outs: ["model-${matrix.lr}-${matrix.arch}.pt"]
                executor: {partition: gpu, gres: "gpu:1"}
              local:
                cmd: ./report.sh
                matrix: {shard: range(2)}
                executor: local
                needs: [train]
        """)
        let sweep = try #require(spec.pipeline(named: "sweep"))
        let members = sweep.stages.filter { $0.matrix?.base == "train" }
        #expect(members.count == 4)
        for member in members {
            #expect(member.executor == ExecutorSpec(kind: .slurm, partition: "gpu", gres: "gpu:1", account: "ml"), "\(member.name)")
        }
        #expect(sweep.stage(named: "train[lr=0.1,arch=small]")?.executor.partition == "gpu")
        #expect(sweep.stage(named: "prep")?.executor == ExecutorSpec(kind: .slurm, partition: "cpu", account: "ml"))
        let shards = sweep.stages.filter { $0.matrix?.base == "local" }
        #expect(shards.count == 2 && shards.allSatisfy { $0.executor == .local })
    }

    @Test func lintNamesEveryBadKeyAndValueWithItsPlace() {
        let found = issues("""
        project: p
        pipelines:
          p:
            executor: {kind: slurm, partitoin: gpu}
            stages:
              a: {cmd: "true", executor: {kind: slurm, time: 2h, mem: 32GB, cpus: 0, gres: "gpu:0", qos: "a b", sbatch: [--output=x.log, exclusive]}}
              b: {cmd: "true", executor: {kind: kubernetes}}
              c: {cmd: "true", executor: {kind: local, partition: gpu}}
              d: {uses: validate, data: x.csv, executor: slurm}
              e: {cmd: "true", executor: [slurm]}
              f: {cmd: "true", executor: {kind: slrum, time: "1-25:00"}}
        """)
        let text = found.map(\.description)
        func has(_ key: String, _ words: String) -> Bool {
            found.contains { $0.keyPath == key && $0.message.contains(words) && $0.line != nil }
        }
        #expect(has("pipelines.p.executor.partitoin", "did you mean 'partition'"), "\(text)")
        #expect(has("pipelines.p.stages.a.executor.time", "not a Slurm time limit"))
        #expect(has("pipelines.p.stages.a.executor.mem", "32G, not 32GB"))
        #expect(has("pipelines.p.stages.a.executor.cpus", "≥ 1"))
        #expect(has("pipelines.p.stages.a.executor.gres", "not a gres request"))
        #expect(has("pipelines.p.stages.a.executor.qos", "not a Slurm QOS name"))
        #expect(has("pipelines.p.stages.a.executor.sbatch[0]", "--output is not allowed here"))
        #expect(has("pipelines.p.stages.a.executor.sbatch[1]", "is not an option"))
        #expect(has("pipelines.p.stages.b.executor.kind", "not built yet"))
        #expect(has("pipelines.p.stages.c.executor.partition", "applies to `kind: slurm`"))
        #expect(has("pipelines.p.stages.d.executor", "built-in stage"))
        #expect(has("pipelines.p.stages.e.executor", "must be `local`, `slurm` or a mapping"))
        #expect(has("pipelines.p.stages.f.executor.kind", "did you mean 'slurm'"))
        #expect(has("pipelines.p.stages.f.executor.time", "not a Slurm time limit"))
    }

    @Test func slurmTimeFormats() {
        let ok: [(String, Double)] = [("90", 5400), ("10:30", 630), ("2:00:00", 7200), ("1-12", 129_600), ("1-0:30", 88_200),
                                      ("2-03:04:05", 183_845), ("UNLIMITED", .infinity)]
        for (text, seconds) in ok { #expect(ExecutorSpec.slurmTimeSeconds(text) == seconds, "\(text)") }
        for bad in ["2h", "1:60", "1:2:3:4", "-5", "1-", "a:b", "1-2-3", "", "1:00:60"] {
            #expect(ExecutorSpec.slurmTimeSeconds(bad) == nil, "\(bad)")
        }
    }

    @Test func slurmMemoryAndGres() {
        #expect(ExecutorSpec.slurmMemoryMegabytes("32G") == 32768)
        #expect(ExecutorSpec.slurmMemoryMegabytes("500") == 500)
        #expect(ExecutorSpec.slurmMemoryMegabytes("1T") == 1_048_576)
        for bad in ["32GB", "G", "-1G", "1.5G", "lots"] { #expect(ExecutorSpec.slurmMemoryMegabytes(bad) == nil, "\(bad)") }
        for good in ["gpu", "gpu:1", "gpu:a100:2", "gpu:1,shard:2"] { #expect(ExecutorSpec.isSlurmGres(good), "\(good)") }
        for bad in ["gpu:0", ":1", "gpu:a100:x", "gpu 1", "gpu:1,", "1:gpu"] { #expect(!ExecutorSpec.isSlurmGres(bad), "\(bad)") }
        #expect(ExecutorSpec.sbatchArgumentProblem("-pgpu") != nil)
        #expect(ExecutorSpec.sbatchArgumentProblem("--constraint=a100&v100") == nil)
    }

    /// The executor is not an input: the same stage on Slurm and locally has one cache key.
    @Test func theCacheKeyDoesNotDependOnTheExecutor() throws {
        func key(_ executor: String) throws -> String {
            let spec = try parse("""
            project: p
            pipelines:
              p:
                stages:
                  train: {cmd: python3 train.py, deps: [train.py], params: [lr], outs: [model.bin]\(executor)}
            """)
            let stage = try #require(spec.pipelines.first?.stages.first)
            guard case .ready(let inputs) = RunPlanner.inputs(of: stage, hashes: ["train.py": "sha256:1"], params: Params(values: ["lr": "0.1"])) else {
                Issue.record("inputs not ready"); return ""
            }
            return inputs.key
        }
        let local = try key("")
        #expect(try key(", executor: local") == local)
        #expect(try key(", executor: {kind: slurm, partition: gpu, gres: \"gpu:1\", cpus: 8, mem: 32G, time: \"2:00:00\"}") == local)
    }
}
