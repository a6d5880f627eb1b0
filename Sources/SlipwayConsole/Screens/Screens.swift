import Foundation

/// A list with a header line inside a box, scrolled to keep the selection visible.
enum ListView {
    /// `rows` are (text, style) for each visible list index (already filtered).
    static func draw(_ b: inout ScreenBuffer, _ s: ConsoleState, x: Int, y: Int, w: Int, h: Int, title: String,
                     header: String, rows: [(String, Style)], focused: Bool = true) {
        Widgets.box(&b, x, y, w, h, title: title, glyphs: s.glyphs, focused: focused)
        b.put(x + 1, y + 1, Widgets.fit(header, w - 2, glyphs: s.glyphs), Style(fg: .muted, bold: true))
        let visible = h - 3
        let offset = ConsoleView.scrollOffset(row: s.row, visible: visible)
        if rows.isEmpty {
            b.put(x + 2, y + 2, s.filter.isEmpty ? "(nothing here yet)" : "(no row matches /\(s.filter))", .muted, maxWidth: w - 4)
        }
        for i in 0..<min(visible, max(0, rows.count - offset)) {
            let (text, style) = rows[offset + i]
            let selected = offset + i == s.row && focused
            b.put(x + 1, y + 2 + i, Widgets.fit(text, w - 2, glyphs: s.glyphs), selected ? .selected : style)
        }
        if rows.count > visible {
            b.put(x + w - 12, y + h - 1, " \(offset + 1)-\(min(rows.count, offset + visible))/\(rows.count) ", .muted)
        }
    }
}

enum RunsScreen {
    static func render(_ b: inout ScreenBuffer, _ s: ConsoleState, y: Int, h: Int) {
        let g = s.glyphs
        let snap = s.snapshot
        let leftW = max(36, s.width * 45 / 100)
        let wide = leftW >= 52
        let rows = s.visibleIndices.map { i -> (String, Style) in
            let r = snap.runs[i]
            let took = r.duration.map(Durations.format) ?? (r.status == .running ? Durations.format(Double(snap.now - r.startedAt) / 1000) : "—")
            let commit = r.gitCommit.map { String($0.prefix(7)) } ?? "—"
            var text = "\(g.symbol(StageStatusSymbol(rawValue: r.status.rawValue) ?? .pending)) "
                + Widgets.fit(String(r.id), 5, glyphs: g, alignRight: true) + " " + Widgets.fit(r.pipeline, 10, glyphs: g) + " "
            if wide { text += Widgets.fit(r.trigger, 12, glyphs: g) + " " + Widgets.fit(commit, 7, glyphs: g) + " " }
            text += Widgets.fit(Widgets.age(r.startedAt, now: snap.now), 4, glyphs: g, alignRight: true) + " "
                + Widgets.fit(took, 6, glyphs: g, alignRight: true)
            return (text, runStyle(r.status))
        }
        ListView.draw(&b, s, x: 0, y: y, w: leftW, h: h, title: "Runs (\(snap.runCount))",
                      header: wide ? "      # pipeline   trigger      commit   age   took" : "      # pipeline    age   took", rows: rows)
        detail(&b, s, x: leftW, y: y, w: s.width - leftW, h: h)
    }

    static func runStyle(_ status: RunStatus) -> Style {
        switch status {
        case .running: return Style(fg: .accent)
        case .succeeded: return .plain
        case .failed: return Style(fg: .error)
        case .cancelled, .interrupted: return Style(fg: .warning)
        }
    }

    static func stageStyle(_ status: StageStatus) -> Style {
        switch status {
        case .running: return Style(fg: .accent, bold: true)
        case .succeeded: return Style(fg: .success)
        case .cached: return Style(fg: .muted)
        case .failed: return Style(fg: .error, bold: true)
        case .cancelled, .interrupted: return Style(fg: .warning)
        case .pending: return .muted
        }
    }

