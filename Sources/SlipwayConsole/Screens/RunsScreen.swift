import Foundation
import SlipwayEngine

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
        // A matrix stage's members show as one row: the matrix stage, its members counted.
        let groups = d.index.groups
        let stagesH = min(groups.count + 2, max(4, h / 3))
        Widgets.box(&b, x, y, w, stagesH, title: TerminalText.oneLine(title), glyphs: g, focused: false)
        for (i, group) in groups.prefix(stagesH - 2).enumerated() {
            let yy = y + 1 + i
            if group.isMatrix, let standing = d.index.standings[i] {
                matrixRow(&b, s, d, group, standing, x: x, y: yy, w: w)
                continue
            }
            let st = d.stages[group.members[0]]
            var col = b.put(x + 2, yy, g.symbol(StageStatusSymbol(rawValue: st.status.rawValue) ?? .pending), stageStyle(st.status))
            col = b.put(col + 1, yy, Widgets.fit(TerminalText.oneLine(st.stage), 12, glyphs: g), stageStyle(st.status))
            let took: String
            if let dur = st.duration { took = Durations.format(dur) }
            else if st.status == .running, let start = st.startedAt { took = Durations.format(Double(s.snapshot.now - start) / 1000) }
            else { took = "—" }
            col = b.put(col + 1, yy, Widgets.fit(took, 6, glyphs: g, alignRight: true), .plain)
            // A failed stage says why in its own words: its last error line, then the exit status.
            var why = st.status == .failed
                ? [d.errorLines[st.stage], st.message ?? st.reason].compactMap { $0 }.joined(separator: " · ")
                : st.reason
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
        let focusStage = d.index.focusStage(d.stages, series: d.series)
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
        let mode = (s.showControlLines ? " · ::metric shown" : "") + (s.logWrap ? " · wrapped" : (s.logShift > 0 ? " · from col \(s.logShift + 1)" : ""))
        let logTitle = "\(d.logStage ?? "") · log" + (s.followLog ? " (follow)" : " (paused: f follows)") + mode
        Widgets.box(&b, x, yy, w, logH, title: TerminalText.oneLine(logTitle), glyphs: g)
        // Following shows the newest lines; scrolled, it stays where it was put.
        let visible = logH - 2
        let rows = logRows(d.logTail, width: w - 4, wrap: s.logWrap, shift: s.logShift, control: s.showControlLines)
        let end = s.followLog ? rows.count : max(visible, rows.count - s.logScroll)
        let lines = rows[max(0, end - visible)..<min(end, rows.count)]
        for (i, line) in lines.enumerated() {
            b.put(x + 2, yy + 1 + i, line, .plain, maxWidth: w - 4)
        }
    }

    /// A matrix stage in the Runs detail: how its members stand as a whole,
    /// how many are in each state, and the member a failure or a run is in.
    static func matrixRow(_ b: inout ScreenBuffer, _ s: ConsoleState, _ d: ConsoleSnapshot.RunDetail, _ group: StageGroup,
                          _ standing: StageIndex.Standing, x: Int, y yy: Int, w: Int) {
        let g = s.glyphs
        let status = standing.status
        var col = b.put(x + 2, yy, g.symbol(StageStatusSymbol(rawValue: status.rawValue) ?? .pending), stageStyle(status))
        col = b.put(col + 1, yy, Widgets.fit(TerminalText.oneLine(group.name), 12, glyphs: g), stageStyle(status))
        let took = standing.duration(now: s.snapshot.now).map(Durations.format) ?? "—"
        col = b.put(col + 1, yy, Widgets.fit(took, 6, glyphs: g, alignRight: true), .plain)
        var why = standing.summary
        if let i = standing.named { why += " · " + d.stages[i].status.rawValue + ": " + StageGroups.memberLabel(d.stages[i].stage) }
        b.put(col + 2, yy, TerminalText.oneLine(why), status == .failed ? .error : .muted, maxWidth: x + w - col - 4)
    }

    /// A log as rows of a pane `width` wide: `::metric`/`::progress` lines
    /// left out unless asked for; each line wrapped, or shown from column `shift`.
    static func logRows(_ lines: [String], width: Int, wrap: Bool, shift: Int, control: Bool) -> [String] {
        let shown = StageLogLines.readable(lines, includingControl: control).map { $0.replacingOccurrences(of: "\t", with: "    ") }
        if wrap { return shown.flatMap { TextLayout.wrap($0, width: width, indent: 2) } }
        return shown.map { TextLayout.slice($0, from: shift, width: width) }
    }
}
