import Foundation
import Testing
@testable import SlipwayConsole
@testable import SlipwayStore
@testable import SlipwayEngine

/// Nothing out of reach: a failed stage says why, Enter opens what is
/// selected, long text wraps or scrolls, and the help shows the tab's keys first.
@Suite(.serialized) struct OpenedItemTests {
    static let seeded: (Workspace, RegistryConnection) = try! seededWorkspace()
    static let sizes = [(80, 24), (120, 40)]

    func state(width: Int, height: Int, selectedRun: Int64? = nil) -> ConsoleState {
        let (ws, registry) = Self.seeded
        var s = ConsoleState()
        s.width = width
        s.height = height
        let loader = ConsoleLoader(workspace: ws, registry: registry)
        while !loader.verifyMore(slice: 50) {}
        _ = s.update(.data(normalized(loader.load(selectedRun: selectedRun, selectedModel: nil))))
        return s
    }

    /// Run 2 (failed at evaluate) selected, its detail loaded.
    func failedRun(width: Int, height: Int) -> ConsoleState {
        var s = state(width: width, height: height, selectedRun: 2)
        s.rows[.runs] = 1
        #expect(s.selectedRun?.id == 2)
        return s
    }

    static let error = "ERROR gate check: latency_p95_ms 14.9 exceeds the limit of 12 ms after the learning-rate change (lr=0.1, warmup 200 steps, batch 512); gradient norm 1.3e+02 at the last step"

    @Test func theLastErrorLineIsTheOneThatSaysError() {
        let lines = ["epoch 1", "::metric name=loss value=1", "Traceback (most recent call last):", "  File \"x.py\"", "ValueError: bad shape", "::progress step=1 total=2"]
        #expect(StageLogLines.lastErrorLine(lines) == "ValueError: bad shape")
        #expect(StageLogLines.lastErrorLine(["starting", "done badly", "::metric name=a value=1"]) == "done badly")
        #expect(StageLogLines.lastErrorLine([]) == nil)
    }

    @Test(arguments: sizes) func aFailedStageRowShowsItsLastErrorLine(size: (Int, Int)) {
        let s = failedRun(width: size.0, height: size.1)
        #expect(s.snapshot.detail?.errorLines["evaluate"] == Self.error)
        let text = styled(ConsoleView.render(s))
        #expect(text.contains("✗ evaluate"))
        #expect(text.contains("ERROR gate check"))
        assertSnapshot(text, named: "runs-failed-stage-\(size.0)x\(size.1)")
    }

    @Test(arguments: sizes) func enterOnRunsOpensTheRunWithTheFullError(size: (Int, Int)) {
        var s = failedRun(width: size.0, height: size.1)
        #expect(s.update(.event(.key(.enter))) == [.select(run: 2, model: nil)])
        #expect(s.runView == RunView(runID: 2, stage: 2))
        let text = ConsoleView.render(s).text
        // The whole error line, wrapped, nothing cut.
        let joined = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        #expect(joined.replacingOccurrences(of: "│", with: " ").split(separator: " ").joined(separator: " ").contains("at the last step"))
        assertSnapshot(styled(ConsoleView.render(s)), named: "run-opened-\(size.0)x\(size.1)")
        // The log wraps with `w`.
        _ = s.update(.event(.key(.char("w"))))
        assertSnapshot(ConsoleView.render(s).text, named: "run-opened-wrapped-\(size.0)x\(size.1)")
        // j/k choose another stage; Esc closes.
        _ = s.update(.event(.key(.char("k"))))
        #expect(s.runView?.stage == 1)
        #expect(ConsoleView.render(s).text.contains("epoch 3/3 loss=0.41"))
        _ = s.update(.event(.key(.escape)))
        #expect(s.runView == nil)
    }

    @Test func theLogScrollsSidewaysWhenNotWrapped() {
        var s = failedRun(width: 80, height: 24)
        _ = s.update(.event(.key(.enter)))
        func logRows() -> [String] { RunViewScreen.layout(s, s.runView!, s.snapshot.detail!).log }
        #expect(!logRows().contains { $0.contains("at the last step") })
        for _ in 0..<12 where !logRows().contains(where: { $0.contains("at the last step") }) { _ = s.update(.event(.key(.right))) }
        #expect(logRows().contains { $0.contains("at the last step") }, "\(logRows())")
        #expect(ConsoleView.render(s).text.contains("log · from column"))
        _ = s.update(.event(.key(.left)))
        #expect(s.logShift > 0)
    }

    @Test(arguments: sizes) func metricAndProgressLinesAreHiddenUntilAsked(size: (Int, Int)) {
        var s = state(width: size.0, height: size.1, selectedRun: 1)
        s.rows[.runs] = 2
        let hidden = ConsoleView.render(s).text
        #expect(hidden.contains("epoch 3/3"))
        #expect(!hidden.contains("::metric") && !hidden.contains("::progress"))
        _ = s.update(.event(.key(.char("m"))))
        let shown = ConsoleView.render(s).text
        #expect(shown.contains("::metric name=loss value=0.61 step=1"))
        #expect(shown.contains("::progress step=1 total=3"))
        assertSnapshot(shown, named: "runs-metric-lines-\(size.0)x\(size.1)")
        _ = s.update(.event(.key(.char("m"))))
        #expect(!ConsoleView.render(s).text.contains("::metric name"))
        #expect(KeyMap.defaults.markdown.contains("| `m` | controlLines | Runs |"))
    }

