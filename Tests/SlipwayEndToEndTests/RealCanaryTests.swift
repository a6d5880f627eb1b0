import Foundation
import Synchronization
import Testing

/// The real canary rig of scripts/canary-test-rig.sh, started and stopped by
/// each test: model servers, HAProxy in front (weights set by
/// examples/deploy/haproxy/deploy.sh), Prometheus scraping HAProxy every second.
final class CanaryRig: @unchecked Sendable {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    let dir = NSTemporaryDirectory() + "slipway-rig-\(UUID().uuidString.prefix(8))"
    var env: [String: String] = [:]
    var problem: String?

    /// Starts the rig with `versions` (`1`, `2:0.2` for 20 % errors); nil problem when up.
    init(_ versions: [String]) {
        let r = Self.script(["start", dir] + versions)
        guard r.status == 0 else {
            problem = r.status == 3 ? r.output.trimmingCharacters(in: .whitespacesAndNewlines) : "the rig did not start: \(r.output.suffix(400))"
            return
        }
        for line in (try? String(contentsOfFile: dir + "/rig.env", encoding: .utf8))?.split(separator: "\n") ?? [] {
            let kv = line.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 2 { env[kv[0]] = kv[1] }
        }
    }

    deinit { stop() }

    func stop() { _ = Self.script(["stop", dir]) }
    func stopPrometheus() { _ = Self.script(["stop-prometheus", dir]) }
    func load(rate: Int, seconds: Int, max: Int) { _ = Self.script(["load", dir, String(rate), String(seconds), String(max)]) }

    var prometheus: String { env["PROMETHEUS_URL"] ?? "" }
    var socket: String { env["HAPROXY_SOCKET"] ?? "" }

    /// Runs the rig script; its output goes to a file, not a pipe (the
    /// servers it leaves running would hold a pipe open).
    static func script(_ args: [String]) -> (status: Int32, output: String) {
        let log = NSTemporaryDirectory() + "slipway-rig-out-\(UUID().uuidString.prefix(8))"
        FileManager.default.createFile(atPath: log, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: log) }
        guard let out = FileHandle(forWritingAtPath: log) else { return (127, "cannot write \(log)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [package + "/scripts/canary-test-rig.sh"] + args
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { return (127, "\(error)") }
        // Reaped directly (Foundation's waitUntilExit was seen to stall here).
        var status: Int32 = 0
        let end = Date().addingTimeInterval(90)
        var code: Int32 = -1
        while Date() < end {
            let r = waitpid(p.processIdentifier, &status, WNOHANG)
            if r == p.processIdentifier { code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f); break }
            if r < 0 { code = p.isRunning ? -1 : p.terminationStatus; break }
            usleep(20_000)
        }
        try? out.close()
        return (code, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    /// An instant query's vector by `server` (nil: Prometheus did not answer).
    func query(_ promql: String) -> [String: Double]? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["curl", "-sf", "--max-time", "5", prometheus + "/api/v1/query", "--data-urlencode", "query=" + promql]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        var status: Int32 = 0
        while waitpid(p.processIdentifier, &status, 0) < 0 && errno == EINTR {}
        guard status == 0, let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let result = (json["data"] as? [String: Any])?["result"] as? [[String: Any]] else { return nil }
        var values: [String: Double] = [:]
        for series in result {
            guard let server = (series["metric"] as? [String: Any])?["server"] as? String, let pair = series["value"] as? [Any],
                  let text = pair.last as? String, let v = Double(text) else { continue }
            values[server] = v
        }
        return values
    }

    /// Requests each server answered over the last `window`.
    func requests(window: String) -> [String: Double]? {
        query("sum by (server) (increase(haproxy_server_http_responses_total{proxy=\"models\"}[\(window)]))")
    }
}

/// A real canary end to end: the `slipway` binary, its agent, HAProxy,
/// Prometheus and real traffic on loopback.
@Suite(.serialized) struct RealCanaryTests {
    static func errorRate(_ window: String) -> String {
        "sum by (server) (rate(haproxy_server_http_responses_total{proxy=\"models\",code=\"5xx\"}[\(window)]))"
            + " / sum by (server) (rate(haproxy_server_http_responses_total{proxy=\"models\"}[\(window)]))"
    }

