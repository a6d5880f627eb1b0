import Foundation
import Testing
@testable import SlipwayConsole
@testable import SlipwayStore
@testable import SlipwayEngine

@Suite(.serialized) struct ConsoleScreenTests {
    static let seeded: (Workspace, RegistryConnection) = try! seededWorkspace()

    func state(width: Int, height: Int, ascii: Bool = false, selectedRun: Int64? = nil) -> ConsoleState {
        let (ws, registry) = Self.seeded
        var s = ConsoleState()
        s.width = width
        s.height = height
        s.ascii = ascii
        let loader = ConsoleLoader(workspace: ws, registry: registry)
        while !loader.verifyMore(slice: 4) {}  // several slices, as the poller does
        _ = s.update(.data(normalized(loader.load(selectedRun: selectedRun, selectedModel: nil))))
        return s
    }

    @Test(arguments: [(80, 24), (120, 40)])
    func everyTab(size: (Int, Int)) {
        for tab in Tab.allCases {
            var s = state(width: size.0, height: size.1)
            s.tab = tab
            assertSnapshot(styled(ConsoleView.render(s)), named: "\(tab.title.lowercased())-\(size.0)x\(size.1)")
        }
    }

    @Test func asciiVariant() {
        for tab in [Tab.runs, .evals, .drift] {
            var s = state(width: 120, height: 40, ascii: true)
            s.tab = tab
            let text = ConsoleView.render(s).text
            #expect(text.unicodeScalars.allSatisfy { $0.isASCII }, "\(tab) has non-ASCII")
            assertSnapshot(text, named: "\(tab.title.lowercased())-ascii")
        }
    }

    @Test func noColorKeepsStateReadableWithoutColour() {
        // Monochrome: the same words and symbols; emphasis by attributes only.
        let theme = ResolvedTheme(try! Theme.named("dark"), colors: 256, noColor: true)
        #expect(theme.depth == .none)
        #expect(theme.index.values.allSatisfy { $0 == -1 })
        let s = state(width: 120, height: 40)
        let text = ConsoleView.render(s).text
        #expect(text.contains("✓") && text.contains("✗") && text.contains("●"))
        #expect(text.contains("failed") || text.contains("✗"))
    }

    @Test func noColorVariant() {
        // Frames carry roles, not colours: with NO_COLOR the words and symbols below
        // are all there is, so every state must read from them alone.
        for tab in [Tab.runs, .evals, .audit] {
            var s = state(width: 120, height: 40)
            s.themeName = "monochrome"
            s.tab = tab
            assertSnapshot(ConsoleView.render(s).text, named: "\(tab.title.lowercased())-no-color")
        }
    }

    @Test func tooSmallAsksToEnlarge() {
        let s = state(width: 60, height: 20)
        assertSnapshot(ConsoleView.render(s).text, named: "too-small")
    }

    @Test func brokenAuditChainShowsARedBanner() throws {
        let (ws, registry) = Self.seeded
        let copy = NSTemporaryDirectory() + "slipway-broken-\(UUID().uuidString.prefix(6))"
        try FileManager.default.copyItem(atPath: ws.root, toPath: copy)
        _ = registry
        // Rewrite one event's actor behind the registry's back (the triggers are dropped first).
        let db = copy + "/.slipway/registry.sqlite"
        let sql = "DROP TRIGGER auditEvent_no_update; UPDATE auditEvent SET actor = 'eve' WHERE seq = 7;"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()", db, sql]
        try p.run()
        p.waitUntilExit()
        let broken = Workspace(root: copy)
        let loader = ConsoleLoader(workspace: broken, registry: try broken.connect())
        #expect(loader.verifyMore())
        var s = ConsoleState()
        s.tab = .audit
        _ = s.update(.data(normalized(loader.load(selectedRun: nil, selectedModel: nil))))
        let text = ConsoleView.render(s).text
        #expect(text.contains("AUDIT CHAIN DOES NOT VERIFY: event 7 was altered"))
        #expect(text.contains("AUDIT CHAIN BROKEN"))
    }