    /// A vote's audit event, as the store writes it: the signed text and the armored signature.
    static let vote = AuditEvent(
        seq: 99, timestamp: 1_795_510_800_000, actor: "Dana Ruiz <dana.ruiz@example.com>", kind: "approval.voted", subject: "approval/1",
        payload: AuditChain.payload(["decision": "approve", "comment": "reviewed the arch change and the latency budget",
                                     "key": "SHA256:0f3kT4nJ0vQ2e7mZl1k0dXh8zq1R3vB6oP8sYwQe5c",
                                     "signed_payload": "slipway-approval v1\nrequest 1\nclf:2 -> production\npackage sha256:9d2c0ffee0ddf00d\ndecision approve\ncomment reviewed the arch change and the latency budget\nat 2026-11-24T09:00:00Z",
                                     "signature": "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAg\nqK3v0F1eJrC4dq8lX9X1m0b0hY2m3Jq1sKx1nWc=\n-----END SSH SIGNATURE-----",
                                     "record": "vote/1", "record_sha256": String(repeating: "7e", count: 32)]),
        prevHash: String(repeating: "a1", count: 32), hash: String(repeating: "b2", count: 32))

    @Test(arguments: sizes) func enterOnAuditOpensTheWholeEvent(size: (Int, Int)) {
        var s = state(width: size.0, height: size.1)
        s.snapshot.audit.insert(Self.vote, at: 0)
        _ = s.update(.event(.key(.char("7"))))
        _ = s.update(.event(.key(.enter)))
        let page = try! #require(s.pager)
        let text = ConsoleView.render(s).text
        #expect(text.contains("actor    Dana Ruiz <dana.ruiz@example.com>"))
        #expect(text.contains("kind     approval.voted"))
        assertSnapshot(styled(ConsoleView.render(s)), named: "audit-event-\(size.0)x\(size.1)")
        // Scrolled to the end: the signature and the hashes are reachable.
        _ = s.update(.event(.key(.char("G"))))
        let end = ConsoleView.render(s).text
        #expect(end.contains("-----END SSH SIGNATURE-----") || page.lines.count < size.1)
        #expect(end.contains("previous a1a1"))
        assertSnapshot(ConsoleView.render(s).text, named: "audit-event-end-\(size.0)x\(size.1)")
        _ = s.update(.event(.key(.escape)))
        #expect(s.pager == nil)
    }

    @Test func enterOpensTheSelectedItemOnEveryTabButDeployments() {
        for tab in Tab.allCases where tab != .deployments {
            var s = state(width: 120, height: 40)
            if tab == .approvals { continue }  // no request in this workspace: ConsoleScreenTests covers it
            s.tab = tab
            _ = s.update(.event(.key(.enter)))
            #expect(s.pager != nil || s.runView != nil, "Enter on \(tab) opened nothing")
            #expect(ConsoleState.enterHelp(tab) != nil)
        }
        var s = state(width: 120, height: 40)
        _ = s.update(.event(.key(.char("5"))))
        _ = s.update(.event(.key(.enter)))
        assertSnapshot(ConsoleView.render(s).text, named: "registry-version-opened")
        _ = s.update(.event(.key(.escape)))
        _ = s.update(.event(.key(.char("2"))))
        _ = s.update(.event(.key(.enter)))
        assertSnapshot(ConsoleView.render(s).text, named: "evals-metric-opened")
    }

    @Test(arguments: sizes) func helpShowsTheTabsKeysFirstWrapsAndScrollsToTheEnd(size: (Int, Int)) {
        for tab in [Tab.runs, .approvals, .audit] {
            var s = state(width: size.0, height: size.1)
            s.tab = tab
            _ = s.update(.event(.key(.char("?"))))
            let first = ConsoleView.render(s).text
            #expect(first.contains("Keys (Esc closes)"))
            #expect(first.contains("On the \(tab.title) tab"))
            if let enter = ConsoleState.enterHelp(tab) { #expect(first.contains("Enter          " + enter.prefix(20))) }
            // More than fits: said, and G reaches the last binding.
            #expect(first.contains("j/PgDn more"))
            _ = s.update(.event(.key(.char("G"))))
            let last = ConsoleView.render(s).text
            #expect(last.contains("· end"), "\(last)")
            #expect(last.contains(KeyMap.defaults.bindings.last { $0.scope != .global && $0.scope != tab.scope }!.help.prefix(20)))
            assertSnapshot(first + "\n----- G -----\n" + last, named: "help-\(tab.title.lowercased())-\(size.0)x\(size.1)")
        }
    }
}
