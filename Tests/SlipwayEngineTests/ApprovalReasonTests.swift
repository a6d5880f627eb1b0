import Foundation
import Testing
@testable import SlipwayEngine

/// The approver's evidence: the requester's own reason is kept with the
/// request and in the live-version history; who cannot vote is said before
/// anyone signs, naming what they did.
@Suite struct ApprovalReasonTests {
    static let why = "ship the MLP for the Q4 churn push"

    @Test func theRequestersReasonIsStoredAuditedAndKeptInHistory() throws {
        let f = try ApprovalFixture()
        let v = try f.version(arch: "gbm")
        let r = try f.request(try f.approvals.requestPromotion(
            PromotionService.Request(model: "clf", version: v, environment: "production", actor: "ana", reason: Self.why)))
        #expect(r.reason == Self.why)
        #expect(try f.registry.approvalRequest(id: r.id)?.reason == Self.why)
        #expect(try f.registry.approvalRequests(all: true, limit: 10).first?.reason == Self.why)
        #expect(try f.events("approval.requested").last?.payload.contains(Self.why) == true)
        _ = try f.approvals.vote(requestID: r.id, decision: .approve, keyPath: f.key("dana"), comment: "ok", voter: "dana")
        #expect(try f.live() == v)
        let history = try f.registry.aliasHistory(model: "clf", environment: "production", until: nil)
        let reason = try #require(history.last?.reason)
        #expect(reason.hasPrefix(Self.why), "\(reason)")
        #expect(reason.contains("approved by Dana Ruiz (request \(r.id))"), "\(reason)")
        // The chain still verifies with the reason in the request's digest.
        #expect(try AuditVerifier(registry: f.registry, workspace: f.ws).verify().problem == nil)
    }

    @Test func noReasonGivenKeepsTheOldHistoryWording() throws {
        let f = try ApprovalFixture()
        let r = try f.request(try f.approvals.requestPromotion(
            PromotionService.Request(model: "clf", version: try f.version(arch: "gbm"), environment: "production", actor: "ana", reason: "")))
        #expect(r.reason == "")
        #expect(ApprovalService.historyReason(r, approvers: "Sam Lee") == "approved by Sam Lee (request \(r.id))")
    }

    @Test func whoCannotVoteIsSaidUpFrontNamingWhatTheyDid() throws {
        let f = try ApprovalFixture(required: 2)
        let r = try f.request(try f.promote(try f.version(arch: "gbm"), actor: "dana"))
        let dana = try SSHSigner(keyPath: f.key("dana")).publicKey().raw
        let sam = try SSHSigner(keyPath: f.key("sam")).publicKey().raw
        let now = SystemClock.nowMillis()
        let requester = try f.approvals.whyCannotVote(r, key: dana, votes: [], now: now)
        #expect(requester == "Dana Ruiz cannot approve clf:1: they requested it (request \(r.id)), as dana", "\(requester ?? "nil")")
        #expect(try f.approvals.whyCannotVote(r, key: sam, votes: [], now: now) == nil)
        // The vote itself refuses with the same words.
        #expect {
            try f.approvals.vote(requestID: r.id, decision: .approve, keyPath: f.key("dana"), comment: "", voter: "dana")
        } throws: { ($0 as? ApprovalService.Refusal)?.message.contains("they requested it (request \(r.id)), as dana") == true }
        _ = try f.approvals.vote(requestID: r.id, decision: .approve, keyPath: f.key("sam"), comment: "ok", voter: "sam")
        let votes = try f.registry.approvalVotes(requestID: r.id)
        let again = try f.approvals.whyCannotVote(r, key: sam, votes: votes, now: now)
        #expect(again == "Sam Lee already voted on request \(r.id) (approved): one vote each", "\(again ?? "nil")")
        #expect {
            try f.approvals.vote(requestID: r.id, decision: .approve, keyPath: f.key("sam"), comment: "again", voter: "sam")
        } throws: { ($0 as? ApprovalService.Refusal)?.reason == .alreadyVoted }
        #expect(try f.registry.approvalVotes(requestID: r.id).count == 1)
    }

    @Test func theRunsAuthorCannotApproveEither() throws {
        let f = try ApprovalFixture()
        // Ana ran it; a policy naming Ana's user for Sam's key makes Sam the run's author.
        let spec = try f.ws.loadSpec().spec
        var rules = spec.rules
        rules.approvers = rules.approvers.map { a in var a = a; if a.name == "Sam Lee" { a.users.append("ana") }; return a }
        var changed = spec
        changed.rules = rules
        let service = ApprovalService(workspace: f.ws, registry: f.registry, spec: changed)
        let r = try f.request(try f.promote(try f.version(arch: "gbm"), actor: "dana"))
        let sam = try SSHSigner(keyPath: f.key("sam")).publicKey().raw
        let why = try service.whyCannotVote(r, key: sam, votes: [], now: SystemClock.nowMillis())
        #expect(why == "Sam Lee cannot approve clf:1: they ran it (run 1), as ana", "\(why ?? "nil")")
    }
}

