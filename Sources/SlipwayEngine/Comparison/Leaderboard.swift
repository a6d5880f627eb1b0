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
        /// The version the run made, if any: registered, or made again.
        public var version: ModelVersionRecord?
        /// The params the run was given on the command line.
        public var overrides: [String: String]
        public var value: Double?
        public var gatesPassed: Int
        public var gateCount: Int
        public var failedGates: [GateResult]

        /// The version is an earlier one the run made again (its params set
        /// back): registered by another run.
        public var madeAgain: Bool { version.map { $0.runID != run.id } ?? false }
        /// Passed every gate (and has something to promote).
        public var eligible: Bool { version != nil && failedGates.isEmpty && run.status == .succeeded }
    }

    /// The metric as shown: its key, or `stage.key` when it is one stage's value.
    public var metric: String
    /// The stage whose value ranks, when one does (a gated metric, `--by stage.key`).
    public var stage: String?
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

    /// What a ranking reads from each run: one stage's value of a metric, or
    /// the value of the only stage that reports it.
    public struct RankedMetric: Sendable, Hashable {
        public var stage: String?
        public var key: String
        public var name: String

        /// `by` is a metric key or `stage.key` (the longest stage name that
        /// prefixes it wins: `train[lr=0.1].auc`). A key with a gate reads
        /// the first gated stage's value; no `by` is the first gate's metric.
        public static func choose(_ by: String?, pipeline: PipelineSpec) throws(Problem) -> RankedMetric {
            let gates = ComparisonService.gates(of: pipeline)
            func gated(_ key: String) -> RankedMetric? {
                let all = gates.filter { $0.gate.metric == key }
                guard let first = all.first else { return nil }
                let stages = Set(all.map(\.stage))
                return RankedMetric(stage: first.stage, key: key, name: stages.count > 1 ? "\(first.stage).\(key)" : key)
            }
            guard let by else {
                guard let first = gates.first, let m = gated(first.gate.metric) else {
                    throw Problem(message: "pipeline '\(pipeline.name)' has no gates: name the metric to rank by with --by")
                }
                return m
            }
            guard !by.isEmpty, !by.unicodeScalars.contains(where: ParamOverrides.unclear) else {
                throw Problem(message: "--by '\(TerminalText.oneLine(by))': expected a metric name, or stage.metric")
            }
            if let stage = pipeline.stages.map(\.name).filter({ by.count > $0.count + 1 && by.hasPrefix($0 + ".") })
                .max(by: { $0.count < $1.count }) {
                return RankedMetric(stage: stage, key: String(by.dropFirst(stage.count + 1)), name: by)
            }
            if let g = gated(by) { return g }
            // `train.auc` with `train` a matrix: its members each report `auc`.
            if let matrix = pipeline.stages.first(where: { m in m.matrix.map { by.hasPrefix($0.base + ".") } ?? false }) {
                let base = matrix.matrix!.base
                throw Problem(message: "--by '\(TerminalText.oneLine(by))': '\(TerminalText.oneLine(base))' is a matrix; "
                              + "name one member, as in --by '\(TerminalText.oneLine(matrix.name)).\(TerminalText.oneLine(String(by.dropFirst(base.count + 1))))'")
            }
            if by.hasSuffix(".") || by.hasPrefix(".") {
                throw Problem(message: "--by '\(TerminalText.oneLine(by))': expected a metric name, or stage.metric")
            }
            return RankedMetric(stage: nil, key: by, name: by)
        }

        /// This metric's value in a run's metrics; nil when not reported.
        /// Throws when no stage is named and several report the key.
        public func value(in metrics: [MetricRecord], runID: Int64) throws(Problem) -> Double? {
            if let stage { return GateEvaluator.lastValues(metrics, stage: stage)[key] }
            let stages = Set(metrics.filter { $0.key == key }.map(\.stage)).sorted()
            guard stages.count <= 1 else {
                let list = stages.prefix(3).map { "'\(TerminalText.oneLine($0))'" }.joined(separator: ", ") + (stages.count > 3 ? ", …" : "")
                throw Problem(message: "run \(runID) reports '\(TerminalText.oneLine(key))' from \(stages.count) stages (\(list)): "
                              + "rank by one of them, as in --by '\(TerminalText.oneLine(stages[0])).\(TerminalText.oneLine(key))'")
            }
            return GateEvaluator.lastValues(metrics)[key]
        }
    }

    /// Ranks `runIDs` (runs of `pipeline`) by `metric` (see
    /// ``RankedMetric/choose(_:pipeline:)``), in `order`.
    public static func build(runIDs: [Int64], pipeline: PipelineSpec, metric: String?, order: Order?,
                             registry: any Registry, spec: WorkspaceSpec?) throws -> Leaderboard {
        let gates = ComparisonService.gates(of: pipeline)
        let ranked = try RankedMetric.choose(metric, pipeline: pipeline)
        let order = order ?? defaultOrder(metric: ranked, gates: gates)
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
            entries.append(Entry(run: run, version: try registry.modelVersion(runID: id),
                                 overrides: try registry.paramOverrides(runID: id),
                                 value: try ranked.value(in: metrics, runID: id),
                                 gatesPassed: comparison.gateCount - comparison.failedGates.count,
                                 gateCount: comparison.gateCount, failedGates: comparison.failedGates))
        }
        // A name asked for that no run reports, while they report others, is a
        // typo, not a ranking of blanks (runs that failed early, or still run,
        // rank with blanks).
        if metric != nil, !entries.isEmpty, entries.allSatisfy({ $0.value == nil }) {
            var reported: Set<String> = []
            for id in runIDs.prefix(20) {
                let metrics = try registry.metrics(runID: id)
                reported.formUnion(GateEvaluator.namedValues(metrics).keys)
                for m in metrics { reported.insert("\(m.stage).\(m.key)") }
            }
            let listed = reported.sorted()
            if !listed.isEmpty {
                let some = listed.prefix(12).map(TerminalText.oneLine).joined(separator: ", ") + (listed.count > 12 ? ", …" : "")
                let who = runIDs.count == 1 ? "run \(runIDs[0]) does not report" : "none of the \(runIDs.count) runs reports"
                throw Problem(message: "\(who) '\(TerminalText.oneLine(ranked.name))'; --by takes one of: \(some)")
            }
        }
        entries = rank(entries, order: order)
        return Leaderboard(metric: ranked.name, stage: ranked.stage, order: order, baselineLabel: baseline.label, entries: entries)
    }

    /// High first when the metric's first gate asks for more (`>=`, `>`), low
    /// first when it asks for less; high first for an ungated metric.
    static func defaultOrder(metric: RankedMetric, gates: [(stage: String, gate: GateSpec, policy: NoBaselinePolicy)]) -> Order {
        guard let g = gates.first(where: { $0.gate.metric == metric.key && (metric.stage == nil || $0.stage == metric.stage) })
                ?? gates.first(where: { $0.gate.metric == metric.key }) else { return .highFirst }
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
