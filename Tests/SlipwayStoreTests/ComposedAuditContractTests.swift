import Foundation
import SlipwayEngine
import Testing
@testable import SlipwayStore

/// What every store does with what the engine hands it: the audit event of a
/// write, composed by the caller, is appended exactly as given (the store
/// adds only its place in the chain), and the requests a new approval request
/// supersedes are the ones the caller's rule names, from the pending requests
/// the store shows it in the transaction. Also the change feed, where a store
/// has one.
@Suite struct ComposedAuditContractTests {
    /// A draft that names the row it was composed from, so the test sees the
    /// store handed the composer the row as written.
    static func marked(_ kind: AuditKind, _ subject: String) -> AuditDraft {
        AuditDraft(actor: "composer", kind: kind, subject: subject, payload: AuditChain.payload(["composed": subject]))
    }

    static func newest(_ r: any Registry) throws -> AuditEvent {
        try #require(try r.auditEvents(matching: AuditQuery(limit: 1)).last)
    }

    static func expectNewest(_ r: any Registry, _ draft: AuditDraft) throws {
        let e = try newest(r)
        #expect(e.actor == draft.actor && e.kind == draft.kind.rawValue && e.subject == draft.subject && e.payload == draft.payload,
                "\(e)")
    }

    @Test(arguments: StoreKind.allCases)
    func theEventsOfRunsAndTheCatalogueAreAppendedAsComposed(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run = try r.startRun(NewRun(pipeline: "p", trigger: "manual", provenance: contractProvenance, pid: 1, params: [:]),
                                 audit: { Self.marked(.runStarted, "started/\($0.id)/\($0.user)") })
        try Self.expectNewest(r, Self.marked(.runStarted, "started/\(run.id)/ana"))

        let v = try r.registerVersion(newVersion(run.id), audit: { Self.marked(.modelRegistered, "registered/\($0.model)/\($0.version)") })
        try Self.expectNewest(r, Self.marked(.modelRegistered, "registered/clf/\(v.version)"))

        let moved = try r.setAlias(model: "clf", environment: "production", version: v.version, actor: "ana", reason: "ship",
                                   cause: .promotion, beginning: nil,
                                   audit: { Self.marked(.aliasChanged, "alias/\($0.id)/\($0.version ?? 0)") })
        try Self.expectNewest(r, Self.marked(.aliasChanged, "alias/\(moved.id)/\(v.version)"))

        let asked = try r.requestCancel(runID: run.id, audit: { Self.marked(.runCancelRequested, "cancel/\($0.id)/\($0.cancelRequestedAt != nil)") })
        #expect(asked?.cancelRequestedAt != nil)
        try Self.expectNewest(r, Self.marked(.runCancelRequested, "cancel/\(run.id)/true"))

        let me = RunOwner(pid: 2, host: "other-host")
        #expect(try r.takeOverRun(id: run.id, from: run.owner, to: me, audit: Self.marked(.runTakenOver, "taken")))
        try Self.expectNewest(r, Self.marked(.runTakenOver, "taken"))
        // Not taken (the owner is no longer `run.owner`): nothing appended.
        let seq = try r.latestAuditSeq()
        #expect(try r.takeOverRun(id: run.id, from: run.owner, to: me, audit: Self.marked(.runTakenOver, "again")) == false)
        #expect(try r.latestAuditSeq() == seq)

        let registration = try r.finishRun(id: run.id, status: .succeeded, message: nil, registering: newVersion(run.id),
                                           unchanged: { _ in false },
                                           audit: { Self.marked(.runFinished, "finished/\($0.id)/\($0.status.rawValue)") },
                                           registered: { Self.marked(.modelRegistered, "with/\($0.version)") })
        guard case .registered(let second)? = registration else { Issue.record("not registered: \(String(describing: registration))"); return }
        let trail = try r.auditEvents(matching: AuditQuery(limit: 2))
        // The version is registered first, then the run is finished (as it was: running).
        #expect(trail.map(\.subject) == ["with/\(second.version)", "finished/\(run.id)/running"])

        let other = try startRun(r, pipeline: "q")
        try r.markInterrupted(runID: other.id, reason: "gone", audit: Self.marked(.runInterrupted, "interrupted"))
        try Self.expectNewest(r, Self.marked(.runInterrupted, "interrupted"))
        // A run that is not running is left alone, and nothing is appended.
        let after = try r.latestAuditSeq()
        try r.markInterrupted(runID: other.id, reason: "gone", audit: Self.marked(.runInterrupted, "again"))
        #expect(try r.latestAuditSeq() == after)
        #expect(AuditChain.verify(try r.auditEvents(after: 0, limit: 1_000)) == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func theCallersRuleDecidesWhichPendingRequestsAreSuperseded(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let a = try r.createApprovalRequest(DecisionStoreContractTests.request("clf"), actor: "ana").request
        let b = try r.createApprovalRequest(DecisionStoreContractTests.request("other", environment: "staging"), actor: "ana").request
        // A rule that supersedes every pending request: the store shows it all
        // of them, oldest first, and applies what it says.
        var shown: [Int64] = []
        let (c, superseded) = try r.createApprovalRequest(
            DecisionStoreContractTests.request("third"),
            superseding: { pending in shown = pending.map(\.id); return pending.map(\.id).reversed() },
            requested: { Self.marked(.approvalRequested, "requested/\($0.id)/\($0.status.rawValue)") },
            superseded: { Self.marked(.approvalResolved, "superseded/\($0.id)/\($0.status.rawValue)") })
        #expect(shown == [a.id, b.id])
        #expect(superseded == [a.id, b.id])
        #expect(try r.approvalRequest(id: a.id)?.status == .superseded)
        #expect(try r.approvalRequest(id: b.id)?.status == .superseded)
        #expect(try r.approvalRequest(id: a.id)?.resolvedAt != nil)
        #expect(try r.auditEvents(matching: AuditQuery(limit: 3)).map(\.subject)
                == ["superseded/\(a.id)/superseded", "superseded/\(b.id)/superseded", "requested/\(c.id)/pending"])

        // A rule naming a request that is not pending is refused, and nothing is written.
        let seq = try r.latestAuditSeq()
        #expect(throws: RegistryConflict.self) {
            try r.createApprovalRequest(DecisionStoreContractTests.request("fourth"), superseding: { _ in [a.id] },
                                        requested: { Self.marked(.approvalRequested, "r/\($0.id)") },
                                        superseded: { Self.marked(.approvalResolved, "s/\($0.id)") })
        }
        #expect(try r.latestAuditSeq() == seq)
        #expect(try r.approvalRequests(all: true, limit: 10).count == 3)
        #expect(try r.approvalRequests(all: false, limit: 10).map(\.id) == [c.id])

        // A rule naming none leaves every pending request as it is.
        let d = try r.createApprovalRequest(DecisionStoreContractTests.request("third"), superseding: { _ in [] },
                                            requested: { Self.marked(.approvalRequested, "r/\($0.id)") },
                                            superseded: { Self.marked(.approvalResolved, "s/\($0.id)") })
        #expect(d.superseded.isEmpty)
        #expect(try r.approvalRequests(all: false, limit: 10).map(\.id) == [d.request.id, c.id])
    }

    @Test(arguments: StoreKind.allCases)
    func votesExpiryAndUseAreAuditedAsComposed(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let request = try r.createApprovalRequest(DecisionStoreContractTests.request("clf"), actor: "ana").request
        let vote = ApprovalVoteRecord(requestID: request.id, approver: "dana", keyFingerprint: "SHA256:k", decision: .approve,
                                      comment: "ok", at: SystemClock.nowMillis(), payload: "signed", signature: "sig")
        let v = try r.recordApprovalVote(vote, audit: [], check: { _, _ in .approved },
                                         voted: { Self.marked(.approvalVoted, "vote/\($0.id)") },
                                         resolved: { Self.marked(.approvalResolved, "resolved/\($0.id)/\($0.status.rawValue)") })
        #expect(try r.auditEvents(matching: AuditQuery(limit: 2)).map(\.subject) == ["vote/\(v.id)", "resolved/\(request.id)/approved"])

        let approved = try #require(try r.approvalRequest(id: request.id))
        var new = NewDeployment(environment: "production", model: "clf", version: 1, stableVersion: nil, steps: [100],
                                actor: "ana", reason: "ship")
        new.approval = ApprovalUse(requestID: request.id, digest: RecordDigest.of(approved))
        let (d, _) = try r.startDeployment(new, audit: DeploymentStartEvents(
            ended: { Self.marked(.deploymentEnded, "ended/\($0.id)") },
            started: { Self.marked(.deploymentStarted, "started/\($0.id)") },
            approvalUsed: { Self.marked(.approvalUsed, "used/\($0.id)/\($0.deploymentID ?? 0)") }))
        #expect(try r.auditEvents(matching: AuditQuery(limit: 2)).map(\.subject) == ["started/\(d.id)", "used/\(request.id)/\(d.id)"])
        let (next, aborted) = try r.startDeployment(NewDeployment(environment: "production", model: "clf", version: 1, stableVersion: nil,
                                                                  steps: [100], actor: "sam", reason: "again"),
                                                    audit: DeploymentStartEvents(
                                                        ended: { Self.marked(.deploymentEnded, "ended/\($0.id)/\($0.state.rawValue)") },
                                                        started: { Self.marked(.deploymentStarted, "started/\($0.id)") },
                                                        approvalUsed: { Self.marked(.approvalUsed, "used/\($0.id)") }))
        #expect(aborted?.id == d.id)
        #expect(try r.auditEvents(matching: AuditQuery(limit: 2)).map(\.subject) == ["ended/\(d.id)/aborted", "started/\(next.id)"])

        let stale = try r.createApprovalRequest(DecisionStoreContractTests.request("old", expiresAt: 1), actor: "ana").request
        #expect(try r.expireApprovalRequests(now: 2, audit: { Self.marked(.approvalResolved, "expired/\($0.id)/\($0.status.rawValue)") })
                == [stale.id])
        try Self.expectNewest(r, Self.marked(.approvalResolved, "expired/\(stale.id)/expired"))
    }

    @Test(arguments: StoreKind.allCases)
    func aChangeFeedWhereTheStoreHasOneAnnouncesAnotherConnectionsWrite(_ kind: StoreKind) throws {
        let (first, connect) = try kind.makeStore()
        guard let feed = try first.changeFeed() else {
            // No push channel (SQLite): live views poll the change token, which moves.
            let before = try first.changeToken()
            _ = try startRun(try connect())
            #expect(try first.changeToken() != before)
            return
        }
        defer { feed.close() }
        _ = try startRun(try connect())
        #expect(try feed.wait(timeout: 30), "another connection's write did not wake the feed")
    }
}

