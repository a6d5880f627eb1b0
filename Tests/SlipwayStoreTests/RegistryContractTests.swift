import Foundation
import PostgresTestServer
import SlipwayPostgres
import Synchronization
import Testing
import SlipwayStore
import SlipwayCore
import SlipwayEngine
@testable import SlipwayStore

/// The protocols every store kind implements (all of ``Registry``; kept as
/// its own name for tests written against the core protocols).
typealias CoreStores = Registry

/// The registry's contract: what every store implementation promises, written
/// once against the protocols and run against each kind of store (the
/// PostgreSQL cases skip, saying why, where no server can start).
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    /// The kinds implementing every protocol of ``Registry``: all of them.
    static let complete: [StoreKind] = allCases

    var testDescription: String { rawValue }

    /// A new, empty store, and a way to open more connections to it (as
    /// other processes would).
    func makeStore() throws -> (first: any CoreStores, connect: () throws -> any CoreStores) {
        try makeCompleteStore()
    }

    /// A new, empty store implementing all of ``Registry``.
    func makeCompleteStore() throws -> (first: any Registry, connect: () throws -> any Registry) {
        switch self {
        case .sqlite:
            let path = temporaryDirectory() + "/r.sqlite"
            let first = try SQLiteRegistry(path: path)
            return (first, { try SQLiteRegistry(path: path) })
        case .postgres:
            let url = try PostgresTestServer.require().url
            let schema = PostgresTestServer.freshSchemaName()
            let first = try PostgresRegistry(url: url, schema: schema)
            return (first, { try PostgresRegistry(url: url, schema: schema) })
        }
    }
}

let contractProvenance = Provenance(gitCommit: "abc123", gitDirty: false, user: "ana", host: "test-host", slipwayVersion: "0.1.0")

func startRun(_ r: any RunStore, pipeline: String = "p", params: [String: String] = [:]) throws -> RunRecord {
    try r.startRun(NewRun(pipeline: pipeline, trigger: "manual", provenance: contractProvenance, pid: 1, params: params))
}

func newVersion(_ run: Int64, model: String = "clf", digest: String = UUID().uuidString) -> NewModelVersion {
    NewModelVersion(model: model, runID: run, pipeline: "p", gitCommit: "abc", artifactDigest: digest, createdBy: "ana")
}

@Suite struct RegistryContractTests {
    @Test(arguments: StoreKind.allCases)
    func runLifecycle(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run = try startRun(r, params: ["lr": "0.1"])
        #expect(run.status == .running && run.user == "ana" && run.gitCommit == "abc123")
        #expect(try r.activeRuns().map(\.id) == [run.id])
        #expect(try r.params(runID: run.id) == ["lr": "0.1"])
        var stages = try r.addStageRuns(runID: run.id, stages: ["a", "b"])
        #expect(stages.map(\.status) == [.pending, .pending])
        stages[0].status = .succeeded
        stages[0].reason = "first run"
        stages[0].inputs = "{}"
        try r.updateStageRun(stages[0])
        #expect(try r.lastCompletedStageRun(pipeline: "p", stage: "a")?.id == stages[0].id)
        try r.finishRun(id: run.id, status: .failed, message: "b failed")
        #expect(try r.run(id: run.id)?.status == .failed)
        #expect(try r.activeRuns().isEmpty)
        // A finished run cannot be finished again.
        #expect(throws: (any Error).self) { try r.finishRun(id: run.id, status: .succeeded, message: nil) }
        let other = try startRun(r, pipeline: "q")
        #expect(try r.runs(pipeline: "p", limit: 10).map(\.id) == [run.id])
        #expect(try r.runs(limit: 10, offset: 0).map(\.id) == [other.id, run.id])
        #expect(try r.runCount() == 2)
        let kinds = try r.auditEvents(after: 0, limit: 100).map(\.kind)
        #expect(kinds == ["run.started", "stage.finished", "run.finished", "run.started"])
    }

