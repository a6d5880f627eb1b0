import ArgumentParser
import Foundation
import SlipwayEngine

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compare", 
        abstract: "Metric table of two model versions, with the pipeline's gates; or many runs ranked by a metric.",
        discussion: """
        With no versions: the newest run's candidate (registered or not) against the version live in the \
        gated stage's baseline environment (default production). Exit status 3 when a gate fails.
        With --runs (a sweep's runs, say), or three or more versions: the runs (those that made the \
        versions) ranked by --by (default: the first gated metric), each with its overrides, its version \
        and its gates against the baseline; the best that passed every gate is named. Exit status 3 when \
        none passed.
        """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("MODEL:A MODEL:B: the baseline and the candidate; three or more versions: ranked as --runs ranks runs.",
                                 valueName: "MODEL:VERSION"))
    var versions: [ModelRef] = []
    var a: ModelRef? { versions.count == 2 ? versions[0] : nil }
    var b: ModelRef? { versions.count == 2 ? versions[1] : nil }
    @Option(help: "The pipeline, when slipway.yaml has several.") var pipeline: String?
    @Option(help: ArgumentHelp("Rank these runs instead (ids and ranges: 12,14,20-23).", valueName: "RUNS")) var runs: String?
    @Option(help: ArgumentHelp("With --runs or three or more versions: the metric to rank by, or STAGE.METRIC for one stage's value (default: the first gated metric, its gated stage's value).", valueName: "METRIC"))
    var by: String?
    @Option(help: ArgumentHelp("With --runs or three or more versions: desc (high first) or asc (default: the way the metric's gate reads).",
                               valueName: "ORDER"))
    var order: String?
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
        if runs != nil && !versions.isEmpty { throw ValidationError("give versions or --runs, not both") }
        if versions.count == 1 {
            throw ValidationError("give two versions (side by side), three or more (ranked), or none (the candidate against production)")
        }
        // One model's versions: a leaderboard ranks one pipeline's runs.
        if versions.count >= 3, let other = versions.first(where: { $0.model != versions[0].model }) {
            throw ValidationError("\(Output.safeErr(other.model)) is another model than \(Output.safeErr(versions[0].model)): rank one model's versions")
        }
        if runs == nil && versions.count < 3 && (by != nil || order != nil) {
            throw ValidationError("--by and --order go with --runs or three or more versions")
        }
        if let order, Leaderboard.Order(rawValue: order) == nil { throw ValidationError("--order is desc or asc, not '\(Output.field(order))'") }
    }

    func run() throws {
        if let runs { return try rank(runs) }
        if versions.count >= 3 { return try rankVersions() }
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

extension Compare {
    func rank(_ list: String) throws {
        let (ws, registry) = try global.open()
        try rank(try Leaderboard.runIDs(parsing: list), ws: ws, registry: registry)
    }

    /// Three or more versions: the runs that made them, ranked.
    func rankVersions() throws {
        let (ws, registry) = try global.open()
        var ids: [Int64] = []
        for ref in versions {
            let id = try ref.resolve(in: registry).runID
            if !ids.contains(id) { ids.append(id) }
        }
        try rank(ids, ws: ws, registry: registry)
    }

    func rank(_ ids: [Int64], ws: Workspace, registry: RegistryConnection) throws {
        let spec = try ws.loadSpec().spec
        let service = ComparisonService(registry: registry, spec: spec)
        let first = try registry.run(id: ids[0])
        guard let chosen = try service.pipeline(named: pipeline ?? first?.pipeline) else {
            throw Failure(status: .usage, message: "slipway.yaml has several pipelines: pass --pipeline")
        }
        let board = try Leaderboard.build(runIDs: ids, pipeline: chosen, metric: by, order: order.flatMap(Leaderboard.Order.init),
                                          registry: registry, spec: spec)
        if json {
            try Output.json(LeaderboardJSON(board))
        } else {
            Output.say(LeaderboardTable.render(board))
        }
        if board.winner == nil { throw Failure(status: .checkFailed, message: nil) }
    }
}

struct LeaderboardJSON: Encodable {
    struct Entry: Encodable {
        var rank: Int
        var run: Int64
        var status: String
        var version: String?
        /// The version is an earlier one this run made again (another run registered it).
        var madeAgain: Bool
        var overrides: [String: String]
        var value: Double?
        var gatesPassed: Int
        var gates: Int
        var failed: [String]
    }
    var metric: String
    /// The stage whose value ranks, when one does.
    var stage: String?
    var order: String
    var baseline: String
    var winner: Int64?
    var entries: [Entry]

    init(_ b: Leaderboard) {
        metric = b.metric
        stage = b.stage
        order = b.order.rawValue
        baseline = b.baselineLabel
        winner = b.winner?.run.id
        entries = b.entries.enumerated().map { i, e in
            Entry(rank: i + 1, run: e.run.id, status: e.run.status.rawValue, version: e.version?.label,
                  madeAgain: e.madeAgain, overrides: e.overrides,
                  value: e.value.flatMap { $0.isFinite ? $0 : nil }, gatesPassed: e.gatesPassed, gates: e.gateCount,
                  failed: e.failedGates.map(\.explanation))
        }
    }
}

enum LeaderboardTable {
    static func render(_ b: Leaderboard) -> String {
        let rows = b.entries.enumerated().map { i, e -> [String] in
            let set = e.overrides.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            return ["\(i + 1)", "run \(e.run.id)", Output.safe(set.isEmpty ? "—" : set), e.value.map(Gates.format) ?? "—",
                    e.gateCount == 0 ? "—" : (e.failedGates.isEmpty ? "✓ \(e.gatesPassed)/\(e.gateCount)" : "✗ \(e.gatesPassed)/\(e.gateCount)"),
                    e.version.map { Output.safe($0.label) + (e.madeAgain ? " again" : "") }
                        ?? (e.run.status == .succeeded ? "not registered" : e.run.status.rawValue)]
        }
        var text = "ranked by \(Output.safe(b.metric)) (\(b.order == .highFirst ? "high" : "low") first) · gates against \(Output.safe(b.baselineLabel))\n"
        text += Output.table(["#", "run", "params set", Output.safe(b.metric), "gates", "version"], rows)
        if let w = b.winner, let v = w.version {
            text += "\nbest that passed every gate: \(Output.safe(v.label)) (run \(w.run.id)); promote it with `slipway promote \(Output.safe(v.label)) --to ENV`"
        } else {
            text += "\nno run passed every gate with a registered version"
        }
        return text
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
