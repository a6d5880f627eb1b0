import Foundation

/// An opened run (Enter on Runs): a stage picker on the left; on the right
/// the chosen stage's status, why it ran, its full error, and its log,
/// wrapped or scrolled sideways, scrolled with `[`/`]`, PgUp/PgDn, `g`/`G`.
public struct RunView: Sendable, Equatable {
    public var runID: Int64
    /// The chosen stage's index in the run's stages.
    public var stage: Int
    /// The first log row shown; nil follows the end of the log.
    public var logTop: Int?

    public init(runID: Int64, stage: Int, logTop: Int? = nil) {
        self.runID = runID
        self.stage = stage
        self.logTop = logTop
    }
}

enum RunViewScreen {
    static func pickerWidth(_ width: Int) -> Int { min(30, max(22, width / 4)) }

    /// The stage the view starts on: the failed one, else the running one, else the one the pane showed.
    static func initialStage(_ d: ConsoleSnapshot.RunDetail) -> Int {
        d.index.firstFailed ?? d.index.lastRunning ?? d.logStage.flatMap { d.index.names[$0] } ?? 0
    }

    /// The right pane's parts: header rows (wrapped), log rows, and where the log starts.
    struct Layout {
        var header: [(String, Style)]
        var log: [String]
        var logY: Int
        var logH: Int
        var x: Int
        var w: Int
    }

    static func layout(_ s: ConsoleState, _ v: RunView, _ d: ConsoleSnapshot.RunDetail) -> Layout {
        let y = 2, h = s.height - 4
        let x = pickerWidth(s.width), w = s.width - x
        let textW = w - 4
        var header: [(String, Style)] = []
        if v.stage < d.stages.count {
            let st = d.stages[v.stage]
            let took = st.duration.map(Durations.format) ?? (st.status == .running ? "running" : "—")
            var facts = "\(st.stage) · \(st.status.rawValue) · \(took)"
            if let code = st.exitCode, st.status == .failed { facts += " · exit code \(code)" }
            if let j = st.jobStatus, j.executor != "local" { facts += " · \(j.executor) job \(j.jobID ?? "?")" + (j.node.map { " on \($0)" } ?? "") }
            header += TextLayout.wrap(facts, width: textW).map { ($0, RunsScreen.stageStyle(st.status)) }
            if !st.reason.isEmpty { header += TextLayout.wrap("why it ran: " + TerminalText.oneLine(st.reason), width: textW, indent: 2).map { ($0, .muted) } }
            if st.status == .failed {
                if let m = st.message { header += TextLayout.wrap("failure: " + TerminalText.oneLine(m), width: textW, indent: 2).map { ($0, .error) } }
                if let e = d.errorLines[st.stage] { header += TextLayout.wrap("error: " + TerminalText.oneLine(e), width: textW, indent: 2).map { ($0, .error) } }
            }
        }
        // The whole error shows; the log keeps at least four rows.
        let headerH = min(header.count, max(1, h - 7))
        let logY = y + headerH + 2
        let logH = y + h - logY
        let stage = v.stage < d.stages.count ? d.stages[v.stage].stage : ""
        let cachedNote = v.stage < d.stages.count ? StageLogLines.withoutLog(d.stages[v.stage]).map { [$0] } : nil
        let raw = d.logs[stage] ?? cachedNote ?? (stage == d.logStage ? d.logTail : [])
        let log = RunsScreen.logRows(raw, width: textW, wrap: s.logWrap, shift: s.logShift, control: s.showControlLines)
        return Layout(header: Array(header.prefix(headerH)), log: log, logY: logY, logH: logH, x: x, w: w)
    }

