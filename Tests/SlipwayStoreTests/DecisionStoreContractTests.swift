import Foundation
import Testing
import SlipwayStore
import SlipwayCore
import SlipwayEngine
@testable import SlipwayStore

/// The contract of the stores that keep decisions: the model catalogue,
/// approvals, deployments, monitors and triggers, run against every store kind;
/// and the audit trail both stores write for the same writes.
@Suite struct DecisionStoreContractTests {
    static func catalogue(_ r: any Registry) throws {
        let one = try startRun(r)
        let v1 = try r.registerVersion(newVersion(one.id, digest: "d1"))
        let v2 = try r.registerVersion(newVersion(one.id, digest: "d2"))
        _ = try r.registerVersion(newVersion(one.id, model: "another", digest: "d3"))
        #expect(v1.version == 1 && v2.version == 2)
        let edited = try r.editVersion(model: "clf", version: 1, tags: ["team": "risk", "stage": "beta"], description: "first", actor: "ana")
        #expect(edited.tags == ["team": "risk", "stage": "beta"] && edited.description == "first")
        let removed = try r.editVersion(model: "clf", version: 1, tags: ["stage": nil], description: nil, actor: "ana")
        #expect(removed.tags == ["team": "risk"] && removed.description == "first")
        #expect(try r.modelVersion(model: "clf", version: 1) == removed)
        #expect(throws: NotFound.self) { try r.editVersion(model: "clf", version: 9, tags: [:], description: "x", actor: "ana") }
        try r.setAlias(model: "clf", environment: "production", version: 1, actor: "ana", reason: "go")
        try r.setAlias(model: "clf", environment: "staging", version: 2, actor: "ana", reason: "try")
        let cleared = try r.setAlias(model: "clf", environment: "staging", version: nil, actor: "ana", reason: "pulled")
        #expect(cleared.previousVersion == 2 && cleared.version == nil)
        #expect(try r.liveVersions(model: "clf") == ["production": 1])
        let models = try r.models()
        #expect(models.map(\.name) == ["another", "clf"])
        #expect(models.last?.latestVersion == 2 && models.last?.versionCount == 2 && models.last?.environments == ["production": 1])
        #expect(try r.modelVersions(model: "clf", limit: 10).map(\.version) == [2, 1])
        #expect(try r.modelVersion(runID: one.id)?.model == "another")

        let gate = GateResultRecord(runID: one.id, stageRunID: 1, stage: "eval", metric: "acc", condition: ">= 0.8", candidate: 0.9,
                                    production: nil, threshold: 0.8, baselineModel: "clf", baselineVersion: 1, passed: true,
                                    explanation: "0.9 >= 0.8")
        try r.recordGateResults([gate], actor: "ana")
        #expect(try r.gateResults(runID: one.id) == [gate])
        try r.recordArtifacts(runID: one.id, stageRunID: 7, outputs: ["model.bin": "h1", "report.json": "h2"])
        try r.recordArtifacts(runID: one.id, stageRunID: 7, outputs: ["model.bin": "h3"])
        #expect(try r.artifacts(runID: one.id) == ["model.bin": "h3"])
        #expect(try r.latestRun(pipeline: "p")?.id == one.id)
    }

    @Test(arguments: StoreKind.complete)
    func theCatalogueKeepsVersionsTagsAliasesGatesAndArtifacts(_ kind: StoreKind) throws {
        let r = try kind.makeCompleteStore().first
        try Self.catalogue(r)
        let kinds = try r.auditEvents(after: 0, limit: 100).map(\.kind)
        #expect(kinds.filter { $0 == "model.edited" }.count == 2 && kinds.filter { $0 == "alias.changed" }.count == 3)
        #expect(kinds.contains("gate.decided"))
    }