    @Test(arguments: StoreKind.allCases)
    func interruptedRunsKeepWhatTheyRecorded(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run = try startRun(r)
        var stages = try r.addStageRuns(runID: run.id, stages: ["a", "b"])
        stages[0].status = .succeeded
        try r.updateStageRun(stages[0])
        stages[1].status = .running
        try r.updateStageRun(stages[1])
        try r.markInterrupted(runID: run.id, reason: "gone")
        #expect(try r.run(id: run.id)?.status == .interrupted)
        #expect(try r.stageRuns(runID: run.id).map(\.status) == [.succeeded, .interrupted])
        if let models = r as? any ModelStore { #expect(try models.modelVersion(runID: run.id) == nil) }
    }

    @Test(arguments: StoreKind.complete)
    func versionNumbersAreDistinctUnderConcurrency(_ kind: StoreKind) throws {
        let (first, connect) = try kind.makeCompleteStore()
        let run = try startRun(first)
        let writers = try (0..<2).map { _ in try connect() }
        let numbers = Mutex([Int]())
        DispatchQueue.concurrentPerform(iterations: 2) { w in
            for _ in 0..<40 {
                if let v = try? writers[w].registerVersion(newVersion(run.id)) { numbers.withLock { $0.append(v.version) } }
            }
        }
        #expect(numbers.withLock { $0 }.sorted() == Array(1...80))
        var other = newVersion(run.id)
        other.model = "other"
        #expect(try first.registerVersion(other).version == 1)
        #expect(try first.models().map(\.name) == ["clf", "other"])
    }

    @Test(arguments: StoreKind.complete)
    func finishingARunRegistersItsVersionInTheSameTransaction(_ kind: StoreKind) throws {
        let r = try kind.makeCompleteStore().first
        let one = try startRun(r)
        guard case .registered(let v1) = try r.finishRun(id: one.id, status: .succeeded, message: nil,
                                                          registering: newVersion(one.id, digest: "d1")) else {
            Issue.record("not registered"); return
        }
        #expect(v1.version == 1 && v1.runID == one.id)
        let two = try startRun(r)
        // The same artifacts: no new version.
        #expect(try r.finishRun(id: two.id, status: .succeeded, message: nil, registering: newVersion(two.id, digest: "d1"))
                == .unchanged(v1))
        // It made v1 again: that is its version, registered by run one.
        #expect(try r.modelVersion(runID: two.id) == v1)
        let three = try startRun(r)
        guard case .registered(let v2) = try r.finishRun(id: three.id, status: .succeeded, message: nil,
                                                          registering: newVersion(three.id, digest: "d2")) else {
            Issue.record("not registered"); return
        }
        #expect(v2.version == 2)
        // A run already finished registers nothing.
        #expect(throws: (any Error).self) {
            try r.finishRun(id: three.id, status: .succeeded, message: nil, registering: newVersion(three.id, digest: "d3"))
        }
        #expect(try r.modelVersions(model: "clf", limit: 10).map(\.version) == [2, 1])
    }

    @Test(arguments: StoreKind.complete)
    func aliasHistoryAnswersForAnyTime(_ kind: StoreKind) throws {
        let r = try kind.makeCompleteStore().first
        for _ in 0..<2 { _ = try r.registerVersion(newVersion(try startRun(r).id)) }
        var times: [Millis] = []
        for (env, version) in [("production", 1), ("staging", 2), ("production", 2), ("production", 1)] {
            usleep(3_000)
            times.append(try r.setAlias(model: "clf", environment: env, version: version, actor: "ana", reason: "r").at)
        }
        #expect(try r.alias(model: "clf", environment: "production", at: times[0] - 1) == nil)
        #expect(try r.alias(model: "clf", environment: "production", at: times[0]) == 1)
        #expect(try r.alias(model: "clf", environment: "production", at: times[2]) == 2)
        #expect(try r.alias(model: "clf", environment: "production", at: nil) == 1)
        #expect(try r.alias(model: "clf", environment: "staging", at: nil) == 2)
        let history = try r.aliasHistory(model: "clf", environment: "production", until: nil)
        #expect(history.map(\.version) == [1, 2, 1])
        #expect(history.map(\.previousVersion) == [nil, 1, 2])
        #expect(try r.aliasHistory(model: "clf", environment: nil, until: times[1]).count == 2)
        #expect(try r.liveVersions(model: "clf") == ["production": 1, "staging": 2])
    }

    @Test(arguments: StoreKind.complete)
    func theAuditChainHoldsAndItsHeadIsKeptElsewhere(_ kind: StoreKind) throws {
        let (r, connect) = try kind.makeCompleteStore()
        let run = try startRun(r)
        _ = try r.registerVersion(newVersion(run.id))
        try r.setAlias(model: "clf", environment: "production", version: 1, actor: "ana", reason: "go")
        let second = try connect()
        try second.appendAudit(AuditDraft(actor: "bob", kind: .datasetAdded, subject: "dataset/x", payload: "{}"))
        let events = try r.auditEvents(after: 0, limit: 100)
        #expect(events.map(\.seq) == [1, 2, 3, 4])
        #expect(AuditChain.verify(events) == nil)
        #expect(try r.latestAuditSeq() == 4)
        #expect(try r.auditHeadWitness() == AuditHeadWitness(seq: 4, hash: events[3].hash))
        var streamed: [Int64] = []
        try r.forEachAuditEvent(after: 1) { streamed.append($0.seq); return $0.seq < 3 }
        #expect(streamed == [2, 3])
        #expect(try r.auditEvents(matching: AuditQuery(kinds: ["alias.changed"])).map(\.seq) == [3])
        #expect(try r.auditEvents(matching: AuditQuery(subject: "model/clf/")).map(\.seq) == [2])
        #expect(try r.auditEvents(matching: AuditQuery(subject: "model/clf")).map(\.seq) == [3])
        #expect(try r.auditEvents(matching: AuditQuery(limit: 2)).map(\.seq) == [3, 4])
        #expect(try r.auditEvents(matching: AuditQuery(since: SystemClock.nowMillis() + 60_000)).isEmpty)
    }

    @Test(arguments: StoreKind.complete)
    func decisionEventsCarryTheDigestOfTheirRecord(_ kind: StoreKind) throws {
        let r = try kind.makeCompleteStore().first
        let run = try startRun(r)
        _ = try r.registerVersion(newVersion(run.id))
        try r.setAlias(model: "clf", environment: "production", version: 1, actor: "ana", reason: "go")
        try r.recordGateResults([GateResultRecord(runID: run.id, stageRunID: 1, stage: "eval", metric: "acc", condition: ">= 0.8",
                                                  candidate: .nan, production: nil, threshold: 0.8, baselineModel: nil,
                                                  baselineVersion: nil, passed: false, explanation: "acc is NaN → FAIL")],
                                actor: "ana")
        try r.recordValidation(ValidationRecord(runID: run.id, stageRunID: 1, dataset: "d.csv", passed: true, report: "{}"))
        let digests = try r.auditedRecordDigests()
        var described = 0
        for e in try r.auditEvents(after: 0, limit: 100) where e.knownKind?.describesRecord == true {
            let payload = try #require(try JSONSerialization.jsonObject(with: Data(e.payload.utf8)) as? [String: String])
            let key = try #require(payload["record"])
            #expect(digests[key] == payload["record_sha256"], "\(e.kind) \(key)")
            described += 1
        }
        #expect(described == 4)
    }

    @Test(arguments: StoreKind.allCases)
    func theChangeTokenMovesOnEveryWrite(_ kind: StoreKind) throws {
        let (r, connect) = try kind.makeStore()
        let other = try connect()
        var last = try r.changeToken()
        func moved() throws -> Bool {
            let now = try r.changeToken()
            defer { last = now }
            return now != last
        }
        let run = try startRun(other)
        #expect(try moved())
        try other.appendMetrics([MetricRecord(runID: run.id, stageRunID: nil, stage: "s", key: "k", step: 1, value: 1, timestamp: 0)])
        #expect(try moved())
        usleep(2_000)
        try other.heartbeat(runID: run.id)
        #expect(try moved())
        try other.finishRun(id: run.id, status: .succeeded, message: nil)
        #expect(try moved())
        #expect(try !moved())
    }

    @Test(arguments: StoreKind.allCases)
    func cacheEntriesAndCopiesForCacheHits(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run1 = try startRun(r)
        let s1 = try r.addStageRuns(runID: run1.id, stages: ["eval"])[0]
        try r.appendMetrics([MetricRecord(runID: run1.id, stageRunID: s1.id, stage: "eval", key: "acc", step: nil, value: 0.9, timestamp: 5)])
        try r.recordValidation(ValidationRecord(runID: run1.id, stageRunID: s1.id, dataset: "d.csv", passed: true, report: "{\"x\":1}"))
        let entry = CacheEntry(key: "k1", pipeline: "p", stage: "eval", stageRunID: s1.id, outputs: ["m.json": "sha256:aa"], createdAt: 1)
        try r.saveCacheEntry(entry)
        #expect(try r.cacheEntry(key: "k1") == entry)
        #expect(try r.cacheEntry(key: "nope") == nil)
        let run2 = try startRun(r)
        let s2 = try r.addStageRuns(runID: run2.id, stages: ["eval"])[0]
        try r.copyMetrics(fromStageRun: s1.id, to: s2)
        try r.copyValidations(fromStageRun: s1.id, to: s2)
        let copied = try r.metrics(runID: run2.id)
        #expect(copied.map(\.key) == ["acc"] && copied[0].value == 0.9 && copied[0].stageRunID == s2.id)
        #expect(try r.validations(runID: run2.id).map(\.report) == ["{\"x\":1}"])
        if let models = r as? any ModelStore {
            try models.recordArtifacts(runID: run2.id, stageRunID: s2.id, outputs: ["m.json": "sha256:aa"])
            #expect(try models.artifacts(runID: run2.id) == ["m.json": "sha256:aa"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func jobHandlesAndProgressSurviveStageUpdates(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run = try startRun(r)
        var stage = try r.addStageRuns(runID: run.id, stages: ["train"])[0]
        stage.status = .running
        try r.updateStageRun(stage)
        try r.setStageJob(stageRunID: stage.id, pid: 4242, job: "local:h:4242")
        try r.setStageProgress(stageRunID: stage.id, done: 5, total: 10)
        stage.reason = "param changed"
        try r.updateStageRun(stage)
        let back = try #require(try r.stageRun(id: stage.id))
        #expect(back.job == "local:h:4242" && back.progressDone == 5 && back.progressTotal == 10 && back.reason == "param changed")
    }

    @Test(arguments: StoreKind.complete)
    func anApprovedRequestIsUsedByOneDeploymentOnlyAndEveryChangeIsAudited(_ kind: StoreKind) throws {
        let (r, connect) = try kind.makeCompleteStore()
        let run = try startRun(r)
        _ = try r.registerVersion(newVersion(run.id))
        let (request, _) = try r.createApprovalRequest(NewApprovalRequest(
            model: "clf", version: 1, environment: "production", packageDigest: "sha256:aa", reasons: ["env: production"], evidence: "{}",
            requester: "ana", expiresAt: SystemClock.nowMillis() + 60_000, requiredApprovals: 1), actor: "ana")
        let vote = ApprovalVoteRecord(requestID: request.id, approver: "Dana", keyFingerprint: "SHA256:k", decision: .approve, comment: "ok",
                                      at: SystemClock.nowMillis(), payload: "{}", signature: "sig")
        // A check that refuses writes nothing.
        struct No: Error {}
        let before = try r.latestAuditSeq()
        #expect(throws: No.self) { try r.recordApprovalVote(vote, audit: [], check: { _, _ in throw No() }) }
        #expect(try r.latestAuditSeq() == before && r.approvalVotes(requestID: request.id).isEmpty)
        _ = try r.recordApprovalVote(vote, audit: [], check: { current, votes in
            #expect(current.status == .pending && votes.isEmpty)
            return .approved
        })
        let approved = try #require(try r.approvalRequest(id: request.id))
        #expect(approved.status == .approved && approved.deploymentID == nil)

        func start(_ use: ApprovalUse) throws -> DeploymentRecord {
            var new = NewDeployment(environment: "production", model: "clf", version: 1, stableVersion: nil, steps: [100], actor: "a", reason: "r")
            new.approval = use
            return try r.startDeployment(new).deployment
        }
        // A digest other than the row's: refused, nothing started.
        #expect(throws: RegistryConflict.self) { try start(ApprovalUse(requestID: request.id, digest: "other")) }
        #expect(try r.deployments(environment: nil, limit: 10).isEmpty)
        let d = try start(ApprovalUse(requestID: request.id, digest: RecordDigest.of(approved)))
        #expect(try r.approvalRequest(id: request.id)?.deploymentID == d.id)
        // Used once, seen from another connection too.
        let other = try connect()
        #expect(throws: RegistryConflict.self) { try start(ApprovalUse(requestID: request.id, digest: RecordDigest.of(approved))) }
        #expect(try other.deployments(environment: nil, limit: 10).count == 1)

        // Each change of the request's row was audited with its digest; the newest matches the row.
        let events = try r.auditEvents(matching: AuditQuery(subject: "approval/\(request.id)"))
        #expect(events.map(\.kind) == ["approval.requested", "approval.voted", "approval.resolved", "approval.used"])
        let newest = try #require(events.last { $0.payload.contains("\"record\":\"approval/\(request.id)\"") })
        let digests = try r.auditedRecordDigests()
        #expect(newest.payload.contains(try #require(digests[RecordDigest.key(request: request.id)])))
        let started = try #require(try r.auditEvents(matching: AuditQuery(kinds: ["deployment.started"])).first)
        #expect(started.payload.contains("\"request\":\"\(request.id)\""))
    }

    @Test(arguments: StoreKind.complete)
    func unfinishedDeployCallsAreListedAndTakenOverOnlyWhenAllowed(_ kind: StoreKind) throws {
        let r = try kind.makeCompleteStore().first
        let call = DeployCallRecord(id: 0, callID: "production-a1", deploymentID: nil, environment: "production", model: "clf", version: 1,
                                    stableVersion: 1, traffic: 100, startedAt: 1, finishedAt: nil, outcome: nil, ok: nil, log: nil, owner: "1@h")
        #expect(try r.beginDeployCall(call, takeOver: { _ in true }).mine)
        #expect(try r.unfinishedDeployCalls().map(\.callID) == ["production-a1"])
        var again = call
        again.owner = "2@h"
        #expect(try !r.beginDeployCall(again, takeOver: { $0.owner != "1@h" }).mine)
        #expect(try r.beginDeployCall(again, takeOver: { $0.owner == "1@h" && $0.startedAt == 1 }).mine)
        #expect(try r.deployCall(callID: "production-a1")?.owner == "2@h")
        try r.finishDeployCall(callID: "production-a1", outcome: "exit code 0", ok: true, then: nil, audit: [])
        #expect(try r.unfinishedDeployCalls().isEmpty)
        #expect(try !r.beginDeployCall(again, takeOver: { _ in true }).mine)
    }
}