    static func render(_ b: inout ScreenBuffer, _ s: ConsoleState, _ v: RunView) {
        let g = s.glyphs
        let y = 2, h = s.height - 4
        b.fill(0, y, s.width, h)
        guard let d = s.snapshot.detail, d.run.id == v.runID else {
            Widgets.box(&b, 0, y, s.width, h, title: "run \(v.runID) (Esc closes)", glyphs: g, focused: true)
            b.put(2, y + 1, "loading…", .muted)
            return
        }
        let r = d.run
        let pw = pickerWidth(s.width)
        Widgets.box(&b, 0, y, pw, h, title: "run \(r.id) · \(r.status.rawValue)", glyphs: g, focused: true)
        // Members under their matrix stage; the list scrolls to keep the chosen stage in sight.
        let groups = d.index.groups
        for (row, line) in d.index.pickerWindow(stage: v.stage, visible: h - 2).enumerated() {
            let text: String, style: Style
            switch line {
            case .header(let gi):
                let group = groups[gi]
                let standing = d.index.standings[gi] ?? StageIndex.standing(group, d.stages)
                let status = standing.status
                let took = standing.duration(now: s.snapshot.now).map(Durations.format) ?? "—"
                text = g.symbol(StageStatusSymbol(rawValue: status.rawValue) ?? .pending) + " "
                    + Widgets.fit(TerminalText.oneLine(group.name) + " (\(group.members.count))", pw - 13, glyphs: g) + " "
                    + Widgets.fit(took, 6, glyphs: g, alignRight: true)
                style = RunsScreen.stageStyle(status)
            case .stage(let i, let member):
                let st = d.stages[i]
                let took = st.duration.map(Durations.format) ?? "—"
                let name = member ? "  " + StageGroups.memberLabel(st.stage) : Substring(st.stage)
                text = g.symbol(StageStatusSymbol(rawValue: st.status.rawValue) ?? .pending) + " "
                    + Widgets.fit(TerminalText.oneLine(name), pw - 13, glyphs: g) + " " + Widgets.fit(took, 6, glyphs: g, alignRight: true)
                style = i == v.stage ? .selected : RunsScreen.stageStyle(st.status)
            }
            b.put(1, y + 1 + row, Widgets.fit(text, pw - 2, glyphs: g), style)
        }
        let info = [r.pipeline, r.trigger, r.gitCommit.map { String($0.prefix(7)) }, r.host].compactMap { $0 }.joined(separator: " · ")
        let lay = layout(s, v, d)
        Widgets.box(&b, lay.x, y, lay.w, h, title: TerminalText.oneLine(info) + " (Esc closes)", glyphs: g)
        for (i, row) in lay.header.enumerated() { b.put(lay.x + 2, y + 1 + i, row.0, row.1, maxWidth: lay.w - 4) }
        let mode = (s.logWrap ? "wrapped" : (s.logShift > 0 ? "from column \(s.logShift + 1)" : "w wraps")) + (s.showControlLines ? " · ::metric shown" : "")
        b.put(lay.x + 1, lay.logY - 1, String(repeating: g.h, count: lay.w - 2), .border)
        b.put(lay.x + 2, lay.logY - 1, " log · \(mode) ", .muted, maxWidth: lay.w - 4)
        let visible = lay.logH - 1
        guard visible > 0 else { return }
        let top = min(v.logTop ?? Int.max, max(0, lay.log.count - visible))
        for (i, line) in lay.log.dropFirst(top).prefix(visible).enumerated() {
            b.put(lay.x + 2, lay.logY + i, line, .plain, maxWidth: lay.w - 4)
        }
        if lay.log.isEmpty {
            // A stage far from the one the snapshot was read around: its log comes with the next one.
            let pending = v.stage < d.stages.count && d.lacksLog(v.stage)
            b.put(lay.x + 2, lay.logY, pending ? "(reading the log…)" : "(no log lines" + (s.showControlLines ? ")" : "; m shows ::metric lines)"), .muted)
        }
        let position = lay.log.count > visible
            ? " lines \(top + 1)–\(min(lay.log.count, top + visible)) of \(lay.log.count)" + (v.logTop == nil ? " (end)" : "") + " "
            : " \(lay.log.count) line\(lay.log.count == 1 ? "" : "s") "
        b.put(lay.x + max(2, lay.w - ScreenBuffer.width(of: position) - 2), y + h - 1, position, lay.log.count > visible ? .accent : .muted)
    }
}