    static func detail(_ b: inout ScreenBuffer, _ s: ConsoleState, x: Int, y: Int, w: Int, h: Int) {
        let g = s.glyphs
        guard let d = s.snapshot.detail, d.run.id == s.selectedRun?.id || s.selectedRun == nil else {
            Widgets.box(&b, x, y, w, h, title: "run", glyphs: g)
            b.put(x + 2, y + 2, s.snapshot.runs.isEmpty ? "No runs yet: press r to start one." : "loading…", .muted)
            return
        }
        let r = d.run
        let title = "run \(r.id) · \(r.pipeline) · \(r.trigger)" + (r.gitCommit.map { " · \($0.prefix(7))" } ?? "")
        let stagesH = min(d.stages.count + 2, max(4, h / 3))
        Widgets.box(&b, x, y, w, stagesH, title: TerminalText.oneLine(title), glyphs: g, focused: false)
        for (i, st) in d.stages.prefix(stagesH - 2).enumerated() {
            let yy = y + 1 + i
            var col = b.put(x + 2, yy, g.symbol(StageStatusSymbol(rawValue: st.status.rawValue) ?? .pending), stageStyle(st.status))
            col = b.put(col + 1, yy, Widgets.fit(TerminalText.oneLine(st.stage), 12, glyphs: g), stageStyle(st.status))
            let took: String
            if let dur = st.duration { took = Durations.format(dur) }
            else if st.status == .running, let start = st.startedAt { took = Durations.format(Double(s.snapshot.now - start) / 1000) }
            else { took = "—" }
            col = b.put(col + 1, yy, Widgets.fit(took, 6, glyphs: g, alignRight: true), .plain)
            var why = st.status == .failed ? (st.message ?? st.reason) : st.reason
            if st.status == .running {
                let steps = d.series[st.stage]?.values.map(\.count).max() ?? 0
                if steps > 0 { why = "step \(steps) · " + why }
                let elapsed = st.startedAt.map { Double(s.snapshot.now - $0) / 1000 } ?? 0
                if let done = st.progressDone, let total = st.progressTotal, total > 0 {
                    // The stage reports its progress: a real fraction and an ETA from its pace so far.
                    let fraction = Double(done) / Double(total)
                    col = b.put(col + 2, yy, Widgets.progress(fraction, width: 12, glyphs: g), Style(fg: .accent))
                    col = b.put(col + 1, yy, Widgets.fit("\(Int(fraction * 100))%", 4, glyphs: g, alignRight: true), .plain) - 1
                    let eta = done > 0 ? Durations.format(elapsed * Double(total - done) / Double(done)) : "?"
                    why = "\(done)/\(total) · ETA \(eta) · " + why
                } else if let expected = d.previousDurations[st.stage], expected > 0 {
                    // No progress reported: time so far against the last run's, as words, not a bar.
                    why = "\(Durations.clock(elapsed)) · last \(Durations.clock(expected)) · " + why
                }
                // A cluster job: where it waits (and why) or runs.
                if let j = st.jobStatus, j.executor != "local" {
                    let place = j.isPending ? "pending: \(j.reason ?? j.state)" : (j.node.map { "on \($0)" } ?? j.state)
                    why = "\(place) · \(j.executor) job \(j.jobID ?? "?") · " + why
                }
            } else if st.status == .pending { why = "waits for its upstream" }
            b.put(col + 2, yy, TerminalText.oneLine(why), st.status == .failed ? .error : .muted, maxWidth: x + w - col - 4)
        }
        // Metrics: a sparkline per key of the stage in focus: the running one,
        // else a failed one (what the on-call engineer looks at first), else the last with metrics.
        let focusStage = d.stages.last { $0.status == .running }?.stage
            ?? d.stages.first { $0.status == .failed && d.series[$0.stage] != nil }?.stage
            ?? d.stages.last { d.series[$0.stage] != nil }?.stage
        let metrics = focusStage.flatMap { d.series[$0] } ?? [:]
        let metricsH = min(metrics.count + 2, max(3, (h - stagesH) / 3))
        var yy = y + stagesH
        if !metrics.isEmpty {
            Widgets.box(&b, x, yy, w, metricsH, title: "metrics · \(focusStage ?? "")", glyphs: g)
            for (i, key) in metrics.keys.sorted().prefix(metricsH - 2).enumerated() {
                let values = metrics[key]!
                let last = values.last.map(Gates.format) ?? "—"
                var col = b.put(x + 2, yy + 1 + i, Widgets.fit(TerminalText.oneLine(key), 14, glyphs: g), .plain)
                col = b.put(col + 1, yy + 1 + i, Widgets.fit(last, 9, glyphs: g, alignRight: true), Style(fg: .foreground, bold: true))
                b.put(col + 1, yy + 1 + i, Widgets.sparkline(values, width: max(4, w - (col - x) - 16), ascii: s.ascii), Style(fg: .series1))
                if values.count > 1 { b.put(x + w - 13, yy + 1 + i, "(\(values.count) pts)", .muted) }
            }
            yy += metricsH
        }
        let logH = y + h - yy
        guard logH >= 3 else { return }
        let logTitle = "\(d.logStage ?? "") · log" + (s.followLog ? " (follow)" : " (paused: f follows)")
        Widgets.box(&b, x, yy, w, logH, title: TerminalText.oneLine(logTitle), glyphs: g)
        // Following shows the newest lines; scrolled, it stays where it was put.
        let visible = logH - 2
        let end = s.followLog ? d.logTail.count : max(visible, d.logTail.count - s.logScroll)
        let lines = d.logTail[max(0, end - visible)..<min(end, d.logTail.count)]
        for (i, line) in lines.enumerated() {
            b.put(x + 2, yy + 1 + i, line.replacingOccurrences(of: "\t", with: "    "), .plain, maxWidth: w - 4)
        }
    }
}

