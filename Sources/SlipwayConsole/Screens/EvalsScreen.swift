import Foundation

enum EvalsScreen {
    static func render(_ b: inout ScreenBuffer, _ s: ConsoleState, y: Int, h: Int) {
        let g = s.glyphs
        if s.showingSweep, let sweep = s.snapshot.sweep {
            SweepScreen.render(&b, s, sweep, y: y, h: h)
            return
        }
        guard let c = s.snapshot.comparison else {
            Widgets.box(&b, 0, y, s.width, h, title: "Evals", glyphs: g)
            b.put(2, y + 2, "No evaluation yet: run a pipeline with metrics (and gates:) to compare it with production.", .muted, maxWidth: s.width - 4)
            return
        }
        let (base, cand) = s.snapshot.comparisonLabels
        // The verdict and the values always fit; the delta, then the gate's condition, go first.
        let layout = ColumnLayout([Column("metric", 18, priority: 0), Column("production", 11, priority: 0, alignRight: true),
                                   Column("candidate", 11, priority: 0, alignRight: true), Column("delta", 10, priority: 2, alignRight: true),
                                   Column(" gate", 22, priority: 1), Column("result", 6, priority: 0, flexible: true)], width: s.width - 2)
        let rows = s.visibleIndices.map { i -> (String, Style) in
            let r = c.rows[i]
            let verdict = r.gate.map { $0.passed ? "\(s.ascii ? "+" : "✓") pass" : "\(s.ascii ? "x" : "✗") FAIL" } ?? ""
            let text = layout.line([TerminalText.oneLine(r.metric), r.baseline.map(Gates.format) ?? "—", r.candidate.map(Gates.format) ?? "—",
                                    r.delta.map(MetricComparison.signed) ?? "—", " " + (r.gate?.condition ?? ""), verdict], glyphs: g)
            return (text, r.gate.map { $0.passed ? Style.success : Style.error } ?? .plain)
        }
        let tableH = max(6, h * 55 / 100)
        ListView.draw(&b, s, x: 0, y: y, w: s.width, h: tableH, title: TerminalText.oneLine("\(cand) (candidate) vs \(base)"),
                      header: layout.header(glyphs: g), rows: rows)
        let failed = c.failedGates.count
        let summary = c.gateCount == 0 ? "no gates declared" : "\(c.gateCount) gates · \(c.gateCount - failed) pass · \(failed) fail"
        b.put(2, y + tableH - 1, " \(summary) ", failed > 0 ? .error : .success)
        // The arithmetic of each gate, then the history of the selected metric across versions.
        var yy = y + tableH
        let lowerH = h - tableH
        Widgets.box(&b, 0, yy, s.width, lowerH, title: "gate arithmetic · history across versions", glyphs: g)
        yy += 1
        for gate in c.rows.compactMap(\.gate).prefix(max(0, lowerH / 2 - 1)) {
            b.put(2, yy, TerminalText.oneLine(gate.explanation), gate.passed ? .plain : .error, maxWidth: s.width - 4)
            yy += 1
        }
        let vis = s.visibleIndices
        if s.row < vis.count {
            let metric = c.rows[vis[s.row]].key
            if let history = s.snapshot.metricHistory[metric], history.count > 1, y + h - 1 - yy > 3 {
                let versions = s.snapshot.metricHistoryVersions[metric] ?? []
                b.put(2, yy, TerminalText.oneLine("\(metric) in the last \(history.count) versions:"), .muted)
                Widgets.labeledLineChart(&b, 2, yy + 1, s.width - 4, y + h - 2 - yy, values: history,
                                         threshold: c.rows[vis[s.row]].gate?.threshold, ascii: s.ascii,
                                         xFirst: versions.first.map { ":\($0)" } ?? "", xLast: versions.last.map { ":\($0)" } ?? "",
                                         xCaption: "version")
            }
        }
    }

    /// One metric whole, as Enter opens it: each side named, the delta, the gate's arithmetic.
    static func rowLines(_ r: MetricComparison.Row, _ s: ConsoleState) -> [Pager.Line] {
        let (base, cand) = s.snapshot.comparisonLabels
        var out: [Pager.Line] = [
            .init("stage \(r.stage) · key \(r.key)"),
            .init("production (\(base)): \(r.baseline.map(Gates.format) ?? "—")", .plain, indent: 2),
            .init("candidate (\(cand)): \(r.candidate.map(Gates.format) ?? "—")", .plain, indent: 2),
            .init("delta: \(r.delta.map(MetricComparison.signed) ?? "—")"),
        ]
        if let g = r.gate {
            out.append(.init("gate \(g.condition): " + (g.passed ? "pass" : "FAIL"), g.passed ? .success : .error, indent: 2))
            out.append(.init(g.explanation, g.passed ? .plain : .error, indent: 2))
        } else {
            out.append(.init("no gate on this metric", .muted))
        }
        if let history = s.snapshot.metricHistory[r.key], !history.isEmpty {
            let versions = s.snapshot.metricHistoryVersions[r.key] ?? []
            out.append(.init("history: " + zip(versions, history).map { ":\($0) \(Gates.format($1))" }.joined(separator: "  "), .muted, indent: 2))
        }
        return out
    }
}