    /// The console judges the chain as `slipway status` does, head witness
    /// included: events cut from the end of the trail show as broken.
    @Test func truncatedTailShowsBrokenLikeStatus() throws {
        let (ws, _) = Self.seeded
        let copy = NSTemporaryDirectory() + "slipway-truncated-\(UUID().uuidString.prefix(6))"
        try FileManager.default.copyItem(atPath: ws.root, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let db = copy + "/.slipway/registry.sqlite"
        let sql = "DROP TRIGGER auditEvent_no_delete; DELETE FROM auditEvent WHERE seq = (SELECT MAX(seq) FROM auditEvent);"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()", db, sql]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let truncated = Workspace(root: copy)
        let registry = try truncated.connect()
        let loader = ConsoleLoader(workspace: truncated, registry: registry)
        while !loader.verifyMore(slice: 3) {}
        var s = ConsoleState()
        s.tab = .audit
        _ = s.update(.data(normalized(loader.load(selectedRun: nil, selectedModel: nil))))
        let text = ConsoleView.render(s).text
        #expect(text.contains("AUDIT CHAIN BROKEN"))
        #expect(text.contains("the newest, was removed"))
        // The same verdict `slipway status` reports.
        let status = try StatusQuery(workspace: truncated, registry: registry, spec: nil).report(now: 0)
        guard case .broken(let problem) = status.audit else { Issue.record("status says \(status.audit)"); return }
        #expect(text.contains(String(problem.message.prefix(30))))
    }

    /// A record altered behind the registry's back (found by `audit verify`)
    /// shows in the console as it does in `status`.
    @Test func aProblemTheFullVerificationFoundShowsInTheConsole() throws {
        let (ws, _) = Self.seeded
        let copy = NSTemporaryDirectory() + "slipway-record-\(UUID().uuidString.prefix(6))"
        try FileManager.default.copyItem(atPath: ws.root, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()",
                       copy + "/.slipway/registry.sqlite", "UPDATE aliasEvent SET reason = reason || ' (edited)'"]
        try p.run()
        p.waitUntilExit()
        let tampered = Workspace(root: copy)
        let registry = try tampered.connect()
        let full = try AuditVerifier(registry: registry, workspace: tampered).verify()
        let problem = try #require(full.problem)
        let loader = ConsoleLoader(workspace: tampered, registry: registry)
        while !loader.verifyMore(slice: 5) {}
        let snap = loader.load(selectedRun: nil, selectedModel: nil)
        #expect(snap.auditProblem == problem.message)
        guard case .broken = try AuditVerifier(registry: registry, workspace: tampered).quickCheck() else {
            Issue.record("status does not report it"); return
        }
    }

    @Test func escapeSequencesInLogsNeverReachTheScreen() {
        var s = state(width: 120, height: 40, selectedRun: 1)
        _ = s.update(.event(.key(.char("G"))))  // run 1, the detail loaded above
        let text = ConsoleView.render(s).text
        #expect(!text.contains("\u{1B}"))
        #expect(!text.contains("\u{07}"))
        #expect(text.contains("epoch 3/3 loss=0.41"))
    }

    @Test func helpAndDialogs() {
        var s = state(width: 120, height: 40)
        _ = s.update(.event(.key(.char("?"))))
        assertSnapshot(ConsoleView.render(s).text, named: "help-120x40")
        _ = s.update(.event(.key(.escape)))
        _ = s.update(.event(.key(.char("r"))))
        assertSnapshot(ConsoleView.render(s).text, named: "dialog-start-run")
        _ = s.update(.event(.key(.escape)))
        _ = s.update(.event(.key(.char("5"))))
        _ = s.update(.event(.key(.char("p"))))
        assertSnapshot(ConsoleView.render(s).text, named: "dialog-promote")
    }
}

@Suite struct ConsoleUpdateTests {
    func loaded() -> ConsoleState {
        var s = ConsoleState()
        var snap = ConsoleSnapshot()
        snap.pipelines = ["weather", "nightly"]
        snap.environments = ["staging", "production"]
        let base = RunRecord(id: 0, pipeline: "weather", trigger: "manual", status: .succeeded, startedAt: 0, endedAt: 1, pid: 1, host: Provenance.hostName(),
                             heartbeatAt: 0, user: "ana", gitCommit: nil, gitDirty: nil, slipwayVersion: "0", message: nil)
        snap.runs = (1...30).reversed().map { i in var r = base; r.id = Int64(i); r.status = i == 30 ? .running : (i % 7 == 0 ? .failed : .succeeded); return r }
        snap.models = [ModelSummary(name: "clf", latestVersion: 2, versionCount: 2, environments: ["production": 1])]
        snap.versions = [2, 1].map { ModelVersionRecord(id: Int64($0), model: "clf", version: $0, runID: Int64($0), pipeline: "weather", gitCommit: nil,
                                                        artifactDigest: "d", createdAt: 0, createdBy: "ana", description: "", tags: [:]) }
        _ = s.update(.data(snap))
        return s
    }

    @Test func movingAndPaging() {
        var s = loaded()
        #expect(s.row == 0 && s.selectedRun?.id == 30)
        _ = s.update(.event(.key(.char("j"))))
        _ = s.update(.event(.key(.down)))
        #expect(s.selectedRun?.id == 28)
        _ = s.update(.event(.key(.char("G"))))
        #expect(s.selectedRun?.id == 1)
        _ = s.update(.event(.key(.char("g"))))
        #expect(s.row == 0)
        _ = s.update(.event(.key(.pageDown)))
        #expect(s.row == 29)  // clamped to the last row
        _ = s.update(.event(.key(.char("k"))))
        #expect(s.row == 28)
    }

    @Test func tabsByNumberTabAndMouse() {
        var s = loaded()
        _ = s.update(.event(.key(.char("7"))))
        #expect(s.tab == .audit)
        _ = s.update(.event(.key(.tab)))
        #expect(s.tab == .runs)
        _ = s.update(.event(.key(.backTab)))
        #expect(s.tab == .audit)
        _ = s.update(.event(.mouse(x: 10, y: 1, kind: .click)))  // " 2 Evals "
        #expect(s.tab == .evals)
    }

