import Foundation

/// The whole state of the console; screens are pure functions of it.
public struct ConsoleState: Sendable {
    public var tab: Tab = .runs
    public var snapshot = ConsoleSnapshot()
    public var rows: [Tab: Int] = [:]
    public var filter = ""
    public var editingFilter = false
    public var commandLine: String?
    /// A page of text over the body (an opened item, the help), if one is open.
    public var pager: Pager?
    /// The run Enter opened on the Runs tab, if one is open.
    public var runView: RunView?
    /// Log panes wrap long lines (else they scroll sideways by `logShift` columns).
    public var logWrap = false
    public var logShift = 0
    /// Log panes show `::metric`/`::progress` lines (hidden by default).
    public var showControlLines = false
    public var dialog: Dialog?
    public var notice: (text: String, isError: Bool)?
    public var themeName = "dark"
    public var ascii = false
    public var width = 120
    public var height = 40
    public var followLog = true
    /// Lines scrolled up from the end of the log (when not following).
    public var logScroll = 0
    /// A run started with `r`, until it appears in a snapshot (then it is selected).
    public var awaitedRun: (pipeline: String, pid: Int32)?
    /// The engine's preview of the promote dialog's promotion, per environment.
    public var promotionPreviews: [String: ApprovalService.PromotionPreview] = [:]
    /// "model:version" → its package's verification, in words, and whether it holds.
    public var packageChecks: [String: PackageCheck] = [:]
    /// The approval request the open page shows, if it does.
    public var pagerRequest: Int64?
    public var keyMap = KeyMap.defaults
    /// The Evals tab shows the newest sweep when the pipeline's newest runs
    /// are one (`s` switches to candidate vs production and back).
    public var evalsShowsSweep = true
    public var quit = false

    public init() {}

    public var glyphs: Glyphs { Glyphs(ascii: ascii) }
    /// The Evals tab shows the sweep's ranking rather than candidate vs production.
    public var showingSweep: Bool { evalsShowsSweep && snapshot.sweep != nil }
    /// The selected row; the Deployments tab starts on its last lane
    /// (production, in the usual order): the on-call engineer's first look.
    public var row: Int { rows[tab] ?? (tab == .deployments ? max(0, listCount - 1) : 0) }

    /// Rows of the current tab's list after the filter.
    public var listCount: Int { visibleIndices.count }

    public var visibleIndices: [Int] {
        let items = listTexts
        guard !filter.isEmpty else { return Array(items.indices) }
        let needle = filter.lowercased()
        return items.indices.filter { items[$0].lowercased().contains(needle) }
    }

    /// A text per list row, for the filter.
    var listTexts: [String] {
        let s = snapshot
        switch tab {
        case .runs: return s.runs.map { "\($0.id) \($0.pipeline) \($0.status.rawValue) \($0.trigger) \($0.gitCommit ?? "")" }
        case .evals:
            if showingSweep, let board = s.sweep?.leaderboard {
                return board.entries.map { e in "\(e.run.id) \(e.run.status.rawValue) " + e.overrides.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + " \(e.version?.label ?? "")" }
            }
            return s.comparison?.rows.map(\.metric) ?? []
        case .drift: return DriftScreen.items(self).map(\.text)
        case .registry: return s.versions.map { "\($0.model):\($0.version) \($0.createdBy) \($0.gitCommit ?? "")" }
        case .audit: return s.audit.map { "\($0.seq) \($0.kind) \($0.subject) \($0.actor) \($0.payload)" }
        case .approvals: return s.approvals.map { "\($0.id) \($0.status.rawValue) \($0.model):\($0.version) \($0.environment) \($0.requester) \($0.reasonList.joined(separator: " "))" }
        case .deployments: return s.lanes.map { "\($0.environment) \($0.model ?? "") \($0.live.map(String.init) ?? "")" }
        }
    }

    public var selectedRun: RunRecord? {
        guard tab == .runs else { return snapshot.detail?.run }
        let vis = visibleIndices
        guard row < vis.count else { return nil }
        return snapshot.runs[vis[row]]
    }

    public var selectedRequest: ApprovalRequestRecord? {
        let vis = visibleIndices
        guard tab == .approvals, row < vis.count else { return nil }
        return snapshot.approvals[vis[row]]
    }

