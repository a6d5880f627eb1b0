import Foundation

enum DriftScreen {
    /// A row of the Drift tab: a monitored feature, or a validation stage's column.
    enum Item {
        case monitor(ConsoleSnapshot.MonitorView, feature: String)
        case validation(run: Int64, dataset: String, drift: ValidationReport.ColumnDrift)

        var text: String {
            switch self {
            case .monitor(let m, let f): return "monitor \(m.name) \(f)"
            case .validation(let run, let dataset, let d): return "\(run) \(dataset) \(d.column)"
            }
        }
    }

    static func items(_ s: ConsoleState) -> [Item] {
        s.snapshot.monitors.flatMap { m in m.features.map { Item.monitor(m, feature: $0) } }
            + s.snapshot.drift.flatMap { d in d.report.drift.map { Item.validation(run: d.runID, dataset: d.dataset, drift: $0) } }
    }

    static func render(_ b: inout ScreenBuffer, _ s: ConsoleState, y: Int, h: Int) {
        let g = s.glyphs
        let all = items(s)
        let up = s.ascii ? "^" : "▲", calm = s.ascii ? "." : "·"
        // Feature names are read whole when the terminal has room for them.
        let longest = all.map { item -> Int in
            switch item {
            case .monitor(_, let f): return ScreenBuffer.width(of: TerminalText.oneLine(f))
            case .validation(_, _, let d): return ScreenBuffer.width(of: TerminalText.oneLine(d.column))
            }
        }.max() ?? 0
        let featureW = min(max(14, longest), max(14, s.width - 80))
        let rows = s.visibleIndices.map { i -> (String, Style) in
            switch all[i] {
            case .monitor(let m, let f):
                let last = m.series[f]?.last
                let text = "\(last?.drifted == true ? up : calm) " + Widgets.fit("monitor", 7, glyphs: g) + " "
                    + Widgets.fit(TerminalText.oneLine(m.name), 16, glyphs: g) + " " + Widgets.fit(TerminalText.oneLine(f), featureW, glyphs: g) + " "
                    + Widgets.fit(last?.method ?? "", 20, glyphs: g) + " " + Widgets.fit(last.map { Gates.format($0.score) } ?? "—", 11, glyphs: g, alignRight: true)
                    + " / " + (last.map { Gates.format($0.threshold) } ?? "—") + "  \(m.batchCount) batches"
                return (text, last?.drifted == true ? .warning : .plain)
            case .validation(let run, let dataset, let d):
                let text = "\(d.drifted ? up : calm) " + Widgets.fit("run \(run)", 7, glyphs: g) + " "
                    + Widgets.fit(TerminalText.oneLine(dataset), 16, glyphs: g) + " " + Widgets.fit(TerminalText.oneLine(d.column), featureW, glyphs: g) + " "
                    + Widgets.fit(d.method, 20, glyphs: g) + " " + Widgets.fit(Gates.format(d.statistic), 11, glyphs: g, alignRight: true)
                    + " / " + Gates.format(d.threshold)
                return (text, d.drifted ? .warning : .plain)
            }
        }
        let listH = max(6, min(h / 2, rows.count + 3))
        let monitors = s.snapshot.monitors.count
        let validations = all.contains { if case .validation = $0 { return true } else { return false } }
        ListView.draw(&b, s, x: 0, y: y, w: s.width, h: listH,
                      title: "Drift (\(monitors) monitor\(monitors == 1 ? "" : "s")" + (validations ? ", then validation stages)" : ")"),
                      header: "  source  monitor/dataset  " + Widgets.fit("feature", featureW, glyphs: g) + " method                  score / threshold", rows: rows)
        let lowerY = y + listH, lowerH = h - listH
        let vis = s.visibleIndices
        guard s.row < vis.count else {
            Widgets.box(&b, 0, lowerY, s.width, lowerH, title: "score over batches", glyphs: g)
            b.put(2, lowerY + 1, "No drift yet: production batches (`slipway monitor ingest MONITOR FILE`, or a monitor's incoming/ folder)",
                  .muted, maxWidth: s.width - 4)
            b.put(2, lowerY + 2, "and `uses: validate` stages with `reference:` are scored here.", .muted, maxWidth: s.width - 4)
            return
        }
        switch all[vis[s.row]] {
        case .monitor(let m, let f): monitorDetail(&b, s, m, f, y: lowerY, h: lowerH)
        case .validation(let run, let dataset, let sel): validationDetail(&b, s, all, run: run, dataset: dataset, sel, y: lowerY, h: lowerH)
        }
    }