    /// A workspace deploying to `production` through the HAProxy recipe,
    /// judged by Prometheus; versions 1 and 2 registered, 1 live.
    ///
    /// `maxInconclusive`: how many inconclusive rounds a step may have before
    /// the canary pauses. On a loaded machine the load generator can starve,
    /// and a round that counts fewer than 5 requests on the 10 % canary is
    /// inconclusive (the program's rule); tests about something else let the
    /// step be measured again instead of pausing.
    func workspace(_ rig: CanaryRig, every: String = "2s", count: Int = 2, errorRate: String = RealCanaryTests.errorRate("10s"),
                   measure measureExtra: String = "", maxInconclusive: Int = 5, environment extra: String = "") throws -> Sandbox {
        let s = Sandbox()
        let p = rig.prometheus
        s.write("slipway.yaml", """
        project: real-canary
        pipelines:
          p:
            model: clf
            stages:
              train:
                cmd: . ./scores.env && echo "$LR" > model.txt
                deps: [scores.env]
                outs: [model.txt]
        environments:
          production:
            deploy: ./deploy.sh
        \(extra)
            canary:
              steps: [10, 50, 100]
              interval: 3s
              max_inconclusive: \(maxInconclusive)
              measure: {every: \(every), count: \(count)\(measureExtra)}
              min_samples:
                prometheus:
                  address: \(p)
                  query: 'sum by (server) (increase(haproxy_server_http_responses_total{proxy="models"}[10s]))'
                  version_label: server
                  version_value: 'v${SLIPWAY_ANALYSIS_VERSION}'
                at_least: 5
              analysis:
                error_rate:
                  prometheus:
                    address: \(p)
                    query: '\(errorRate)'
                    version_label: server
                    version_value: 'v${SLIPWAY_ANALYSIS_VERSION}'
                  fail_if: "> 0.05"

        """)
        s.write("deploy.sh", """
        #!/bin/sh
        HAPROXY_SOCKET='\(rig.socket)' exec '\(CanaryRig.package)/examples/deploy/haproxy/deploy.sh'
        """, executable: true)
        for n in 1...2 {
            s.write("scores.env", "LR=\(n)\n")
            let r = s.run("run")
            #expect(r.status == 0, "\(r.stderr)")
        }
        let first = s.run("promote", "clf:1", "--to", "production")
        #expect(first.status == 0, "\(first.stdout) \(first.stderr)")
        return s
    }

    func startAgent(_ s: Sandbox) throws -> Process {
        let agent = s.process(["agent", "--interval", "0.25", "--quiet"])
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        return agent
    }

    func stopAgent(_ s: Sandbox, _ agent: Process) {
        kill(agent.processIdentifier, SIGTERM)
        s.reap(agent, timeout: 20)
    }

    func deployment(_ s: Sandbox) -> [String: Any]? {
        guard let lanes = try? JSONSerialization.jsonObject(with: Data(s.run("deployments", "--json").stdout.utf8)) as? [[String: Any]] else { return nil }
        return lanes.first { $0["environment"] as? String == "production" }?["deployment"] as? [String: Any]
    }

    func state(_ s: Sandbox) -> String? { deployment(s)?["state"] as? String }

    func live(_ s: Sandbox) -> Int? {
        guard let lanes = try? JSONSerialization.jsonObject(with: Data(s.run("deployments", "--json").stdout.utf8)) as? [[String: Any]] else { return nil }
        return lanes.first { $0["environment"] as? String == "production" }?["live"] as? Int
    }

    func explainRows(_ s: Sandbox) -> [[String: Any]] {
        let r = s.run("deployments", "production", "--explain", "--json")
        let json = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return json?["rows"] as? [[String: Any]] ?? []
    }

    func rig(_ versions: [String]) throws -> CanaryRig {
        let rig = CanaryRig(versions)
        if let problem = rig.problem {
            let why = "real canary tests skipped: \(problem)"
            FileHandle.standardError.write(Data((why + "\n").utf8))
            try Test.cancel(Comment(rawValue: why))
        }
        return rig
    }