    @Test func mouseSelectsRowsAndPressesButtons() {
        var s = loaded()
        _ = s.update(.event(.mouse(x: 10, y: ConsoleView.listTop + 3, kind: .click)))
        #expect(s.selectedRun?.id == 27)
        _ = s.update(.event(.mouse(x: 10, y: 10, kind: .wheelDown)))
        #expect(s.selectedRun?.id == 26)
        _ = s.update(.event(.key(.char("r"))))
        let d = s.dialog!
        let (bx, by, bw) = ConsoleView.dialogFrame(d, width: s.width, height: s.height)!
        let buttonsY = by + ConsoleView.dialogHeight(d, width: bw) - 2
        // The second button, "[ Cancel ]", starts after "[ Start ]" and two spaces.
        let effects = s.update(.event(.mouse(x: bx + 2 + "[ Start ]".count + 2 + 1, y: buttonsY, kind: .click)))
        #expect(effects.isEmpty && s.dialog == nil)
        _ = s.update(.event(.key(.char("r"))))
        #expect(s.update(.event(.mouse(x: bx + 3, y: buttonsY, kind: .click))) == [.startRun(pipeline: "weather")])
    }

    @Test func filterWithNextAndPrevious() {
        var s = loaded()
        for key in ["/", "f", "a", "i", "l"] { _ = s.update(.event(.key(.char(Character(key))))) }
        _ = s.update(.event(.key(.enter)))
        #expect(s.listCount == 4)  // runs 28, 21, 14, 7 failed
        #expect(s.selectedRun?.id == 28)
        _ = s.update(.event(.key(.char("n"))))
        #expect(s.selectedRun?.id == 21)
        _ = s.update(.event(.key(.char("N"))))
        _ = s.update(.event(.key(.char("N"))))
        #expect(s.selectedRun?.id == 7)
        _ = s.update(.event(.key(.escape)))
        #expect(s.listCount == 30)
    }

    @Test func cancelNeedsARunningRunAndAConfirmation() {
        var s = loaded()
        _ = s.update(.event(.key(.char("j"))))
        _ = s.update(.event(.key(.char("c"))))
        #expect(s.dialog == nil)
        #expect(s.notice?.text == "run 29 is succeeded: only a running run can be cancelled")
        _ = s.update(.event(.key(.char("k"))))
        _ = s.update(.event(.key(.char("c"))))
        #expect(s.dialog?.title == "Cancel run 30?")
        // Tab to "Keep it running": nothing happens.
        _ = s.update(.event(.key(.tab)))
        #expect(s.update(.event(.key(.enter))).isEmpty)
        _ = s.update(.event(.key(.char("c"))))
        #expect(s.update(.event(.key(.enter))) == [.cancelRun(runID: 30)])
    }

    @Test func startRunChoosesThePipeline() {
        var s = loaded()
        _ = s.update(.event(.key(.char("r"))))
        _ = s.update(.event(.key(.down)))
        #expect(s.update(.event(.key(.enter))) == [.startRun(pipeline: "nightly")])
    }

    @Test func promoteFromTheRegistry() {
        var s = loaded()
        _ = s.update(.event(.key(.char("p"))))
        #expect(s.dialog == nil)  // p means nothing on the Runs tab
        _ = s.update(.event(.key(.char("5"))))
        #expect(s.update(.event(.key(.char("p")))) == [.previewPromotion(model: "clf", version: 2, environments: ["staging", "production"])])
        #expect(s.dialog?.title == "Promote clf:2?")
        #expect(s.dialog?.choices[s.dialog!.choice] == "production")
        #expect(s.update(.event(.key(.enter))) == [.promote(model: "clf", version: 2, environment: "production", reason: "")])
    }

    @Test func commandLine() {
        var s = loaded()
        for c in ":theme light" { _ = s.update(.event(.key(.char(c)))) }
        #expect(s.update(.event(.key(.enter))) == [.setTheme("light")])
        for c in ":audit" { _ = s.update(.event(.key(.char(c)))) }
        _ = s.update(.event(.key(.enter)))
        #expect(s.tab == .audit)
        for c in ":bogus" { _ = s.update(.event(.key(.char(c)))) }
        _ = s.update(.event(.key(.enter)))
        #expect(s.notice?.isError == true)
        for c in ":q" { _ = s.update(.event(.key(.char(c)))) }
        #expect(s.update(.event(.key(.enter))) == [.quit])
    }

    @Test func dialogTextFieldTakesTypedText() {
        var s = loaded()
        s.dialog = Dialog(title: "Reject clf:2?", lines: ["Rejects the promotion."], purpose: .info, buttons: ["Reject", "Cancel"],
                          field: ("Comment", ""))
        for c in "not yet, q" { _ = s.update(.event(.key(.char(c)))) }
        _ = s.update(.event(.key(.backspace)))
        #expect(s.dialog?.field?.text == "not yet, ")
        #expect(!s.quit)  // `q` went into the field
        let frame = ConsoleView.render(s).text
        #expect(frame.contains("Comment: not yet, ▏"))
        _ = s.update(.event(.key(.escape)))
        #expect(s.dialog == nil)
    }

