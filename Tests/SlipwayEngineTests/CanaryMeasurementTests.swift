import Foundation
import Synchronization
import Testing
@testable import SlipwayEngine

/// The canary's measurement loop against a scripted Prometheus (FakeHTTP)
/// on a manual clock: nothing sleeps, time is moved by the test.
@Suite struct CanaryMeasurementTests {
    static func yaml(every: String = "30s", count: Int = 3, minSamples: Bool = false) -> String {
        """
        project: svc
        pipelines:
          main:
            model: clf
            stages:
              train: {cmd: "true"}
        environments:
          production:
            canary:
              steps: [10, 50, 100]
              interval: 0s
              max_inconclusive: 1
              measure: {every: \(every), count: \(count)}
        \(minSamples ? """
              min_samples:
                prometheus: {address: "http://prom.test:9090", query: 'sum by (server) (increase(req_total[1m]))', version_label: server, version_value: 'v${SLIPWAY_ANALYSIS_VERSION}'}
                at_least: 20
        """ : "")
              analysis:
                error_rate:
                  prometheus:
                    address: http://prom.test:9090
                    query: 'sum by (server) (rate(req_total{code="5xx"}[1m])) / sum by (server) (rate(req_total[1m]))'
                    version_label: server
                    version_value: 'v${SLIPWAY_ANALYSIS_VERSION}'
                  fail_if: "> 0.05"

        """
    }

    /// A Prometheus whose answers the test sets: per version, the error
    /// rate (nil: no series) and the request count; or a raw answer; or down.
    final class FakePrometheus: @unchecked Sendable {
        let rates = Mutex<[Int: String]>([:])
        let counts = Mutex<[Int: String]>([:])
        let down = Mutex(false)
        let raw = Mutex<String?>(nil)

