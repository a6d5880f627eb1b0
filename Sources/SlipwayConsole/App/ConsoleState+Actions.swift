import Foundation

/// What each action of the key map does to the state (tabs, selection, dialogs
/// it opens), and the effects it asks the app to carry out.
extension ConsoleState {
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
            guard !pipelines.isEmpty else { notice = ("cannot start a run: slipway.yaml declares no pipeline (or the spec does not load)", true); return [] }
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
}
