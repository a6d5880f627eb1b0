import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayStore

/// Which version a rollback goes back to is decided on the typed cause of
/// each alias change, never on its message.
@Suite struct RollbackTargetTests {
    func change(_ id: Int64, _ version: Int, from previous: Int?, _ reason: String, _ cause: AliasCause?) -> AliasEvent {
        AliasEvent(id: id, model: "clf", environment: "production", version: version, previousVersion: previous,
                   at: id * 1000, actor: "dana", reason: reason, cause: cause)
    }

    @Test func aVersionRolledBackFromIsNoCandidate() {
        let history = [
            change(1, 1, from: nil, "first", .promotion),
            change(2, 2, from: 1, "ship", .promotion),
            change(3, 3, from: 2, "ship", .canary),
            change(4, 2, from: 3, "errors up", .rollback),   // 3 was rolled back from
        ]
        #expect(DeploymentService.rollbackTarget(history: history, current: 2, inFlight: nil) == 1)
    }

    @Test func theMessageDecidesNothing() {
        // A promotion whose message starts with "rollback" is still a promotion;
        // an abort's message need not say "rollback".
        let history = [
            change(1, 1, from: nil, "first", .promotion),
            change(2, 2, from: 1, "rollback drill: promote 2", .promotion),
            change(3, 3, from: 2, "ship", .canary),
            change(4, 2, from: 3, "analysis failed", .abort),
        ]
        #expect(DeploymentService.rollbackTarget(history: history, current: 2, inFlight: nil) == 1)
        let promotedOnly = Array(history.prefix(3))
        #expect(DeploymentService.rollbackTarget(history: promotedOnly, current: 3, inFlight: nil) == 2)
    }
}
