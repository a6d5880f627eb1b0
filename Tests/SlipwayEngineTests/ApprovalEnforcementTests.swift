import Foundation
import Synchronization
import Testing
import SlipwayStore
@testable import SlipwayEngine

/// A workspace whose production promotions are classified by a policy with
/// two approvers, Dana and Sam, whose keys ssh-keygen makes in `keys/`.
/// Versions of `clf` are registered straight into the registry, as a
/// succeeded run would register them.
struct ApprovalFixture: Sendable {
    let root: String
    let ws: Workspace
    let registry: any Registry

    static let defaultPolicy = "high_risk_when: [{params_changed: [model.arch]}]"

    init(required: Int = 1, production: String = "{requires: none}", policy: String = Self.defaultPolicy, approvers: Bool = true) throws {
        root = NSTemporaryDirectory() + "slipway-approvals-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/keys", withIntermediateDirectories: true)
        var listed: [String] = []
        for (who, name) in [("dana", "Dana Ruiz"), ("sam", "Sam Lee")] {
            let keygen = Process()
            keygen.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            keygen.arguments = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "\(who)@example.org", "-f", root + "/keys/\(who)"]
            try keygen.run()
            keygen.waitUntilExit()
            let pub = try String(contentsOfFile: root + "/keys/\(who).pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            listed.append("    - {name: \(name), user: \(who), key: \"\(pub)\"}")
        }
        try """
        project: trust
        pipelines:
          main:
            model: clf
            stages:
              train: {cmd: "true"}
        environments:
          production: \(production)
        policy:
          \(policy)
          required_approvals: \(required)
        \(approvers ? "  approvers:\n" + listed.joined(separator: "\n") : "")

        """.write(toFile: root + "/slipway.yaml", atomically: true, encoding: .utf8)
        ws = Workspace(root: root)
        registry = try ws.openRegistry()
    }

    var spec: WorkspaceSpec { try! ws.loadSpec().spec }
    var approvals: ApprovalService { ApprovalService(workspace: ws, registry: registry, spec: spec) }
    var deployments: DeploymentService { DeploymentService(workspace: ws, registry: registry, spec: spec) }
    func key(_ who: String) -> String { root + "/keys/\(who)" }

    /// Registers the next version of `clf` from a succeeded run of Ana's.
    func version(arch: String, lr: String = "0.1") throws -> Int {
        let run = try registry.startRun(NewRun(pipeline: "main", trigger: "manual",
                                               provenance: Provenance(user: "ana", host: Provenance.hostName(), slipwayVersion: "t"),
                                               pid: getpid(), params: ["model.arch": arch, "train.lr": lr]))
        let registration = try registry.finishRun(id: run.id, status: .succeeded, message: nil, registering: NewModelVersion(
            model: "clf", runID: run.id, pipeline: "main", gitCommit: nil, artifactDigest: "sha256:" + UUID().uuidString, createdBy: "ana"))
        guard case .registered(let v)? = registration else { throw Unexpected(what: "no version registered") }
        return v.version
    }

    func promote(_ version: Int, actor: String = "ana") throws -> ApprovalService.Outcome {
        try approvals.requestPromotion(PromotionService.Request(model: "clf", version: version, environment: "production",
                                                                actor: actor, reason: "promoted"))
    }

    func request(_ outcome: ApprovalService.Outcome) throws -> ApprovalRequestRecord {
        guard case .queued(let r, _) = outcome else { throw Unexpected(what: "not queued: \(outcome)") }
        return r
    }

    func live() throws -> Int? { try registry.alias(model: "clf", environment: "production", at: nil) }

    func events(_ kind: String, subject: String? = nil) throws -> [AuditEvent] {
        try registry.auditEvents(matching: AuditQuery(kinds: [kind], subject: subject))
    }

    /// Runs SQL on the registry file with the stock sqlite3 tool, as someone
    /// with write access to the workspace would.
    func sql(_ statement: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["sqlite3", root + "/.slipway/registry.sqlite", statement]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw Unexpected(what: "sqlite3 failed on \(statement)") }
    }

    struct Unexpected: Error, CustomStringConvertible {
        var what: String
        var description: String { what }
    }
}