enum EvalsScreen {
    static func render(_ b: inout ScreenBuffer, _ s: ConsoleState, y: Int, h: Int) {
        let g = s.glyphs
        guard let c = s.snapshot.comparison else {
            Widgets.box(&b, 0, y, s.width, h, title: "Evals", glyphs: g)
            b.put(2, y + 2, "No evaluation yet: run a pipeline with metrics (and gates:) to compare it with production.", .muted, maxWidth: s.width - 4)
            return
        }
        let (base, cand) = s.snapshot.comparisonLabels
        let rows = s.visibleIndices.map { i -> (String, Style) in
            let r = c.rows[i]
            var text = Widgets.fit(TerminalText.oneLine(r.metric), 18, glyphs: g) + " "
            text += Widgets.fit(r.baseline.map(Gates.format) ?? "—", 11, glyphs: g, alignRight: true) + " "
            text += Widgets.fit(r.candidate.map(Gates.format) ?? "—", 11, glyphs: g, alignRight: true) + " "
            text += Widgets.fit(r.delta.map(MetricComparison.signed) ?? "—", 10, glyphs: g, alignRight: true) + "  "
            text += Widgets.fit(r.gate?.condition ?? "", 22, glyphs: g) + " "
            text += r.gate.map { $0.passed ? "\(s.ascii ? "+" : "✓") pass" : "\(s.ascii ? "x" : "✗") FAIL" } ?? ""
            return (text, r.gate.map { $0.passed ? Style.success : Style.error } ?? .plain)
        }
        let tableH = max(6, h * 55 / 100)
        ListView.draw(&b, s, x: 0, y: y, w: s.width, h: tableH, title: TerminalText.oneLine("\(cand) (candidate) vs \(base)"),
                      header: "metric               production   candidate      delta  gate                   result", rows: rows)
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
}

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
        let rows = s.visibleIndices.map { i -> (String, Style) in
            switch all[i] {
            case .monitor(let m, let f):
                let last = m.series[f]?.last
                let text = "\(last?.drifted == true ? up : calm) " + Widgets.fit("monitor", 7, glyphs: g) + " "
                    + Widgets.fit(TerminalText.oneLine(m.name), 16, glyphs: g) + " " + Widgets.fit(TerminalText.oneLine(f), 14, glyphs: g) + " "
                    + Widgets.fit(last?.method ?? "", 20, glyphs: g) + " " + Widgets.fit(last.map { Gates.format($0.score) } ?? "—", 11, glyphs: g, alignRight: true)
                    + " / " + (last.map { Gates.format($0.threshold) } ?? "—") + "  \(m.batchCount) batches"
                return (text, last?.drifted == true ? .warning : .plain)
            case .validation(let run, let dataset, let d):
                let text = "\(d.drifted ? up : calm) " + Widgets.fit("run \(run)", 7, glyphs: g) + " "
                    + Widgets.fit(TerminalText.oneLine(dataset), 16, glyphs: g) + " " + Widgets.fit(TerminalText.oneLine(d.column), 14, glyphs: g) + " "
                    + Widgets.fit(d.method, 20, glyphs: g) + " " + Widgets.fit(Gates.format(d.statistic), 11, glyphs: g, alignRight: true)
                    + " / " + Gates.format(d.threshold)
                return (text, d.drifted ? .warning : .plain)
            }
        }
        let listH = max(6, min(h / 2, rows.count + 3))
        let monitors = s.snapshot.monitors.count
        ListView.draw(&b, s, x: 0, y: y, w: s.width, h: listH,
                      title: "Drift (\(monitors) monitor\(monitors == 1 ? "" : "s"), then validation stages)",
                      header: "  source  monitor/dataset  feature        method                  score / threshold", rows: rows)
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

enum RegistryScreen {
    static func render(_ b: inout ScreenBuffer, _ s: ConsoleState, y: Int, h: Int) {
        let g = s.glyphs
        let snap = s.snapshot
        let model = snap.versions.first?.model ?? snap.models.first?.name
        let live = snap.models.first { $0.name == model }?.environments ?? [:]
        let rows = s.visibleIndices.map { i -> (String, Style) in
            let v = snap.versions[i]
            let envs = live.filter { $0.value == v.version }.map(\.key).sorted().joined(separator: ",")
            let text = Widgets.fit(":\(v.version)", 6, glyphs: g) + " " + Widgets.fit("run \(v.runID)", 9, glyphs: g) + " "
                + Widgets.fit(v.gitCommit.map { String($0.prefix(7)) } ?? "—", 8, glyphs: g) + " "
                + Widgets.fit(Widgets.age(v.createdAt, now: snap.now), 5, glyphs: g, alignRight: true) + " "
                + Widgets.fit(v.createdBy, 10, glyphs: g) + " " + Widgets.fit(String(v.artifactDigest.prefix(12)), 12, glyphs: g) + " " + envs
            return (text, envs.isEmpty ? .plain : Style(fg: .success, bold: true))
        }
        let leftW = max(60, s.width * 58 / 100)
        let title = model.map { "Registry · \($0) (\(snap.models.count) model\(snap.models.count == 1 ? "" : "s"))" } ?? "Registry"
        ListView.draw(&b, s, x: 0, y: y, w: leftW, h: h, title: title,
                      header: "version run       commit     age by         digest       live", rows: rows)
        Widgets.box(&b, leftW, y, s.width - leftW, h, title: "lineage", glyphs: g)
        guard let v = s.selectedVersion else {
            b.put(leftW + 2, y + 2, model == nil ? "No model yet: a successful run registers one." : "", .muted, maxWidth: s.width - leftW - 4)
            return
        }
        var yy = y + 1
        let w = s.width - leftW - 4
        func line(_ text: String, _ style: Style = .plain) { if yy < y + h - 1 { b.put(leftW + 2, yy, TerminalText.oneLine(text), style, maxWidth: w); yy += 1 } }
        line("\(v.model):\(v.version)", .accent)
        line("run \(v.runID) · pipeline \(v.pipeline)")
        line("commit \(v.gitCommit ?? "—")")
        line("by \(v.createdBy) · \(Widgets.age(v.createdAt, now: snap.now)) ago")
        line("digest \(v.artifactDigest.prefix(24))")
        if let tag = v.imageTag { line("image \(tag) · .slipway/images/\(v.model)") }
        if !v.description.isEmpty { line(v.description) }
        let envs = snap.environments.map { "\($0) \(live[$0].map { ":\($0)" } ?? "—")" }.joined(separator: "  ")
        if !envs.isEmpty { line("live: " + envs) }
        if v.version == snap.versions.first?.version {
            if !snap.versionParams.isEmpty { line("params", .muted) }
            for (k, val) in snap.versionParams.sorted(by: { $0.key < $1.key }) { line("  \(k) = \(val)") }
            if !snap.versionMetrics.isEmpty { line("metrics", .muted) }
            for (k, val) in snap.versionMetrics.sorted(by: { $0.key < $1.key }) { line("  \(k) = \(Gates.format(val))") }
            if !snap.versionDatasets.isEmpty { line("inputs", .muted) }
            for ds in snap.versionDatasets { line("  \(ds.stage): \(ds.path) \(ds.hash.prefix(12))") }
        } else {
            line("(params and metrics: `slipway models show \(v.model):\(v.version)`)", .muted)
        }
    }
}

enum AuditScreen {
    static func render(_ b: inout ScreenBuffer, _ s: ConsoleState, y: Int, h: Int) {
        let g = s.glyphs
        let snap = s.snapshot
        var top = y
        if let problem = snap.auditProblem {
            b.fill(0, y, s.width, 1, Style(fg: .background, bg: .error, bold: true))
            b.put(1, y, "AUDIT CHAIN DOES NOT VERIFY: \(problem)", Style(fg: .background, bg: .error, bold: true, reverse: true), maxWidth: s.width - 2)
            top += 1
        }
        let f = DateFormatter()
        f.dateFormat = "MM-dd HH:mm:ss"
        let rows = s.visibleIndices.map { i -> (String, Style) in
            let e = snap.audit[i]
            let text = Widgets.fit(String(e.seq), 6, glyphs: g, alignRight: true) + " "
                + f.string(from: Date(timeIntervalSince1970: Double(e.timestamp) / 1000)) + " " + Widgets.fit(TerminalText.oneLine(e.actor), 10, glyphs: g) + " "
                + Widgets.fit(e.kind, 16, glyphs: g) + " " + Widgets.fit(TerminalText.oneLine(e.subject), 24, glyphs: g) + " " + TerminalText.oneLine(e.payload)
            return (text, e.kind.contains("interrupted") || e.payload.contains("\"failed\"") ? .warning : .plain)
        }
        let verified = snap.auditProblem == nil ? (snap.auditVerified ? " · chain verified" : " · verifying the chain…") : " · chain BROKEN"
        ListView.draw(&b, s, x: 0, y: top, w: s.width, h: h - (top - y), title: "Audit (\(snap.audit.count) newest\(verified))",
                      header: "   seq time           actor      kind             subject                  details", rows: rows)
    }
}

enum InfoScreens {
    static func approvals(_ b: inout ScreenBuffer, _ s: ConsoleState, y: Int, h: Int) {
        let g = s.glyphs
        let snap = s.snapshot
        let rows = s.visibleIndices.map { i -> (String, Style) in
            let r = snap.approvals[i]
            let votes = snap.approvalVotes[r.id] ?? []
            let approvals = votes.filter { $0.decision == .approve }.count
            let text = Widgets.fit("#\(r.id)", 5, glyphs: g) + " " + Widgets.fit(r.status.rawValue, 10, glyphs: g) + " "
                + Widgets.fit(TerminalText.oneLine("\(r.model):\(r.version) → \(r.environment)"), 26, glyphs: g) + " "
                + Widgets.fit(TerminalText.oneLine(r.requester), 10, glyphs: g) + " "
                + Widgets.fit(Widgets.age(r.createdAt, now: snap.now), 4, glyphs: g, alignRight: true) + " "
                + Widgets.fit("\(approvals) of \(r.requiredApprovals)", 7, glyphs: g) + " " + TerminalText.oneLine(r.reasonList.joined(separator: "; "))
            let style: Style = r.status == .pending ? Style(fg: .accent) : r.status == .approved ? .success : r.status == .rejected ? .error : .muted
            return (text, style)
        }
        let listH = max(5, min(h / 2, rows.count + 3))
        let pending = snap.pendingApprovals
        ListView.draw(&b, s, x: 0, y: y, w: s.width, h: listH, title: "Approvals (\(pending) pending)",
                      header: "id    status     version → environment      requester   age votes   risk", rows: rows)
        let lowerY = y + listH, lowerH = h - listH
        Widgets.box(&b, 0, lowerY, s.width, lowerH, title: "evidence", glyphs: g)
        guard let r = s.selectedRequest else {
            let hint = snap.approvals.isEmpty
                ? "Nothing to sign off. High-risk promotions (policy: in slipway.yaml) wait here for a named approver."
                : ""
            b.put(2, lowerY + 1, hint, .muted, maxWidth: s.width - 4)
            return
        }
        for (i, (text, style)) in evidence(r, s).prefix(max(0, lowerH - 2)).enumerated() {
            b.put(2, lowerY + 1 + i, TerminalText.oneLine(text), style, maxWidth: s.width - 4)
        }
    }

