import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayStore

/// An approval store kept in memory: it persists what it is told and calls
/// the rule and the composers it is handed, as a real store does, so the
/// engine's rules can be checked without a database.
final class FakeApprovalStore: ApprovalStore, @unchecked Sendable {
    var requests: [Int64: ApprovalRequestRecord] = [:]
    var votes: [ApprovalVoteRecord] = []
    /// Every event appended, in order.
    var appended: [AuditDraft] = []
    var now: Millis = 1_000

    init(_ rows: [ApprovalRequestRecord] = []) {
        for r in rows { requests[r.id] = r }
    }

    func createApprovalRequest(_ new: NewApprovalRequest, superseding: (_ pending: [ApprovalRequestRecord]) -> [Int64],
                               requested: AuditComposer<ApprovalRequestRecord>,
                               superseded: AuditComposer<ApprovalRequestRecord>) throws -> (request: ApprovalRequestRecord, superseded: [Int64]) {
        appended += new.audit
        let pending = requests.values.filter { $0.status == .pending }.sorted { $0.id < $1.id }
        let older = superseding(pending)
        for id in older {
            requests[id]!.status = .superseded
            requests[id]!.resolvedAt = now
            appended.append(superseded(requests[id]!))
        }
        let row = ApprovalRequestRecord(
            id: (requests.keys.max() ?? 0) + 1, model: new.model, version: new.version, environment: new.environment,
            packageDigest: new.packageDigest, reasons: String(decoding: try JSONEncoder().encode(new.reasons), as: UTF8.self),
            evidence: new.evidence, requester: new.requester, createdAt: now, expiresAt: new.expiresAt,
            requiredApprovals: new.requiredApprovals, status: .pending, resolvedAt: nil, deploymentID: nil, reason: new.reason)
        requests[row.id] = row
        appended.append(requested(row))
        return (row, older)
    }

    func approvalRequest(id: Int64) throws -> ApprovalRequestRecord? { requests[id] }

    func approvalRequests(all: Bool, limit: Int) throws -> [ApprovalRequestRecord] {
        Array(requests.values.filter { all || $0.status == .pending }.sorted { $0.id > $1.id }.prefix(limit))
    }

    func approvalVotes(requestID: Int64) throws -> [ApprovalVoteRecord] { votes.filter { $0.requestID == requestID } }

    func recordApprovalVote(_ vote: ApprovalVoteRecord, audit: [AuditDraft],
                            check: (ApprovalRequestRecord, [ApprovalVoteRecord]) throws -> ApprovalStatus?,
                            voted: AuditComposer<ApprovalVoteRecord>,
                            resolved: AuditComposer<ApprovalRequestRecord>) throws -> ApprovalVoteRecord {
        guard let request = requests[vote.requestID] else { throw NotFound(what: "approval request \(vote.requestID)") }
        let resolving = try check(request, try approvalVotes(requestID: vote.requestID))
        appended += audit
        var v = vote
        v.id = Int64(votes.count + 1)
        votes.append(v)
        appended.append(voted(v))
        if let resolving {
            requests[vote.requestID]!.status = resolving
            requests[vote.requestID]!.resolvedAt = vote.at
            appended.append(resolved(requests[vote.requestID]!))
        }
        return v
    }

    func expireApprovalRequests(now: Millis, audit: AuditComposer<ApprovalRequestRecord>) throws -> [Int64] {
        var expired: [Int64] = []
        for id in requests.keys.sorted() where requests[id]!.status == .pending && requests[id]!.expiresAt <= now {
            requests[id]!.status = .expired
            requests[id]!.resolvedAt = now
            appended.append(audit(requests[id]!))
            expired.append(id)
        }
        return expired
    }
}

/// The rules that used to sit in each store, now the engine's: which
/// requests a new one supersedes, and what every `approval.*` and `run.*`
/// event says. Driven through the in-memory store above.
@Suite struct StoreRulesTests {
    static func row(_ id: Int64, _ model: String, _ environment: String, _ status: ApprovalStatus = .pending,
                    expiresAt: Millis = 10_000) -> ApprovalRequestRecord {
        ApprovalRequestRecord(id: id, model: model, version: 1, environment: environment, packageDigest: nil, reasons: "[\"risk\"]",
                              evidence: "{}", requester: "ana", createdAt: 500, expiresAt: expiresAt, requiredApprovals: 1,
                              status: status, resolvedAt: nil, deploymentID: nil, reason: nil)
    }

    static func new(_ model: String = "clf", version: Int = 3, environment: String = "production") -> NewApprovalRequest {
        var n = NewApprovalRequest(model: model, version: version, environment: environment, packageDigest: "sha256:abc",
                                   reasons: ["high risk"], evidence: "{\"a\":1}", requester: "ana", expiresAt: 50_000, requiredApprovals: 2)
        n.reason = "Q4 push"
        return n
    }

