import Foundation

public enum Tab: Int, Sendable, CaseIterable {
    case runs, evals, drift, approvals, registry, deployments, audit

    public var title: String {
        switch self {
        case .runs: return "Runs"
        case .evals: return "Evals"
        case .drift: return "Drift"
        case .approvals: return "Approvals"
        case .registry: return "Registry"
        case .deployments: return "Deployments"
        case .audit: return "Audit"
        }
    }

    var scope: Scope {
        switch self {
        case .runs: return .runs
        case .evals: return .evals
        case .registry: return .registry
        case .approvals: return .approvals
        case .deployments: return .deployments
        default: return .global
        }
    }
}

/// A dialog that asks before anything changes.
public struct Dialog: Sendable, Equatable {
    public enum Purpose: Sendable, Equatable {
        case startRun(pipelines: [String])
        case cancelRun(runID: Int64)
        case promote(model: String, version: Int, environments: [String])
        case vote(requestID: Int64, approve: Bool)
        case rollback(environment: String)
        case abortCanary(environment: String)
        case continueCanary(environment: String)
        case info
    }

    public var title: String
    public var lines: [String]
    public var purpose: Purpose
    /// The choice list (pipelines, environments), if any, and the chosen one.
    public var choices: [String] = []
    public var choice = 0
    public var buttons: [String]
    public var button = 0
    /// A text field (a comment for an approval or rejection), when the dialog has one.
    public var field: (label: String, text: String)?

    public static func == (a: Dialog, b: Dialog) -> Bool {
        a.title == b.title && a.lines == b.lines && a.purpose == b.purpose && a.choices == b.choices && a.choice == b.choice
            && a.buttons == b.buttons && a.button == b.button && a.field?.label == b.field?.label && a.field?.text == b.field?.text
    }
}

/// What the console asks the outside world to do.
public enum Effect: Sendable, Equatable {
    case reload
    case select(run: Int64?, model: String?)
    case startRun(pipeline: String)
    case cancelRun(runID: Int64)
    case promote(model: String, version: Int, environment: String, reason: String)
    /// Ask the engine what promoting to each environment would do (the dialog shows it).
    case previewPromotion(model: String, version: Int, environments: [String])
    /// Verify a version's package (digests, provenance, signatures) for the evidence page.
    case verifyPackage(model: String, version: Int)
    case vote(requestID: Int64, approve: Bool, comment: String)
    case rollback(environment: String, reason: String)
    case abortCanary(environment: String, reason: String)
    case continueCanary(environment: String)
    case setTheme(String)
    case quit
}

public enum Message: Sendable {
    case event(InputEvent)
    case data(ConsoleSnapshot)
    case notice(String, isError: Bool)
    /// A run was launched from the console: its process, until the run shows up.
    case started(pipeline: String, pid: Int32?)
    /// What promoting would do, per environment (``ApprovalService/preview(model:version:environment:now:)``).
    case promotionPreview([ApprovalService.PromotionPreview])
    /// A package's verification, in words, and whether it holds (``PackageVerifier``).
    case packageChecked(label: String, text: String, ok: Bool)
}