    @Test(.timeLimit(.minutes(6))) func aGoodVersionGoesLiveStepByStepOnMeasuredTraffic() throws {
        let rig = try rig(["1", "2"])
        defer { rig.stop() }
        let s = try workspace(rig)
        rig.load(rate: 40, seconds: 150, max: 6000)
        let agent = try startAgent(s)
        defer { stopAgent(s, agent) }
        let r = s.run("promote", "clf:2", "--to", "production")
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(s.waitUntil(timeout: 120) { state(s) == "succeeded" }, "\(String(describing: deployment(s)))")
        #expect(live(s) == 2)
        let rows = explainRows(s)
        // A good version never fails a measurement. One taken before enough
        // requests were scraped (a loaded machine) is inconclusive, never more,
        // and ends its round: the step is measured again in a new round (`r2`).
        #expect(rows.allSatisfy { ["pass", "inconclusive"].contains($0["verdict"] as? String) }, "\(rows)")
        // Each step went live after a round whose two measurements passed whole.
        let byPlace = Dictionary(grouping: rows) { $0["place"] as? String ?? "" }
        func passed(_ place: String) -> Bool { byPlace[place]?.allSatisfy { $0["verdict"] as? String == "pass" } ?? false }
        for step in 1...2 {
            let rounds = Set(byPlace.keys.filter { $0.hasPrefix("step \(step) ") }.map { $0.replacingOccurrences(of: #" #\d+$"#, with: "", options: .regularExpression) })
            #expect(rounds.contains { passed($0 + " #1") && passed($0 + " #2") }, "step \(step): \(byPlace.keys.sorted())")
        }
        // The request counts judged were real traffic on the candidate at each
        // step, judged by `at_least: 5`.
        let samples = rows.filter { $0["metric"] as? String == "samples" }
        for row in samples {
            let counted = Double(row["value"] as? String ?? "") ?? -1
            #expect(counted >= 0 && row["verdict"] as? String == (counted >= 5 ? "pass" : "inconclusive"), "\(row)")
        }
        for step in ["step 1 ", "step 2 "] {
            #expect(samples.contains { ($0["place"] as? String ?? "").hasPrefix(step) && $0["verdict"] as? String == "pass" }, "\(samples)")
        }
        // At 100 % the stable version stops receiving requests.
        #expect(s.waitUntil(timeout: 20) { rig.requests(window: "3s")?["v1"] == 0 && (rig.requests(window: "3s")?["v2"] ?? 0) > 0 },
                "\(String(describing: rig.requests(window: "3s")))")
    }

    @Test(.timeLimit(.minutes(6))) func aVersionFailingOneRequestInFiveIsRolledBackAutomatically() throws {
        let rig = try rig(["1", "2:0.2"])
        defer { rig.stop() }
        let s = try workspace(rig)
        rig.load(rate: 40, seconds: 150, max: 6000)
        let agent = try startAgent(s)
        defer { stopAgent(s, agent) }
        #expect(s.run("promote", "clf:2", "--to", "production").status == 0)
        #expect(s.waitUntil(timeout: 90) { state(s) == "rolled_back" }, "\(String(describing: deployment(s)))")
        #expect(live(s) == 1)
        let detail = deployment(s)?["detail"] as? String ?? ""
        #expect(detail.contains("analysis failed at 10%: measurement") && detail.contains("of step 1") && detail.contains("error_rate"), "\(detail)")
        let deciding = explainRows(s).filter { $0["deciding"] as? Bool == true }
        #expect(deciding.contains { $0["metric"] as? String == "error_rate" && $0["verdict"] as? String == "fail" }, "\(deciding)")
        let explained = s.run("deployments", "production", "--explain").stdout
        #expect(explained.contains("analysis failed at 10%: measurement") && explained.contains("decided by measurement")
                && explained.contains("haproxy_server_http_responses_total"), "\(explained)")
        // The bad version's measured share of the traffic falls to 0.
        #expect(s.waitUntil(timeout: 20) { rig.requests(window: "3s")?["v2"] == 0 && (rig.requests(window: "3s")?["v1"] ?? 0) > 0 },
                "\(String(describing: rig.requests(window: "3s")))")
    }

    @Test(.timeLimit(.minutes(6))) func prometheusStoppedMidCanaryHoldsAndNeverPromotes() throws {
        let rig = try rig(["1", "2"])
        defer { rig.stop() }
        // A first round starved of traffic is measured again. After Prometheus
        // stops, each round ends inconclusive at its third error in a row: the
        // second such round (or the first, after a starved one) pauses.
        let s = try workspace(rig, every: "2s", count: 3, maxInconclusive: 2)
        rig.load(rate: 40, seconds: 150, max: 6000)
        let agent = try startAgent(s)
        defer { stopAgent(s, agent) }
        #expect(s.run("promote", "clf:2", "--to", "production").status == 0)
        #expect(s.waitUntil(timeout: 90) { explainRows(s).contains { $0["verdict"] as? String == "pass" } })
        rig.stopPrometheus()
        #expect(s.waitUntil(timeout: 90) { state(s) == "paused" }, "\(String(describing: deployment(s)))")
        #expect(live(s) == 1)
        let rows = explainRows(s)
        #expect(rows.suffix(2).allSatisfy { $0["verdict"] as? String == "error" }, "\(rows)")
        #expect((deployment(s)?["detail"] as? String ?? "").contains("source errors in a row"))
    }

