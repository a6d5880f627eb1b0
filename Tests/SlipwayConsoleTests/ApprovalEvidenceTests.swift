import Foundation
import Testing
@testable import SlipwayConsole
@testable import SlipwayStore
@testable import SlipwayEngine

/// The approver's evidence in the console: the requester's reason, who
/// cannot vote and why (before signing), votes in words, expiry in words.
extension ConsoleUpdateTests {
    func withReasonedRequest(blocked: String? = nil) -> ConsoleState {
        var s = withRequest()
        var snap = s.snapshot
        snap.approvals[0].reason = "ship the MLP for the Q4 churn push"
        snap.approvalVotes[1]?.append(ApprovalVoteRecord(id: 2, requestID: 1, approver: "Lee Chen", keyFingerprint: "SHA256:y", decision: .reject,
                                                         comment: "", at: 0, payload: "{}", signature: ""))
        if let blocked { snap.voteBlocks = [1: blocked] }
        snap.requestOrigins[1] = ApprovalQueue.Origin(runID: 12, trigger: "drift:inputs", user: "ana", commit: "5e0a1f2c9d", dirty: false,
                                                      causes: ["drift alert 3 of monitor churn on batch 7 · trigger event 4", "  ▲ tenure: psi 0.31 past threshold 0.2"])
        _ = s.update(.data(snap))
        _ = s.update(.event(.key(.char("4"))))
        return s
    }

    @Test(arguments: [(80, 24), (120, 40)]) func theRequestersReasonIsShown(size: (Int, Int)) {
        var s = withReasonedRequest()
        s.width = size.0
        s.height = size.1
        let tab = ConsoleView.render(s).text
        #expect(tab.contains("requested by ana 1h ago: ship the MLP"))
        #expect(tab.contains("from run 12, started by drift alert 3 of monitor churn"))
        #expect(tab.contains("commit 5e0a1f2"))
        #expect(tab.contains("metric accuracy: production 0.9 → candidate 0.91 (+0.01)"))
        #expect(tab.contains("Lee Chen rejected"))
        #expect(!tab.contains("rejectd"))
        assertSnapshot(styled(ConsoleView.render(s)), named: "approvals-reason-\(size.0)x\(size.1)")
        _ = s.update(.event(.key(.char("a"))))
        let dialog = ConsoleView.render(s).text
        #expect(dialog.contains("Reason: ship the MLP for the Q4 churn push"))
        #expect(dialog.contains("expires in 7 days"), "\(dialog)")
        #expect(dialog.contains("· Sam Lee approved: fine by me"))
        #expect(dialog.contains("· Lee Chen rejected"))
        assertSnapshot(ConsoleView.render(s).text, named: "dialog-approve-\(size.0)x\(size.1)")
    }

    @Test func aVoteTheEngineWouldRefuseIsRefusedBeforeSigning() {
        let why = "Dana Ruiz cannot approve clf:2: they requested it (request 1), as dana"
        var s = withReasonedRequest(blocked: why)
        #expect(ConsoleView.render(s).text.contains("You cannot vote: " + why))
        #expect(s.update(.event(.key(.char("a")))).isEmpty)
        let d = try! #require(s.dialog)
        #expect(d.field == nil)
        #expect(d.buttons == ["Close"])
        #expect(d.lines.first == why)
        assertSnapshot(ConsoleView.render(s).text, named: "dialog-approve-refused")
        // Enter only closes it: nothing is signed.
        #expect(s.update(.event(.key(.enter))).isEmpty)
        #expect(s.dialog == nil)
    }

    @Test func expiryAndPausesReadAsWords() {
        #expect(Widgets.inWords(7 * 86_400 - 72) == "in 7 days")
        #expect(Widgets.inWords(5 * 3600) == "in 5 hours")
        #expect(Widgets.inWords(720) == "in 12 min")
        #expect(ConsoleState.pausedLine(traffic: 10, detail: "paused at 10%: inconclusive (error_rate: no data)")
                == "Paused at 10%: inconclusive (error_rate: no data)")
    }

    @Test func aRunStartedFromTheConsoleIsSelectedAndNamedByNumber() {
        var s = loaded()
        _ = s.update(.event(.key(.char("j"))))
        _ = s.update(.started(pipeline: "weather", pid: 4242))
        #expect(s.notice?.text == "starting a run of weather…")
        var snap = s.snapshot
        var run = snap.runs[0]
        run.id = 31
        run.pid = 4242
        run.status = .running
        snap.runs.insert(run, at: 0)
        #expect(s.update(.data(snap)) == [.select(run: 31, model: nil)])
        #expect(s.selectedRun?.id == 31)
        #expect(s.notice?.text == "started run 31 (weather)")
    }
}

/// 80×24: each screen keeps its essential columns whole.
extension ConsoleUpdateTests {
    @Test func theLiveVersionIsNeverCutOnANarrowLane() {
        var s = withCanary()
        s.width = 80
        s.height = 24
        var snap = s.snapshot
        snap.lanes = snap.lanes.map { l in var l = l; l.model = "churn-classifier-gradient-boosted"; return l }
        _ = s.update(.data(snap))
        _ = s.update(.event(.key(.char("6"))))
        let text = ConsoleView.render(s).text
        #expect(text.contains(":2 "), "\(text)")
        #expect(text.contains("7 Audit"))
        assertSnapshot(text, named: "deployments-long-model-80x24")
    }