@Suite struct ApprovalEnforcementTests {
    /// Must fix 1: a request row edited to `approved` carries no signatures;
    /// the agent refuses to carry it out, audits the refusal once, and
    /// `audit verify` names the edited row.
    @Test func anApprovalRequestEditedToApprovedDoesNotPromote() throws {
        let f = try ApprovalFixture(required: 2)
        let r = try f.request(try f.promote(try f.version(arch: "gbm")))
        try f.sql("UPDATE approvalRequest SET status = 'approved', resolvedAt = \(SystemClock.nowMillis()) WHERE id = \(r.id)")
        let agent = Agent(workspace: f.ws, registry: f.registry)
        let lines = agent.pass()
        #expect(try f.live() == nil, "\(lines)")
        #expect(try f.registry.deployments(environment: "production", limit: 10).isEmpty)
        let refused = try f.events("approval.refused", subject: "approval/\(r.id)")
        #expect(refused.count == 1)
        #expect(refused.first?.payload.contains("0 valid approvals of the 2 required") == true, "\(refused)")
        // Refused once; not tried again on every pass.
        agent.pass()
        #expect(try f.events("approval.refused", subject: "approval/\(r.id)").count == 1)
        let report = try AuditVerifier(registry: f.registry, workspace: f.ws).verify()
        #expect(report.problem?.message.contains("approval/\(r.id) was altered") == true, "\(String(describing: report.problem))")
    }

    /// Must fix 1: a vote row inserted without a valid signature does not
    /// count toward the approvals a promotion needs, even when the last real
    /// vote completes the count.
    @Test func aForgedVoteRowDoesNotCountTowardTheApprovals() throws {
        let f = try ApprovalFixture(required: 2)
        let r = try f.request(try f.promote(try f.version(arch: "gbm")))
        try f.sql("""
            INSERT INTO approvalVote (requestID, approver, keyFingerprint, decision, comment, at, payload, signature)
            VALUES (\(r.id), 'Sam Lee', 'SHA256:forged', 'approve', 'ok', 1, 'x', 'not a signature')
            """)
        let outcome = try f.approvals.vote(requestID: r.id, decision: .approve, keyPath: f.key("dana"), comment: "ok", voter: "dana")
        if case .approved = outcome { Issue.record("one valid vote of two approved the request: \(outcome)") }
        #expect(try f.live() == nil)
        #expect(try f.registry.approvalRequest(id: r.id)?.status == .pending)
    }

    /// Must fix 1: a deployment row inserted behind Slipway's back (ready to
    /// make a high-risk version live, no approval) is not driven: the agent
    /// ends it failed, audited, and nothing goes live.
    @Test func aDeploymentRowInsertedBehindSlipwaysBackDoesNotGoLive() throws {
        let f = try ApprovalFixture(required: 2)
        let v = try f.version(arch: "gbm")
        let now = SystemClock.nowMillis()
        try f.sql("""
            INSERT INTO deployment (environment, model, version, stableVersion, steps, state, phase, step, traffic, inconclusive,
                                    startedAt, updatedAt, actor, reason, detail)
            VALUES ('production', 'clf', \(v), NULL, '100', 'progressing', 'promote', 0, 100, 0, \(now), \(now), 'ana', 'approved (request 1)', 'x')
            """)
        let lines = Agent(workspace: f.ws, registry: f.registry).pass()
        #expect(try f.live() == nil, "\(lines)")
        let d = try #require(try f.registry.deployments(environment: "production", limit: 1).first)
        #expect(d.state == .failed && d.detail.contains("not as Slipway started it"), "\(d)")
    }

    /// Must fix 1: `audit verify` checks that a promotion started from an
    /// approval request has the valid votes behind it.
    @Test func auditVerifyFindsAPromotionWithoutTheVotesBehindIt() throws {
        let f = try ApprovalFixture()
        let r = try f.request(try f.promote(try f.version(arch: "gbm")))
        #expect(try AuditVerifier(registry: f.registry, workspace: f.ws).verify().ok)
        try f.registry.appendAudit(AuditDraft(actor: "slipway-agent", kind: .deploymentStarted, subject: "deployment/1", payload: AuditChain.payload([
            "model": "clf", "version": "1", "environment": "production", "steps": "100", "reason": "approved (request \(r.id))",
            "request": String(r.id)])))
        let report = try AuditVerifier(registry: f.registry, workspace: f.ws).verify()
        #expect(report.problem?.message.contains("approval request \(r.id), which has 0 valid approvals of the 1 required") == true,
                "\(String(describing: report.problem))")