    @Test func logScrollStopsAndResumesFollowing() {
        var s = loaded()
        _ = s.update(.event(.key(.char("["))))
        #expect(!s.followLog && s.logScroll > 0)
        _ = s.update(.event(.key(.char("]"))))
        #expect(s.followLog && s.logScroll == 0)
    }

    @Test func ctrlCAlwaysQuits() {
        var s = loaded()
        _ = s.update(.event(.key(.char("r"))))
        #expect(s.update(.event(.key(.ctrl("c")))) == [.quit])
        #expect(s.quit)
    }

    @Test func newRunsKeepTheSelection() {
        var s = loaded()
        _ = s.update(.event(.key(.char("j"))))
        #expect(s.selectedRun?.id == 29)
        var snap = s.snapshot
        var newer = snap.runs[0]
        newer.id = 31
        snap.runs.insert(newer, at: 0)
        _ = s.update(.data(snap))
        #expect(s.selectedRun?.id == 29)
    }

    @Test func withTheNewestSelectedTheSelectionFollowsNewRuns() {
        var s = loaded()
        #expect(s.selectedRun?.id == 30)
        var snap = s.snapshot
        var newer = snap.runs[0]
        newer.id = 31
        snap.runs.insert(newer, at: 0)
        // The snapshot's detail is still run 30's: the new selection asks for run 31's.
        snap.detail = .init(run: snap.runs[1], stages: [], series: [:], logTail: [], logStage: nil)
        let effects = s.update(.data(snap))
        #expect(s.selectedRun?.id == 31)
        #expect(effects == [.select(run: 31, model: nil)])
        // Once the detail is the selected run's, nothing more is asked.
        snap.detail = .init(run: snap.runs[0], stages: [], series: [:], logTail: [], logStage: nil)
        #expect(s.update(.data(snap)).isEmpty)
        s.width = 120
        s.height = 40
        #expect(!styled(ConsoleView.render(s)).contains("loading…"))
    }

    func runningStage(progress: (Int64, Int64)?, previous: Double?, job: JobStatus? = nil) -> ConsoleState {
        var s = loaded()
        s.width = 120
        s.height = 30
        var snap = s.snapshot
        let run = snap.runs[0]
        var stage = StageRunRecord(id: 1, runID: run.id, stage: "train", status: .running, startedAt: 0, reason: "param changed: lr")
        stage.progressDone = progress?.0
        stage.progressTotal = progress?.1
        stage.jobStatus = job
        snap.now = 53_000
        snap.detail = .init(run: run, stages: [stage], series: [:], logTail: [], logStage: "train",
                            previousDurations: previous.map { ["train": $0] } ?? [:])
        _ = s.update(.data(snap))
        return s
    }

    @Test func progressBarsDoNotLie() {
        // Reported progress: a real fraction and an ETA from the pace so far (53 s for 25 of 100 → 2:39 to go).
        let reported = styled(ConsoleView.render(runningStage(progress: (25, 100), previous: 6)))
        #expect(reported.contains("25%"))
        #expect(reported.contains("25/100 · ETA 2:39"))
        // No progress reported: elapsed against the last run's time, as words; no bar pinned at 99 %.
        let unreported = styled(ConsoleView.render(runningStage(progress: nil, previous: 6)))
        #expect(unreported.contains("0:53 · last 0:06"))
        #expect(!unreported.contains("99%") && !unreported.contains("█"))
    }

    /// A stage on a cluster: where its job waits, and why, or where it runs.
    @Test func aClusterJobShowsWhyItWaitsAndWhereItRuns() {
        let pending = styled(ConsoleView.render(runningStage(progress: nil, previous: nil, job: JobStatus(
            executor: "slurm", jobID: "4242", state: "PENDING", reason: "QOSMaxJobsPerUserLimit", requested: "partition=gpu gres=gpu:1"))))
        #expect(pending.contains("● train          0:53  pending: QOSMaxJobsPerUserLimit · slurm"))
        let running = styled(ConsoleView.render(runningStage(progress: (1, 4), previous: nil, job: JobStatus(
            executor: "slurm", jobID: "4242", state: "RUNNING", node: "gpu-07", elapsed: 12))))
        #expect(running.contains("25% on gpu-07 · slurm job"))
    }

