import Foundation
import Synchronization
import Testing
@testable import SlipwayEngine

/// The deployment service as the performer of the machine's effects, with
/// everything from the engine context faked: deploy commands (a recording
/// executor), analyses (a scripted measurer, or a Prometheus that hangs) and
/// the time (a manual clock). Nothing sleeps and no process runs.
@Suite struct DeploymentDriverTests {
    static let yaml = """
    project: svc
    pipelines:
      main:
        model: clf
        stages:
          train: {cmd: "true"}
    environments:
      production:
        deploy: ./deploy.sh
        canary:
          steps: [20, 100]
          interval: 60s
          analysis:
            error_rate: {cmd: "./rate.sh", fail_if: "> 0.05"}

    """

    /// Records each deploy command's environment; answers with `exit`.
    final class RecordingExecutor: Executor, @unchecked Sendable {
        let calls = Mutex<[[String: String]]>([])
        let exit = Mutex<Int32>(0)
        var name: String { "recording" }
        func run(_ job: Job, observer: any JobObserver, cancellation: CancellationFlag) -> JobOutcome {
            calls.withLock { $0.append(job.environment) }
            return .exited(exit.withLock { $0 })
        }
        func cancel(_ handle: JobHandle) -> Bool { false }
        var traffic: [String] { calls.withLock { $0.map { "\($0["SLIPWAY_VERSION"] ?? "?")@\($0["SLIPWAY_TRAFFIC"] ?? "?")" } } }
    }

    /// Answers every measurement with the candidate's scripted error rate.
    final class ScriptedAnalyses: AnalysisMeasuring, @unchecked Sendable {
        let rate = Mutex(0.0)
        let timeouts = Mutex<[Double?]>([])
        func measure(_ checks: [AnalysisCheck], minSamples: MinSamples?, context: AnalysisRunner.Context) -> [AnalysisMeasurement] {
            timeouts.withLock { $0.append(context.timeout) }
            return checks.map { AnalysisJudge.judge($0, value: rate.withLock { $0 }, production: nil) }
        }
    }

    struct Setup {
        let f: ServiceFixture
        let clock = ManualClock()
        let executor = RecordingExecutor()
        let analyses = ScriptedAnalyses()
        let service: DeploymentService

        init() throws {
            f = try ServiceFixture(DeploymentDriverTests.yaml)
            let analyses = self.analyses
            let context = EngineContext(clock: clock, http: FakeHTTP(), executor: executor, analyses: { _, _ in analyses })
            service = DeploymentService(workspace: f.ws, registry: f.registry, spec: f.spec, context: context)
        }

        var live: Int? { try? f.registry.alias(model: "clf", environment: "production", at: nil) }
    }

    @Test func aCanaryGoesLiveStepByStepAsTheClockMoves() throws {
        let s = try Setup()
        let v1 = try s.f.version(), v2 = try s.f.version()
        _ = try s.service.start(model: "clf", version: v1, environment: "production", actor: "ana", reason: "first")
        let started = try s.service.start(model: "clf", version: v2, environment: "production", actor: "ana", reason: "canary")
        #expect(started.deployment.traffic == 20 && started.deployment.phase == .analyse && started.promoted == nil)
        // Not due: nothing is measured.
        s.clock.advance(seconds: 59)
        _ = try s.service.tick()
        #expect(s.analyses.timeouts.withLock { $0.count } == 0)
        s.clock.advance(seconds: 1)
        _ = try s.service.tick()
        s.clock.advance(seconds: 60)
        let done = try #require(try s.service.tick().first)
        #expect(done.deployment.state == .succeeded && s.live == v2, "\(done.deployment)")
        #expect(done.promoted?.cause == .canary)
        #expect(s.executor.traffic == ["\(v1)@100", "\(v2)@20", "\(v2)@100"])
        // Without `measure:`, a source may take the fixed 30 s.
        #expect(s.analyses.timeouts.withLock { $0 } == [30, 30])
    }

    @Test func aFailedAnalysisPutsTheStableVersionBackWithTheRollbackCause() throws {
        let s = try Setup()
        let v1 = try s.f.version(), v2 = try s.f.version()
        _ = try s.service.start(model: "clf", version: v1, environment: "production", actor: "ana", reason: "first")
        _ = try s.service.start(model: "clf", version: v2, environment: "production", actor: "ana", reason: "canary")
        s.analyses.rate.withLock { $0 = 0.3 }
        s.clock.advance(seconds: 60)
        let p = try #require(try s.service.tick().first)
        #expect(p.deployment.state == .rolledBack && p.deployment.detail.contains("error_rate 0.3 > 0.05 → fail"), "\(p.deployment)")
        #expect(p.restored == DeploymentService.RestoreCall(ok: true, outcome: "exit code 0"))
        #expect(s.executor.traffic.last == "\(v1)@100" && s.live == v1)
    }

    @Test func anAbortWhoseRestoreCallFailsSaysSoTyped() throws {
        let s = try Setup()
        let v1 = try s.f.version(), v2 = try s.f.version()
        _ = try s.service.start(model: "clf", version: v1, environment: "production", actor: "ana", reason: "first")
        _ = try s.service.start(model: "clf", version: v2, environment: "production", actor: "ana", reason: "canary")
        s.executor.exit.withLock { $0 = 3 }
        let p = try s.service.abort(environment: "production", actor: "bo", reason: "pager")
        #expect(p.deployment.state == .aborted && p.restored == DeploymentService.RestoreCall(ok: false, outcome: "exit code 3"))
        #expect(try s.service.restoreCall(of: p.deployment) == p.restored)
        let abortEvent = try #require(try s.f.registry.aliasHistory(model: "clf", environment: "production", until: nil).last)
        // The stable version never left: no alias change, so the last one is still the first promotion.
        #expect(abortEvent.cause == .promotion && abortEvent.version == v1)
    }
}

/// A hung Prometheus holds a canary step no longer than the step's
/// measurement slot: its query's timeout follows `measure.every`.
@Suite struct MeasurementTimeoutTests {
    @Test func aPrometheusQueryMayTakeNoLongerThanEvery() throws {
        let yaml = CanaryMeasurementTests.yaml(every: "5s", count: 2)
        let asked = Mutex<[Double]>([])
        let f = try ServiceFixture(yaml)
        let clock = ManualClock()
        // A Prometheus that never answers in time: the fetcher gives up after the request's timeout.
        let hung = FakeHTTP { request throws(HTTPFailure) in
            asked.withLock { $0.append(request.timeout) }
            throw HTTPFailure("Operation timed out after \(Int(request.timeout * 1000)) milliseconds with 0 bytes received")
        }
        var service = DeploymentService(workspace: f.ws, registry: f.registry, spec: f.spec)
        service.http = hung
        service.clock = clock
        let v1 = try f.version(), v2 = try f.version()
        _ = try service.start(model: "clf", version: v1, environment: "production", actor: "ana", reason: "first")
        let p = try service.start(model: "clf", version: v2, environment: "production", actor: "ana", reason: "canary")
        #expect(asked.withLock { $0 }.allSatisfy { $0 == 5 } && !asked.withLock { $0 }.isEmpty)
        let samples = try f.registry.analysisSamples(deploymentID: p.deployment.id)
        #expect(!samples.isEmpty && samples.allSatisfy { $0.verdict == "error" }, "\(samples)")
        #expect(samples.first?.explanation.contains("timed out") == true)
        #expect(p.deployment.state == .progressing && p.deployment.dueAt == clock.now() + 5_000)
    }
}
