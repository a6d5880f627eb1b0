import Foundation

/// Renders a ``ConsoleState`` into a ``ScreenBuffer``: a pure function.
public enum ConsoleView {
    public static let minWidth = 80, minHeight = 24
    /// First screen row of the main list (below the header, tabs, box edge and column titles).
    static let listTop = 4

    public static func render(_ s: ConsoleState) -> ScreenBuffer {
        var b = ScreenBuffer(width: s.width, height: s.height)
        if s.width < minWidth || s.height < minHeight {
            let lines = ["The console needs at least \(minWidth)×\(minHeight).",
                         "This terminal is \(s.width)×\(s.height): please enlarge it.", "q quits"]
            for (i, l) in lines.enumerated() {
                b.put(max(0, (s.width - l.count) / 2), max(0, s.height / 2 - 1 + i), l, i == 0 ? .warning : .plain)
            }
            return b
        }
        header(&b, s)
        tabs(&b, s)
        let bodyH = s.height - 4
        // An opened run covers the whole body: the tab under it is not drawn.
        switch s.runView == nil ? s.tab : nil {
        case nil: break
        case .runs: RunsScreen.render(&b, s, y: 2, h: bodyH)
        case .evals: EvalsScreen.render(&b, s, y: 2, h: bodyH)
        case .drift: DriftScreen.render(&b, s, y: 2, h: bodyH)
        case .approvals: ApprovalsScreen.render(&b, s, y: 2, h: bodyH)
        case .registry: RegistryScreen.render(&b, s, y: 2, h: bodyH)
        case .deployments: DeploymentsScreen.render(&b, s, y: 2, h: bodyH)
        case .audit: AuditScreen.render(&b, s, y: 2, h: bodyH)
        }
        if let v = s.runView { RunViewScreen.render(&b, s, v) }
        footer(&b, s)
        if let p = s.pager { Pager.render(&b, p, s) }
        if let d = s.dialog { dialog(&b, d, s) }
        if s.ascii { asciiOnly(&b) }
        return b
    }

    /// In ASCII mode every cell is ASCII, whatever the data holds (arrows in
    /// reasons, names in other scripts), so a non-UTF-8 terminal shows no garbage.
    static func asciiOnly(_ b: inout ScreenBuffer) {
        let map: [String: String] = ["→": ">", "←": "<", "…": "~", "×": "x", "≥": ">", "≤": "<", "—": "-", "–": "-", "·": ".",
                                     "✓": "+", "✗": "x", "●": "*", "○": "o", "▲": "^", "★": "*", "▏": "_", "°": "o", "µ": "u"]
        for i in b.cells.indices {
            let t = b.cells[i].text
            if t.unicodeScalars.allSatisfy(\.isASCII) { continue }
            b.cells[i].text = t.isEmpty ? "" : (map[t] ?? "?")
        }
    }

    static func header(_ b: inout ScreenBuffer, _ s: ConsoleState) {
        let snap = s.snapshot
        b.fill(0, 0, s.width, 1, Style(fg: .foreground, bg: .selection))
        var x = b.put(1, 0, "Slipway", Style(fg: .accent, bg: .selection, bold: true))
        x = b.put(x + 2, 0, TerminalText.oneLine(snap.project), Style(fg: .foreground, bg: .selection), maxWidth: 30)
        var right: [String] = []
        for m in snap.models.prefix(1) {
            if let p = m.environments["production"] { right.append("prod \(m.name):\(p)") }
        }
        if snap.pendingApprovals > 0 { right.append("\(s.ascii ? "*" : "◆") \(snap.pendingApprovals) approval\(snap.pendingApprovals == 1 ? "" : "s")") }
        let running = snap.runs.filter { $0.status == .running }.count
        if running > 0 { right.append("\(s.ascii ? "*" : "●") \(running) running") }
        for lane in snap.lanes {
            guard let d = lane.deployment, d.state == .progressing || d.state == .paused else { continue }
            right.append("\(lane.environment) canary :\(d.version) \(d.traffic)%" + (d.state == .paused ? " PAUSED" : ""))
        }
        let alerting = snap.monitors.filter { $0.batches.last?.status == .drifted }.map(\.name)
        if !alerting.isEmpty { right.append("\(s.ascii ? "^" : "▲") \(alerting.joined(separator: ", ")) drifted") }
        let drifted = snap.drift.first.map { $0.report.drift.filter(\.drifted).count } ?? 0
        if drifted > 0 { right.append("\(s.ascii ? "^" : "▲") drift: \(drifted) column\(drifted == 1 ? "" : "s")") }
        if snap.auditProblem != nil { right.append("AUDIT CHAIN BROKEN") }
        if !snap.problems.isEmpty { right.append("\(s.ascii ? "x" : "✗") \(snap.problems.count) unreadable (see the notice line)") }
        let f = DateFormatter()
        f.dateFormat = "HH:mm:ss"
        right.append(f.string(from: Date(timeIntervalSince1970: Double(snap.now) / 1000)))
        let text = right.joined(separator: "  ")
        let style = snap.auditProblem != nil ? Style(fg: .error, bg: .selection, bold: true) : Style(fg: .foreground, bg: .selection)
        b.put(max(x + 2, s.width - ScreenBuffer.width(of: text) - 1), 0, text, style)
    }

    /// The tab bar's labels: every tab fits, a long title shortened on a narrow terminal.
    static func tabLabels(width: Int) -> [String] {
        let full = Tab.allCases.map { " \($0.rawValue + 1) \($0.title) " }
        if full.reduce(1, { $0 + $1.count + 1 }) <= width { return full }
        let short: [Tab: String] = [.deployments: "Deploys", .approvals: "Approve", .registry: "Models"]
        var labels = full
        for t in [Tab.deployments, .approvals, .registry] where labels.reduce(1, { $0 + $1.count + 1 }) > width {
            labels[t.rawValue] = " \(t.rawValue + 1) \(short[t]!) "
        }
        return labels
    }