    /// What an approver reads about a request: who signs, the risk, the params
    /// diff, the eval comparison with gate arithmetic, data and commits, the
    /// package, and the votes so far (the pane, and the dialog Enter opens).
    static func evidence(_ r: ApprovalRequestRecord, _ s: ConsoleState) -> [(String, Style)] {
        let snap = s.snapshot
        var out: [(String, Style)] = []
        out.append(("Signing as: " + (snap.signer ?? "no key found (start the console with --key FILE)"),
                    snap.signer?.contains("no approver") == true ? .error : .muted))
        for reason in r.reasonList { out.append(("risk: " + reason, .warning)) }
        if let object = try? JSONSerialization.jsonObject(with: Data(r.evidence.utf8)) as? [String: Any] {
            for p in object["params"] as? [[String: Any]] ?? [] {
                out.append(("param \(p["param"] as? String ?? ""): \(p["live"] as? String ?? "—") → \(p["candidate"] as? String ?? "—")", .plain))
            }
            for m in object["metrics"] as? [[String: Any]] ?? [] {
                let live = (m["live"] as? Double).map(Gates.format) ?? "—", cand = (m["candidate"] as? Double).map(Gates.format) ?? "—"
                out.append(("metric \(m["metric"] as? String ?? ""): \(live) → \(cand)" + ((m["gate"] as? String).map { "  (\($0))" } ?? ""), .plain))
            }
            for d in object["data"] as? [String] ?? [] { out.append(("data " + d, .plain)) }
            for c in object["commits"] as? [String] ?? [] { out.append(("commit " + c, .muted)) }
            if let p = object["package"] as? String { out.append(("package " + p, .muted)) }
        }
        for v in snap.approvalVotes[r.id] ?? [] {
            out.append(("\(v.decision == .approve ? (s.ascii ? "+" : "✓") : (s.ascii ? "x" : "✗")) \(v.approver) \(v.decision.rawValue)d \(Widgets.age(v.at, now: snap.now)) ago: \(v.comment)",
                        v.decision == .approve ? .success : .error))
        }
        return out
    }