    func withRequest() -> ConsoleState {
        var s = loaded()
        s.width = 120
        s.height = 40
        var snap = s.snapshot
        let evidence = #"{"candidate":"clf:2","live":"clf:1","reasons":["params changed: model.arch (gbm → mlp)"],"#
            + #""params":[{"param":"model.arch","live":"gbm","candidate":"mlp"}],"metrics":[{"metric":"accuracy","live":0.9,"candidate":0.91,"delta":0.01}],"#
            + #""data":[],"commits":["5e0a1f2 switch to an MLP"],"package":"sha256:abc"}"#
        snap.approvals = [ApprovalRequestRecord(id: 1, model: "clf", version: 2, environment: "production", packageDigest: "sha256:abc",
                                                reasons: #"["params changed: model.arch (gbm → mlp)"]"#, evidence: evidence, requester: "ana",
                                                createdAt: 0, expiresAt: 7 * 86_400_000, requiredApprovals: 2, status: .pending, resolvedAt: nil)]
        snap.approvalVotes = [1: [ApprovalVoteRecord(id: 1, requestID: 1, approver: "Sam Lee", keyFingerprint: "SHA256:x", decision: .approve,
                                                     comment: "fine by me", at: 0, payload: "{}", signature: "")]]
        snap.signer = "Dana Ruiz (key SHA256:dana)"
        snap.now = 3_600_000
        _ = s.update(.data(snap))
        return s
    }

    @Test func approvingFromTheApprovalsTab() {
        var s = withRequest()
        _ = s.update(.event(.key(.char("4"))))
        let tab = styled(ConsoleView.render(s))
        #expect(tab.contains("Approvals (1 pending)"))
        #expect(tab.contains("◆ 1 approval"))
        #expect(tab.contains("param model.arch: gbm → mlp"))
        #expect(tab.contains("commit 5e0a1f2 switch to an MLP"))
        #expect(tab.contains("Sam Lee approved"))
        _ = s.update(.event(.key(.enter)))
        #expect(s.pager?.lines.contains { $0.text == "metric accuracy: production 0.9 → candidate 0.91 (+0.01)" } == true, "\(s.pager?.lines ?? [])")
        _ = s.update(.event(.key(.escape)))
        #expect(s.update(.event(.key(.char("a")))).isEmpty)
        let dialog = styled(ConsoleView.render(s))
        #expect(dialog.contains("Approve clf:2 → production?"))
        #expect(dialog.contains("Signing as: Dana Ruiz (key SHA256:dana)"))
        #expect(dialog.contains("Approvals: 1 of 2"))
        for c in "reviewed the arch change" { _ = s.update(.event(.key(.char(c)))) }
        #expect(s.update(.event(.key(.enter))) == [.vote(requestID: 1, approve: true, comment: "reviewed the arch change")])
        #expect(s.dialog == nil)
    }

    /// dev → staging → production with a canary of clf:3 at 10% in production.
    func withCanary(paused: Bool = false) -> ConsoleState {
        var s = loaded()
        s.width = 120
        s.height = 40
        var snap = s.snapshot
        let now: Millis = 10_000_000
        func alias(_ id: Int64, _ env: String, _ v: Int, _ prev: Int?, _ reason: String, ago: Millis) -> AliasEvent {
            AliasEvent(id: id, model: "clf", environment: env, version: v, previousVersion: prev, at: now - ago, actor: "dana", reason: reason)
        }
        let canary = DeploymentRecord(id: 7, environment: "production", model: "clf", version: 3, stableVersion: 2, steps: "10,50,100",
                                      state: paused ? .paused : .progressing, phase: .analyse, step: 0, traffic: 10, dueAt: now + 240_000,
                                      inconclusive: 0, watchUntil: nil, ending: nil, startedAt: now - 60_000, updatedAt: now - 60_000,
                                      actor: "dana", reason: "promoted", detail: paused ? "paused at 10%: inconclusive (error_rate: no data)" : "step 1/3: 10% on :3")
        func sample(_ v: Double, _ verdict: String) -> AnalysisSampleRecord {
            AnalysisSampleRecord(deploymentID: 7, step: 0, metric: "error_rate", value: v, production: nil, condition: "fail_if > 0.02",
                                 verdict: verdict, explanation: "error_rate \(v)", at: now)
        }
        snap.lanes = [
            DeploymentLane(environment: "dev", requires: nil, auto: false, hasCanary: false, model: "clf", live: 3, image: nil, since: now - 7_200_000,
                           by: "ana", reason: "deploy stage of run 9", previous: 2, deployment: nil, samples: [], history: [alias(5, "dev", 3, 2, "deploy stage of run 9", ago: 7_200_000)],
                           rollbackTarget: 2),
            DeploymentLane(environment: "staging", requires: "dev", auto: true, hasCanary: false, model: "clf", live: 3, image: nil, since: now - 3_600_000,
                           by: "slipway-agent", reason: "auto: live and healthy in dev", previous: 2, deployment: nil, samples: [],
                           history: [alias(6, "staging", 3, 2, "auto: live and healthy in dev", ago: 3_600_000)], rollbackTarget: 2),
            DeploymentLane(environment: "production", requires: "staging", auto: false, hasCanary: true, model: "clf", live: 2, image: "2-0123456789ab",
                           since: now - 86_400_000, by: "dana", reason: "promoted", previous: 1, deployment: canary,
                           samples: [sample(0.011, "pass"), sample(0.013, "pass"), sample(0.012, "pass")],
                           history: [alias(4, "production", 2, 1, "promoted", ago: 86_400_000), alias(2, "production", 1, nil, "first release", ago: 172_800_000)],
                           rollbackTarget: 2),
        ]
        snap.environments = ["dev", "staging", "production"]
        snap.now = now
        _ = s.update(.data(snap))
        return s
    }

