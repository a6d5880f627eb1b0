import Foundation
import SlipwayEngine

/// The Evals tab when the pipeline's newest runs are a sweep
/// (``SweepBoard``): its runs ranked by the metric, with the gates' verdicts
/// and the winner marked, and a chart of the metric against the swept param.
/// `s` switches to candidate vs production and back.
enum SweepScreen {
    static func render(_ b: inout ScreenBuffer, _ s: ConsoleState, _ sweep: SweepBoard, y: Int, h: Int) {
        let g = s.glyphs
        let board = sweep.leaderboard
        let metric = TerminalText.oneLine(board.metric)
        let layout = ColumnLayout([Column("#", 3, priority: 0), Column("run", 8, priority: 0),
                                   Column("params set", 20, priority: 0, flexible: true),
                                   Column(metric, max(8, min(14, metric.count)), priority: 0, alignRight: true),
                                   Column("gates", 6, priority: 0), Column("version", 16, priority: 1)], width: s.width - 2)
        let rows = s.visibleIndices.map { i -> (String, Style) in
            let e = board.entries[i]
            let winner = board.winner?.run.id == e.run.id
            let text = layout.line(cells(e, rank: i + 1, winner: winner, s), glyphs: g)
            // A member still running has nothing to judge yet: not red.
            return (text, e.run.status == .running ? .plain : !e.failedGates.isEmpty ? .error : winner ? .success : .plain)
        }
        let tableH = max(7, min(board.entries.count + 4, h * 50 / 100))
        let order = board.order == .highFirst ? "high first" : "low first"
        ListView.draw(&b, s, x: 0, y: y, w: s.width, h: tableH,
                      title: TerminalText.oneLine("sweep of \(sweep.sweptKeys.joined(separator: ", ")) · \(runSpan(sweep.runIDs)) · by \(board.metric) (\(order))"),
                      header: layout.header(glyphs: g), rows: rows)
        var summary: String
        if let w = board.winner, let v = w.version {
            summary = " \(s.ascii ? "*" : "★") best that passed every gate: \(v.label) (run \(w.run.id))"
        } else {
            summary = " no run passed every gate with a registered version"
        }
        // The baseline is named when it fits whole.
        let against = " · gates against \(board.baselineLabel)"
        if ScreenBuffer.width(of: summary + against) + 1 <= s.width - 16 { summary += against }
        b.put(2, y + tableH - 1, TerminalText.oneLine(summary + " "), board.winner == nil ? .error : .success, maxWidth: s.width - 16)
        // The metric against the swept param, the selected run's point highlighted.
        let chartY = y + tableH, chartH = h - tableH
        Widgets.box(&b, 0, chartY, s.width, chartH, title: TerminalText.oneLine("\(board.metric) against \(sweep.axis) · s: candidate vs production"), glyphs: g)
        let axis = Self.axis(sweep)
        let selected: Int64? = s.row < s.visibleIndices.count ? board.entries[s.visibleIndices[s.row]].run.id : nil
        let points = board.entries.compactMap { e -> Widgets.ChartPoint? in
            guard let v = e.value, v.isFinite, let raw = e.overrides[sweep.axis], let at = axis.position[raw] else { return nil }
            return Widgets.ChartPoint(x: at, value: v, highlighted: e.run.id == selected)
        }
        guard !points.isEmpty else {
            b.put(2, chartY + 1, "no run reported \(metric) yet", .muted, maxWidth: s.width - 4)
            return
        }
        let threshold = s.snapshot.comparison?.rows.first { $0.metric == board.metric || $0.key == board.metric }?.gate?.threshold
        Widgets.pointChart(&b, 2, chartY + 1, s.width - 4, chartH - 2, points: points,
                           xLabels: axis.position.map { (at: $0.value, text: $0.key) },
                           xCaption: sweep.axis + (axis.logScale ? " (log scale)" : ""), threshold: threshold, ascii: s.ascii)
    }

    /// One row's cells: rank (★ the winner), run, params set, value, gates, version.
    static func cells(_ e: Leaderboard.Entry, rank: Int, winner: Bool, _ s: ConsoleState) -> [String] {
        let set = e.overrides.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let ok = s.ascii ? "+" : "✓", bad = s.ascii ? "x" : "✗"
        let gates = e.gateCount == 0 || e.run.status == .running ? "—" : "\(e.failedGates.isEmpty ? ok : bad) \(e.gatesPassed)/\(e.gateCount)"
        let version = e.version.map { $0.label + (e.madeAgain ? " again" : "") }
            ?? (e.run.status == .succeeded ? "not registered" : e.run.status.rawValue)
        return [winner ? "\(rank)\(s.ascii ? "*" : "★")" : "\(rank)", "run \(e.run.id)", TerminalText.oneLine(set.isEmpty ? "—" : set),
                e.value.map(Gates.format) ?? "—", gates, TerminalText.oneLine(version)]
    }

    /// "runs 4–7", or the ids when they are not consecutive.
    static func runSpan(_ ids: [Int64]) -> String {
        guard let first = ids.first, let last = ids.last else { return "no runs" }
        if ids.count == 1 { return "run \(first)" }
        if last - first == Int64(ids.count - 1) { return "runs \(first)–\(last)" }
        return "runs " + ids.map(String.init).joined(separator: ",")
    }

    /// Where each value of the swept param sits on the x axis (0…1): by its
    /// number when every value is one (a log scale when they span two decades
    /// or more), else evenly in the order the sweep ran them.
    static func axis(_ sweep: SweepBoard) -> (position: [String: Double], logScale: Bool) {
        let byRun = sweep.leaderboard.entries.sorted { $0.run.id < $1.run.id }
        var values: [String] = []
        for e in byRun { if let v = e.overrides[sweep.axis], !values.contains(v) { values.append(v) } }
        guard !values.isEmpty else { return ([:], false) }
        let numbers = values.compactMap(SweepBoard.number)
        if sweep.numericAxis, numbers.count == values.count, let lo = numbers.min(), let hi = numbers.max(), hi > lo {
            let log = lo > 0 && hi / lo >= 100
            let t: (Double) -> Double = log ? { Foundation.log10($0) } : { $0 }
            var out: [String: Double] = [:]
            for (text, v) in zip(values, numbers) { out[text] = 0.04 + 0.92 * (t(v) - t(lo)) / (t(hi) - t(lo)) }
            return (out, log)
        }
        var out: [String: Double] = [:]
        for (i, v) in values.enumerated() { out[v] = (Double(i) + 0.5) / Double(values.count) }
        return (out, false)
    }
}