    @Test func aNewRequestSupersedesOnlyThePendingOnesForItsModelAndEnvironment() {
        let pending = [Self.row(5, "clf", "production"), Self.row(2, "clf", "production"), Self.row(3, "clf", "staging"),
                       Self.row(4, "other", "production"), Self.row(6, "clf", "production", .approved)]
        #expect(ApprovalSupersession.superseded(by: Self.new(), among: pending) == [2, 5])
        #expect(ApprovalSupersession.superseded(by: Self.new(environment: "canary"), among: pending).isEmpty)
    }

    @Test func requestingComposesTheSupersededAndRequestedEvents() throws {
        let store = FakeApprovalStore([Self.row(1, "clf", "production"), Self.row(2, "clf", "staging")])
        let (request, superseded) = try store.createApprovalRequest(Self.new(), actor: "ana")
        #expect(superseded == [1])
        #expect(try store.approvalRequest(id: 1)?.status == .superseded)
        #expect(try store.approvalRequest(id: 2)?.status == .pending)
        #expect(store.appended.map(\.kind) == [.approvalResolved, .approvalRequested])
        let old = try #require(try store.approvalRequest(id: 1))
        #expect(store.appended[0] == AuditDraft(
            actor: "ana", kind: .approvalResolved, subject: "approval/1",
            payload: AuditChain.payload(["status": "superseded", "by": "clf:3", "record": "approval/1", "record_sha256": RecordDigest.of(old)])))
        #expect(store.appended[1] == AuditDraft(
            actor: "ana", kind: .approvalRequested, subject: "approval/\(request.id)",
            payload: AuditChain.payload(["model": "clf", "version": "3", "environment": "production", "reasons": "[\"high risk\"]",
                                         "requester": "ana", "required": "2", "evidence_sha256": Digests.sha256Hex(Array("{\"a\":1}".utf8)),
                                         "package": "sha256:abc", "reason": "Q4 push", "record": "approval/\(request.id)",
                                         "record_sha256": RecordDigest.of(request)])))
    }

    @Test func anEmptyReasonAndNoPackageLeaveTheirFieldsOut() throws {
        var n = Self.new()
        n.reason = ""
        n.packageDigest = nil
        let fields = ApprovalEvents.requestedFields(n, reasons: "[]")
        #expect(fields["reason"] == nil && fields["package"] == nil && fields["reasons"] == "[]")
    }

    @Test func aResolvingVoteIsAuditedByTheVoterWithTheNewStatus() throws {
        let store = FakeApprovalStore([Self.row(1, "clf", "production")])
        let vote = ApprovalVoteRecord(requestID: 1, approver: "dana", keyFingerprint: "SHA256:k", decision: .approve, comment: "ok",
                                      at: 2_000, payload: "signed", signature: "sig")
        let v = try store.recordApprovalVote(vote, audit: []) { _, _ in .approved }
        #expect(store.appended.map(\.kind) == [.approvalVoted, .approvalResolved])
        #expect(store.appended[0].payload == AuditChain.payload([
            "decision": "approve", "comment": "ok", "key": "SHA256:k", "signed_payload": "signed", "signature": "sig",
            "record": "vote/\(v.id)", "record_sha256": RecordDigest.of(v)]))
        let resolved = try #require(try store.approvalRequest(id: 1))
        #expect(store.appended[1] == AuditDraft(actor: "dana", kind: .approvalResolved, subject: "approval/1", payload: AuditChain.payload([
            "status": "approved", "record": "approval/1", "record_sha256": RecordDigest.of(resolved)])))
    }

    @Test func expiryIsAuditedBySlipway() throws {
        let store = FakeApprovalStore([Self.row(1, "clf", "production", expiresAt: 100), Self.row(2, "clf", "staging", expiresAt: 9_000)])
        #expect(try store.expireApprovalRequests(now: 1_000) == [1])
        let expired = try #require(try store.approvalRequest(id: 1))
        #expect(store.appended == [AuditDraft(actor: "slipway", kind: .approvalResolved, subject: "approval/1", payload: AuditChain.payload([
            "status": "expired", "record": "approval/1", "record_sha256": RecordDigest.of(expired)]))])
    }

    @Test func theUseOfARequestNamesItsDeployment() {
        var row = Self.row(7, "clf", "production", .approved)
        row.deploymentID = 12
        let draft = ApprovalEvents.used(row, actor: "ana")
        #expect(draft == AuditDraft(actor: "ana", kind: .approvalUsed, subject: "approval/7", payload: AuditChain.payload([
            "deployment": "12", "record": "approval/7", "record_sha256": RecordDigest.of(row)])))
    }

    /// The exact bytes of `run.*` payloads: registries already hold events
    /// with these payloads, and tools read them.
    @Test func runEventsKeepTheirExactPayloads() {
        let run = RunRecord(id: 9, pipeline: "train", trigger: "manual", status: .running, startedAt: 1, endedAt: nil, pid: 42,
                            host: "h1", heartbeatAt: 1, user: "ana", gitCommit: "abc", gitDirty: true, slipwayVersion: "0.1", message: nil)
        #expect(RunEvents.started(run, overrides: ["b": "2", "a": "1"]) == AuditDraft(
            actor: "ana", kind: .runStarted, subject: "run/9",
            payload: #"{"commit":"abc-dirty","host":"h1","overrides":"a=1 b=2","pipeline":"train","trigger":"manual"}"#))
        #expect(RunEvents.finished(run, status: .failed, message: "boom").payload == #"{"message":"boom","status":"failed"}"#)
        #expect(RunEvents.finished(run, status: .succeeded, message: nil).payload == #"{"status":"succeeded"}"#)
        #expect(RunEvents.interrupted(runID: 9, reason: "gone") == AuditDraft(
            actor: "slipway", kind: .runInterrupted, subject: "run/9", payload: #"{"reason":"gone"}"#))
        #expect(RunEvents.takenOver(runID: 9, from: RunOwner(pid: 1, host: "a"), to: RunOwner(pid: 2, host: "b"), reason: "r").payload
                == #"{"from":"pid 1 on a","reason":"r","to":"pid 2 on b"}"#)
        #expect(RunEvents.cancelRequested(run, actor: "sam") == AuditDraft(
            actor: "sam", kind: .runCancelRequested, subject: "run/9", payload: #"{"owner":"pid 42 on h1"}"#))
    }
}