    /// Must fix 5: a deploy call left unfinished shows in the Deployments tab,
    /// in its lane and, in full, above the selected lane's history.
    @Test func theDeploymentsTabShowsAnInterruptedDeployCall() {
        var s = withCanary()
        var snap = s.snapshot
        // pid 0x7ffffff0 is no process: its driver is gone.
        let call = DeployCallRecord(id: 3, callID: "production-d7-s2", deploymentID: 7, environment: "production", model: "clf", version: 3,
                                    stableVersion: 2, traffic: 50, startedAt: snap.now - 5_000, finishedAt: nil, outcome: nil, ok: nil,
                                    log: nil, owner: "2147483632@\(Provenance.hostName())")
        snap.lanes[2].unfinishedCalls = [UnfinishedCall(call)]
        _ = s.update(.data(snap))
        _ = s.update(.event(.key(.char("6"))))
        let tab = ConsoleView.render(s).text
        #expect(tab.contains("call    production-d7-s2"), "\(tab)")
        #expect(tab.contains("INTERRUPTED: driver gone"), "\(tab)")
        #expect(tab.contains("deploy call production-d7-s2 (clf:3 at 50%) interrupted: its driver (pid 2147483632"), "\(tab)")
    }

    @Test func deploymentsShowLanesAndRollBackInTwoKeysPlusConfirm() {
        var s = withCanary()
        _ = s.update(.event(.key(.char("6"))))
        let tab = styled(ConsoleView.render(s))
        assertSnapshot(tab, named: "deployments-canary")
        #expect(tab.contains("production · canary"))
        #expect(tab.contains("canary  :3"))
        #expect(tab.contains("10%"))
        #expect(tab.contains("step 1/3 · stable :2"))
        #expect(tab.contains("error_rate 0.012"))
        #expect(tab.contains("fail_if > 0.02"))
        // Production is selected from a cold start: r, then Enter.
        #expect(s.selectedLane?.environment == "production")
        #expect(s.update(.event(.key(.char("r")))).isEmpty)
        let dialog = ConsoleView.render(s).text
        #expect(dialog.contains("Roll back production to clf:2?"))
        #expect(dialog.contains("Aborts the canary of clf:3 (at 10%):"))
        #expect(s.update(.event(.key(.enter))) == [.rollback(environment: "production", reason: "")])
        // Another lane: dev goes back to :2 instead of :3, with a reason.
        _ = s.update(.event(.key(.char("k"))))
        _ = s.update(.event(.key(.char("k"))))
        _ = s.update(.event(.key(.char("r"))))
        #expect(s.dialog?.lines.first == "Puts clf:2 live in dev instead of clf:3, now.")
        for c in "bad" { _ = s.update(.event(.key(.char(c)))) }
        #expect(s.update(.event(.key(.enter))) == [.rollback(environment: "dev", reason: "bad")])
    }

    @Test func aPausedCanaryContinuesOrAbortsWithAConfirmation() {
        var s = withCanary(paused: true)
        _ = s.update(.event(.key(.char("6"))))
        #expect(ConsoleView.render(s).text.contains("PAUSED · c go on · x abort"))
        _ = s.update(.event(.key(.char("c"))))
        #expect(s.dialog?.lines.last == "Continuing counts this step as passed: next 50%.")
        #expect(s.update(.event(.key(.enter))) == [.continueCanary(environment: "production")])
        _ = s.update(.event(.key(.char("x"))))
        #expect(s.dialog?.title == "Abort the deployment of clf:3 in production?")
        #expect(s.update(.event(.key(.enter))) == [.abortCanary(environment: "production", reason: "")])
        // Nothing in flight in staging: a notice, no dialog.
        _ = s.update(.event(.key(.char("k"))))
        _ = s.update(.event(.key(.char("x"))))
        #expect(s.dialog == nil && s.notice?.text == "nothing is in flight in staging")
    }