    /// Each environment as a lane, in order (dev → staging → production):
    /// live and stable version, the canary's bar with step and traffic, the
    /// analysis values with their conditions and a small chart over time;
    /// below, the selected lane's history of changes.
    static func deployments(_ b: inout ScreenBuffer, _ s: ConsoleState, y: Int, h: Int) {
        let g = s.glyphs
        let snap = s.snapshot
        let lanes = s.visibleIndices.map { snap.lanes[$0] }
        guard !lanes.isEmpty else {
            Widgets.box(&b, 0, y, s.width, h, title: "Deployments", glyphs: g)
            b.put(2, y + 2, snap.lanes.isEmpty ? "slipway.yaml declares no environments (environments: {dev: {}, staging: {}, production: {}})."
                  : "(no environment matches /\(s.filter))", .muted, maxWidth: s.width - 4)
            return
        }
        let n = lanes.count
        let gap = 3
        let laneW = max(24, (s.width - gap * (n - 1)) / n)
        let laneH = max(10, min(h - 6, 15))
        for (i, lane) in lanes.enumerated() {
            let x = i * (laneW + gap)
            guard x + laneW <= s.width else { break }
            let selected = i == s.row
            let title = lane.environment + (lane.auto ? " · auto" : "") + (lane.hasCanary ? " · canary" : "")
            Widgets.box(&b, x, y, laneW, laneH, title: TerminalText.oneLine(title), glyphs: g, focused: selected)
            if i < n - 1 { b.put(x + laneW, y + laneH / 2, g.ascii ? " ->" : " → ", .muted) }
            drawLane(&b, lane, s, x: x + 2, y: y + 1, w: laneW - 4, h: laneH - 2)
        }
        let lowerY = y + laneH, lowerH = h - laneH
        guard lowerH >= 3, let lane = s.selectedLane ?? lanes.last else { return }
        Widgets.box(&b, 0, lowerY, s.width, lowerH, title: "\(lane.environment): history", glyphs: g)
        var lines: [(String, Style)] = lane.unfinishedCalls.map { ($0.summary, $0.interrupted ? .error : .accent) }
        if let d = lane.deployment {
            lines.append(("deployment \(d.id): \(d.model):\(d.version) \(d.state.rawValue.replacingOccurrences(of: "_", with: " ")) · \(d.detail)",
                          d.state == .rolledBack || d.state == .failed ? .error : d.state == .paused ? .warning : .plain))
        }
        for e in lane.history {
            let change = "\(e.previousVersion.map { ":\($0)" } ?? "—") → \(e.version.map { ":\($0)" } ?? "none")"
            lines.append((Widgets.fit(Widgets.age(e.at, now: snap.now) + " ago", 9, glyphs: g) + Widgets.fit(change, 12, glyphs: g)
                          + Widgets.fit(e.actor, 12, glyphs: g) + e.reason, e.reason.hasPrefix("rollback") ? .warning : .plain))
        }
        if lines.isEmpty { lines.append(("nothing has been live here yet: `slipway promote MODEL:VERSION --to \(lane.environment)` (or p in the Registry tab)", .muted)) }
        for (k, (text, style)) in lines.prefix(lowerH - 2).enumerated() {
            b.put(2, lowerY + 1 + k, TerminalText.oneLine(text), style, maxWidth: s.width - 4)
        }
    }