/// The exact bytes of the catalogue and data events, composed by the engine.
@Suite struct CatalogueAndDataEventsTests {
    @Test func editsNameEachTagAndMarkRemovedOnes() {
        let draft = ModelEvents.edited(model: "clf", version: 2, tags: ["team": "risk", "old": nil], description: "new text", actor: "ana")
        #expect(draft == AuditDraft(actor: "ana", kind: .modelEdited, subject: "model/clf/2",
                                    payload: #"{"description":"new text","tag.old":"(removed)","tag.team":"risk"}"#))
    }

    @Test func gateAndDataEventsCarryTheirRowsDigests() {
        let gate = GateResultRecord(runID: 4, stageRunID: 5, stage: "eval", metric: "acc", condition: ">= 0.9", candidate: 0.95,
                                    production: nil, threshold: 0.9, baselineModel: nil, baselineVersion: nil, passed: true,
                                    explanation: "0.95 >= 0.9")
        #expect(ModelEvents.gateDecided(gate, id: 11, actor: "ana") == AuditDraft(
            actor: "ana", kind: .gateDecided, subject: "run/4/eval/acc",
            payload: AuditChain.payload(["passed": "true", "explanation": "0.95 >= 0.9", "record": "gate/11", "record_sha256": RecordDigest.of(gate)])))
        let dataset = DatasetRecord(id: 3, path: "data/x.csv", hash: "h", size: 10, addedBy: "ana", addedAt: 1)
        #expect(DataEvents.added(dataset) == AuditDraft(actor: "ana", kind: .datasetAdded, subject: "dataset/data/x.csv",
                                                        payload: #"{"hash":"h","size":"10"}"#))
        let report = ValidationRecord(runID: 4, stageRunID: 5, dataset: "data/x.csv", passed: false, report: "{}", createdAt: 1)
        let validated = DataEvents.validated(report, id: 8, runUser: nil)
        #expect(validated.actor == "slipway" && validated.subject == "run/4/data/x.csv")
        #expect(validated.payload == AuditChain.payload(["passed": "false", "report_sha256": Digests.sha256Hex(Array("{}".utf8)),
                                                         "record": "validation/8", "record_sha256": RecordDigest.of(report)]))
        #expect(DataEvents.validated(report, id: 8, runUser: "ana").actor == "ana")
    }
}

extension CatalogueAndDataEventsTests {
    @Test func aStagesEndKeepsItsExactPayload() {
        var stage = StageRunRecord(id: 3, runID: 9, stage: "train", status: .failed, reason: "inputs changed")
        stage.exitCode = 2
        stage.cacheKey = "k1"
        stage.message = "boom"
        #expect(RunEvents.stageFinished(stage, runUser: "ana") == AuditDraft(
            actor: "ana", kind: .stageFinished, subject: "run/9/train",
            payload: #"{"cache_key":"k1","exit_code":"2","message":"boom","reason":"inputs changed","stage":"train","status":"failed"}"#))
        stage.exitCode = nil
        stage.cacheKey = nil
        stage.message = nil
        #expect(RunEvents.stageFinished(stage, runUser: nil).actor == "slipway")
        #expect(RunEvents.stageFinished(stage, runUser: nil).payload == #"{"reason":"inputs changed","stage":"train","status":"failed"}"#)
    }
}