    @Test(.timeLimit(.minutes(6))) func aCanaryWithoutTrafficIsInconclusiveNeverPromoted() throws {
        let rig = try rig(["1", "2"])
        defer { rig.stop() }
        let s = try workspace(rig, maxInconclusive: 1)
        let agent = try startAgent(s)
        defer { stopAgent(s, agent) }
        #expect(s.run("promote", "clf:2", "--to", "production").status == 0)
        #expect(s.waitUntil(timeout: 60) { state(s) == "paused" }, "\(String(describing: deployment(s)))")
        #expect(live(s) == 1)
        let rows = explainRows(s)
        #expect(!rows.isEmpty && rows.allSatisfy { $0["verdict"] as? String == "inconclusive" }, "\(rows)")
    }

    /// A query whose answer is an empty vector (a metric name that does not
    /// exist) on real traffic: inconclusive, paused, never promoted.
    @Test(.timeLimit(.minutes(6))) func anEmptyVectorIsInconclusiveNeverPromoted() throws {
        let rig = try rig(["1", "2"])
        defer { rig.stop() }
        let s = try workspace(rig, errorRate: "sum by (server) (rate(haproxy_server_no_such_metric_total[10s]))", maxInconclusive: 1)
        rig.load(rate: 40, seconds: 150, max: 6000)
        let agent = try startAgent(s)
        defer { stopAgent(s, agent) }
        #expect(s.run("promote", "clf:2", "--to", "production").status == 0)
        #expect(s.waitUntil(timeout: 60) { state(s) == "paused" }, "\(String(describing: deployment(s)))")
        #expect(live(s) == 1)
        let rows = explainRows(s).filter { $0["metric"] as? String == "error_rate" }
        #expect(!rows.isEmpty && rows.allSatisfy { $0["verdict"] as? String == "inconclusive" && ($0["explanation"] as? String ?? "").contains("empty vector") },
                "\(rows)")
    }

    /// After full promotion, `rollback_when` watches a latency the real
    /// HAProxy measures (its slowest answer per server) and rolls back.
    @Test(.timeLimit(.minutes(6))) func rollbackWhenAfterFullPromotionRollsBackOnALatencyBreach() throws {
        let rig = try rig(["1", "2:0:300"])
        defer { rig.stop() }
        // This test is about the watch after promotion: a look at 10 % that finds
        // too little traffic (the load generator starved on a loaded machine, the
        // window still holding the seconds before the canary got any) is measured
        // again (`max_inconclusive` 5) instead of pausing the canary.
        let s = try workspace(rig, environment: """
                watch: 5m
                rollback_when:
                  latency:
                    prometheus:
                      address: \(rig.prometheus)
                      query: 'max by (server) (haproxy_server_max_response_time_seconds{proxy="models"})'
                      version_label: server
                      version_value: 'v${SLIPWAY_ANALYSIS_VERSION}'
                    fail_if: "> 0.2"
            """)
        rig.load(rate: 30, seconds: 150, max: 6000)
        let agent = try startAgent(s)
        defer { stopAgent(s, agent) }
        #expect(s.run("promote", "clf:2", "--to", "production").status == 0)
        // Live at 100 % first (the canary judges errors only), then the watch rolls it back.
        #expect(s.waitUntil(timeout: 120) { state(s) == "rolled_back" }, "\(String(describing: deployment(s)))")
        let detail = deployment(s)?["detail"] as? String ?? ""
        #expect(detail.contains("rollback_when breached: watch measurement") && detail.contains("latency"), "\(detail)")
        let history = s.run("models", "history", "clf", "--env", "production").stdout
        #expect(history.contains(":1 → :2") && history.contains(":2 → :1") && history.contains("rollback: rollback_when breached"), "\(history)")
        #expect(live(s) == 1)
        #expect(s.waitUntil(timeout: 20) { rig.requests(window: "3s")?["v2"] == 0 && (rig.requests(window: "3s")?["v1"] ?? 0) > 0 })
    }
}