    /// The feature's score over batches with its threshold, alerts (`!`) and
    /// the runs they started (`R`) on the time axis; the reference and the
    /// newest batch side by side; the performance series where labels exist.
    static func monitorDetail(_ b: inout ScreenBuffer, _ s: ConsoleState, _ m: ConsoleSnapshot.MonitorView, _ f: String, y: Int, h: Int) {
        let g = s.glyphs
        let series = m.series[f] ?? []
        let last = series.last
        let histW = min(44, max(30, s.width / 3))
        let chartW = s.width - histW
        Widgets.box(&b, 0, y, chartW, h, title: TerminalText.oneLine("\(m.name) · \(f) · \(last?.method ?? "") per batch · threshold \(last.map { Gates.format($0.threshold) } ?? "—")"), glyphs: g)
        let perf = performanceLine(m, s)
        let chartH = max(3, h - 4 - (perf == nil ? 0 : 1))
        if !series.isEmpty {
            Widgets.labeledLineChart(&b, 2, y + 1, chartW - 4, chartH, values: series.map(\.score), threshold: last?.threshold, ascii: s.ascii,
                                     xFirst: "batch \(series.first!.batchID)", xLast: "batch \(series.last!.batchID)", xCaption: "batches")
            // Alerts and the runs they started, under the batches they came from.
            let axisW = max(Gates.format(Widgets.chartRange(series.map(\.score), threshold: last?.threshold).hi).count,
                            Gates.format(Widgets.chartRange(series.map(\.score), threshold: last?.threshold).lo).count) + 1
            let plotX = 2 + axisW, plotW = chartW - 4 - axisW
            let markY = y + 1 + chartH
            var marks = 0
            for a in m.alerts {
                guard let i = series.firstIndex(where: { $0.batchID == a.batchID }) else { continue }
                let x = plotX + (series.count == 1 ? 0 : Int((Double(i) / Double(series.count - 1) * Double(plotW - 1)).rounded()))
                let started = m.alertRuns[a.id] != nil
                b.put(x, markY, started ? "R" : "!", started ? .error : .warning)
                marks += 1
            }
            let legend = marks == 0 ? "no alerts" : "! alert   R alert that started a run"
                + (m.alertRuns.isEmpty ? "" : " (" + m.alertRuns.sorted { $0.key < $1.key }.suffix(3).map { "alert \($0.key) → run \($0.value)" }.joined(separator: ", ") + ")")
            b.put(2, markY + 1, legend, .muted, maxWidth: chartW - 4)
            if let perf { b.put(2, markY + 2, perf, .plain, maxWidth: chartW - 4) }
        }
        // Reference vs newest batch.
        Widgets.box(&b, chartW, y, histW, h, title: "reference vs batch \(last.map { String($0.batchID) } ?? "—")", glyphs: g)
        guard let json = m.histograms[f], let data = json.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let ref = object["reference"] as? [Double], let cur = object["current"] as? [Double] else { return }
        let labels: [String]
        if let l = object["labels"] as? [String] { labels = l }
        else if let edges = object["edges"] as? [Double] {
            labels = (0..<ref.count).map { i in i == 0 ? "< \(Gates.format(edges.first ?? 0))" : i - 1 < edges.count ? "≥ \(Gates.format(edges[i - 1]))" : "" }
        } else { labels = ref.indices.map { "bin \($0 + 1)" } }
        let labelW = 9
        let barW = max(4, (histW - 4 - labelW - 2) / 2)
        let top = max(ref.max() ?? 1, cur.max() ?? 1, 1e-9)
        b.put(chartW + 2, y + 1, Widgets.fit("", labelW, glyphs: g) + " " + Widgets.fit("reference", barW, glyphs: g) + " " + "batch", .muted)
        for (i, label) in labels.enumerated() where i < ref.count && y + 2 + i < y + h - 1 {
            let r = String(repeating: g.barFull, count: Int((ref[i] / top * Double(barW)).rounded()))
            let c = String(repeating: g.barFull, count: Int(((i < cur.count ? cur[i] : 0) / top * Double(barW)).rounded()))
            b.put(chartW + 2, y + 2 + i, Widgets.fit(TerminalText.oneLine(s.ascii ? label.replacingOccurrences(of: "≥", with: ">=") : label), labelW, glyphs: g), .muted)
            b.put(chartW + 2 + labelW + 1, y + 2 + i, Widgets.fit(r, barW, glyphs: g), Style(fg: .series2))
            b.put(chartW + 2 + labelW + 2 + barW, y + 2 + i, Widgets.fit(c, barW, glyphs: g), Style(fg: .series1))
        }
    }

    /// `accuracy ▇▆▄▂ 0.61 (last of 12 labelled batches)` when batches carry labels.
    static func performanceLine(_ m: ConsoleSnapshot.MonitorView, _ s: ConsoleState) -> String? {
        let values = m.batches.map(\.performanceValues)
        guard let key = ["accuracy", "mae"].first(where: { k in values.contains { $0[k] != nil } }) else { return nil }
        let series = values.compactMap { $0[key] }
        return "\(key) \(Widgets.sparkline(series, width: 40, ascii: s.ascii)) \(series.last.map(Gates.format) ?? "—") (last of \(series.count) labelled batches)"
    }

    static func validationDetail(_ b: inout ScreenBuffer, _ s: ConsoleState, _ all: [Item], run: Int64, dataset: String,
                                 _ sel: ValidationReport.ColumnDrift, y lowerY: Int, h lowerH: Int) {
        let g = s.glyphs
        // The same column's score in every run, oldest first.
        var same: [(Int64, ValidationReport.ColumnDrift)] = []
        for case .validation(let r, let d, let drift) in all where d == dataset && drift.column == sel.column { same.append((r, drift)) }
        same.reverse()
        Widgets.box(&b, 0, lowerY, s.width, lowerH, title: TerminalText.oneLine("\(sel.column) · \(sel.method) over runs · threshold \(Gates.format(sel.threshold))"), glyphs: g)
        b.put(2, lowerY + 1, TerminalText.oneLine(sel.detail), sel.drifted ? .warning : .plain, maxWidth: s.width - 4)
        if lowerH > 4 {
            Widgets.labeledLineChart(&b, 2, lowerY + 2, s.width - 4, lowerH - 3, values: same.map(\.1.statistic), threshold: sel.threshold,
                                     ascii: s.ascii, xFirst: same.first.map { "run \($0.0)" } ?? "",
                                     xLast: same.last.map { "run \($0.0)" } ?? "", xCaption: "validation runs")
        }
        _ = run
    }
}