        // With the signature behind it, the same trail verifies.
        let g = try ApprovalFixture()
        let s = try g.request(try g.promote(try g.version(arch: "gbm")))
        _ = try g.approvals.vote(requestID: s.id, decision: .approve, keyPath: g.key("dana"), comment: "ok", voter: "dana")
        #expect(try g.live() == 1)
        let started = try g.events(AuditKind.deploymentStarted.rawValue)
        #expect(started.first?.payload.contains("\"request\":\"\(s.id)\"") == true, "\(started)")
        let ok = try AuditVerifier(registry: g.registry, workspace: g.ws).verify()
        #expect(ok.ok, "\(String(describing: ok.problem))")
    }

    /// Must fix 4: a high-risk promotion refused because nobody may approve it
    /// leaves the registry as it was (not even the risk classification).
    @Test func aHighRiskPromotionRefusedForWantOfApproversRecordsNothing() throws {
        let f = try ApprovalFixture(approvers: false)
        let v = try f.version(arch: "gbm")
        let before = try f.registry.latestAuditSeq()
        #expect(throws: ApprovalService.Refusal.self) { try f.promote(v) }
        #expect(try f.registry.latestAuditSeq() == before)
        #expect(try f.registry.approvalRequests(all: true, limit: 10).isEmpty)
    }

    /// Must fix 7a: the vote lands and the request is approved; the promotion
    /// it starts is aborted by someone else while its deploy call is in
    /// flight. The vote is reported as recorded (with the promotion's fate),
    /// not as a failure, and the call's end is journalled.
    @Test func aRecordedVoteIsReportedAsRecordedWhenItsPromotionChangesMeanwhile() throws {
        let f = try ApprovalFixture(production: "{requires: none, deploy: \"cat gate.fifo > /dev/null\"}")
        #expect(mkfifo(f.root + "/gate.fifo", 0o600) == 0)
        let r = try f.request(try f.promote(try f.version(arch: "gbm")))
        let result = Mutex<Result<ApprovalService.VoteOutcome, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let outcome = Result { try f.approvals.vote(requestID: r.id, decision: .approve, keyPath: f.key("dana"), comment: "ok", voter: "dana") }
            result.withLock { $0 = outcome }
            done.signal()
        }
        // The deploy call is in flight once its command opens the fifo.
        let writer = try #require(openWhenRead(f.root + "/gate.fifo"))
        _ = try f.deployments.abort(environment: "production", actor: "oncall", reason: "pager")
        close(writer)
        #expect(done.wait(timeout: .now() + 60) == .success)
        let outcome = try #require(result.withLock { $0 })
        switch outcome {
        case .success(.approved): break
        case .success(let other): Issue.record("the vote was not the approving one: \(other)")
        case .failure(let error): Issue.record("a recorded vote was reported as a failure: \(error)")
        }
        #expect(try f.registry.approvalVotes(requestID: r.id).count == 1)
        #expect(try f.registry.approvalRequest(id: r.id)?.status == .approved)
        #expect(try f.registry.deployCall(callID: "production-d1-s1")?.finishedAt != nil)
    }

    /// Must fix 7c: an approval request is used once. Long after it was
    /// carried out (more deployments since than the agent looks back over),
    /// the agent does not start it again.
    @Test func anApprovalRequestIsCarriedOutOnlyOnce() throws {
        let f = try ApprovalFixture()
        let r = try f.request(try f.promote(try f.version(arch: "gbm")))
        _ = try f.approvals.vote(requestID: r.id, decision: .approve, keyPath: f.key("dana"), comment: "ok", voter: "dana")
        #expect(try f.live() == 1)
        // More deployments since than the agent used to look back over (each supersedes the one before).
        let b = try f.version(arch: "gbm", lr: "0.3")
        for _ in 0..<51 {
            _ = try f.registry.startDeployment(NewDeployment(environment: "production", model: "clf", version: b, stableVersion: 1, steps: [100],
                                                             actor: "ana", reason: "promoted"))
        }
        let lines = Agent(workspace: f.ws, registry: f.registry).pass()
        #expect(try f.live() == b, "\(lines)")
        #expect(try f.registry.deployments(environment: "production", limit: 100).filter { $0.version == 1 }.count == 1)
    }

    /// Must fix 7b: `rollback` while the agent keeps updating the same
    /// deployment (a `rollback_when` watch measured on every pass) succeeds
    /// every time instead of failing with "changed meanwhile".
    @Test func aRollbackRacingTheAgentSucceeds() throws {
        let f = try ApprovalFixture(production: """

            requires: none
            canary: {steps: [100], interval: 0s}
            rollback_when: {e: {cmd: "echo '{\\"e\\": 0}'", fail_if: "> 1"}}
            watch: 1h
        """, policy: "high_risk_when: []", approvers: false)
        let v1 = try f.version(arch: "gbm"), v2 = try f.version(arch: "gbm", lr: "0.2")
        _ = try f.promote(v1)
        let agent = Agent(workspace: f.ws, registry: f.registry)
        let stopped = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            agent.run(interval: 0.001, handleSignals: false)
            stopped.signal()
        }
        defer {
            agent.stop()
            _ = stopped.wait(timeout: .now() + 30)
        }
        for round in 1...15 {
            #expect(throws: Never.self, "promote, round \(round)") { _ = try f.promote(v2) }
            #expect(throws: Never.self, "rollback, round \(round)") {
                _ = try f.deployments.rollback(environment: "production", model: nil, to: nil, reason: "round \(round)", actor: "oncall")
            }
        }
        #expect(try f.live() == v1)
    }
}