    @Test func auditAndEvalsKeepTheirEssentialColumnsAt80() {
        let cols = ColumnLayout([Column("a", 10, priority: 0), Column("b", 30, priority: 2), Column("c", 30, priority: 1), Column("d", 10, priority: 0, flexible: true)], width: 60)
        #expect(cols.shown == [true, false, true, true])
        #expect(cols.widths == [10, 0, 30, 18])
    }
}

extension ConsoleUpdateTests {
    /// After a rollback the finished deployment is no longer the headline, and
    /// a change made by several approvers keeps its columns apart.
    @Test(arguments: [(80, 24), (120, 40)]) func historyAfterARollbackReadsInOrder(size: (Int, Int)) {
        var s = withCanary()
        s.width = size.0
        s.height = size.1
        var snap = s.snapshot
        var prod = snap.lanes[2]
        prod.deployment?.state = .succeeded
        prod.deployment?.detail = "live at 100%"
        prod.deployment?.updatedAt = snap.now - 120_000
        prod.history.insert(AliasEvent(id: 9, model: "clf", environment: "production", version: 2, previousVersion: 3, at: snap.now - 30_000,
                                       actor: "oncall", reason: "rollback: p95 latency doubled"), at: 0)
        prod.history.insert(AliasEvent(id: 8, model: "clf", environment: "production", version: 3, previousVersion: 2, at: snap.now - 60_000,
                                       actor: "Dana Ruiz, Sam Lee", reason: "ship the MLP · approved by Dana Ruiz, Sam Lee (request 4)"), at: 1)
        snap.lanes[2] = prod
        _ = s.update(.data(snap))
        _ = s.update(.event(.key(.char("6"))))
        let text = ConsoleView.render(s).text
        #expect(text.contains("earlier: deployment 7: clf:3 succeeded"))
        #expect(!text.contains("Sam Lee…ship") && !text.contains("Lee ship"))
        assertSnapshot(text, named: "deployments-after-rollback-\(size.0)x\(size.1)")
    }
}

extension ConsoleUpdateTests {
    /// The promote dialog has a reason field and says, before anything is
    /// asked, what the engine would do: a high-risk request, a recent rollback.
    @Test(arguments: [(80, 24), (120, 40)]) func promoteWarnsBeforeItOpensARequest(size: (Int, Int)) {
        var s = loaded()
        s.width = size.0
        s.height = size.1
        _ = s.update(.event(.key(.char("5"))))
        _ = s.update(.event(.key(.char("p"))))
        var high = ApprovalService.PromotionPreview(model: "clf", version: 2, environment: "production")
        high.risk = .high
        high.reasons = ["params changed: model.arch (gbm → mlp)"]
        high.requiredApprovals = 2
        high.approvers = 3
        high.recentUndo = "clf:2 was rolled back from production 30 s ago by oncall (rollback: p95 doubled)"
        var low = ApprovalService.PromotionPreview(model: "clf", version: 2, environment: "staging")
        low.risk = .low
        _ = s.update(.promotionPreview([high, low]))
        let text = ConsoleView.render(s).text
        #expect(text.contains("HIGH RISK"))
        #expect(s.dialog?.lines.contains { $0.contains("needs 2 of 3 approvers") } == true)
        #expect(s.dialog?.lines.contains { $0.hasPrefix("Warning: clf:2 was rolled back from production 30 s ago") } == true)
        assertSnapshot(text, named: "dialog-promote-warnings-\(size.0)x\(size.1)")
        // ↑ chooses staging: its own preview.
        _ = s.update(.event(.key(.up)))
        #expect(s.dialog?.lines.contains("Low risk: it goes ahead now.") == true)
        for c in "hotfix for the Q4 push" { _ = s.update(.event(.key(.char(c)))) }
        #expect(s.update(.event(.key(.enter))) == [.promote(model: "clf", version: 2, environment: "staging", reason: "hotfix for the Q4 push")])
    }
}

extension ConsoleUpdateTests {
    /// Enter on a request shows all the evidence, and the package's verification when it comes.
    @Test func theEvidencePageShowsThePackagesVerification() {
        var s = withReasonedRequest()
        #expect(s.update(.event(.key(.enter))) == [.verifyPackage(model: "clf", version: 2)])
        #expect(s.pager?.lines.contains { $0.text == "verification: checking…" } == true)
        _ = s.update(.packageChecked(label: "clf:2", text: "verified: 4 blobs match their digests, provenance matches, signed by Release Key", ok: true))
        let text = ConsoleView.render(s).text
        #expect(text.contains("verification: verified: 4 blobs match their digests"), "\(text)")
        #expect(text.contains("from run 12, started by drift alert 3"))
        assertSnapshot(text, named: "approval-evidence-page")
        // Checked once: opening it again asks nothing.
        _ = s.update(.event(.key(.escape)))
        #expect(s.update(.event(.key(.enter))).isEmpty)
    }
}