        var http: FakeHTTP {
            FakeHTTP { [self] request throws(HTTPFailure) in
                if down.withLock({ $0 }) { throw HTTPFailure("Failed to connect to prom.test port 9090: Connection refused") }
                guard request.url.hasPrefix("http://prom.test:9090/api/v1/query?query=") else { throw HTTPFailure("unexpected \(request.url)") }
                let query = request.url.components(separatedBy: "query=")[1].removingPercentEncoding ?? ""
                if let r = raw.withLock({ $0 }) { return HTTPResponse(status: 200, body: Data(r.utf8)) }
                let values = query.contains("5xx") ? rates.withLock { $0 } : counts.withLock { $0 }
                let series = values.sorted { $0.key < $1.key }.map { #"{"metric":{"server":"v\#($0.key)"},"value":[1700000000.5,"\#($0.value)"]}"# }
                return HTTPResponse(status: 200, body: Data(#"{"status":"success","data":{"resultType":"vector","result":[\#(series.joined(separator: ","))]}}"#.utf8))
            }
        }
    }

    struct Setup {
        let f: ServiceFixture
        let service: DeploymentService
        let clock: ManualClock
        let prom: FakePrometheus
        let v1: Int
        let v2: Int

        init(_ yaml: String) throws {
            f = try ServiceFixture(yaml)
            prom = FakePrometheus()
            clock = ManualClock()
            var s = DeploymentService(workspace: f.ws, registry: f.registry, spec: f.spec)
            s.http = prom.http
            s.clock = clock
            service = s
            v1 = try f.version()
            v2 = try f.version()
            _ = try service.start(model: "clf", version: v1, environment: "production", actor: "ana", reason: "first")
        }

        var live: Int? { try? f.registry.alias(model: "clf", environment: "production", at: nil) }

        /// Moves time on by `seconds` at a time, ticking, until `done` or `limit` ticks.
        @discardableResult
        func tick(every seconds: Double = 30, limit: Int = 40, until done: (DeploymentRecord) -> Bool) throws -> DeploymentRecord {
            var d = try #require(try f.registry.deployments(environment: "production", limit: 1).first)
            for _ in 0..<limit where !done(d) {
                clock.advance(seconds: seconds)
                _ = try service.tick()
                d = try #require(try f.registry.deployment(id: d.id))
            }
            return d
        }
    }

    @Test func aGoodVersionIsMeasuredCountTimesPerStepAndGoesLive() throws {
        let s = try Setup(Self.yaml())
        s.prom.rates.withLock { $0 = [1: "0.01", 2: "0.0"] }
        let started = try s.service.start(model: "clf", version: s.v2, environment: "production", actor: "ana", reason: "canary")
        #expect(started.deployment.traffic == 10 && started.deployment.state == .progressing, "\(started.deployment)")
        let d = try s.tick { !$0.state.isActive }
        #expect(d.state == .succeeded && s.live == s.v2, "\(d)")
        let samples = try s.f.registry.analysisSamples(deploymentID: d.id)
        // Three steps (10 %, 50 %, 100 %) of three measurements each, then the promotion.
        #expect(samples.count == 9 && samples.allSatisfy { $0.verdict == "pass" }, "\(samples)")
        #expect(samples.map(\.measurement) == [1, 2, 3, 1, 2, 3, 1, 2, 3] && samples.map(\.step) == [0, 0, 0, 1, 1, 1, 2, 2, 2])
        let first = try #require(samples.first)
        #expect(first.source == "prometheus")
        #expect(first.query == #"sum by (server) (rate(req_total{code="5xx"}[1m])) / sum by (server) (rate(req_total[1m]))"#)
        #expect(first.answer?.contains(#""server":"v2""#) == true && first.value == 0)
        // Measurements are `every` apart on the clock.
        #expect(samples[1].at - samples[0].at == 30_000)
        let analysed = try s.f.registry.auditEvents(matching: AuditQuery(kinds: [AuditKind.deploymentAnalysed.rawValue], subject: "deployment/\(d.id)"))
        #expect(analysed.count == 9 && analysed.allSatisfy { $0.payload.contains("queries") && $0.payload.contains("answers") })
    }

    @Test func aFailingMeasurementRollsBackAtOnceNamingItself() throws {
        let s = try Setup(Self.yaml())
        s.prom.rates.withLock { $0 = [1: "0.01", 2: "0.0"] }
        _ = try s.service.start(model: "clf", version: s.v2, environment: "production", actor: "ana", reason: "canary")
        _ = try s.tick { $0.step == 0 && (try? s.f.registry.analysisSamples(deploymentID: $0.id).count) == 2 }
        s.prom.rates.withLock { $0[2] = "0.2" }
        let d = try s.tick { !$0.state.isActive }
        #expect(d.state == .rolledBack && s.live == s.v1, "\(d)")
        #expect(d.detail.contains("measurement 3/3 of step 1") && d.detail.contains("error_rate 0.2 > 0.05 → fail"), "\(d.detail)")
        #expect(d.traffic == 0)
        let history = try s.f.registry.aliasHistory(model: "clf", environment: "production", until: nil)
        #expect(history.last?.reason.contains("measurement 3/3 of step 1") == true || history.last?.version == s.v1)
        let e = try s.service.explain(environment: "production")
        #expect(e.deciding?.measurement == 3 && e.deciding?.verdict == "fail")
        #expect(e.rows.filter(\.deciding).map(\.value) == ["0.2"])
    }

    @Test func prometheusDownHoldsTheCanaryAndNeverPromotes() throws {
        let s = try Setup(Self.yaml())
        s.prom.rates.withLock { $0 = [1: "0.01", 2: "0.0"] }
        _ = try s.service.start(model: "clf", version: s.v2, environment: "production", actor: "ana", reason: "canary")
        s.prom.down.withLock { $0 = true }
        let d = try s.tick { !$0.state.isActive || $0.state == .paused }
        #expect(d.state == .paused && s.live == s.v1 && d.traffic == 10, "\(d)")
        let samples = try s.f.registry.analysisSamples(deploymentID: d.id)
        // The first measurement, before Prometheus stopped, passed; the three after it erred.
        #expect(samples.count == 4 && samples[0].verdict == "pass", "\(samples)")
        #expect(samples.dropFirst().allSatisfy { $0.verdict == "error" && $0.explanation.contains("Connection refused") }, "\(samples)")
        #expect(d.detail.contains("3 source errors in a row"), "\(d.detail)")
        // Time passing changes nothing: a paused canary waits for a person.
        s.clock.advance(seconds: 3600)
        _ = try s.service.tick()
        let after = try s.f.registry.deployment(id: d.id)
        #expect(s.live == s.v1 && after?.state == .paused)
    }

    @Test func anEmptyVectorOrNaNIsInconclusiveNeverAPass() throws {
        for raw in [#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
                    #"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"server":"v2"},"value":[1,"NaN"]}]}}"#] {
            let s = try Setup(Self.yaml())
            s.prom.raw.withLock { $0 = raw }
            _ = try s.service.start(model: "clf", version: s.v2, environment: "production", actor: "ana", reason: "canary")
            let d = try s.tick { !$0.state.isActive || $0.state == .paused }
            #expect(d.state == .paused && s.live == s.v1, "\(raw): \(d)")
            let samples = try s.f.registry.analysisSamples(deploymentID: d.id)
            #expect(samples.count == 1 && samples[0].verdict == "inconclusive" && samples[0].answer == raw, "\(samples)")
        }
    }

    @Test func tooLittleTrafficIsInconclusiveHoweverGoodTheRate() throws {
        let s = try Setup(Self.yaml(minSamples: true))
        s.prom.rates.withLock { $0 = [1: "0.0", 2: "0.0"] }
        s.prom.counts.withLock { $0 = [1: "500", 2: "3"] }
        _ = try s.service.start(model: "clf", version: s.v2, environment: "production", actor: "ana", reason: "canary")
        let d = try s.tick { !$0.state.isActive || $0.state == .paused }
        #expect(d.state == .paused && s.live == s.v1, "\(d)")
        let samples = try s.f.registry.analysisSamples(deploymentID: d.id)
        #expect(samples.contains { $0.metric == "samples" && $0.verdict == "inconclusive" && $0.explanation.contains("too little traffic") }, "\(samples)")
        // No traffic at all (no series for the version) is inconclusive too.
        let t = try Setup(Self.yaml(minSamples: true))
        t.prom.rates.withLock { $0 = [1: "0.0"] }
        t.prom.counts.withLock { $0 = [1: "500"] }
        _ = try t.service.start(model: "clf", version: t.v2, environment: "production", actor: "ana", reason: "canary")
        let none = try t.tick { !$0.state.isActive || $0.state == .paused }
        #expect(none.state == .paused && t.live == t.v1, "\(none)")
    }

    @Test func aTerminatedOrTimedOutCommandIsAnErrorNotASuccess() throws {
        let f = try ServiceFixture("""
        project: svc
        pipelines: {main: {model: clf, stages: {train: {cmd: "true"}}}}
        environments:
          production:
            canary:
              steps: [50]
              interval: 0s
              measure: {every: 0s, count: 2, consecutive_error_limit: 0}
              analysis: {cmd: 'echo "{\\"e\\": 0}"; kill -9 $$', fail_if: "e > 1"}

        """)
        let service = DeploymentService(workspace: f.ws, registry: f.registry, spec: f.spec)
        let v1 = try f.version(), v2 = try f.version()
        _ = try service.start(model: "clf", version: v1, environment: "production", actor: "ana", reason: "first")
        let p = try service.start(model: "clf", version: v2, environment: "production", actor: "ana", reason: "canary")
        #expect(p.deployment.state == .paused, "\(p.deployment)")
        let samples = try f.registry.analysisSamples(deploymentID: p.deployment.id)
        #expect(samples.count == 1 && samples[0].verdict == "error" && samples[0].explanation.contains("signal"), "\(samples)")
    }

    @Test func aMeasurementThatTimesOutIsAnError() throws {
        let f = try ServiceFixture(Self.yaml())
        let runner = AnalysisRunner(workspace: f.ws, timeout: 0.3)
        let check = AnalysisCheck(metric: "e", source: .command("sleep 5; echo '{\"e\": 0}'"), failIf: try GateCondition(parsing: "> 1"))
        let m = runner.measure([check], context: .init(environment: "production", model: "clf", candidate: 2, stable: 1, traffic: 10,
                                                      log: f.root + "/analysis.log"))
        #expect(m.count == 1 && m[0].verdict == .error && m[0].explanation.contains("timed out"), "\(m)")
        #expect(m[0].source == "cmd" && m[0].query == "sleep 5; echo '{\"e\": 0}'")
    }
}
