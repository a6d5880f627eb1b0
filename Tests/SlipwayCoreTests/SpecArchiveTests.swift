import Foundation
import Testing
@testable import SlipwayCore

/// The binary form a loaded spec is kept in: read back equal to the parsed
/// spec, never a crash on damaged bytes, and a tripwire for fields it does
/// not write.
@Suite struct SpecArchiveTests {
    /// A spec using every part of the language the archive writes.
    static let rich = """
    project: everything
    registry: postgresql://slipway@db.example.org:5432/registry
    store: /shared/slipway-store
    signing:
      key: keys/release
      signers: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDYwPERrGbAmnoWKT+iQu6+hzT6JCrqTnpwT2J+dbd65 dana"]
    policy:
      high_risk_when:
        - {params_changed: [model.arch]}
        - {tag: base-model-upgrade}
        - {metric_drop: {metric: accuracy, more_than: 0.02}}
        - {data_changed: [data/train.csv]}
        - {env: production}
      low_risk_when: [{params_changed: [serving.threshold]}]
      required_approvals: 2
      expires: 36h
      environments: {staging: {required_approvals: 1, expires: 1h}}
      approvers:
        - {name: Dana Ruiz, user: [dana, dana@example.org], key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDYwPERrGbAmnoWKT+iQu6+hzT6JCrqTnpwT2J+dbd65 dana"}
    pipelines:
      weather:
        model: weather-classifier
        triggers: [commit, {schedule: "@daily"}, {drift: inputs}, {data: data/raw.csv}]
        max_concurrent_runs: 2
        executor: {kind: slurm, partition: cpu, account: ml, time: "1:00:00"}
        stages:
          check: {uses: validate, data: data/raw.csv, schema: schema.yaml, drift_share: 0.4}
          report: {cmd: ./report.sh, executor: local, needs: [train]}
          train:
            matrix: {lr: [0.1, 0.01], arch: [small, large]}
            cmd: python3 train.py --lr ${matrix.lr}
            needs: [check]
            deps: [train.py, data/raw.csv]
            params: [train.epochs]
            outs: ["models/${matrix.arch}-${matrix.lr}.json"]
            metrics: ["metrics/${matrix.arch}-${matrix.lr}.json"]
            env: [requirements.txt]
            timeout: 90m
            executor: {partition: gpu, gres: "gpu:1", cpus: 8, mem: 32G, qos: normal, sbatch: [--exclusive]}
            gates: {accuracy: ">= production - 0.02", lift: "> 0.05"}
            baseline: staging
            on_no_baseline: fail
          pack: {uses: package, model: models/small-0.1.json, include: [predict.py], config: {cmd: [python3, serve.py]}, needs: [train]}
          ship: {uses: deploy, model: weather-classifier, to: staging, needs: [pack]}
    environments:
      staging: {deploy: ./deploy.sh staging}
      production:
        deploy: ./deploy.sh production
        requires: staging
        auto: true
        timeout: 5m
        watch: 30m
        rollback_when: {error_rate: {http: "http://127.0.0.1:9/q", fail_if: "> 0.1"}}
        canary:
          steps: [10, 50]
          interval: 2s
          measure: {every: 2s, count: 3, failure_limit: 1, consecutive_error_limit: 4}
          min_samples:
            prometheus: {address: "http://127.0.0.1:9090", query: 'sum(increase(req[1m]))', version_label: server, version_value: 'v${SLIPWAY_ANALYSIS_VERSION}'}
            at_least: 20
          analysis:
            latency: {cmd: ./latency.sh, value: p95, fail_if: "> production + 5", pass_if: "<= 40"}
    monitors:
      inputs:
        reference: data/train.csv
        features: {temp_max: {method: psi, threshold: 0.3}, wind: {}}
        drift_share: 0.5
        cooldown: 2h
        incoming: incoming
        label: weather
        prediction: predicted
        performance: {metric: accuracy, below: 0.55}
      live: {reference: {model: clf}, method: jensen_shannon, pipeline: weather}

    """

    static let params = Params(values: ["train.epochs": "3", "model.arch": "mlp", "serving.threshold": "0.5"])

    static func richSpec() throws -> WorkspaceSpec {
        try SpecParser.parse(rich, params: params)
    }

    @Test func readsBackEqualToTheParsedSpec() throws {
        let spec = try Self.richSpec()
        let bytes = try #require(SpecArchive.encode(spec, params: Self.params))
        let back = try #require(SpecArchive.decode(bytes))
        #expect(back.params == Self.params)
        #expect(back.spec == spec)
        // Field by field too, so a difference says where it is.
        #expect(back.spec.pipelines.flatMap(\.stages) == spec.pipelines.flatMap(\.stages))
        #expect(back.spec.environments == spec.environments)
        #expect(back.spec.rules == spec.rules && back.spec.signing == spec.signing && back.spec.monitorSpecs == spec.monitorSpecs)
        // The spec exercises what it claims to.
        let train = try #require(spec.pipelines.first?.stages.first { $0.matrix != nil })
        #expect(train.executor.kind == .slurm && train.timeout == 5400 && !train.gates.isEmpty && train.onNoBaseline == .fail)
        #expect(spec.environments.last?.plan.canary?.minSamples != nil && spec.registry != nil && spec.store != nil)
        #expect(!spec.signing.signers.isEmpty && !spec.rules.approvers.isEmpty && spec.monitorSpecs.count == 2)
        // The same spec always makes the same bytes (options and params in order).
        let same = SpecArchive.encode(back.spec, params: back.params) == bytes
        #expect(same)
    }