extension ComposedAuditContractTests {
    @Test(arguments: StoreKind.allCases)
    func theEventsOfDataEditsAndGatesAreAppendedAsComposed(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let (dataset, isNew) = try r.addDataset(path: "d.csv", hash: "h1", size: 3, addedBy: "ana",
                                                audit: { Self.marked(.datasetAdded, "dataset/\($0.id)/\($0.path)") })
        #expect(isNew)
        try Self.expectNewest(r, Self.marked(.datasetAdded, "dataset/\(dataset.id)/d.csv"))
        // The same version again: nothing new, nothing appended.
        let seq = try r.latestAuditSeq()
        #expect(try r.addDataset(path: "d.csv", hash: "h1", size: 3, addedBy: "ana", audit: { Self.marked(.datasetAdded, "again/\($0.id)") }).isNew == false)
        #expect(try r.latestAuditSeq() == seq)

        let run = try startRun(r)
        let v = try r.registerVersion(newVersion(run.id))
        let edited = try r.editVersion(model: "clf", version: v.version, tags: ["team": "risk"], description: "d",
                                       audit: Self.marked(.modelEdited, "edited"))
        #expect(edited.tags == ["team": "risk"] && edited.description == "d")
        try Self.expectNewest(r, Self.marked(.modelEdited, "edited"))

        let stage = try r.addStageRuns(runID: run.id, stages: ["eval"])[0]
        let gate = GateResultRecord(runID: run.id, stageRunID: stage.id, stage: "eval", metric: "acc", condition: ">= 0.9", candidate: 0.95,
                                    production: nil, threshold: 0.9, baselineModel: nil, baselineVersion: nil, passed: true, explanation: "ok")
        try r.recordGateResults([gate, gate], audit: { Self.marked(.gateDecided, "gate/\($0.metric)/\($1)") })
        let gates = try r.auditEvents(matching: AuditQuery(kinds: [AuditKind.gateDecided.rawValue])).map(\.subject)
        #expect(gates.count == 2 && gates[0] != gates[1] && gates.allSatisfy { $0.hasPrefix("gate/acc/") })
        // The id handed to the composer is the row's: the digests name the rows.
        #expect(Set(try r.auditedRecordDigests().keys.filter { $0.hasPrefix("gate/") }.map { "gate/acc/" + $0.dropFirst(5) }) == Set(gates))

        try r.recordValidation(ValidationRecord(runID: run.id, stageRunID: stage.id, dataset: "d.csv", passed: true, report: "{}"),
                               audit: { Self.marked(.dataValidated, "validated/\($0.dataset)/\($1 > 0)/\($2 ?? "none")") })
        try Self.expectNewest(r, Self.marked(.dataValidated, "validated/d.csv/true/ana"))
        // A report that belongs to no run is kept, not audited.
        let before = try r.latestAuditSeq()
        try r.recordValidation(ValidationRecord(runID: nil, stageRunID: nil, dataset: "d.csv", passed: true, report: "{}"),
                               audit: { _, _, _ in Self.marked(.dataValidated, "never") })
        #expect(try r.latestAuditSeq() == before)
    }
}