    static func drawLane(_ b: inout ScreenBuffer, _ lane: DeploymentLane, _ s: ConsoleState, x: Int, y: Int, w: Int, h: Int) {
        let g = s.glyphs
        let now = s.snapshot.now
        var yy = y
        func line(_ text: String, _ style: Style = .plain) {
            guard yy < y + h else { return }
            b.put(x, yy, TerminalText.oneLine(text), style, maxWidth: w)
            yy += 1
        }
        guard let model = lane.model else {
            line("nothing live yet", .muted)
            if let r = lane.requires { line("requires: \(r)", .muted) }
            return
        }
        line("live    \(model):\(lane.live.map(String.init) ?? "none")", Style(fg: .foreground, bold: true))
        if let image = lane.image { line("image   \(image)", .muted) }
        if let since = lane.since { line("since   \(Widgets.age(since, now: now)) ago · \(lane.by ?? "")", .muted) }
        if let why = lane.reason { line("why     \(why)", why.hasPrefix("rollback") ? .warning : .muted) }
        for c in lane.unfinishedCalls {
            line("call    \(c.callID)", c.interrupted ? .error : .accent)
            line("        " + (c.interrupted ? "INTERRUPTED: driver gone" : "in flight"), c.interrupted ? .error : .accent)
        }
        if let d = lane.deployment, d.state.isActive {
            let steps = d.stepList
            if d.state == .watching {
                line("watch   :\(d.version) live · rollback_when until \(d.watchUntil.map { Widgets.age(now, now: $0) } ?? "?")", .accent)
            } else {
                let barW = max(6, w - 22)
                line("canary  :\(d.version) " + Widgets.progress(Double(d.traffic) / 100, width: barW, glyphs: g) + " \(d.traffic)%",
                     d.state == .paused ? .warning : .accent)
                line("        step \(d.step + 1)/\(steps.count) · stable :\(d.stableVersion.map(String.init) ?? "—")", .muted)
                if d.state == .paused {
                    line("        PAUSED · c go on · x abort", .warning)
                } else if let due = d.dueAt, due > now {
                    line("        analysis in \(Widgets.age(now, now: due))", .muted)
                }
            }
        } else if let d = lane.deployment, d.state == .rolledBack || d.state == .failed || d.state == .aborted {
            line("last    :\(d.version) \(d.state.rawValue.replacingOccurrences(of: "_", with: " "))", d.state == .aborted ? .warning : .error)
        }
        // The analysis: the latest value of each metric, its condition, and its values over time.
        var order: [String] = []
        var series: [String: [AnalysisSampleRecord]] = [:]
        for sample in lane.samples {
            if series[sample.metric] == nil { order.append(sample.metric) }
            series[sample.metric, default: []].append(sample)
        }
        for metric in order {
            guard let last = series[metric]?.last, yy < y + h else { continue }
            let style: Style = last.verdict == "fail" ? .error : last.verdict == "pass" ? .success : .warning
            let value = last.value.map(Gates.format) ?? "no data"
            let spark = Widgets.sparkline(series[metric]!.compactMap(\.value), width: 8, ascii: g.ascii)
            line(Widgets.fit("\(metric) \(value)", max(8, w - 10), glyphs: g) + " " + spark, style)
            line("  " + last.condition, .muted)
        }
        if let target = lane.rollbackTarget, yy < y + h {
            yy = max(yy, y + h - 1)
            line("r: roll back to :\(target)", .muted)
        }
    }
}
