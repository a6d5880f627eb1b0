import Foundation
import Testing
@testable import SlipwayCore

/// The Prometheus source, the fail-safe reading of its answers, and the
/// measurement tally that decides a canary step.
@Suite struct PrometheusAnswerTests {
    let source = PrometheusSource(address: "http://127.0.0.1:9090/", query: #"sum by (server) (rate(x{code="5xx"}[1m]))"#,
                                  versionLabel: "server", versionValue: "v${SLIPWAY_ANALYSIS_VERSION}")

    func answer(_ result: String, type: String = "vector") -> Data {
        Data(#"{"status":"success","data":{"resultType":"\#(type)","result":\#(result)}}"#.utf8)
    }

    @Test func theQueryIsSentEncodedToTheInstantQueryAPI() {
        let s = PrometheusSource(address: "http://prom:9090/", query: #"rate(x{server="v${SLIPWAY_ANALYSIS_VERSION}"}[1m]) > 0"#)
        #expect(s.queryText(version: 7) == #"rate(x{server="v7"}[1m]) > 0"#)
        #expect(s.url(version: 7) == "http://prom:9090/api/v1/query?query=rate%28x%7Bserver%3D%22v7%22%7D%5B1m%5D%29%20%3E%200")
        #expect(s.dependsOnVersion && !source.dependsOnVersion)
    }

    @Test func theVectorIsMatchedToTheVersionByItsLabel() throws {
        let body = answer(#"[{"metric":{"server":"v1"},"value":[1700000000.1,"0.01"]},{"metric":{"server":"v2"},"value":[1700000000.1,"0.25"]}]"#)
        #expect(try PrometheusAnswer.value(body, source: source, version: 2).get() == 0.25)
        #expect(try PrometheusAnswer.value(body, source: source, version: 1).get() == 0.01)
        guard case .failure(let p) = PrometheusAnswer.value(body, source: source, version: 3) else { Issue.record("v3 has no series"); return }
        #expect(p.kind == .noData && p.message.contains(#"server="v3""#))
    }

    @Test func noDataNaNAndGarbageAreNeverValues() throws {
        let cases: [(Data, AnswerProblem.Kind)] = [
            (answer("[]"), .noData),
            (answer(#"[{"metric":{"server":"v2"},"value":[1,"NaN"]}]"#), .noData),
            (answer(#"[{"metric":{"server":"v2"},"value":[1,"+Inf"]}]"#), .noData),
            (answer(#"[{"metric":{"server":"v2"},"value":[1,"lots"]}]"#), .error),
            (answer(#"[{"metric":{"server":"v2"},"value":[1,0.5]}]"#), .error),
            (answer(#"[{"metric":{"server":"v2"},"value":[1,"1"]},{"metric":{"server":"v2"},"value":[1,"2"]}]"#), .error),
            (answer(#"[[1,"1"]]"#, type: "matrix"), .error),
            (Data(#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#.utf8), .error),
            (Data("<html>proxy error</html>".utf8), .error),
        ]
        for (body, kind) in cases {
            let r = PrometheusAnswer.value(body, source: source, version: 2)
            guard case .failure(let p) = r else { Issue.record("\(String(decoding: body, as: UTF8.self)) gave \(r)"); continue }
            #expect(p.kind == kind, "\(String(decoding: body, as: UTF8.self)): \(p)")
        }
        let scalar = answer(#"[1700000000,"3"]"#, type: "scalar")
        #expect(try PrometheusAnswer.value(scalar, source: source, version: 2).get() == 3)
    }

    @Test func withoutALabelTheQueryMustAnswerWithOneSeries() throws {
        let s = PrometheusSource(address: "http://p", query: "x{v=\"${SLIPWAY_ANALYSIS_VERSION}\"}")
        #expect(try PrometheusAnswer.value(answer(#"[{"metric":{},"value":[1,"4"]}]"#), source: s, version: 1).get() == 4)
        guard case .failure(let p) = PrometheusAnswer.value(answer(#"[{"metric":{},"value":[1,"4"]},{"metric":{"a":"b"},"value":[1,"5"]}]"#),
                                                            source: s, version: 1) else { Issue.record("two series"); return }
        #expect(p.kind == .error)
    }

    @Test func anUnmetOrMissingValueIsNeverAPass() throws {
        let check = AnalysisCheck(metric: "error_rate", source: .prometheus(source), failIf: try GateCondition(parsing: "> 0.05"))
        #expect(AnalysisJudge.judge(check, value: 0.01, production: nil).verdict == .pass)
        #expect(AnalysisJudge.judge(check, value: 0.2, production: nil).verdict == .fail)
        #expect(AnalysisJudge.judge(check, value: nil, production: nil, problem: AnswerProblem(.noData, "empty vector")).verdict == .inconclusive)
        #expect(AnalysisJudge.judge(check, value: .nan, production: nil).verdict == .inconclusive)
        #expect(AnalysisJudge.judge(check, value: nil, production: nil, problem: AnswerProblem(.error, "refused")).verdict == .error)
        let min = MinSamples(source: .prometheus(source), atLeast: 50)
        #expect(min.judge(12, problem: nil).verdict == .inconclusive)
        #expect(min.judge(12, problem: nil).explanation.contains("too little traffic"))
        #expect(min.judge(50, problem: nil).verdict == .pass)
        #expect(min.judge(nil, problem: AnswerProblem(.noData, "empty vector")).verdict == .inconclusive)
        // Too little traffic makes a good-looking measurement inconclusive; a failure still fails.
        let good = AnalysisJudge.judge(check, value: 0.0, production: nil), few = min.judge(3, problem: nil)
        #expect(AnalysisJudge.combine([good, few]) == .inconclusive)
        #expect(AnalysisJudge.combine([AnalysisJudge.judge(check, value: 0.5, production: nil), few]) == .fail)
        #expect(AnalysisJudge.combine([good, AnalysisJudge.judge(check, value: nil, production: nil, problem: AnswerProblem(.error, "x"))]) == .error)
    }
}

@Suite struct MeasurementTallyTests {
    typealias V = AnalysisVerdict
    let plan = MeasurePlan(everySeconds: 30, count: 5)

    func decide(_ vs: [V], _ p: MeasurePlan? = nil) -> MeasurementTally.Decision { MeasurementTally.decide(vs, plan: p ?? plan) }

    @Test func passesOnlyAfterCountMeasurements() {
        #expect(decide([.pass, .pass, .pass, .pass]) == .measureAgain)
        #expect(decide([.pass, .pass, .pass, .pass, .pass]) == .pass)
    }

    @Test func aFailureBeyondTheLimitFailsAtOnceNamingItsMeasurement() {
        #expect(decide([.pass, .fail]) == .fail(measurement: 2))
        let tolerant = MeasurePlan(count: 5, failureLimit: 1)
        #expect(decide([.pass, .fail], tolerant) == .measureAgain)
        #expect(decide([.pass, .fail, .pass, .fail], tolerant) == .fail(measurement: 4))
        #expect(decide([.pass, .fail, .pass, .pass, .pass], tolerant) == .pass)
    }

    @Test func errorsNeverPassAndTooManyInARowAreInconclusive() {
        #expect(decide([.error, .error]) == .measureAgain)
        guard case .inconclusive(let m, let why) = decide([.error, .error, .error]) else { Issue.record("three errors"); return }
        #expect(m == 3 && why.contains("in a row"))
        // Errors do not count towards `count`: five passes are still needed.
        #expect(decide([.pass, .error, .pass, .error, .pass, .pass]) == .measureAgain)
        #expect(decide([.pass, .error, .pass, .error, .pass, .pass, .pass]) == .pass)
        // Every measurement erroring is never a success, whatever the limit.
        let lax = MeasurePlan(count: 2, consecutiveErrorLimit: 100)
        guard case .inconclusive = decide([.error, .error, .error], lax) else { Issue.record("all errors must not pass"); return }
    }

    @Test func inconclusiveMeasurementsBeyondTheLimitEndTheStepInconclusive() {
        guard case .inconclusive = decide([.pass, .inconclusive]) else { Issue.record("one inconclusive, limit 0"); return }
        let tolerant = MeasurePlan(count: 2, inconclusiveLimit: 1)
        #expect(decide([.inconclusive], tolerant) == .measureAgain)
        #expect(decide([.inconclusive, .pass], tolerant) == .pass)
        let allTolerated = MeasurePlan(count: 1, inconclusiveLimit: 1)
        guard case .inconclusive(_, let why) = decide([.inconclusive], allTolerated) else { Issue.record("no pass at all"); return }
        #expect(why == "no measurement passed")
    }
}

@Suite struct CanarySpecTests {
    let head = """
    project: p
    pipelines: {main: {stages: {a: {cmd: x}}}}
    environments:
      production:
        canary:
          steps: [10, 50]
          interval: 0s

    """

    func issues(_ yaml: String) -> [SpecIssue] {
        do { _ = try SpecParser.parse(yaml, file: "slipway.yaml"); return [] } catch { return error.issues }
    }

    @Test func parsesPrometheusMeasureAndMinSamples() throws {
        let spec = try SpecParser.parse(head + """
              measure: {every: 2s, count: 3, failure_limit: 1, consecutive_error_limit: 4}
              min_samples:
                prometheus: {address: "http://127.0.0.1:9090", query: 'sum by (server) (increase(req[1m]))', version_label: server, version_value: 'v${SLIPWAY_ANALYSIS_VERSION}'}
                at_least: 20
              analysis:
                error_rate:
                  prometheus:
                    address: http://127.0.0.1:9090
                    query: 'sum by (server) (rate(x{code="5xx"}[1m]))'
                    version_label: server
                    version_value: 'v${SLIPWAY_ANALYSIS_VERSION}'
                  fail_if: "> production + 0.05"
        """)
        let canary = try #require(spec.environments.first?.plan.canary)
        #expect(canary.steps == [10, 50, 100])
        #expect(canary.measure == MeasurePlan(everySeconds: 2, count: 3, failureLimit: 1, inconclusiveLimit: 0, consecutiveErrorLimit: 4))
        #expect(canary.minSamples?.atLeast == 20)
        guard case .prometheus(let p) = canary.analysis.first?.source else { Issue.record("\(canary.analysis)"); return }
        #expect(p.versionLabel == "server" && p.label(version: 4) == "v4" && p.address == "http://127.0.0.1:9090")
        // Without `measure:` a step is measured once, `interval` after its deploy.
        let once = try SpecParser.parse(head + "      analysis: {e: {http: \"http://x/q\", fail_if: \"> 1\"}}\n")
        #expect(once.environments.first?.plan.canary?.measurePlan == MeasurePlan(everySeconds: 0, count: 1))
    }

    @Test func badAnalysisSettingsNameFileAndPlace() {
        let found = issues(head + """
              measure: {every: soon, count: 0, failure_limit: -1, bogus: 1}
              analysis:
                error_rate:
                  prometheus: {address: "ftp://p", query: "x"}
                  fail_if: "> 0.05"
                latency:
                  prometheus: {address: "http://p:9090", query: "histogram_quantile(0.9, x)"}
                  fail_if: "> 0.5"
                rate3:
                  prometheus: {address: "http://p:9090", query: "x", version_label: "bad label"}
                  fail_if: "> 0.5"
        """)
        let text = found.map(\.description).joined(separator: "\n")
        for (place, words) in [("canary.measure.every", "soon"), ("canary.measure.count", "≥ 1"), ("canary.measure.failure_limit", "≥ 0"),
                               ("canary.measure.bogus", "unknown key"), ("error_rate.prometheus.address", "http://"),
                               ("latency.prometheus.query", "names no version"), ("rate3.prometheus.version_label", "not a Prometheus label")] {
            #expect(found.contains { $0.keyPath.hasSuffix(place) && $0.message.contains(words) && $0.file == "slipway.yaml" && $0.line != nil },
                    "\(place): \(text)")
        }
    }
}