    static func tabs(_ b: inout ScreenBuffer, _ s: ConsoleState) {
        var x = 1
        let labels = tabLabels(width: s.width)
        for t in Tab.allCases {
            let label = labels[t.rawValue]
            b.put(x, 1, label, t == s.tab ? Style(fg: .accent, bg: .selection, bold: true, underline: true) : .muted)
            x += label.count + 1
        }
    }

    static func footer(_ b: inout ScreenBuffer, _ s: ConsoleState) {
        let y = s.height - 2
        if let line = s.commandLine {
            b.put(1, y, ":" + line + (s.ascii ? "_" : "▏"), .accent)
        } else if s.editingFilter || !s.filter.isEmpty {
            b.put(1, y, "/" + s.filter + (s.editingFilter ? (s.ascii ? "_" : "▏") : ""), .accent)
            b.put(3 + s.filter.count + 2, y, "\(s.listCount) match\(s.listCount == 1 ? "" : "es") · Enter keep · Esc clear", .muted)
        } else if s.pager != nil || s.runView != nil {
            // What works in what is open.
            let hints = s.pager != nil
                ? [("j/k", "scroll"), ("PgDn/PgUp", "page"), ("g/G", "top/end"), ("Esc", "close")]
                : [("j/k", "stage"), ("[ ]", "scroll"), ("g/G", "top/end"), ("w", s.logWrap ? "unwrap" : "wrap"), ("←/→", "sideways"),
                   ("m", s.showControlLines ? "hide ::metric" : "::metric"), ("Esc", "close")]
            var x = 1
            for (key, label) in hints {
                if x + key.count + label.count + 3 > s.width { break }
                x = b.put(x, y, key, Style(fg: .accent, bold: true))
                x = b.put(x + 1, y, label, .muted) + 2
            }
        } else {
            var x = 1
            for binding in s.keyMap.bindings where binding.hint && (binding.scope == .global || binding.scope == s.tab.scope) {
                guard let key = binding.keys.first else { continue }
                if x + key.description.count + binding.short.count + 3 > s.width { break }
                x = b.put(x, y, key.description, Style(fg: .accent, bold: true))
                x = b.put(x + 1, y, binding.short, .muted) + 2
            }
        }
        if let n = s.notice {
            b.put(1, s.height - 1, TerminalText.oneLine(n.text), n.isError ? .error : .success, maxWidth: s.width - 2)
        } else if let e = s.snapshot.specError {
            b.put(1, s.height - 1, "slipway.yaml: " + TerminalText.oneLine(e.replacingOccurrences(of: "\n", with: " · ")), .warning, maxWidth: s.width - 2)
        } else if let d = s.snapshot.demoStatus {
            b.put(1, s.height - 1, "demo: " + d, .accent, maxWidth: s.width - 2)
        }
    }

    /// A dialog's lines wrapped to its width: a warning is read to its end.
    static func dialogLines(_ d: Dialog, width w: Int) -> [String] {
        d.lines.flatMap { TextLayout.wrap(TerminalText.oneLine($0), width: w - 4, indent: 2) }
    }

    static func dialogHeight(_ d: Dialog, width w: Int) -> Int {
        dialogLines(d, width: w).count + (d.choices.isEmpty ? 0 : d.choices.count + 1) + (d.field == nil ? 0 : 2) + 5
    }

    static func dialogFrame(_ d: Dialog, width: Int, height: Int) -> (Int, Int, Int)? {
        let w = min(width - 4, max(50, (d.lines.map { ScreenBuffer.width(of: $0) }.max() ?? 0) + 6))
        let h = dialogHeight(d, width: w)
        return ((width - w) / 2, max(2, (height - h) / 2), w)
    }

    static func dialog(_ b: inout ScreenBuffer, _ d: Dialog, _ s: ConsoleState) {
        guard let (x, y, w) = dialogFrame(d, width: s.width, height: s.height) else { return }
        let h = dialogHeight(d, width: w)
        b.fill(x, y, w, h)
        Widgets.box(&b, x, y, w, h, title: d.title, glyphs: s.glyphs, focused: true)
        var yy = y + 1
        for line in dialogLines(d, width: w) { b.put(x + 2, yy, line, .plain, maxWidth: w - 4); yy += 1 }
        if !d.choices.isEmpty {
            yy += 1
            for (i, c) in d.choices.enumerated() {
                let mark = i == d.choice ? (s.ascii ? "(*)" : "◉") : (s.ascii ? "( )" : "○")
                b.put(x + 4, yy, "\(mark) \(c)", i == d.choice ? .selected : .plain, maxWidth: w - 6)
                yy += 1
            }
        }
        if let field = d.field {
            yy += 1
            let cursor = s.ascii ? "_" : "▏"
            b.put(x + 2, yy, "\(field.label): ", .muted)
            b.put(x + 4 + field.label.count, yy, TerminalText.oneLine(field.text) + cursor, .accent, maxWidth: w - field.label.count - 6)
        }
        var bx = x + 2
        let by = y + h - 2
        for (i, label) in d.buttons.enumerated() {
            let text = "[ \(label) ]"
            b.put(bx, by, text, i == d.button ? .selected : .muted)
            bx += text.count + 2
        }
    }

    /// First list row shown so that `row` stays visible.
    static func scrollOffset(row: Int, visible: Int) -> Int {
        guard visible > 0 else { return 0 }
        return max(0, row - visible + 1)
    }
}