    @Test func theDriftTabChartsAMonitorsFeatureWithAlertsRunsAndHistograms() {
        var s = loaded()
        s.width = 120
        s.height = 40
        var snap = s.snapshot
        let scores: [Double] = [0.02, 0.03, 0.05, 0.04, 0.08, 0.12, 0.19, 0.26, 0.31, 0.28, 0.35, 0.33]
        let series = scores.enumerated().map { i, v in
            MonitorScoreRecord(batchID: Int64(i + 1), monitor: "inputs", feature: "temp_max", method: "PSI", score: v, threshold: 0.2,
                               drifted: v >= 0.2, histogram: "")
        }
        let batches = scores.enumerated().map { i, v in
            MonitorBatchRecord(id: Int64(i + 1), monitor: "inputs", contentHash: "h\(i)", source: "2014-\(i + 1).csv", rows: 30,
                               receivedAt: Millis(i) * 60_000, status: v >= 0.2 ? .drifted : .calm, driftedFeatures: v >= 0.2 ? 1 : 0,
                               features: 2, driftShare: v >= 0.2 ? 0.5 : 0, reason: "", performance: #"{"accuracy": \#(0.8 - Double(i) * 0.02)}"#)
        }
        let histogram = #"{"edges":[2,5,8,11,14,17,20,23,26],"reference":[0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1],"current":[0,0,0,0.05,0.05,0.1,0.2,0.2,0.2,0.2]}"#
        snap.monitors = [ConsoleSnapshot.MonitorView(
            name: "inputs", batches: batches, batchCount: 12, features: ["temp_max"], series: ["temp_max": series],
            histograms: ["temp_max": histogram],
            alerts: [MonitorAlertRecord(id: 2, monitor: "inputs", batchID: 9, kind: "drift", detail: "{}", at: 0, triggerID: nil, suppressed: "inside the cool-down of alert 1"),
                     MonitorAlertRecord(id: 1, monitor: "inputs", batchID: 8, kind: "drift", detail: "{}", at: 0, triggerID: 1, suppressed: nil)],
            alertRuns: [1: 14])]
        _ = s.update(.data(snap))
        _ = s.update(.event(.key(.char("3"))))
        let screen = styled(ConsoleView.render(s))
        assertSnapshot(screen, named: "drift-monitor")
        #expect(screen.contains("inputs · temp_max · PSI per batch · threshold 0.2"))
        #expect(screen.contains("alert 1 → run 14"))
        #expect(screen.contains("reference vs batch 12"))
        #expect(screen.contains("accuracy"))
        #expect(screen.contains("batch 1") && screen.contains("batch 12"))
        // The validation stages' rows follow the monitor's.
        #expect(s.listCount == 1 + s.snapshot.drift.flatMap(\.report.drift).count)
    }

    @Test func rejectingNeedsAComment() {
        var s = withRequest()
        _ = s.update(.event(.key(.char("4"))))
        _ = s.update(.event(.key(.char("x"))))
        #expect(s.update(.event(.key(.enter))).isEmpty)
        #expect(s.dialog != nil && s.notice?.text.contains("needs a comment") == true)
        for c in "no" { _ = s.update(.event(.key(.char(c)))) }
        #expect(s.update(.event(.key(.enter))) == [.vote(requestID: 1, approve: false, comment: "no")])
    }

    @Test func chartsLabelTheirAxes() {
        var s = loaded()
        s.width = 100
        s.height = 40
        var snap = s.snapshot
        snap.comparison = MetricComparison(rows: [MetricComparison.Row(metric: "accuracy", stage: "evaluate", key: "accuracy",
                                                                       baseline: 0.9, candidate: 0.91, gate: nil)])
        snap.comparisonLabels = ("clf:1 (production)", "run 30")
        snap.metricHistory = ["accuracy": [0.81, 0.85, 0.9, 0.88]]
        snap.metricHistoryVersions = ["accuracy": [3, 4, 6, 7]]
        _ = s.update(.data(snap))
        _ = s.update(.event(.key(.char("2"))))
        let frame = styled(ConsoleView.render(s))
        #expect(frame.contains("0.9┤"))
        #expect(frame.contains("0.81┤"))
        let axis = frame.split(separator: "\n").first { $0.contains(":3") && $0.contains("version") && $0.contains(":7") }
        #expect(axis != nil, "\(frame)")
    }
}

@Suite struct ConsoleResourcesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func keybindingsDocIsCurrent() throws {
        let path = Self.root.appendingPathComponent("docs/keybindings.md").path
        let expected = KeyMap.defaults.markdown
        if ProcessInfo.processInfo.environment["SLIPWAY_RECORD_SNAPSHOTS"] == "1" { try expected.write(toFile: path, atomically: true, encoding: .utf8) }
        let current = try String(contentsOfFile: path, encoding: .utf8)
        #expect(current == expected, "docs/keybindings.md is stale: re-run with SLIPWAY_RECORD_SNAPSHOTS=1")
    }

    @Test func shippedThemesMatchTheFiles() throws {
        for (name, text) in Theme.builtIn {
            let file = try String(contentsOf: Self.root.appendingPathComponent("themes/\(name).theme"), encoding: .utf8)
            #expect(file.trimmingCharacters(in: .newlines) == text.trimmingCharacters(in: .newlines), "\(name)")
            let theme = try Theme.named(name, environment: [:])
            #expect(theme.colors.count == ColorRole.allCases.count)
        }
        #expect(try Theme.named("monochrome", environment: [:]).isMonochrome)
    }