    /// Every cut of an archive, and every single-byte change, is refused or
    /// read as some spec: never a trap, never an endless allocation.
    @Test func damagedBytesAreRefusedNotTrusted() throws {
        let spec = try SpecParser.parse("project: p\npipelines: {main: {stages: {a: {cmd: x, outs: [o]}, v: {uses: validate, data: d.csv, method: psi, threshold: 0.2}}}}\n")
        let bytes = try #require(SpecArchive.encode(spec, params: Params(values: ["a": "1"])))
        for cut in 0..<bytes.count {
            #expect(SpecArchive.decode(Array(bytes[0..<cut])) == nil, "cut at \(cut)")
        }
        #expect(SpecArchive.decode(bytes + [0]) == nil)
        for i in 0..<bytes.count {
            for flip: UInt8 in [0x01, 0x80, 0xff] {
                var damaged = bytes
                damaged[i] ^= flip
                _ = SpecArchive.decode(damaged)
            }
        }
        // A count larger than the bytes left is refused before anything is reserved.
        var huge = SpecArchive.magic
        huge += [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]
        #expect(SpecArchive.decode(huge) == nil)
        // Values of every kind read back; nesting deeper than a spec can have is refused.
        let kinds = SpecValue.list([.null, .bool(true), .bool(false), .number(-2.5), .string("é"), .map([.init(key: "k", value: .list([]))])])
        var w = ArchiveWriter()
        w.value(kinds)
        var r = try ArchiveReader(w.finished(magic: []), magic: [])
        #expect(try r.value(depth: 0) == kinds && r.atEnd)
        var deep = ArchiveWriter()
        var value = SpecValue.null
        for _ in 0..<(ArchiveReader.maxDepth + 1) { value = .list([value]) }
        deep.value(value)
        var reader = try ArchiveReader(deep.finished(magic: []), magic: [])
        #expect(throws: ArchiveReader.Malformed.self) { _ = try reader.value(depth: 0) }
    }

    /// Texts Swift holds equal but whose bytes differ (a precomposed `é` and
    /// `e` with a combining accent) are different files: each reads back as written.
    @Test func textsReadBackByteForByte() throws {
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
        #expect(composed == decomposed && Array(composed.utf8) != Array(decomposed.utf8))
        var w = ArchiveWriter()
        for text in [composed, decomposed, composed] { w.string(text) }
        var r = try ArchiveReader(w.finished(magic: []), magic: [])
        let back = try [r.string(), r.string(), r.string()]
        #expect(back.map { Array($0.utf8) } == [composed, decomposed, composed].map { Array($0.utf8) })
    }

    @Test func anotherLayoutIsNotRead() throws {
        let spec = try SpecParser.parse("project: p\npipelines: {main: {stages: {a: {cmd: x}}}}\n")
        var bytes = try #require(SpecArchive.encode(spec, params: Params()))
        let digit = try #require(bytes.firstIndex(of: UInt8(ascii: "1")))
        bytes[digit] = UInt8(ascii: "2")
        #expect(SpecArchive.decode(bytes) == nil)
    }

    /// The pipelines are written field by field. When one of these types
    /// gains a field, write and read it in SpecArchive.swift (and bump its
    /// layout number), then add it here.
    @Test func everyFieldOfThePipelinePartsIsWritten() throws {
        func fields(_ value: Any) -> [String] { Mirror(reflecting: value).children.compactMap(\.label) }
        let stage = StageSpec(name: "s")
        #expect(fields(stage) == ["name", "location", "command", "builtin", "deps", "params", "outs", "metrics", "needs", "env",
                                  "timeout", "gates", "baseline", "onNoBaseline", "options", "executor", "matrix"])
        #expect(fields(PipelineSpec(name: "p", stages: [])) == ["name", "location", "model", "triggers", "stages", "maxConcurrentRuns", "executor"])
        #expect(fields(WorkspaceSpec(file: "f", project: "p")) == ["file", "project", "pipelines", "environments", "policy", "monitors",
                                                                   "monitorSpecs", "signing", "rules", "registry", "store"])
        #expect(fields(ExecutorSpec()) == ["kind", "partition", "gres", "cpus", "mem", "time", "account", "qos", "sbatch"])
        #expect(fields(MatrixMember(base: "b", axes: [], values: [])) == ["base", "axes", "values"])
        #expect(fields(GateSpec(metric: "m", condition: try GateCondition(parsing: "> 1"))) == ["metric", "condition", "location"])
        #expect(fields(SourceLocation(file: "f", line: 1, column: 1)) == ["file", "line", "column"])
        #expect(fields(Located("v")) == ["value", "location"])
        #expect(fields(Params()) == ["values"])
        // Rest carries everything of WorkspaceSpec but the fields written one by one.
        let rest = fields(SpecArchive.Rest(WorkspaceSpec(file: "f", project: "p")))
        #expect(Set(rest + ["file", "project", "pipelines", "registry", "store"]) == Set(fields(WorkspaceSpec(file: "f", project: "p"))))
    }
}
