import Foundation
import Synchronization
import Testing
import SlipwayStore
@testable import SlipwayEngine

/// A launcher that records what it was asked to start.
final class RecordingLauncher: RunLauncher, @unchecked Sendable {
    let asked = Mutex<[(pipeline: String, trigger: String, claiming: [Int64])]>([])
    func launch(pipeline: String, trigger: String, claiming: [Int64]) throws {
        asked.withLock { $0.append((pipeline, trigger, claiming)) }
    }
}

/// A workspace in a temporary folder with a spec, its registry open.
struct ServiceFixture {
    let root: String
    let ws: Workspace
    let registry: any Registry

    init(_ yaml: String) throws {
        root = NSTemporaryDirectory() + "slipway-service-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try yaml.write(toFile: root + "/slipway.yaml", atomically: true, encoding: .utf8)
        ws = Workspace(root: root)
        registry = try ws.openRegistry()
    }

    var spec: WorkspaceSpec { try! ws.loadSpec().spec }

    func write(_ path: String, _ text: String) throws {
        let full = root + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
    }

    /// Registers the next version of `clf`, as a succeeded run would.
    func version() throws -> Int {
        let run = try registry.startRun(NewRun(pipeline: "main", trigger: "manual",
                                               provenance: Provenance(user: "ana", host: Provenance.hostName(), slipwayVersion: "t"),
                                               pid: getpid(), params: [:]))
        let registration = try registry.finishRun(id: run.id, status: .succeeded, message: nil, registering: NewModelVersion(
            model: "clf", runID: run.id, pipeline: "main", gitCommit: nil, artifactDigest: "sha256:" + UUID().uuidString, createdBy: "ana"))
        guard case .registered(let v)? = registration else { throw ApprovalFixture.Unexpected(what: "no version registered") }
        return v.version
    }
}

@Suite struct DeploymentServiceTests {
    static let yaml = """
    project: svc
    pipelines:
      main:
        model: clf
        stages:
          train: {cmd: "true"}
    environments:
      production:
        canary:
          steps: [25, 100]
          interval: 0s
          analysis:
            error_rate: {http: "http://metrics.test/q?v=${SLIPWAY_ANALYSIS_VERSION}", value: rate, fail_if: "> 0.02"}

    """