    @Test func coloursDegrade() {
        let c = Theme.RGB(r: 0x88, g: 0xc0, b: 0xd0)
        #expect(ResolvedTheme.nearest256(c) == 110)
        #expect(ResolvedTheme.nearest256(Theme.RGB(r: 128, g: 128, b: 128)) == 244)
        #expect(ResolvedTheme.nearest8(Theme.RGB(r: 250, g: 10, b: 10)) == 1)
        let dark = try! Theme.named("dark", environment: [:])
        #expect(ResolvedTheme(dark, colors: 8, noColor: false).depth == .eight)
        #expect(ResolvedTheme(dark, colors: 256, noColor: false).index[.error] == ResolvedTheme.nearest256(Theme.RGB(r: 0xbf, g: 0x61, b: 0x6a)))
    }

    @Test func badThemeAndKeyFilesNameTheLine() {
        #expect(throws: Theme.ParseError.self) { try Theme.parse("foreground = #12\n", name: "x", file: "x.theme") }
        do { _ = try Theme.parse("# c\nforegrund = #ffffff\n", name: "x", file: "x.theme") } catch {
            #expect("\(error)" == "x.theme:2: unknown role 'foregrund' (did you mean 'foreground'?)")
        }
        var map = KeyMap.defaults
        #expect(throws: Theme.ParseError.self) { try map.apply(overrides: "down = Nope\n", file: "keys.conf") }
        try? map.apply(overrides: "down = s, Down\n", file: "keys.conf")
        #expect(map.action(for: .char("s"), scope: .global) == .down)
        #expect(map.action(for: .char("j"), scope: .global) == nil)
    }

    @Test func rendererWritesOnlyChangedCells() {
        let device = MemoryTerminal(width: 20, height: 3)
        let renderer = Renderer()
        let theme = ResolvedTheme(try! Theme.named("dark", environment: [:]), colors: 256, noColor: false)
        var frame = ScreenBuffer(width: 20, height: 3)
        frame.put(0, 0, "hello")
        renderer.render(frame, to: device, theme: theme)
        #expect(renderer.cellsWritten == 60)
        renderer.render(frame, to: device, theme: theme)
        #expect(renderer.cellsWritten == 0)
        frame.put(0, 0, "help!")
        renderer.render(frame, to: device, theme: theme)
        #expect(renderer.cellsWritten == 2)
        #expect(device.screen.text.hasPrefix("help!"))
    }
}

/// Enter on a lane of the Deployments tab lists its analysis measurement by
/// measurement, as `slipway deployments ENV --explain` does.
@Suite struct DeploymentMeasurementsDialogTests {
    @Test func enterOnALaneListsItsMeasurementsWithQueryAndAnswer() {
        var s = ConsoleUpdateTests().withCanary()
        var snap = s.snapshot
        var rolledBack = snap.lanes[2].deployment!
        rolledBack.state = .rolledBack
        rolledBack.detail = "analysis failed at 10%: measurement 2/5 of step 1 (02:46:40Z): error_rate 0.2 > 0.05 → fail"
        func sample(_ n: Int, _ v: Double, _ verdict: String) -> AnalysisSampleRecord {
            AnalysisSampleRecord(deploymentID: 7, step: 0, metric: "error_rate", value: v, production: nil, condition: "fail_if > 0.05",
                                 verdict: verdict, explanation: "error_rate \(v) → \(verdict)", at: snap.now, round: 0, measurement: n,
                                 source: "prometheus", query: "sum by (server) (rate(x{code=\"5xx\"}[1m]))",
                                 answer: "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}\u{1b}[2J")
        }
        snap.lanes[2].deployment = rolledBack
        snap.lanes[2].samples = [sample(1, 0.01, "pass"), sample(2, 0.2, "fail")]
        _ = s.update(.data(snap))
        _ = s.update(.event(.key(.char("6"))))
        _ = s.update(.event(.key(.enter)))
        let dialog = s.dialog
        #expect(dialog?.title.contains("Analysis of deployment 7") == true, "\(String(describing: dialog))")
        let lines = dialog?.lines ?? []
        #expect(lines.contains { $0.hasPrefix("▶ step 1 #2 error_rate 0.2 · fail") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("  step 1 #1 error_rate 0.01 · pass") }, "\(lines)")
        #expect(lines.contains { $0.contains("query sum by (server)") })
        // The raw answer comes from outside: no escape reaches the terminal.
        #expect(!lines.joined().contains("\u{1b}"))
        let screen = ConsoleView.render(s).text
        #expect(screen.contains("Analysis of deployment 7"), "\(screen)")
        // Many measurements: the dialog fits the screen, its button included.
        _ = s.update(.event(.key(.escape)))
        snap.lanes[2].samples = (1...60).map { sample($0, 0.01, "pass") } + [sample(61, 0.2, "fail")]
        _ = s.update(.data(snap))
        _ = s.update(.event(.key(.enter)))
        let many = s.dialog?.lines ?? []
        #expect(many.count <= s.height - 10 && many.contains { $0.contains("earlier values: slipway deployments production --explain") }, "\(many.count)")
        #expect(many.contains { $0.hasPrefix("▶ step 1 #61") })
        #expect(ConsoleView.render(s).text.contains("Close"))
    }
}
