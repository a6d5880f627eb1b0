import ArgumentParser
import Foundation
import SlipwayEngine

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compare", 
        abstract: "Metric table of two model versions, with the pipeline's gates.",
        discussion: """
        With no versions: the newest run's candidate (registered or not) against the version live in the \
        gated stage's baseline environment (default production). Exit status 3 when a gate fails.
        """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "MODEL:A (the baseline)") var a: ModelRef?
    @Argument(help: "MODEL:B (the candidate)") var b: ModelRef?
    @Option(help: "The pipeline, when slipway.yaml has several.") var pipeline: String?
    @Flag(help: "Print as JSON.") var json = false

    struct RowJSON: Encodable {
        var metric: String
        var stage: String
        var a: Double?
        var b: Double?
        var delta: Double?
        var gate: String?
        var passed: Bool?
        var explanation: String?
    }

    struct CompareJSON: Encodable {
        var a: String
        var b: String
        var rows: [RowJSON]
        var gates: Int
        var failed: Int
    }

    func validate() throws {
        if (a == nil) != (b == nil) { throw ValidationError("give both MODEL:A and MODEL:B, or neither") }
    }

    func run() throws {
        let (ws, registry) = try global.open()
        let spec: WorkspaceSpec?
        if a == nil { spec = try ws.loadSpec().spec } else { spec = (try? ws.loadSpec())?.spec }
        let service = ComparisonService(registry: registry, spec: spec)
        let result: ComparisonService.Result
        if let a, let b {
            let chosen = try service.pipeline(named: pipeline, model: a.model)
            result = try service.versions(try a.resolve(in: registry), try b.resolve(in: registry), pipeline: chosen)
        } else {
            guard let chosen = try service.pipeline(named: pipeline) else {
                throw Failure(status: .usage, message: "slipway.yaml has several pipelines: pass --pipeline")
            }
            result = try service.candidateVsBaseline(pipeline: chosen)
        }
        let comparison = result.comparison
        let left = result.baseline, right = result.candidate
        if json {
            try Output.json(CompareJSON(a: left.label, b: right.label, rows: comparison.rows.map { r in
                RowJSON(metric: r.metric, stage: r.stage, a: r.baseline.flatMap { $0.isFinite ? $0 : nil },
                        b: r.candidate.flatMap { $0.isFinite ? $0 : nil }, delta: r.delta, gate: r.gate?.condition,
                        passed: r.gate?.passed, explanation: r.gate?.explanation)
            }, gates: comparison.gateCount, failed: comparison.failedGates.count))
        } else {
            Output.say("\(Output.safe(right.label)) (candidate) vs \(Output.safe(left.label))")
            // The columns are named as the title names them.
            Output.say(CompareTable.render(comparison, baselineLabel: a == nil ? "production" : Output.safe(left.label),
                                           candidateLabel: a == nil ? "candidate" : Output.safe(right.label)))
            if comparison.gateCount > 0 {
                let failed = comparison.failedGates.count
                Output.say("\(comparison.gateCount) gates · \(comparison.gateCount - failed) pass · \(failed) fail")
            }
        }
        if !comparison.failedGates.isEmpty { throw Failure(status: .checkFailed, message: nil) }
    }
}

enum CompareTable {
    static func render(_ c: MetricComparison, baselineLabel: String, candidateLabel: String) -> String {
        let rows = c.rows.map { r -> [String] in
            [Output.safe(r.metric), r.baseline.map(Gates.format) ?? "—", r.candidate.map(Gates.format) ?? "—",
             r.delta.map(MetricComparison.signed) ?? "—", r.gate?.condition ?? "",
             r.gate.map { $0.passed ? "✓ pass" : "✗ FAIL" } ?? ""]
        }
        var text = Output.table(["metric", baselineLabel, candidateLabel, "delta", "gate", "result"], rows)
        let explained = c.rows.compactMap(\.gate).map { "  " + $0.explanation }
        if !explained.isEmpty { text += "\n" + explained.joined(separator: "\n") }
        return text
    }
}

struct ParamsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "params", abstract: "Params of model versions.",
                                                    subcommands: [Diff.self])

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "diff", abstract: "The params that differ between two versions.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "MODEL:A") var a: ModelRef
        @Argument(help: "MODEL:B") var b: ModelRef
        @Flag(help: "List every param, not only those that differ.") var all = false
        @Flag(help: "Print as JSON.") var json = false

        struct RowJSON: Encodable { var param: String; var a: String?; var b: String? }

        func run() throws {
            let (_, registry) = try global.open()
            let va = try a.resolve(in: registry), vb = try b.resolve(in: registry)
            let pa = try registry.params(runID: va.runID), pb = try registry.params(runID: vb.runID)
            let keys = Set(pa.keys).union(pb.keys).sorted().filter { all || pa[$0] != pb[$0] }
            if json { try Output.json(keys.map { RowJSON(param: $0, a: pa[$0], b: pb[$0]) }); return }
            if keys.isEmpty { Output.say("\(va.label) and \(vb.label) have the same params"); return }
            Output.say(Output.table(["param", va.label, vb.label], keys.map { [$0, Output.safe(pa[$0] ?? "—"), Output.safe(pb[$0] ?? "—")] }))
        }
    }
}