extension ComposedAuditContractTests {
    @Test(arguments: StoreKind.allCases)
    func aStageThatEndsIsAuditedAsComposedWithItsRunsUser(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run = try startRun(r)
        var stages = try r.addStageRuns(runID: run.id, stages: ["a", "b"])
        let compose: @Sendable (StageRunRecord, String?) -> AuditDraft = { Self.marked(.stageFinished, "stage/\($0.stage)/\($0.status.rawValue)/\($1 ?? "none")") }
        // Starting is not an end: nothing appended.
        let seq = try r.latestAuditSeq()
        stages[0].status = .running
        try r.updateStageRun(stages[0], audit: compose)
        #expect(try r.latestAuditSeq() == seq)
        stages[0].status = .succeeded
        stages[0].inputs = "{}"
        try r.updateStageRun(stages[0], audit: compose)
        try Self.expectNewest(r, Self.marked(.stageFinished, "stage/a/succeeded/ana"))
        // Saved again in the same state: not a new end.
        let after = try r.latestAuditSeq()
        try r.updateStageRun(stages[0], audit: compose)
        #expect(try r.latestAuditSeq() == after)

        var restored = stages[1]
        restored.status = .cached
        restored.inputs = "{}"
        try r.recordRestoredStages([RestoredStage(stageRun: restored, source: stages[0].id, datasets: [:], outputs: [:])], audit: compose)
        try Self.expectNewest(r, Self.marked(.stageFinished, "stage/b/cached/ana"))
    }
}

