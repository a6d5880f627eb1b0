import Foundation
import SlipwayStore

/// Many runs of one pipeline ranked by one metric, each with the pipeline's
/// gates against the baseline: what `slipway compare --runs` and the end of a
/// sweep (`slipway run --sweep`) print.
///
/// The metric defaults to the pipeline's first gated metric; the order to the
/// way that gate reads (`auc >= …` ranks high first, `loss <= …` low first).
/// A run that did not report the metric, or reported NaN, ranks last: it is
/// never the winner.
public struct Leaderboard: Sendable {
    public enum Order: String, Sendable, CaseIterable {
        case highFirst = "desc", lowFirst = "asc"
    }

    public struct Entry: Sendable {
        public var run: RunRecord
        /// The version the run registered, if any.
        public var version: ModelVersionRecord?
        /// The params the run was given on the command line.
        public var overrides: [String: String]
        public var value: Double?
        public var gatesPassed: Int
        public var gateCount: Int
        public var failedGates: [GateResult]

        /// Passed every gate (and has something to promote).
        public var eligible: Bool { version != nil && failedGates.isEmpty && run.status == .succeeded }
    }

    public var metric: String
    public var order: Order
    public var baselineLabel: String
    /// Best first.
    public var entries: [Entry]

    /// The best entry that passed its gates and registered a version.
    public var winner: Entry? { entries.first { $0.eligible && $0.value?.isFinite == true } }

    public struct Problem: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String { message }
    }

    /// Ranks `runIDs` (runs of `pipeline`) by `metric`, in `order`.
    public static func build(runIDs: [Int64], pipeline: PipelineSpec, metric: String?, order: Order?,
                             registry: any Registry, spec: WorkspaceSpec?) throws -> Leaderboard {
        let gates = ComparisonService.gates(of: pipeline)
        guard let metric = metric ?? gates.first?.gate.metric else {
            throw Problem(message: "pipeline '\(pipeline.name)' has no gates: name the metric to rank by with --by")
        }
        let order = order ?? defaultOrder(metric: metric, gates: gates)
        let baseline = try ComparisonService(registry: registry, spec: spec).baseline(of: pipeline)
        var entries: [Entry] = []
        for id in runIDs {
            guard let run = try registry.run(id: id) else { throw Problem(message: "no run \(id)") }
            guard run.pipeline == pipeline.name else {
                throw Problem(message: "run \(id) is a run of pipeline '\(run.pipeline)', not '\(pipeline.name)'")
            }
            let metrics = try registry.metrics(runID: id)
            let comparison = MetricComparison.build(baseline: baseline.metrics, candidate: metrics, gates: gates,
                                                    hasBaseline: baseline.exists)
            let value = GateEvaluator.lastValues(metrics)[metric]
            entries.append(Entry(run: run, version: try registry.modelVersion(runID: id),
                                 overrides: try registry.paramOverrides(runID: id),
                                 value: value, gatesPassed: comparison.gateCount - comparison.failedGates.count,
                                 gateCount: comparison.gateCount, failedGates: comparison.failedGates))
        }
        entries = rank(entries, order: order)
        return Leaderboard(metric: metric, order: order, baselineLabel: baseline.label, entries: entries)
    }

    /// High first when the metric's first gate asks for more (`>=`, `>`), low
    /// first when it asks for less; high first for an ungated metric.
    static func defaultOrder(metric: String, gates: [(stage: String, gate: GateSpec, policy: NoBaselinePolicy)]) -> Order {
        guard let g = gates.first(where: { $0.gate.metric == metric }) else { return .highFirst }
        switch g.gate.condition.comparison {
        case .less, .lessOrEqual: return .lowFirst
        default: return .highFirst
        }
    }

    /// Best first; runs without a finite value last, then by run id (stable).
    static func rank(_ entries: [Entry], order: Order) -> [Entry] {
        entries.sorted { a, b in
            let x = a.value.flatMap { $0.isFinite ? $0 : nil }, y = b.value.flatMap { $0.isFinite ? $0 : nil }
            switch (x, y) {
            case let (x?, y?) where x != y: return order == .highFirst ? x > y : x < y
            case (_?, nil): return true
            case (nil, _?): return false
            default: return a.run.id < b.run.id
            }
        }
    }
}

extension Leaderboard {
    /// Run ids from `12,14,20-23` (ranges inclusive), in the order given, without repeats.
    public static func runIDs(parsing text: String) throws(Problem) -> [Int64] {
        var ids: [Int64] = []
        var seen: Set<Int64> = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false)
            if ends.count == 1, let id = Int64(ends[0]), id > 0 {
                if seen.insert(id).inserted { ids.append(id) }
            } else if ends.count == 2, let lo = Int64(ends[0]), let hi = Int64(ends[1]), lo > 0, lo <= hi, hi - lo < 10_000 {
                for id in lo...hi where seen.insert(id).inserted { ids.append(id) }
            } else {
                throw Problem(message: "--runs '\(TerminalText.oneLine(part))': expected run ids and ranges, as in 12,14,20-23")
            }
        }
        if ids.isEmpty { throw Problem(message: "--runs: no run ids given") }
        return ids
    }
}