/// A package's verification as the evidence shows it.
public struct PackageCheck: Sendable, Equatable {
    public var text: String
    public var ok: Bool
}

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

    mutating func perform(_ action: Action) -> [Effect] {
        notice = nil
        let page = max(1, height - 8)
        switch action {
        case .down: rows[tab] = row + 1; clampRow(); return selectionEffects()
        case .up: rows[tab] = row - 1; clampRow(); return selectionEffects()
        case .top: rows[tab] = 0; return selectionEffects()
        case .bottom: rows[tab] = max(0, listCount - 1); return selectionEffects()
        case .pageDown: rows[tab] = row + page; clampRow(); return selectionEffects()
        case .pageUp: rows[tab] = row - page; clampRow(); return selectionEffects()
        case .open: return open()
        case .back:
            if !filter.isEmpty { filter = ""; clampRow() }
            return []
        case .nextTab: switchTab(Tab(rawValue: (tab.rawValue + 1) % Tab.allCases.count)!); return selectionEffects()
        case .previousTab: switchTab(Tab(rawValue: (tab.rawValue + Tab.allCases.count - 1) % Tab.allCases.count)!); return selectionEffects()
        case .tab1, .tab2, .tab3, .tab4, .tab5, .tab6, .tab7:
            let n = Int(action.rawValue.dropFirst(3))! - 1
            switchTab(Tab(rawValue: n)!)
            return selectionEffects()
        case .filter: editingFilter = true; filter = ""; return []
        case .nextMatch, .previousMatch:
            guard listCount > 0 else { return [] }
            rows[tab] = (row + (action == .nextMatch ? 1 : listCount - 1)) % listCount
            return selectionEffects()
        case .command: commandLine = ""; return []
        case .help: pager = helpPager(); return []
        case .logWrap: logWrap.toggle(); logShift = 0; notice = (logWrap ? "log lines wrap" : "log lines whole: ←/→ scroll sideways", false); return []
        case .logLeft: logShift = max(0, logShift - max(8, width / 4)); return []
        case .logRight: if !logWrap { logShift += max(8, width / 4) }; return []
        case .controlLines:
            showControlLines.toggle()
            notice = (showControlLines ? "::metric and ::progress lines shown" : "::metric and ::progress lines hidden", false)
            return []
        case .quit, .forceQuit: quit = true; return [.quit]
        case .toggleSweep:
            guard let sweep = snapshot.sweep else {
                notice = ("no sweep to show: the pipeline's newest run is not a member of one (`slipway run --sweep`)", true)
                return []
            }
            evalsShowsSweep.toggle()
            filter = ""
            rows[.evals] = 0
            notice = (evalsShowsSweep ? "the sweep of \(sweep.sweptKeys.joined(separator: ", ")), ranked by \(sweep.leaderboard.metric)" : "candidate vs production", false)
            return []
        case .refresh: return [.reload]
        case .follow: followLog.toggle(); logScroll = 0; notice = (followLog ? "following the log" : "log paused", false); return []
        case .logUp: followLog = false; logScroll += max(1, height / 4); return []
        case .logDown:
            logScroll = max(0, logScroll - max(1, height / 4))
            if logScroll == 0 { followLog = true }
            return []
        case .startRun:
            let pipelines = snapshot.pipelines
            guard !pipelines.isEmpty else { notice = ("cannot start a run: slipway.yaml declares no pipeline (or does not parse)", true); return [] }
            dialog = Dialog(title: "Start a run?", lines: ["Runs the chosen pipeline now, in the background,", "as `slipway run PIPELINE` would."],
                            purpose: .startRun(pipelines: pipelines), choices: pipelines, buttons: ["Start", "Cancel"])
            return []
        case .cancelRun:
            guard let run = selectedRun else { notice = ("no run selected", true); return [] }
            guard run.status == .running else { notice = ("run \(run.id) is \(run.status.rawValue): only a running run can be cancelled", true); return [] }
            let running = snapshot.detail?.run.id == run.id ? snapshot.detail!.stages.filter { $0.status == .running }.map(\.stage) : []
            dialog = Dialog(title: "Cancel run \(run.id)?",
                            lines: ["Stops run \(run.id) (\(run.pipeline)) on \(run.host):",
                                    running.isEmpty ? "its running stages get SIGTERM, then SIGKILL after 5 s;"
                                                    : "stage \(running.joined(separator: ", ")) gets SIGTERM, then SIGKILL after 5 s;",
                                    "stages not yet started are cancelled; finished ones stay cached."],
                            purpose: .cancelRun(runID: run.id), buttons: ["Cancel the run", "Keep it running"])
            return []
        case .approve, .reject:
            guard let r = selectedRequest else { notice = ("select a request in the Approvals tab first", true); return [] }
            guard r.status == .pending else { notice = ("request \(r.id) is \(r.status.rawValue): nothing to sign", true); return [] }
            let approving = action == .approve
            if let why = snapshot.voteBlocks[r.id] {
                // Said before anything is typed or signed: the engine would refuse this vote.
                dialog = Dialog(title: "You cannot vote on request \(r.id)", lines: [why, "Requested by \(r.requester); it needs \(r.requiredApprovals) approval\(r.requiredApprovals == 1 ? "" : "s") from other approvers."],
                                purpose: .info, buttons: ["Close"])
                return []
            }
            let votes = snapshot.approvalVotes[r.id] ?? []
            let approvals = votes.filter { $0.decision == .approve }.count
            let expires = max(0, (r.expiresAt - snapshot.now) / 1000)
            dialog = Dialog(
                title: (approving ? "Approve " : "Reject ") + "\(r.model):\(r.version) → \(r.environment)?",
                lines: ["Risk: HIGH — " + r.reasonList.joined(separator: "; "),
                        "Requested by \(r.requester) · \(Widgets.age(r.createdAt, now: snapshot.now)) ago · expires \(Widgets.inWords(Double(expires)))",
                        "Reason: " + TerminalText.oneLine(r.reason.flatMap { $0.isEmpty ? nil : $0 } ?? "(none given)"),
                        "Approvals: \(approvals) of \(r.requiredApprovals)"]
                    + votes.map { "  · \($0.approver) \(Widgets.pastTense($0.decision))" + ($0.comment.isEmpty ? "" : ": " + TerminalText.oneLine($0.comment)) }
                    + ["Package: \(r.packageDigest ?? "—")",
                        "Signs: request \(r.id), \(r.model):\(r.version) → \(r.environment), the package digest, \(approving ? "approve" : "reject"), your comment, the time",
                        "Signing as: " + (snapshot.signer ?? "no key found (start the console with --key FILE)")],
                purpose: .vote(requestID: r.id, approve: approving), buttons: [approving ? "Approve and sign" : "Reject and sign", "Cancel"])
            dialog?.field = (approving ? "Comment (optional)" : "Comment (required)", "")
            return []
        case .rollback:
            guard let l = selectedLane else { notice = ("select an environment in the Deployments tab first", true); return [] }
            guard let model = l.model, let target = l.rollbackTarget else {
                notice = (l.model == nil ? "nothing is live in \(l.environment): nothing to roll back"
                          : "\(l.model!) has no earlier version in \(l.environment) to go back to", true)
                return []
            }
            var lines: [String]
            if let d = l.deployment, d.state == .progressing || d.state == .paused {
                lines = ["Aborts the canary of \(model):\(d.version) (at \(d.traffic)%):",
                         "\(model):\(target) goes back to 100% of the traffic in \(l.environment), now."]
            } else {
                lines = ["Puts \(model):\(target) live in \(l.environment) instead of \(model):\(l.live.map(String.init) ?? "—"), now."]
            }
            lines.append("No approval needed: it was live before. Who, when and why are recorded.")
            dialog = Dialog(title: "Roll back \(l.environment) to \(model):\(target)?", lines: lines,
                            purpose: .rollback(environment: l.environment), buttons: ["Roll back", "Cancel"])
            dialog?.field = ("Reason (optional)", "")
            return []
        case .abortCanary, .continueCanary:
            guard let l = selectedLane else { notice = ("select an environment in the Deployments tab first", true); return [] }
            guard let d = l.deployment, d.state.isActive else { notice = ("nothing is in flight in \(l.environment)", true); return [] }
            if action == .continueCanary {
                guard d.state == .paused else { notice = ("the canary of :\(d.version) in \(l.environment) is \(d.state.rawValue), not paused", true); return [] }
                let steps = d.stepList
                let next = d.step + 1 < steps.count ? "\(steps[d.step + 1])%" : "100% (the last step)"
                dialog = Dialog(title: "Continue the canary of \(d.model):\(d.version) in \(l.environment)?",
                                lines: [Self.pausedLine(traffic: d.traffic, detail: d.detail), "Continuing counts this step as passed: next \(next)."],
                                purpose: .continueCanary(environment: l.environment), buttons: ["Continue", "Cancel"])
            } else {
                dialog = Dialog(title: "Abort the deployment of \(d.model):\(d.version) in \(l.environment)?",
                                lines: ["\(d.model):\(d.version) is at \(d.traffic)% (\(d.state.rawValue)).",
                                        d.stableVersion.map { "\(d.model):\($0) goes back to 100% of the traffic, now." } ?? "Nothing was live before it."],
                                purpose: .abortCanary(environment: l.environment), buttons: ["Abort", "Cancel"])
                dialog?.field = ("Reason (optional)", "")
            }
            return []
        case .promote:
            guard let v = selectedVersion else { notice = ("select a version in the Registry tab first", true); return [] }
            let envs = snapshot.environments
            guard !envs.isEmpty else { notice = ("cannot promote: slipway.yaml declares no environments", true); return [] }
            dialog = Dialog(title: "Promote \(v.model):\(v.version)?", lines: [],
                            purpose: .promote(model: v.model, version: v.version, environments: envs), choices: envs,
                            choice: envs.firstIndex(of: "production") ?? 0, buttons: ["Promote", "Cancel"])
            dialog?.field = ("Reason (recorded; approvers see it)", "")
            promotionPreviews = [:]
            refreshPromoteDialog()
            return [.previewPromotion(model: v.model, version: v.version, environments: envs)]
        }
    }

    /// "Paused at 10%: inconclusive (…)": the detail's own "paused at 10%" is not said twice.
    static func pausedLine(traffic: Int, detail: String) -> String {
        let head = "Paused at \(traffic)%"
        let own = "paused at \(traffic)%"
        var rest = detail.trimmingCharacters(in: .whitespaces)
        if rest.lowercased().hasPrefix(own) { rest = String(rest.dropFirst(own.count)).trimmingCharacters(in: CharacterSet(charactersIn: ":;·- ")) }
        return rest.isEmpty ? head : "\(head): \(TerminalText.oneLine(rest))"
    }

    /// The promote dialog's lines for the chosen environment: what changes,
    /// and the engine's warnings (high risk and its approvals, a recent rollback).
    mutating func refreshPromoteDialog() {
        guard var d = dialog, case .promote(let model, let version, let envs) = d.purpose, d.choice < envs.count else { return }
        let env = envs[d.choice]
        let live = snapshot.models.first { $0.name == model }?.environments ?? [:]
        var lines = ["Makes \(model):\(version) the live version in the chosen environment (↑/↓ choose).",
                     "Now live: " + (envs.map { "\($0) \(live[$0].map { ":\($0)" } ?? "—")" }.joined(separator: ", "))]
        if let p = promotionPreviews[env] { lines += p.warnings } else { lines.append("Checking the policy for \(env)…") }
        lines.append("Recorded in the alias history and the audit trail.")
        d.lines = lines
        dialog = d
    }

    mutating func switchTab(_ t: Tab) {
        tab = t
        filter = ""
        editingFilter = false
        clampRow()
    }

    /// On the Runs tab, a new selection asks for that run's details.
    func selectionEffects() -> [Effect] {
        tab == .runs ? [.select(run: selectedRun?.id, model: nil)] : []
    }

    mutating func dialogKey(_ key: Key) -> [Effect] {
        guard var d = dialog else { return [] }
        // A dialog with a text field takes printable keys as text.
        if var field = d.field {
            switch key {
            case .char(let c):
                field.text.append(c)
                d.field = field
                dialog = d
                return []
            case .backspace:
                if !field.text.isEmpty { field.text.removeLast() }
                d.field = field
                dialog = d
                return []
            default: break
            }
        }
        switch key {
        case .escape: dialog = nil; return []
        case .char("j"), .down: if !d.choices.isEmpty { d.choice = min(d.choices.count - 1, d.choice + 1); dialog = d; refreshPromoteDialog(); return [] }
        case .char("k"), .up: if !d.choices.isEmpty { d.choice = max(0, d.choice - 1); dialog = d; refreshPromoteDialog(); return [] }
        case .tab, .right, .char("l"): d.button = (d.button + 1) % d.buttons.count
        case .backTab, .left, .char("h"): d.button = (d.button + d.buttons.count - 1) % d.buttons.count
        case .enter:
            if d.button == 0, case .vote(_, false) = d.purpose, (d.field?.text ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
                notice = ("a rejection needs a comment saying why", true)
                return []
            }
            dialog = nil
            guard d.button == 0 else { return [] }
            return confirm(d)
        default: break
        }
        dialog = d
        return []
    }

    /// The effect of confirming a dialog.
    func confirm(_ d: Dialog) -> [Effect] {
        switch d.purpose {
        case .startRun(let pipelines): return [.startRun(pipeline: pipelines[d.choice])]
        case .cancelRun(let id): return [.cancelRun(runID: id)]
        case .promote(let model, let version, let envs):
            return [.promote(model: model, version: version, environment: envs[d.choice], reason: d.field?.text.trimmingWhitespace() ?? "")]
        case .vote(let id, let approve): return [.vote(requestID: id, approve: approve, comment: d.field?.text ?? "")]
        case .rollback(let env): return [.rollback(environment: env, reason: d.field?.text ?? "")]
        case .abortCanary(let env): return [.abortCanary(environment: env, reason: d.field?.text ?? "")]
        case .continueCanary(let env): return [.continueCanary(environment: env)]
        case .info: return []
        }
    }

    mutating func filterKey(_ key: Key) -> [Effect] {
        switch key {
        case .escape: editingFilter = false; filter = ""
        case .enter: editingFilter = false
        case .backspace: if !filter.isEmpty { filter.removeLast() }
        case .char(let c): filter.append(c); rows[tab] = 0
        default: break
        }
        clampRow()
        return []
    }

    mutating func commandKey(_ key: Key) -> [Effect] {
        guard var line = commandLine else { return [] }
        switch key {
        case .escape: commandLine = nil; return []
        case .backspace: if line.isEmpty { commandLine = nil; return [] }; line.removeLast()
        case .char(let c): line.append(c)
        case .enter:
            commandLine = nil
            return run(command: line.trimmingWhitespace())
        default: break
        }
        commandLine = line
        return []
    }

    /// `:runs`, `:evals` … `:audit`, `:theme NAME`, `:ascii`, `:q`.
    mutating func run(command: String) -> [Effect] {
        let parts = command.split(separator: " ").map(String.init)
        guard let name = parts.first else { return [] }
        if let t = Tab.allCases.first(where: { $0.title.lowercased() == name.lowercased() }) { switchTab(t); return selectionEffects() }
        switch name {
        case "q", "quit": quit = true; return [.quit]
        case "theme":
            guard parts.count == 2 else { notice = ("usage: :theme NAME (dark, light, high-contrast, monochrome)", true); return [] }
            return [.setTheme(parts[1])]
        case "ascii": ascii.toggle(); return []
        case "help": pager = helpPager(); return []
        case "run": return perform(.startRun)
        default:
            notice = ("unknown command :\(name); try :runs, :evals, :drift, :approvals, :registry, :deployments, :audit, :theme NAME, :ascii, :q", true)
            return []
        }
    }

    mutating func mouse(x: Int, y: Int, kind: MouseKind) -> [Effect] {
        if dialog == nil, pager != nil {
            if kind == .wheelDown { _ = pager!.key(.down, width: width, height: height) }
            if kind == .wheelUp { _ = pager!.key(.up, width: width, height: height) }
            return []
        }
        if dialog == nil, let v = runView {
            switch kind {
            case .wheelDown: return runViewKey(.char("]"))
            case .wheelUp: return runViewKey(.char("["))
            case .click:
                // The row clicked, in the picker as it is drawn (scrolled, members under their matrix stage).
                if x < RunViewScreen.pickerWidth(width), y >= 3, let d = snapshot.detail, d.run.id == v.runID {
                    let lines = RunViewScreen.pickerWindow(StageGroups.make(d.stages), v, visible: height - 6)
                    if y - 3 < lines.count, case .stage(let i, _) = lines[y - 3] {
                        runView?.stage = i
                        runView?.logTop = nil
                    }
                }
                return []
            }
        }
        switch kind {
        case .wheelDown: return perform(.down)
        case .wheelUp: return perform(.up)
        case .click:
            if y == 1 {
                // The tab bar: find which title was clicked.
                var col = 1
                let labels = ConsoleView.tabLabels(width: width)
                for t in Tab.allCases {
                    let label = labels[t.rawValue]
                    if x >= col && x < col + label.count { switchTab(t); return selectionEffects() }
                    col += label.count + 1
                }
                return []
            }
            if let d = dialog, let (bx, by, bw) = ConsoleView.dialogFrame(d, width: width, height: height) {
                let buttonsY = by + ConsoleView.dialogHeight(d, width: bw) - 2
                if y == buttonsY {
                    var col = bx + 2
                    for (i, label) in d.buttons.enumerated() {
                        let w = label.count + 4
                        if x >= col && x < col + w { dialog?.button = i; return dialogKey(.enter) }
                        col += w + 2
                    }
                }
                return []
            }
            // A row of the main list.
            let listTop = ConsoleView.listTop
            if y >= listTop && y < height - 2 {
                let offset = ConsoleView.scrollOffset(row: row, visible: height - 2 - listTop - 1)
                let target = y - listTop + offset
                if target < listCount { rows[tab] = target; return selectionEffects() }
            }
            return []
        }
    }
}