extension ComposedAuditContractTests {
    static func monitorBatch(_ hash: String) -> MonitorBatchRecord {
        MonitorBatchRecord(monitor: "inputs", contentHash: hash, source: "b.csv", rows: 10, receivedAt: SystemClock.nowMillis(), status: .drifted,
                           driftedFeatures: 1, features: 2, driftShare: 0.5, reason: "temp drifted", performance: "{}")
    }

    @Test(arguments: StoreKind.allCases)
    func batchesAlertsTriggersAndPushesAreAuditedAsComposedWithTheCallersTriggerRule(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let alert = NewAlert(kind: "drift", detail: "{}", suppressed: nil, pipelines: [], actor: "slipway")
        // The rule names three events, two with one key: the second of those is not recorded.
        var shown: MonitorAlertRecord?
        let recorded = try r.recordBatch(NewBatch(batch: Self.monitorBatch("h1"), scores: [], alert: alert), audit: BatchEvents(
            recorded: { Self.marked(.batchRecorded, "batch/\($0.id)") },
            alerted: { Self.marked(.monitorAlert, "alert/\($0.id)/\($0.batchID)") },
            triggers: { a in
                shown = a
                return [NewTrigger(pipeline: "retrain", kind: "drift", key: "k/\(a.id)", cause: ["why": "x"]),
                        NewTrigger(pipeline: "report", kind: "drift", key: "k/\(a.id)", cause: [:]),
                        NewTrigger(pipeline: "retrain", kind: "drift", key: "k/\(a.id)", cause: [:])]
            },
            fired: { Self.marked(.triggerFired, "fired/\($0.pipeline)/\($1)") }))
        let a = try #require(recorded.alert)
        #expect(shown?.id == a.id && a.id > 0)
        #expect(recorded.events.map(\.pipeline) == ["retrain", "report"] && a.triggerID == recorded.events.first?.id)
        #expect(recorded.events.first?.causeFields == ["why": "x"])
        #expect(try r.auditEvents(matching: AuditQuery(limit: 4)).map(\.subject)
                == ["batch/\(recorded.batch.id)", "alert/\(a.id)/\(recorded.batch.id)",
                    "fired/retrain/\(recorded.events[0].id)", "fired/report/\(recorded.events[1].id)"])
        // A rule naming none: the alert starts nothing and links no event.
        let quiet = try r.recordBatch(NewBatch(batch: Self.monitorBatch("h2"), scores: [], alert: alert), audit: BatchEvents(
            recorded: { Self.marked(.batchRecorded, "batch/\($0.id)") }, alerted: { Self.marked(.monitorAlert, "alert/\($0.id)") },
            triggers: { _ in [] }, fired: { _, _ in Self.marked(.triggerFired, "never") }))
        #expect(quiet.events.isEmpty && quiet.alert?.triggerID == nil)
        try Self.expectNewest(r, Self.marked(.monitorAlert, "alert/\(quiet.alert!.id)"))