    /// A deployment's version goes live only while the deployment is as
    /// its driver read it: one aborted meanwhile does not.
    @Test(arguments: StoreKind.complete)
    func aDeploymentsAliasChangeIsRefusedOnceTheDeploymentChanged(_ kind: StoreKind) throws {
        let r = try kind.makeCompleteStore().first
        let run = try startRun(r)
        _ = try r.registerVersion(newVersion(run.id, digest: "d1"))
        _ = try r.registerVersion(newVersion(run.id, digest: "d2"))
        try r.setAlias(model: "clf", environment: "production", version: 1, actor: "ana", reason: "first")
        let (d, _) = try r.startDeployment(NewDeployment(environment: "production", model: "clf", version: 2, stableVersion: 1, steps: [100],
                                                         actor: "ana", reason: "ship"))
        var ended = d
        ended.state = .aborted
        ended.phase = .none
        try r.updateDeployment(ended, expectedUpdatedAt: d.updatedAt, audit: [])
        #expect(throws: RegistryConflict.self) { try r.setAlias(for: d, version: 2, actor: "ana", reason: "ship", cause: .canary) }
        #expect(try r.alias(model: "clf", environment: "production", at: nil) == 1)
        let now = try #require(try r.deployment(id: d.id))
        let event = try r.setAlias(for: now, version: 2, actor: "ana", reason: "ship", cause: .canary)
        #expect(event.version == 2 && event.previousVersion == 1 && event.cause == .canary)
    }