    /// The analysis answers through the fake: version 3 errs, others do not.
    static func metrics(failing: Int) -> FakeHTTP {
        FakeHTTP { request throws(HTTPFailure) in
            let rate = request.url.hasSuffix("v=\(failing)") ? 0.2 : 0.01
            return HTTPResponse(status: 200, body: Data(#"{"rate": \#(rate)}"#.utf8))
        }
    }

    @Test func aHealthyCanaryGoesLiveWithItsEvidenceKept() throws {
        let f = try ServiceFixture(Self.yaml)
        var service = DeploymentService(workspace: f.ws, registry: f.registry, spec: f.spec)
        service.http = Self.metrics(failing: 99)
        let v1 = try f.version(), v2 = try f.version()
        _ = try service.start(model: "clf", version: v1, environment: "production", actor: "ana", reason: "first")
        let p = try service.start(model: "clf", version: v2, environment: "production", actor: "ana", reason: "better")
        #expect(p.deployment.state == .succeeded, "\(p.deployment)")
        #expect(try f.registry.alias(model: "clf", environment: "production", at: nil) == v2)
        let samples = try f.registry.analysisSamples(deploymentID: p.deployment.id)
        #expect(!samples.isEmpty && samples.allSatisfy { $0.verdict == "pass" }, "\(samples)")
        let history = try f.registry.aliasHistory(model: "clf", environment: "production", until: nil)
        #expect(history.last?.cause == .canary)
    }

    @Test func aFailingCanaryRollsBackAndRollbackSkipsIt() throws {
        let f = try ServiceFixture(Self.yaml)
        var service = DeploymentService(workspace: f.ws, registry: f.registry, spec: f.spec)
        service.http = Self.metrics(failing: 3)
        let v1 = try f.version(), v2 = try f.version(), v3 = try f.version()
        _ = try service.start(model: "clf", version: v1, environment: "production", actor: "ana", reason: "first")
        _ = try service.start(model: "clf", version: v2, environment: "production", actor: "ana", reason: "second")
        let bad = try service.start(model: "clf", version: v3, environment: "production", actor: "ana", reason: "third")
        #expect(bad.deployment.state == .rolledBack, "\(bad.deployment)")
        #expect(try f.registry.alias(model: "clf", environment: "production", at: nil) == v2)
        let samples = try f.registry.analysisSamples(deploymentID: bad.deployment.id)
        #expect(samples.contains { $0.verdict == "fail" && $0.value == 0.2 }, "\(samples)")
        // An on-call rollback now goes back past 3 (never live at 100 %) to 1.
        let r = try service.rollback(environment: "production", model: nil, to: nil, reason: "paged", actor: "olu")
        #expect(r.to == v1 && r.from == v2)
        #expect(r.event?.cause == .rollback)
        // And a second rollback does not return to 2, which was rolled back from.
        #expect(throws: (any Error).self) { try service.rollback(environment: "production", model: nil, to: nil, reason: "again", actor: "olu") }
    }

    /// The interval between canary steps is waited on the service's clock:
    /// the test moves time, nothing sleeps.
    @Test func theCanaryWaitsItsIntervalOnTheInjectedClock() throws {
        let f = try ServiceFixture(Self.yaml.replacingOccurrences(of: "interval: 0s", with: "interval: 10m"))
        let clock = ManualClock()
        var service = DeploymentService(workspace: f.ws, registry: f.registry, spec: f.spec)
        service.http = Self.metrics(failing: 99)
        service.clock = clock
        let v1 = try f.version(), v2 = try f.version()
        _ = try service.start(model: "clf", version: v1, environment: "production", actor: "ana", reason: "first")
        let started = try service.start(model: "clf", version: v2, environment: "production", actor: "ana", reason: "second")
        #expect(started.deployment.state == .progressing && started.deployment.traffic == 25, "\(started.deployment)")
        clock.advance(seconds: 599)
        #expect(try service.tick().first?.deployment.traffic == 25)
        #expect(try f.registry.alias(model: "clf", environment: "production", at: nil) == v1)
        var intervals = 0
        while try f.registry.alias(model: "clf", environment: "production", at: nil) != v2 && intervals < 4 {
            clock.advance(seconds: 600)
            intervals += 1
            _ = try service.tick()
        }
        #expect(try f.registry.alias(model: "clf", environment: "production", at: nil) == v2)
        #expect(intervals >= 1 && intervals <= 2, "\(intervals)")
    }

    @Test func anUnreachableMetricsSourcePausesInsteadOfPassing() throws {
        let f = try ServiceFixture(Self.yaml)
        var service = DeploymentService(workspace: f.ws, registry: f.registry, spec: f.spec)
        service.http = FakeHTTP()  // connection refused, every time
        let v1 = try f.version(), v2 = try f.version()
        _ = try service.start(model: "clf", version: v1, environment: "production", actor: "ana", reason: "first")
        let p = try service.start(model: "clf", version: v2, environment: "production", actor: "ana", reason: "second")
        #expect(p.deployment.state == .paused, "\(p.deployment)")
        #expect(try f.registry.alias(model: "clf", environment: "production", at: nil) == v1)
        let samples = try f.registry.analysisSamples(deploymentID: p.deployment.id)
        #expect(!samples.isEmpty && samples.allSatisfy { $0.verdict == "error" && $0.explanation.contains("connection refused") }, "\(samples)")
    }
}

@Suite struct QueueAndStatusTests {
    static let yaml = """
    project: svc
    pipelines:
      main:
        model: clf
        stages:
          train: {cmd: "true"}
    environments:
      production: {}

    """

    @Test func anExpiredRequestLeavesTheQueueForEveryFace() throws {
        let f = try ServiceFixture(Self.yaml)
        let v = try f.version()
        let now = SystemClock.nowMillis()
        let request = try f.registry.createApprovalRequest(NewApprovalRequest(
            model: "clf", version: v, environment: "production", packageDigest: nil, reasons: ["policy"], evidence: "{}",
            requester: "ana", expiresAt: now + 60_000, requiredApprovals: 1), actor: "ana").request
        let queue = ApprovalQueue(registry: f.registry)
        #expect(try queue.pending(now: now + 59_999).map(\.id) == [request.id])
        #expect(try queue.pending(now: now + 60_000).isEmpty)
        #expect(try f.registry.approvalRequest(id: request.id)?.status == .expired)
        let status = try StatusQuery(workspace: f.ws, registry: f.registry, spec: f.ws.specSummary()).report(now: now + 61_000)
        #expect(status.pendingApprovals.isEmpty)
        #expect(try queue.history(now: now + 61_000).first?.status == .expired)
    }

    @Test func aSymlinkOutOfTheWorkspaceIsNoDataset() throws {
        let f = try ServiceFixture(Self.yaml)
        try FileManager.default.createDirectory(atPath: f.root + "/data", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: f.root + "/data/passwd.csv", withDestinationPath: "/etc/passwd")
        let service = DatasetService(workspace: f.ws, registry: f.registry)
        #expect(throws: DatasetService.Refused.self) { try service.locate("data/passwd.csv") }
        #expect(throws: DatasetService.Refused.self) { try service.locate(".slipway/registry.sqlite") }
        try f.write("data/train.csv", "a,b\n1,2\n")
        let first = try service.add(try service.locate("data/train.csv"), actor: "ana")
        let again = try service.add(try service.locate("data/train.csv"), actor: "ana")
        #expect(first.isNew && !again.isNew && first.record.hash == again.record.hash)
        #expect(try service.list().map(\.current) == [true])
    }
}