        let fired = try #require(try r.fireTrigger(NewTrigger(pipeline: "retrain", kind: "commit", key: "commit:main:abc", cause: [:], state: .skipped),
                                                   audit: { Self.marked(.triggerFired, "fired/\($0.key)/\($1)") }))
        #expect(fired.state == .skipped)
        try Self.expectNewest(r, Self.marked(.triggerFired, "fired/commit:main:abc/\(fired.id)"))
        let seq = try r.latestAuditSeq()
        #expect(try r.fireTrigger(NewTrigger(pipeline: "retrain", kind: "commit", key: "commit:main:abc", cause: [:]),
                                  audit: { _, _ in Self.marked(.triggerFired, "again") }) == nil)
        #expect(try r.latestAuditSeq() == seq)

        let run = try startRun(r)
        let v = try r.registerVersion(newVersion(run.id))
        let push = try r.recordImagePush(ImagePushRecord(model: "clf", version: v.version, reference: "docker://reg/clf:1", digest: "sha256:d",
                                                         pushedAt: 0, pushedBy: "ana"),
                                         audit: { Self.marked(.imagePushed, "push/\($0.id)/\($0.pushedAt > 0)") })
        try Self.expectNewest(r, Self.marked(.imagePushed, "push/\(push.id)/true"))
    }

    /// The engine's composition of these events, as the trail has always said them.
    @Test(arguments: StoreKind.allCases)
    func theEnginesMonitorTriggerAndPushEventsKeepTheirPayloads(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let alert = NewAlert(kind: "performance", detail: "{\"auc\":0.5}", suppressed: nil, pipelines: ["retrain"], actor: "agent")
        let recorded = try r.recordBatch(NewBatch(batch: Self.monitorBatch("h1"), scores: [], alert: alert))
        let a = try #require(recorded.alert)
        let b = recorded.batch.id
        let trail = try r.auditEvents(matching: AuditQuery(limit: 3))
        #expect(trail.map(\.kind) == ["monitor.batch", "monitor.alert", "trigger.fired"])
        #expect(trail.map(\.actor) == ["slipway", "agent", "agent"])
        #expect(trail.map(\.subject) == ["monitor/inputs/batch/\(b)", "monitor/inputs/alert/\(a.id)", "trigger/\(recorded.events[0].id)"])
        #expect(trail[0].payload == AuditChain.payload(["monitor": "inputs", "sha256": "h1", "source": "b.csv", "rows": "10", "status": "drifted",
                                                        "drifted": "1 of 2"]))
        #expect(trail[1].payload == AuditChain.payload(["monitor": "inputs", "batch": String(b), "kind": "performance", "detail": "{\"auc\":0.5}"]))
        #expect(trail[2].payload == AuditChain.payload(["monitor": "inputs", "alert": String(a.id), "batch": String(b), "kind": "performance",
                                                        "detail": "{\"auc\":0.5}", "pipeline": "retrain",
                                                        "key": "performance:inputs:alert/\(a.id)"]))
        #expect(recorded.events.map(\.kind) == ["performance"])
        // Suppressed: the alert says why, and fires nothing.
        var quiet = alert
        quiet.suppressed = "inside the cool-down"
        let second = try r.recordBatch(NewBatch(batch: Self.monitorBatch("h2"), scores: [], alert: quiet))
        #expect(second.events.isEmpty)
        #expect(try Self.newest(r).payload == AuditChain.payload(["monitor": "inputs", "batch": String(second.batch.id), "kind": "performance",
                                                                  "detail": "{\"auc\":0.5}", "suppressed": "inside the cool-down"]))

        let run = try startRun(r)
        let v = try r.registerVersion(newVersion(run.id))
        _ = try r.recordImagePush(ImagePushRecord(model: "clf", version: v.version, reference: "docker://reg/clf:1", digest: "sha256:d",
                                                  pushedAt: 0, pushedBy: "ana"))
        let pushed = try Self.newest(r)
        #expect(pushed.kind == "image.pushed" && pushed.actor == "ana" && pushed.subject == "model/clf/\(v.version)")
        #expect(pushed.payload == AuditChain.payload(["reference": "docker://reg/clf:1", "digest": "sha256:d"]))
        _ = try r.fireTrigger(pipeline: "retrain", kind: "commit", key: "commit:main:abc", cause: ["commit": "abc"], actor: "slipway-agent")
        let commit = try Self.newest(r)
        #expect(commit.actor == "slipway-agent" && commit.kind == "trigger.fired")
        #expect(commit.payload == AuditChain.payload(["commit": "abc", "pipeline": "retrain", "key": "commit:main:abc"]))
    }
}
