import Foundation

/// Enter on each tab: what opens, and the keys of what is open (a run, or a
/// page of text over the body). Everything opened is read from the snapshot.
extension ConsoleState {
    /// What Enter does on each tab, for the help and keybindings.md; nil where
    /// another part of the console owns Enter.
    public static func enterHelp(_ tab: Tab) -> String? {
        switch tab {
        case .runs: return "opens the selected run: a stage picker (j/k), the stage's status, why it ran and its full error, and its log, wrapped (w) or scrolled sideways (←/→), scrolled with [ ] PgUp PgDn g G; m shows ::metric lines; Esc closes"
        case .evals: return "opens the selected metric: both sides' values, the delta, the gate and its arithmetic; in the sweep view (s), opens the selected run as Enter on Runs does (Esc closes it, on the Runs tab)"
        case .drift: return "opens the selected item whole: every statistic and the full text"
        case .approvals: return "opens the whole request: the reason it was asked for, where the version came from, risk, evidence, the package digest with its verification, and every vote, scrollable"
        case .registry: return "opens the selected version: run, commit, digest, creator, params, metrics, datasets"
        case .audit: return "opens the whole event: actor, kind, subject, every payload field (a vote's signed payload and signature), hashes"
        case .deployments: return "opens the selected lane's canary measurements: each step's queries as sent, answers, values, conditions and verdicts, and the one that decided"
        }
    }

    /// What the mouse does on each tab, for the help.
    public static func mouseHelp(_ tab: Tab) -> [String] {
        var out = ["click a tab title: switch to it", "click a row: select it; wheel: move the selection",
                   "in a dialog, click a button to press it; in an opened item or the help, the wheel scrolls"]
        if tab == .runs { out.append("in an opened run, click a stage to show it") }
        return out
    }

    mutating func open() -> [Effect] {
        switch tab {
        case .runs:
            guard let run = selectedRun else { notice = ("no run selected", true); return [] }
            let stage = snapshot.detail.flatMap { $0.run.id == run.id ? RunViewScreen.initialStage($0) : nil } ?? 0
            runView = RunView(runID: run.id, stage: stage)
            return selectionEffects()
        case .approvals:
            guard let r = selectedRequest else { return [] }
            pager = Pager(title: "Request \(r.id): \(r.model):\(r.version) → \(r.environment) (\(r.status.rawValue))",
                          lines: ApprovalsScreen.evidence(r, self, full: true).map { Pager.Line($0.0, $0.1, indent: 2) })
            pagerRequest = r.id
            // The package is verified off the UI thread; its verdict joins the page when it comes.
            return packageChecks["\(r.model):\(r.version)"] == nil ? [.verifyPackage(model: r.model, version: r.version)] : []
        case .audit:
            let vis = visibleIndices
            guard row < vis.count else { return [] }
            let e = snapshot.audit[vis[row]]
            pager = Pager(title: "Audit event \(e.seq): \(e.kind)", lines: AuditScreen.eventLines(e))
        case .registry:
            guard let v = selectedVersion else { return [] }
            pager = Pager(title: "\(v.model):\(v.version)", lines: RegistryScreen.versionLines(v, self))
        case .evals:
            let vis = visibleIndices
            if showingSweep, let board = snapshot.sweep?.leaderboard {
                guard row < vis.count else { return [] }
                return openRun(board.entries[vis[row]].run.id)
            }
            guard let c = snapshot.comparison, row < vis.count else { return [] }
            pager = Pager(title: "metric \(c.rows[vis[row]].metric)", lines: EvalsScreen.rowLines(c.rows[vis[row]], self))
        case .drift:
            let items = DriftScreen.items(self)
            let vis = visibleIndices
            guard row < vis.count, vis[row] < items.count else { return [] }
            pager = Pager(title: "Drift", lines: TerminalText.oneLine(items[vis[row]].text).components(separatedBy: " · ").map { Pager.Line($0, .plain, indent: 2) })
        case .deployments:
            guard let l = selectedLane else { return [] }
            dialog = DeploymentsScreen.measurementsDialog(l, maxLines: height - 10)
        }
        return []
    }

    /// Opens a run as Enter on the Runs tab does, from another tab (a sweep's
    /// row): the Runs tab with the run selected, its details asked for.
    mutating func openRun(_ id: Int64) -> [Effect] {
        switchTab(.runs)
        if let i = snapshot.runs.firstIndex(where: { $0.id == id }) { rows[.runs] = i }
        let stage = snapshot.detail.flatMap { $0.run.id == id ? RunViewScreen.initialStage($0) : nil } ?? 0
        runView = RunView(runID: id, stage: stage)
        return [.select(run: id, model: nil)]
    }

