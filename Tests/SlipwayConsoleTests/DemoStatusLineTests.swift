import Foundation
import Testing
@testable import SlipwayConsole

/// The demo's status line (`.slipway/demo-status`) follows the scenario by
/// itself: a newer step replaces a passing notice without a key press.
@Suite struct DemoStatusLineTests {
    func snapshot(_ status: String) -> ConsoleSnapshot {
        var s = ConsoleSnapshot()
        s.demoStatus = status
        return s
    }

    func bottomLine(_ s: ConsoleState) -> String {
        ConsoleView.render(s).text.split(separator: "\n", omittingEmptySubsequences: false).last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .map(String.init) ?? ""
    }

    @Test func aNewerStepReplacesAPassingNotice() {
        var s = ConsoleState()
        s.width = 120
        s.height = 30
        _ = s.update(.data(snapshot("v3 → production is high risk (model.arch → knn): approve it")))
        _ = s.update(.notice("weather-classifier:3 → production: canary at 25% (step 1 of 2)", isError: false))
        #expect(bottomLine(s).contains("canary at 25%"))
        // The same status again (a reload for another reason) leaves the notice.
        _ = s.update(.data(snapshot("v3 → production is high risk (model.arch → knn): approve it")))
        #expect(bottomLine(s).contains("canary at 25%"))
        _ = s.update(.data(snapshot("production canary: step 2/2: 100% on :3")))
        #expect(bottomLine(s).contains("demo: production canary: step 2/2: 100% on :3"), "\(bottomLine(s))")
    }

    @Test func anErrorStaysUntilAKey() {
        var s = ConsoleState()
        s.width = 120
        s.height = 30
        _ = s.update(.data(snapshot("approve it")))
        _ = s.update(.notice("promotion refused: gates failed", isError: true))
        _ = s.update(.data(snapshot("production canary: step 1/2: 25% on :3")))
        #expect(bottomLine(s).contains("promotion refused"))
        _ = s.update(.event(.key(.char("6"))))
        #expect(bottomLine(s).contains("demo: production canary"), "\(bottomLine(s))")
    }
}
