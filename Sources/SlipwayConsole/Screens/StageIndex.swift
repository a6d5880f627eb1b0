import Foundation
import SlipwayEngine

/// A run's stages as the Runs detail and the opened run show them, worked out
/// once when the stages are set (by the loader, off the UI thread) instead of
/// on every key and every frame: the groups, the picker's lines, where each
/// stage sits in them, and how each matrix stage stands as a whole. A key or a
/// frame then costs what is in sight, not what the run holds (a 1,000-member
/// matrix stage is one row of the detail and a window of the picker).
struct StageIndex: Sendable {
    /// How a group of stages stands as a whole (``StageGroups/status(_:_:)``, …).
    struct Standing: Sendable {
        var status: StageStatus
        /// `412/1000 done · 3 running · …` (``StageGroups/summary(_:_:)``).
        var summary: String
        /// The member a failure is in, else the last running one.
        var named: Int?
        /// From its first member's start to its last member's end; to `now` while one runs or waits.
        var start: Int64?
        var end: Int64?
        var unfinished: Bool

        func duration(now: Int64) -> Double? {
            guard let start else { return nil }
            return Double(max(0, (unfinished ? now : (end ?? now)) - start)) / 1000
        }
    }

    var groups: [StageGroup] = []
    /// Per group; filled for matrix groups only (a lone stage shows its own record).
    var standings: [Standing?] = []
    /// Stage indexes in the order they are shown (members under their matrix stage).
    var order: [Int] = []
    /// Stage index → its place in `order`.
    var position: [Int] = []
    /// The opened run's picker, one line per row.
    var pickerLines: [StageGroups.PickerLine] = []
    /// Stage index → its line in `pickerLines`.
    var line: [Int] = []
    /// Stage index → its group.
    var group: [Int] = []
    /// Group → its first line in `pickerLines` (a matrix stage's header).
    var groupLine: [Int] = []
    /// The last running stage, the first failed one, the last started one (for the log and the opened run).
    var lastRunning: Int?
    var firstFailed: Int?
    var lastFailed: Int?
    var lastStarted: Int?
    /// Stage name → its index (the first, should a name repeat).
    var names: [String: Int] = [:]

    init() {}

    init(_ stages: [StageRunRecord]) {
        groups = StageGroups.make(stages)
        order.reserveCapacity(stages.count)
        position = Array(repeating: 0, count: stages.count)
        line = Array(repeating: 0, count: stages.count)
        group = Array(repeating: 0, count: stages.count)
        pickerLines = StageGroups.pickerLines(groups)
        for (l, p) in pickerLines.enumerated() {
            if case .stage(let i, _) = p {
                line[i] = l
                position[i] = order.count
                order.append(i)
            }
        }
        var at = 0
        for (gi, g) in groups.enumerated() {
            groupLine.append(at)
            at += g.isMatrix ? g.members.count + 1 : 1
            for i in g.members { group[i] = gi }
            standings.append(g.isMatrix ? Self.standing(g, stages) : nil)
        }
        names.reserveCapacity(stages.count)
        for (i, st) in stages.enumerated() {
            if names[st.stage] == nil { names[st.stage] = i }
            if st.status == .running { lastRunning = i }
            if st.status == .failed { lastFailed = i; if firstFailed == nil { firstFailed = i } }
            if st.startedAt != nil { lastStarted = i }
        }
    }

    static func standing(_ g: StageGroup, _ stages: [StageRunRecord]) -> Standing {
        var start: Int64?, end: Int64?
        var unfinished = false
        var named: Int?, failed: Int?
        for i in g.members {
            let st = stages[i]
            if let s = st.startedAt { start = min(start ?? s, s) }
            if let e = st.endedAt { end = max(end ?? e, e) }
            if st.status == .running || st.status == .pending { unfinished = true }
            if st.status == .running { named = i }
            if st.status == .failed, failed == nil { failed = i }
        }
        return Standing(status: StageGroups.status(g, stages), summary: StageGroups.summary(g, stages), named: failed ?? named,
                        start: start, end: end, unfinished: unfinished)
    }

    /// The stage whose metrics the Runs detail shows: the running one, else a
    /// failed one with metrics (what the on-call engineer looks at first), else
    /// the last with metrics. Looked up by the stages with metrics, not by all.
    func focusStage(_ stages: [StageRunRecord], series: [String: [String: [Double]]]) -> String? {
        if let i = lastRunning { return stages[i].stage }
        let withMetrics = series.keys.compactMap { names[$0] }
        if let i = withMetrics.filter({ stages[$0].status == .failed }).min() { return stages[i].stage }
        return withMetrics.max().map { stages[$0].stage }
    }

    /// The picker's rows in sight (`visible` of them): scrolled to keep stage
    /// `stage` in the middle, its matrix stage's row kept on top when that row
    /// has scrolled away.
    func pickerWindow(stage: Int, visible: Int) -> [StageGroups.PickerLine] {
        let all = pickerLines
        let selected = stage >= 0 && stage < line.count ? line[stage] : 0
        let top = StageGroups.top(selected: selected, count: all.count, visible: visible)
        var lines = Array(all[top..<min(all.count, top + max(0, visible))])
        if top > 0, visible > 2, selected < all.count, case .stage(let i, member: true) = all[selected] {
            let header = groupLine[group[i]]
            if header < top { lines[0] = all[header] }
        }
        return lines
    }

    /// The stage after (or before) `stage` in the order shown, staying at the ends.
    func step(from stage: Int, down: Bool) -> Int? {
        guard !order.isEmpty else { return nil }
        let at = stage >= 0 && stage < position.count ? position[stage] : 0
        return order[down ? min(order.count - 1, at + 1) : max(0, at - 1)]
    }
}