    public var selectedLane: DeploymentLane? {
        let vis = visibleIndices
        guard tab == .deployments, row < vis.count else { return nil }
        return snapshot.lanes[vis[row]]
    }

    public var selectedVersion: ModelVersionRecord? {
        let vis = visibleIndices
        guard tab == .registry, row < vis.count else { return nil }
        return snapshot.versions[vis[row]]
    }

    // MARK: - Update

    /// Applies one message; returns the effects to carry out.
    public mutating func update(_ message: Message) -> [Effect] {
        switch message {
        case .data(let snap):
            // With the newest run selected, the selection follows the new newest
            // (as `tail -f` would); otherwise it stays on the same run.
            let runsVisible = tab == .runs ? visibleIndices : []
            let selected = selectedRun?.id
            let followedNewest = selected != nil && selected == runsVisible.first.map { snapshot.runs[$0].id }
            // The demo's status line follows its scenario by itself: a newer step
            // takes the place of a passing notice (an error stays until a key).
            if snap.demoStatus != nil, snap.demoStatus != snapshot.demoStatus, notice?.isError == false { notice = nil }
            snapshot = snap
            if tab == .runs {
                if followedNewest {
                    rows[.runs] = 0
                } else if let selected, let i = visibleIndices.firstIndex(where: { snapshot.runs[$0].id == selected }) {
                    rows[.runs] = i
                }
            }
            // A run started from here: selected as soon as it shows, and named by its number.
            if let awaited = awaitedRun, let i = snapshot.runs.firstIndex(where: { $0.pid == awaited.pid && $0.pipeline == awaited.pipeline }) {
                let run = snapshot.runs[i]
                awaitedRun = nil
                notice = ("started run \(run.id) (\(run.pipeline))", false)
                if tab == .runs {
                    if !filter.isEmpty, !visibleIndices.contains(i) { filter = "" }
                    rows[.runs] = visibleIndices.firstIndex(of: i) ?? 0
                }
            }
            clampRow()
            // What could not be read is said, not shown as an empty list.
            if notice == nil, let problem = snapshot.problems.first { notice = (TerminalText.oneLine(problem), true) }
            // The detail always shows the selected run: ask for it when the snapshot holds another.
            if tab == .runs, let want = selectedRun?.id, snapshot.detail?.run.id != want { return [.select(run: want, model: nil)] }
            return []
        case .notice(let text, let isError):
            notice = (text, isError)
            return []
        case .packageChecked(let label, let text, let ok):
            packageChecks[label] = PackageCheck(text: text, ok: ok)
            // The open evidence page is rebuilt with the verdict, where it was scrolled to.
            if let id = pagerRequest, var p = pager, p.title.hasPrefix("Request \(id):"), let r = snapshot.approvals.first(where: { $0.id == id }) {
                p.lines = ApprovalsScreen.evidence(r, self, full: true).map { Pager.Line($0.0, $0.1, indent: 2) }
                pager = p
            }
            return []
        case .promotionPreview(let previews):
            for p in previews { promotionPreviews[p.environment] = p }
            refreshPromoteDialog()
            return []
        case .started(let pipeline, let pid):
            notice = ("starting a run of \(pipeline)…", false)
            awaitedRun = pid.map { (pipeline, $0) }
            return []
        case .event(.resize(let w, let h)):
            width = w
            height = h
            return []
        case .event(.mouse(let x, let y, let kind)):
            return mouse(x: x, y: y, kind: kind)
        case .event(.key(let key)):
            return self.key(key)
        }
    }

    mutating func clampRow() {
        if rows[tab] == nil && tab == .deployments { return }
        let n = listCount
        rows[tab] = n == 0 ? 0 : min(max(0, row), n - 1)
    }

    mutating func key(_ key: Key) -> [Effect] {
        if key == .ctrl("c") { quit = true; return [.quit] }
        if dialog != nil { return dialogKey(key) }
        if commandLine != nil { return commandKey(key) }
        if editingFilter { return filterKey(key) }
        if var p = pager {
            pager = key == .char("?") || !p.key(key, width: width, height: height) ? nil : p
            if pager == nil { pagerRequest = nil }
            return []
        }
        if runView != nil { return runViewKey(key) }
        guard let action = keyMap.action(for: key, scope: tab.scope) else { return [] }
        return perform(action)
    }
}