    /// The keys of an opened run: j/k choose the stage, the log scrolls and
    /// wraps, Esc closes. Other keys do nothing while it is open.
    mutating func runViewKey(_ key: Key) -> [Effect] {
        guard var v = runView else { return [] }
        if key == .escape || key == .char("q") || key == .enter || key == .backspace { runView = nil; return [.showStage(nil, reload: false)] }
        guard let action = keyMap.action(for: key, scope: .runs) else { return [] }
        // The log's rows are laid out for the keys that scroll it, not for every key.
        let scrolls: Set<Action> = [.pageDown, .logDown, .pageUp, .logUp, .top]
        let layout = scrolls.contains(action) ? snapshot.detail.flatMap { $0.run.id == v.runID ? RunViewScreen.layout(self, v, $0) : nil } : nil
        let visible = max(1, (layout?.logH ?? 2) - 1)
        let maxTop = max(0, (layout?.log.count ?? 0) - visible)
        func scroll(_ by: Int) {
            let top = min(maxTop, max(0, (v.logTop ?? maxTop) + by))
            v.logTop = top >= maxTop ? nil : top
        }
        switch action {
        case .down, .up:
            // In the order the picker shows them: a matrix stage's members together.
            guard let d = snapshot.detail, d.run.id == v.runID, let next = d.index.step(from: v.stage, down: action == .down) else { return [] }
            v.stage = next
            v.logTop = nil
            logShift = 0
            runView = v
            return [Self.showStage(next, d)]
        case .pageDown, .logDown: scroll(max(1, visible - 1))
        case .pageUp, .logUp: scroll(-max(1, visible - 1))
        case .top: v.logTop = maxTop == 0 ? nil : 0
        case .bottom, .follow: v.logTop = nil
        case .logWrap, .logLeft, .logRight, .controlLines: _ = perform(action)
        case .back, .quit, .open: runView = nil; return [.showStage(nil, reload: false)]
        default: return []
        }
        runView = v
        return []
    }

    /// Tells the loader which stage is in view; asks for a snapshot now when
    /// this one does not hold the stage's log (it holds those around the last one).
    static func showStage(_ i: Int, _ d: ConsoleSnapshot.RunDetail) -> Effect {
        .showStage(d.stages[i].stage, reload: d.lacksLog(i))
    }

    /// The `?` help as a page: the current tab's keys first (what Enter does
    /// there, the mouse), then the keys that work everywhere.
    func helpPager() -> Pager {
        var lines: [Pager.Line] = []
        let here = tab.scope
        lines.append(Pager.Line("On the \(tab.title) tab", .accent))
        if let enter = Self.enterHelp(tab) { lines.append(Pager.Line(Widgets.fit("Enter", 14, glyphs: glyphs) + " " + enter, .plain, indent: 15)) }
        for b in keyMap.bindings where b.scope == here && here != .global {
            lines.append(Pager.Line(Widgets.fit(b.keys.map(\.description).joined(separator: " "), 14, glyphs: glyphs) + " " + b.help
                                    + (b.dangerous ? " (asks to confirm)" : ""), .plain, indent: 15))
        }
        for m in Self.mouseHelp(tab) { lines.append(Pager.Line(Widgets.fit("mouse", 14, glyphs: glyphs) + " " + m, .plain, indent: 15)) }
        lines.append(Pager.Line(""))
        lines.append(Pager.Line("Everywhere", .accent))
        for b in keyMap.bindings where b.scope == .global && b.action != .open {
            lines.append(Pager.Line(Widgets.fit(b.keys.map(\.description).joined(separator: " "), 14, glyphs: glyphs) + " " + b.help, .plain, indent: 15))
        }
        let others = Set(keyMap.bindings.map(\.scope)).subtracting([.global, here])
        for scope in [Scope.runs, .evals, .registry, .approvals, .deployments] where others.contains(scope) {
            lines.append(Pager.Line(""))
            lines.append(Pager.Line("On the \(scope.rawValue) tab", .accent))
            for b in keyMap.bindings where b.scope == scope {
                lines.append(Pager.Line(Widgets.fit(b.keys.map(\.description).joined(separator: " "), 14, glyphs: glyphs) + " " + b.help
                                        + (b.dangerous ? " (asks to confirm)" : ""), .plain, indent: 15))
            }
        }
        return Pager(title: "Keys (Esc closes) · \(tab.title) first", lines: lines)
    }
}