    @Test(arguments: StoreKind.complete)
    func anAliasChangeAndItsDeployCallAreJournalledTogether(_ kind: StoreKind) throws {
        let r = try kind.makeCompleteStore().first
        let run = try startRun(r)
        _ = try r.registerVersion(newVersion(run.id, digest: "d1"))
        // A change and the deploy call that carries it out, journalled together (named from the event).
        let moved = try r.setAlias(model: "clf", environment: "staging", version: 1, actor: "ana", reason: "rollback", cause: .rollback,
                                   beginning: { e in DeployCallRecord(id: 0, callID: "staging-a\(e.id)", deploymentID: nil, environment: "staging",
                                                                      model: "clf", version: 1, stableVersion: 1, traffic: 100, startedAt: 1,
                                                                      finishedAt: nil, outcome: nil, ok: nil, log: "d.log", owner: "1@h") })
        let journalled = try #require(try r.deployCall(callID: "staging-a\(moved.id)"))
        #expect(journalled.finishedAt == nil && journalled.version == 1 && journalled.owner == "1@h")
        #expect(try r.unfinishedDeployCalls().map(\.callID) == ["staging-a\(moved.id)"])
        try r.finishDeployCall(callID: journalled.callID, outcome: "done", ok: true, then: nil, audit: [])
        // A call that cannot be journalled (its id taken) takes the alias change back with it.
        #expect(throws: (any Error).self) {
            try r.setAlias(model: "clf", environment: "staging", version: nil, actor: "ana", reason: "again", cause: .rollback,
                           beginning: { _ in journalled })
        }
        #expect(try r.alias(model: "clf", environment: "staging", at: nil) == 1)
        #expect(try r.auditEvents(after: 0, limit: 100).filter { $0.kind == "alias.changed" }.count == 1)
    }

    static func request(_ model: String = "clf", environment: String = "production", expiresAt: Millis = SystemClock.nowMillis() + 3_600_000) -> NewApprovalRequest {
        NewApprovalRequest(model: model, version: 1, environment: environment, packageDigest: "sha256:p", reasons: ["production"],
                           evidence: "{\"acc\":0.9}", requester: "ana", expiresAt: expiresAt, requiredApprovals: 2)
    }

    static func approvals(_ r: any Registry) throws {
        var asked = request()
        asked.reason = "ship the MLP"
        let (first, none) = try r.createApprovalRequest(asked, actor: "ana")
        #expect(none.isEmpty && first.status == .pending && first.reasonList == ["production"])
        // The requester's reason is kept (and read back) by every store.
        #expect(first.reason == "ship the MLP")
        #expect(try r.approvalRequest(id: first.id)?.reason == "ship the MLP")
        let (second, superseded) = try r.createApprovalRequest(request(), actor: "ana")
        #expect(superseded == [first.id])
        #expect(try r.approvalRequest(id: first.id)?.status == .superseded)
        // Another environment's request is left alone.
        let (staging, untouched) = try r.createApprovalRequest(request(environment: "staging", expiresAt: 5), actor: "ana")
        #expect(untouched.isEmpty)
        #expect(try r.approvalRequests(all: false, limit: 10).map(\.id) == [staging.id, second.id])
        #expect(try r.approvalRequests(all: true, limit: 10).map(\.id) == [staging.id, second.id, first.id])

        let vote = ApprovalVoteRecord(requestID: second.id, approver: "bo", keyFingerprint: "SHA256:bo", decision: .approve, comment: "ok",
                                      at: SystemClock.nowMillis(), payload: "signed", signature: "sig")
        let recorded = try r.recordApprovalVote(vote, audit: [], check: { _, _ in nil })
        let stillPending = try r.approvalRequest(id: second.id)?.status
        #expect(recorded.id > 0 && stillPending == .pending)
        var other = vote
        other.approver = "cy"
        other.keyFingerprint = "SHA256:cy"
        _ = try r.recordApprovalVote(other, audit: [AuditDraft(actor: "cy", kind: .approvalRefused, subject: "approval/\(second.id)")],
                                     check: { request, votes in
            #expect(request.id == second.id && votes.map(\.approver) == ["bo"])
            return .approved
        })
        #expect(try r.approvalVotes(requestID: second.id).map(\.approver) == ["bo", "cy"])
        #expect(try r.approvalRequest(id: second.id)?.status == .approved)

        #expect(try r.expireApprovalRequests(now: SystemClock.nowMillis()) == [staging.id])
        #expect(try r.expireApprovalRequests(now: SystemClock.nowMillis()).isEmpty)
        #expect(try r.approvalRequest(id: staging.id)?.status == .expired)
    }

    @Test(arguments: StoreKind.complete)
    func requestsAreSupersededExpiredAndResolvedByVotes(_ kind: StoreKind) throws {
        let r = try kind.makeCompleteStore().first
        try Self.approvals(r)
        // The same key twice is refused by the store (PostgreSQL spends an id on the refused row; ids are unique, not dense).
        let again = ApprovalVoteRecord(requestID: 2, approver: "bo", keyFingerprint: "SHA256:bo", decision: .approve, comment: "again",
                                       at: SystemClock.nowMillis(), payload: "signed", signature: "sig")
        let before = try r.latestAuditSeq()
        #expect(throws: (any Error).self) { try r.recordApprovalVote(again, audit: [], check: { _, _ in nil }) }
        #expect(try r.latestAuditSeq() == before && r.approvalVotes(requestID: 2).count == 2)
        let resolved = try r.auditEvents(matching: AuditQuery(kinds: ["approval.resolved"])).map(\.payload)
        #expect(resolved.count == 3)
        #expect(resolved[0].contains("\"status\":\"superseded\"") && resolved[2].contains("\"status\":\"expired\""))
    }

    static func deployments(_ r: any Registry) throws {
        let first = try r.startDeployment(NewDeployment(environment: "production", model: "clf", version: 1, stableVersion: nil,
                                                        steps: [10, 100], actor: "ana", reason: "release"))
        #expect(first.aborted == nil && first.deployment.state == .progressing && first.deployment.steps == "10,100")
        var d = first.deployment
        d.phase = .analyse
        d.step = 0
        d.traffic = 10
        d.dueAt = d.startedAt + 60_000
        d.detail = "10 % deployed"
        try r.updateDeployment(d, expectedUpdatedAt: first.deployment.updatedAt,
                               audit: [AuditDraft(actor: "ana", kind: .deploymentStep, subject: "deployment/\(d.id)")])
        let saved = try #require(try r.deployment(id: d.id))
        #expect(saved.traffic == 10 && saved.phase == .analyse && saved.dueAt == d.dueAt && saved.updatedAt > first.deployment.updatedAt)
        // An update from a stale copy is refused and writes nothing.
        #expect(throws: RegistryConflict.self) {
            try r.updateDeployment(d, expectedUpdatedAt: first.deployment.updatedAt, audit: [])
        }
        try r.recordAnalysis([AnalysisSampleRecord(deploymentID: d.id, step: 0, metric: "error_rate", value: 0.01, production: nil,
                                                   condition: "< 0.02", verdict: "pass", explanation: "0.01 < 0.02", at: 5),
                              AnalysisSampleRecord(deploymentID: d.id, step: -1, metric: "latency", value: nil, production: 3.5,
                                                   condition: "< 9", verdict: "inconclusive", explanation: "no data", at: 6)])
        #expect(try r.analysisSamples(deploymentID: d.id).map(\.value) == [0.01, nil])
        #expect(try r.analysisSamples(deploymentID: d.id).last?.production == 3.5)

        let call = DeployCallRecord(id: 0, callID: "production-\(d.id)-0", deploymentID: d.id, environment: "production", model: "clf",
                                    version: 1, stableVersion: nil, traffic: 10, startedAt: 1, finishedAt: nil, outcome: nil, ok: nil,
                                    log: "deploy.log", owner: "1@h")
        #expect(try r.beginDeployCall(call, takeOver: { _ in false }).mine)
        var next = saved
        next.state = .watching
        next.phase = .none
        try r.finishDeployCall(callID: call.callID, outcome: "exited 0", ok: true, then: next,
                               audit: [AuditDraft(actor: "ana", kind: .deployRan, subject: "deployment/\(d.id)")])
        #expect(try r.deployCall(callID: call.callID)?.ok == true && r.deployment(id: d.id)?.state == .watching)
        #expect(try r.deployCalls(environment: "production", limit: 5).map(\.callID) == [call.callID])
        #expect(try r.deployCalls(environment: "staging", limit: 5).isEmpty)

        // A new deployment in the environment ends the active one.
        let second = try r.startDeployment(NewDeployment(environment: "production", model: "clf", version: 2, stableVersion: 1,
                                                         steps: [], actor: "bo", reason: "hotfix"))
        #expect(second.aborted?.id == d.id && second.aborted?.state == .aborted && second.deployment.steps == "100")
        #expect(try r.deployment(id: d.id)?.detail == "superseded by clf:2")
        #expect(try r.activeDeployment(environment: "production")?.id == second.deployment.id)
        #expect(try r.activeDeployments().map(\.id) == [second.deployment.id])
        #expect(try r.deployments(environment: nil, limit: 10).map(\.id) == [second.deployment.id, d.id])
    }

    @Test(arguments: StoreKind.complete)
    func deploymentsEndTheActiveOneAndRefuseStaleUpdates(_ kind: StoreKind) throws {
        let r = try kind.makeCompleteStore().first
        try Self.deployments(r)
        let kinds = try r.auditEvents(matching: AuditQuery(subject: "deployment/1")).map(\.kind)
        #expect(kinds == ["deployment.started", "deployment.step", "deploy.ran", "deployment.ended"])
    }

    /// A step's measurements, with their evidence, read back by round.
    @Test(arguments: StoreKind.complete)
    func analysisMeasurementsKeepTheirEvidenceByRound(_ kind: StoreKind) throws {
        let r = try kind.makeCompleteStore().first
        let d = try r.startDeployment(NewDeployment(environment: "production", model: "clf", version: 2, stableVersion: 1,
                                                    steps: [10, 100], actor: "ana", reason: "canary")).deployment
        let long = String(repeating: "é", count: 3000)
        try r.recordAnalysis([
            AnalysisSampleRecord(deploymentID: d.id, step: 0, metric: "error_rate", value: 0.01, production: 0.0, condition: "fail_if > 0.05",
                                 verdict: "pass", explanation: "ok", at: 5, round: 0, measurement: 1, source: "prometheus",
                                 query: "sum(rate(x{v=\"2\"}[1m]))", answer: #"{"status":"success"}"#),
            AnalysisSampleRecord(deploymentID: d.id, step: 0, metric: "error_rate", value: nil, production: nil, condition: "fail_if > 0.05",
                                 verdict: "error", explanation: "refused", at: 6, round: 0, measurement: 2, source: "prometheus",
                                 query: "q", answer: long),
            AnalysisSampleRecord(deploymentID: d.id, step: 0, metric: "error_rate", value: 0.2, production: nil, condition: "fail_if > 0.05",
                                 verdict: "fail", explanation: "bad", at: 7, round: 1, measurement: 1),
            AnalysisSampleRecord(deploymentID: d.id, step: 1, metric: "error_rate", value: 0.0, production: nil, condition: "fail_if > 0.05",
                                 verdict: "pass", explanation: "ok", at: 8, round: 0, measurement: 1),
        ])
        let round0 = try r.analysisSamples(deploymentID: d.id, step: 0, round: 0)
        #expect(round0.map(\.measurement) == [1, 2] && round0.map(\.verdict) == ["pass", "error"])
        #expect(round0[0].source == "prometheus" && round0[0].query == "sum(rate(x{v=\"2\"}[1m]))" && round0[0].answer == #"{"status":"success"}"#)
        // The raw answer is bounded, cut on a character boundary and marked.
        let kept = try #require(round0[1].answer)
        #expect(kept.utf8.count <= AnalysisSampleRecord.maxAnswer && kept.hasSuffix("…") && kept.hasPrefix("éé"))
        #expect(try r.analysisSamples(deploymentID: d.id, step: 0, round: 1).map(\.verdict) == ["fail"])
        #expect(try r.analysisSamples(deploymentID: d.id, step: 1, round: 0).map(\.value) == [0.0])
        #expect(try r.analysisSamples(deploymentID: d.id).count == 4)
    }

    static func monitors(_ r: any Registry) throws {
        func batch(_ hash: String, _ status: MonitorBatchRecord.Status) -> MonitorBatchRecord {
            MonitorBatchRecord(monitor: "inputs", contentHash: hash, source: "b.csv", rows: 10, receivedAt: SystemClock.nowMillis(), status: status,
                               driftedFeatures: status == .drifted ? 1 : 0, features: 2, driftShare: 0.5, reason: "", performance: "")
        }
        let scores = [MonitorScoreRecord(monitor: "inputs", feature: "temp", method: "psi", score: 0.4, threshold: 0.2, drifted: true, histogram: "{}"),
                      MonitorScoreRecord(monitor: "inputs", feature: "rain", method: "psi", score: .nan, threshold: 0.2, drifted: false, histogram: "{}")]
        let alert = NewAlert(kind: "drift", detail: "{\"temp\":0.4}", suppressed: nil, pipelines: ["retrain", "report"], actor: "slipway")
        let first = try r.recordBatch(NewBatch(batch: batch("h1", .drifted), scores: scores, alert: alert))
        #expect(first.isNew && first.events.map(\.pipeline) == ["retrain", "report"])
        #expect(first.alert?.triggerID == first.events.first?.id)
        #expect(first.events.first?.key == "drift:inputs:alert/\(first.alert!.id)" && first.events.first?.causeFields["batch"] == String(first.batch.id))
        let again = try r.recordBatch(NewBatch(batch: batch("h1", .drifted), scores: scores, alert: alert))
        #expect(!again.isNew && again.batch.id == first.batch.id && again.events.isEmpty)
        var quiet = alert
        quiet.suppressed = "inside the cool-down of alert \(first.alert!.id)"
        let second = try r.recordBatch(NewBatch(batch: batch("h2", .drifted), scores: scores, alert: quiet))
        #expect(second.events.isEmpty && second.alert?.triggerID == nil && second.alert?.suppressed == quiet.suppressed)
        _ = try r.recordBatch(NewBatch(batch: batch("h3", .calm), scores: []))

        #expect(try r.batchCount(monitor: "inputs") == 3)
        #expect(try r.batches(monitor: "inputs", limit: 2).map(\.contentHash) == ["h3", "h2"])
        #expect(try r.batch(monitor: "inputs", contentHash: "h2")?.id == second.batch.id)
        #expect(try r.batch(id: first.batch.id)?.status == .drifted)
        #expect(try r.scores(batchID: first.batch.id).map(\.feature) == ["rain", "temp"])
        #expect(try r.scores(batchID: first.batch.id).first?.score == 0)  // NaN is kept as 0
        #expect(try r.recentScores(monitor: "inputs", batches: 2)["temp"]?.map(\.batchID) == [second.batch.id])
        #expect(try r.scoreHistory(monitor: "inputs", feature: "temp", limit: 5).map(\.batchID) == [first.batch.id, second.batch.id])
        #expect(try r.alerts(monitor: "inputs", limit: 5).map(\.id) == [second.alert!.id, first.alert!.id])
        #expect(try r.alerts(monitor: "other", limit: 5).isEmpty)

        let commit = try #require(try r.fireTrigger(pipeline: "retrain", kind: "commit", key: "commit:main:abc", cause: ["commit": "abc"],
                                                    actor: "ana"))
        #expect(try r.fireTrigger(pipeline: "retrain", kind: "commit", key: "commit:main:abc", cause: [:], actor: "ana") == nil)
        _ = try r.fireTrigger(pipeline: "retrain", kind: "schedule", key: "schedule:x", cause: [:], actor: "ana", state: .skipped)
        #expect(try r.latestTrigger(pipeline: "retrain", keyPrefix: "commit:main:")?.id == commit.id)
        #expect(try r.latestTrigger(pipeline: "retrain", keyPrefix: "commit:dev:") == nil)
        #expect(try r.triggerEvents(pipeline: "retrain", state: .queued, limit: 10).map(\.id) == [commit.id, first.events[0].id])
        #expect(try r.triggerEvents(pipeline: nil, state: .skipped, limit: 10).count == 1)
        #expect(try r.triggerEvents(pipeline: nil, state: nil, limit: 2).count == 2)
        let run = try r.startRun(NewRun(pipeline: "retrain", trigger: "drift", provenance: contractProvenance, pid: 1, params: [:],
                                        claiming: [first.events[0].id, commit.id]))
        #expect(try r.triggerEvents(runID: run.id).map(\.id) == [first.events[0].id, commit.id])
        #expect(try r.triggerEvents(pipeline: "retrain", state: .queued, limit: 10).isEmpty)
    }

    @Test(arguments: StoreKind.complete)
    func batchesAreRecordedOnceWithTheirAlertsAndTriggers(_ kind: StoreKind) throws {
        let r = try kind.makeCompleteStore().first
        try Self.monitors(r)
        let kinds = try r.auditEvents(after: 0, limit: 100).map(\.kind)
        #expect(kinds.filter { $0 == "monitor.batch" }.count == 3 && kinds.filter { $0 == "trigger.fired" }.count == 4)
    }

    /// The same writes on each store make the same audit trail: kinds,
    /// subjects and payloads (but for the digests of rows holding times).
    @Test func everyStoreWritesTheSameAuditTrail() throws {
        func trail(_ kind: StoreKind) throws -> [String] {
            let r = try kind.makeCompleteStore().first
            try Self.catalogue(r)
            try Self.approvals(r)
            try Self.deployments(r)
            try Self.monitors(r)
            #expect(AuditChain.verify(try r.auditEvents(after: 0, limit: 1000)) == nil)
            return try r.auditEvents(after: 0, limit: 1000).map { e in
                var payload = (try JSONSerialization.jsonObject(with: Data(e.payload.utf8)) as? [String: Any]) ?? [:]
                payload["record_sha256"] = nil
                let fields = payload.keys.sorted().map { "\($0)=\(payload[$0]!)" }.joined(separator: " ")
                return "\(e.actor) \(e.kind) \(e.subject) \(fields)"
            }
        }
        let sqlite = try trail(.sqlite)
        let postgres = try trail(.postgres)
        #expect(sqlite.count > 30)
        #expect(sqlite == postgres)
    }
}
