import Foundation
import Testing
@testable import SlipwayEngine

/// Every alias change records why, typed: an approved request's goes live
/// with the approval cause, kept in its deployment's started event so any
/// later driver (the agent) records the same.
@Suite struct AliasCauseTests {
    @Test func anApprovedRequestGoesLiveWithTheApprovalCause() throws {
        let f = try ApprovalFixture()
        let v = try f.version(arch: "gbm")
        let r = try f.request(try f.approvals.requestPromotion(
            PromotionService.Request(model: "clf", version: v, environment: "production", actor: "ana", reason: "ship it")))
        _ = try f.approvals.vote(requestID: r.id, decision: .approve, keyPath: f.key("dana"), comment: "ok", voter: "dana")
        #expect(try f.live() == v)
        let history = try f.registry.aliasHistory(model: "clf", environment: "production", until: nil)
        #expect(history.last?.cause == .approval, "\(history)")
        let started = try #require(try f.events("deployment.started").last)
        #expect(AuditVerifier.fields(started.payload)?["cause"] == "approval", "\(started.payload)")
    }
}