@Suite struct AbortReasonTests {
    /// An abort puts the stable version back with the reason typed, not the word "rollback".
    @Test func theLocalTargetRecordsTheAbortReason() throws {
        let f = try ApprovalFixture()
        let v1 = try f.version(arch: "gbm")
        try f.registry.setAlias(model: "clf", environment: "production", version: v1, actor: "dana", reason: "first release")
        let v2 = try f.version(arch: "gbm", lr: "0.3")
        _ = try f.registry.startDeployment(NewDeployment(environment: "production", model: "clf", version: v2, stableVersion: v1, steps: [10, 100],
                                                         actor: "ana", reason: "promoted"))
        _ = try f.deployments.abort(environment: "production", actor: "oncall", reason: "p95 latency doubled")
        let data = try Data(contentsOf: URL(fileURLWithPath: f.deployments.targetPath("production")))
        let target = try JSONDecoder().decode(DeploymentService.LocalTarget.self, from: data)
        #expect(target.version == v1 && target.traffic == 100)
        #expect(target.reason == "aborted by oncall: p95 latency doubled", "\(target.reason)")
    }
}

@Suite struct PromotionPreviewTests {
    @Test func aHighRiskPromotionSaysSoAndHowManyApprovalsBeforeItIsAsked() throws {
        let f = try ApprovalFixture(required: 2)
        let v = try f.version(arch: "gbm")
        let p = f.approvals.preview(model: "clf", version: v, environment: "production", now: SystemClock.nowMillis())
        #expect(p.risk == .high && p.requiredApprovals == 2 && p.approvers == 2)
        #expect(p.warnings.first?.contains("needs 2 of 2 approvers") == true, "\(p.warnings)")
        // Nothing was written.
        #expect(try f.registry.approvalRequests(all: true, limit: 10).isEmpty)
        let unknown = f.approvals.preview(model: "clf", version: 99, environment: "production", now: SystemClock.nowMillis())
        #expect(unknown.refusal != nil && unknown.warnings.first?.hasPrefix("Refused: ") == true)
    }

    @Test func aVersionRolledBackAMomentAgoIsWarnedAbout() throws {
        let f = try ApprovalFixture()
        let v1 = try f.version(arch: "gbm")
        let v2 = try f.version(arch: "gbm", lr: "0.3")
        try f.registry.setAlias(model: "clf", environment: "production", version: v1, actor: "dana", reason: "first release", cause: .promotion)
        try f.registry.setAlias(model: "clf", environment: "production", version: v2, actor: "dana", reason: "promoted", cause: .promotion)
        try f.registry.setAlias(model: "clf", environment: "production", version: v1, actor: "oncall", reason: "rollback: p95 doubled", cause: .rollback)
        let p = f.approvals.preview(model: "clf", version: v2, environment: "production", now: SystemClock.nowMillis())
        let undo = try #require(p.recentUndo)
        #expect(undo.hasPrefix("clf:2 was rolled back from production ") && undo.contains("by oncall (rollback: p95 doubled)"), "\(undo)")
        #expect(p.warnings.contains { $0.hasPrefix("Warning: clf:2 was rolled back") })
        #expect(f.approvals.preview(model: "clf", version: v1, environment: "production", now: SystemClock.nowMillis()).alreadyLive)
    }
}

@Suite struct EvidenceDataTests {
    /// The evidence lists the datasets that changed apart from the stage outputs that did.
    @Test func datasetsAndOutputsApart() throws {
        let f = try ApprovalFixture()
        let yaml = try String(contentsOfFile: f.root + "/slipway.yaml", encoding: .utf8)
        try yaml.replacingOccurrences(of: #"train: {cmd: "true"}"#, with: #"train: {cmd: "true", outs: [model.json]}"#)
            .write(toFile: f.root + "/slipway.yaml", atomically: true, encoding: .utf8)
        let v1 = try f.version(arch: "gbm")
        try f.registry.recordRunDatasets(runID: 1, stage: "train", versions: [(path: "data/train.csv", hash: "aaaa1111"), (path: "model.json", hash: "bbbb1111")])
        try f.registry.setAlias(model: "clf", environment: "production", version: v1, actor: "dana", reason: "first release")
        let v2 = try f.version(arch: "mlp")
        try f.registry.recordRunDatasets(runID: 2, stage: "train", versions: [(path: "data/train.csv", hash: "aaaa2222"), (path: "model.json", hash: "bbbb2222")])
        let r = try f.request(try f.promote(v2))
        let evidence = try #require(try JSONSerialization.jsonObject(with: Data(r.evidence.utf8)) as? [String: Any])
        #expect(evidence["data"] as? [String] == ["data/train.csv aaaa1111 → aaaa2222"])
        #expect(evidence["outputs"] as? [String] == ["model.json bbbb1111 → bbbb2222"])
    }
}
