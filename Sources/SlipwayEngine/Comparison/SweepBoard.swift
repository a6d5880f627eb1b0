import Foundation
import SlipwayStore

/// The newest sweep of a pipeline, ranked: what the console's Evals tab shows
/// as a table and a chart of the metric against the swept param.
///
/// ## What "the newest sweep" is
///
/// The pipeline's newest run has trigger `sweep`, and the sweep is it and the
/// runs of the pipeline just before it that were started together with it:
/// consecutive runs (no other run of the pipeline between them) with trigger
/// `sweep`, the same override keys, each started within ``memberGap`` of the
/// end of the one before (members run one after another). A run of another
/// trigger, a sweep of other params, or a long pause ends it. When the newest
/// run is not a sweep member there is no newest sweep.
///
/// The swept params are the override keys whose values differ between the
/// members; the chart's axis is the one with the most distinct values (then
/// by name). Its values are a number axis when every one is a number.
public struct SweepBoard: Sendable {
    /// The members ranked (``Leaderboard``): best first, gates against the baseline.
    public var leaderboard: Leaderboard
    /// The members' run ids, oldest first.
    public var runIDs: [Int64]
    /// The params whose values differ between members: the chart's axis first.
    public var sweptKeys: [String]
    /// The param the chart plots the metric against.
    public var axis: String
    /// Every member's value of ``axis`` is a number.
    public var numericAxis: Bool

    /// The longest pause between one member's end and the next one's start.
    public static let memberGap: Millis = 10 * 60_000

    /// The newest sweep of `pipeline`, ranked by its first gated metric; nil
    /// when the pipeline's newest run is not a sweep member. `recent` are
    /// runs newest first (the console's list), else they are read.
    public static func newest(pipeline: PipelineSpec, registry: any Registry, spec: WorkspaceSpec?,
                              recent: [RunRecord]? = nil, metric: String? = nil) throws -> SweepBoard? {
        let runs = try recent?.filter { $0.pipeline == pipeline.name }
            ?? registry.runs(pipeline: pipeline.name, limit: SweepService.maximumMembers + 1)
        var cache: [Int64: [String: String]] = [:]
        let members = try newestSweep(runs, pipeline: pipeline.name) { id in
            if let o = cache[id] { return o }
            let o = try registry.paramOverrides(runID: id)
            cache[id] = o
            return o
        }
        guard !members.isEmpty else { return nil }
        let ids = members.map(\.id).reversed().map { $0 }
        let board = try Leaderboard.build(runIDs: ids, pipeline: pipeline, metric: metric, order: nil, registry: registry, spec: spec)
        let keys = sweptKeys(board.entries.map(\.overrides))
        guard let axis = keys.first else { return nil }
        let values = board.entries.compactMap { $0.overrides[axis] }
        return SweepBoard(leaderboard: board, runIDs: ids, sweptKeys: keys, axis: axis,
                          numericAxis: !values.isEmpty && values.allSatisfy { number($0) != nil })
    }

    /// The members of the newest sweep among `runs` (newest first; other
    /// pipelines' runs are skipped), newest first; empty when the newest run
    /// of `pipeline` is not a sweep member. See the type's rules.
    public static func newestSweep(_ runs: [RunRecord], pipeline: String,
                                   overrides: (Int64) throws -> [String: String]) rethrows -> [RunRecord] {
        var members: [RunRecord] = []
        var keys: Set<String>?
        for run in runs where run.pipeline == pipeline {
            guard run.trigger == "sweep", members.count < SweepService.maximumMembers else { break }
            let own = Set(try overrides(run.id).keys)
            if let later = members.last {
                // `run` is the earlier one: `later` started right after it ended.
                guard own == keys, let ended = run.endedAt, later.startedAt >= run.startedAt,
                      later.startedAt - ended <= memberGap else { break }
            }
            keys = own
            members.append(run)
        }
        return members
    }

    /// The override keys whose values differ between members, the one with
    /// the most distinct values first (then by name); all keys when none differ.
    public static func sweptKeys(_ overrides: [[String: String]]) -> [String] {
        var distinct: [String: Set<String>] = [:]
        for o in overrides { for (k, v) in o { distinct[k, default: []].insert(v) } }
        for o in overrides { for k in distinct.keys where o[k] == nil { distinct[k]!.insert("") } }
        let varying = distinct.filter { $0.value.count > 1 }
        let pool = varying.isEmpty ? distinct : varying
        return pool.sorted { a, b in a.value.count != b.value.count ? a.value.count > b.value.count : a.key < b.key }.map(\.key)
    }

    /// A param value read as a number (`0.03`, `1e-4`, `64`), if it is one.
    public static func number(_ text: String) -> Double? {
        guard let v = Double(text.trimmingCharacters(in: .whitespaces)), v.isFinite else { return nil }
        return v
    }
}