/// Deploy calls in one environment land one at a time, in the order they
/// are made.
@Suite struct DeployCallOrderTests {
    /// A rollback while the agent's canary step call is still running waits
    /// for that call to end before making its own, so the environment ends
    /// on the stable version, not on the step that finished last.
    @Test func aRollbackDuringACallInFlightMakesItsCallLast() throws {
        let f = try ApprovalFixture(production: """

            requires: none
            deploy: ./deploy.sh
            canary: {steps: [10, 100], interval: 1h}
        """, policy: "high_risk_when: []", approvers: false)
        try """
        #!/bin/sh
        echo "start $SLIPWAY_DEPLOYMENT_ID" >> calls.log
        if [ "$SLIPWAY_TRAFFIC" != 100 ]; then cat gate.fifo > /dev/null; fi
        echo "$SLIPWAY_VERSION $SLIPWAY_TRAFFIC" > state
        echo "end $SLIPWAY_DEPLOYMENT_ID" >> calls.log
        """.write(toFile: f.root + "/deploy.sh", atomically: true, encoding: .utf8)
        chmod(f.root + "/deploy.sh", 0o755)
        #expect(mkfifo(f.root + "/gate.fifo", 0o600) == 0)
        let v1 = try f.version(arch: "a"), v2 = try f.version(arch: "b")
        _ = try f.promote(v1)
        let promoted = DispatchSemaphore(value: 0), rolledBack = DispatchSemaphore(value: 0), waiting = DispatchSemaphore(value: 0)
        let failures = Mutex<[String]>([])
        Thread.detachNewThread {
            do { _ = try f.promote(v2) } catch { failures.withLock { $0.append("promote: \(error)") } }
            promoted.signal()
        }
        let writer = try #require(openWhenRead(f.root + "/gate.fifo"))
        Thread.detachNewThread {
            var service = f.deployments
            service.onWait = { _ in waiting.signal() }
            do { _ = try service.rollback(environment: "production", model: nil, to: nil, reason: "pager", actor: "oncall") } catch {
                failures.withLock { $0.append("rollback: \(error)") }
            }
            rolledBack.signal()
        }
        #expect(waiting.wait(timeout: .now() + 60) == .success)
        close(writer)
        #expect(promoted.wait(timeout: .now() + 60) == .success && rolledBack.wait(timeout: .now() + 60) == .success)
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let calls = try String(contentsOfFile: f.root + "/calls.log", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(calls.suffix(4) == ["start production-d2-s1", "end production-d2-s1", "start production-d2-rollback", "end production-d2-rollback"],
                "\(calls)")
        #expect(try String(contentsOfFile: f.root + "/state", encoding: .utf8) == "1 100\n")
        #expect(try f.live() == v1)
        #expect(try f.registry.unfinishedDeployCalls().isEmpty)
    }
}

/// Opens a fifo for writing once a reader has it open (polling with
/// O_NONBLOCK, which fails with ENXIO until then); nil after 60 s.
func openWhenRead(_ path: String) -> Int32? {
    let end = Date().addingTimeInterval(60)
    while Date() < end {
        let fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        if fd >= 0 { return fd }
        usleep(5_000)
    }
    return nil
}
