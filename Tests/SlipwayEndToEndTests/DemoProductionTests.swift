import Foundation
import Testing

/// `slipway demo` with production on HAProxy and Prometheus (both installed):
/// canaries judged on real request counts, and nothing left running after
/// the demo, whether it finished or was interrupted.
@Suite(.serialized) struct DemoProductionTests {
    static var missing: [String] {
        ["haproxy", "prometheus", "python3"].filter { name in
            !(ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
                .contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
        }
    }

    func skipWithoutTools() throws {
        let missing = Self.missing
        guard missing.isEmpty else {
            let why = "demo production tests skipped: \(missing.joined(separator: ", ")) not installed (apt-get install haproxy prometheus)"
            FileHandle.standardError.write(Data((why + "\n").utf8))
            try Test.cancel(Comment(rawValue: why))
        }
    }

    /// Processes whose command line names `dir` and that are HAProxy,
    /// Prometheus or Python (other engineers run the same tools here).
    static func leftovers(_ dir: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.compactMap { pid -> String? in
            guard Int32(pid) != nil, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
            let cmd = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            guard cmd.contains(dir), ["haproxy", "prometheus", "python"].contains(where: { cmd.contains($0) }) else { return nil }
            // A zombie has ended; only its parent has not read its status yet.
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")"),
               stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z") { return nil }
            return "\(pid): \(cmd)"
        }
    }

    /// Kills and reaps the demo `p` if it is still running (a wait that timed out).
    /// `slipway demo` started headless in `s`, its output going to the returned log.
    static func startDemo(_ s: Sandbox) throws -> (demo: Process, dir: String, log: String) {
        let dir = s.root + "/demo"
        let p = s.process(["demo", dir, "--no-console", "--fast"])
        let log = s.root + "/demo.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let out = try #require(FileHandle(forWritingAtPath: log))
        defer { try? out.close() }
        p.standardOutput = out
        p.standardError = out
        try p.run()
        return (p, dir, log)
    }

    static func end(_ p: Process, _ s: Sandbox) {
        var status: Int32 = 0
        // 0: still our running child, so its pid cannot have been reused.
        guard waitpid(p.processIdentifier, &status, WNOHANG) == 0 else { return }
        kill(p.processIdentifier, SIGKILL)
        _ = s.reap(p, timeout: 10)
    }

    /// The pid of `production.py start` of the workspace `dir`, if running.
    static func supervisor(_ dir: String) -> Int32? {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in pids {
            guard let n = Int32(pid), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            let cmd = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            if cmd.contains(dir + "/production.py start ") { return n }
        }
        return nil
    }

    /// A deployment's recorded measurements (`source`, `value` as numbers), each
    /// with `deciding` from the explanation's rows.
    func explain(_ demo: Sandbox, deployment: Int) throws -> [[String: Any]] {
        let r = demo.run("deployments", "production", "--explain", "--json", "--deployment", String(deployment))
        guard r.status == 0 else { return [] }  // a deployment of another environment
        let explained = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let rows = try #require(explained["rows"] as? [[String: Any]])
        let measured = try #require((explained["explanation"] as? [String: Any])?["measurements"] as? [[String: Any]])
        #expect(rows.count == measured.count)
        return zip(measured, rows).map { m, row in m.merging(["deciding": row["deciding"] ?? false]) { a, _ in a } }
    }

    /// The headless demo on real production: each canary's recorded
    /// measurements carry the requests HAProxy counted, as Prometheus answered,
    /// and v4 is rolled back on a measured error rate.
    @Test func theDemoJudgesItsCanariesOnRealRequestCounts() throws {
        try skipWithoutTools()
        let s = Sandbox()
        let dir = s.root + "/demo"
        let started = Date()
        let r = s.run(["demo", dir, "--no-console", "--fast"])
        let seconds = Date().timeIntervalSince(started)
        FileHandle.standardError.write(Data("the headless demo on HAProxy and Prometheus took \(Int(seconds)) s\n".utf8))
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("production: HAProxy "), "\(r.stdout)")
        #expect(r.stdout.contains(" + Prometheus on 127.0.0.1:"), "\(r.stdout)")
        #expect(!r.stdout.contains("production: simulated"), "\(r.stdout)")
        #expect(r.stdout.contains("weather-classifier:4 rolled back automatically, production is back on :3: analysis failed at 25%: measurement 1/1 of step 1 ("),
                "\(r.stdout)")
        #expect(r.stdout.contains("v4's canary in production, measured by Prometheus from HAProxy's counters: at 25%: "), "\(r.stdout)")
        // Nothing the demo started is left: it waited for them before exiting.
        #expect(Self.leftovers(dir).isEmpty, "\(Self.leftovers(dir))")

        let demo = Sandbox(existing: dir)
        let spec = try #require(demo.read("slipway.yaml"))
        #expect(spec.contains("deploy: python3 deploy.py && HAPROXY_SOCKET="), "\(spec)")
        #expect(demo.exists("haproxy-deploy.sh") && !demo.exists("probe.py"))
        let lanes = try #require(try demo.json("deployments", "--json") as? [[String: Any]])
        #expect(lanes.map { $0["live"] as? Int } == [4, 4, 3])
        let production = try #require(lanes.last?["deployment"] as? [String: Any])
        #expect(production["version"] as? Int == 4)
        #expect(production["state"] as? String == "rolled_back")
        let reason = try #require(production["detail"] as? String)
        #expect(reason.hasPrefix("analysis failed at 25%: measurement 1/1 of step 1 ("), "\(reason)")
        #expect(reason.contains("error_rate 1 > 0.05"), "\(reason)")

        // v4's measurement: Prometheus's answers over HAProxy's counters for server v4.
        let v4 = try explain(demo, deployment: try #require(production["id"] as? Int))
        let requests = try #require(v4.first { $0["metric"] as? String == "samples" }, "\(v4)")
        #expect(requests["source"] as? String == "prometheus", "\(requests)")
        #expect((requests["query"] as? String ?? "").contains("haproxy_server_http_responses_total"), "\(requests)")
        #expect((requests["answer"] as? String ?? "").contains("\"server\":\"v4\""), "\(requests)")
        // How many requests reach v4 before its first measurement depends on the
        // machine's load; what must hold is that they were counted, as a whole
        // number, and judged by the spec's `at_least: 10`.
        let counted = try #require(requests["value"] as? Double, "\(requests)")
        #expect(counted > 0 && counted == counted.rounded(), "\(requests)")
        #expect(requests["verdict"] as? String == (counted >= 10 ? "pass" : "inconclusive"), "\(requests)")
        let errorRate = try #require(v4.first { $0["metric"] as? String == "error_rate" }, "\(v4)")
        #expect(errorRate["source"] as? String == "prometheus", "\(errorRate)")
        #expect(errorRate["deciding"] as? Bool == true && errorRate["verdict"] as? String == "fail", "\(errorRate)")
        #expect((errorRate["value"] as? Double ?? 0) > 0.05, "\(errorRate)")

        // The good canaries (v2, v3) passed on real requests at each step.
        let history = try #require(try demo.json("audit", "--json", "--kind", "deployment.ended") as? [[String: Any]])
        #expect(!history.isEmpty)
        var passed = 0
        for id in 1...Int(try #require(production["id"] as? Int)) {
            let rows = try explain(demo, deployment: id)
            guard !rows.isEmpty else { continue }
            let samples = rows.filter { $0["metric"] as? String == "samples" }
            guard rows.contains(where: { $0["verdict"] as? String == "fail" }) == false else { continue }
            // A measurement taken before enough requests were scraped is
            // inconclusive and taken again; each step passes on a counted one.
            #expect(samples.allSatisfy { value in
                let n = value["value"] as? Double ?? -1
                return n >= 0 && n == n.rounded() && value["source"] as? String == "prometheus"
            }, "\(samples)")
            if samples.filter({ $0["verdict"] as? String == "pass" && ($0["value"] as? Double ?? 0) >= 10 }).count >= 2 { passed += 1 }
        }
        #expect(passed == 2, "the canaries of v2 and v3 should each have counted requests at 25% and 100%")
        // The load generator sent production's days through HAProxy.
        let load = try #require(demo.read("serving/production/load.json"))
        let sent = try #require((try JSONSerialization.jsonObject(with: Data(load.utf8)) as? [String: Any])?["sent"] as? Int)
        #expect(sent > 100, "\(load)")
    }

    /// Asked to simulate production (as without haproxy or prometheus), the
    /// demo starts nothing and judges its canaries with probe.py, as before.
    @Test func theSimulatedProductionStartsNothing() throws {
        let s = Sandbox()
        let dir = s.root + "/demo"
        let r = s.run(["demo", dir, "--no-console", "--fast", "--simulate-production"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("production: simulated — asked for (--simulate-production)"), "\(r.stdout)")
        #expect(r.stdout.contains("weather-classifier:4 rolled back automatically, production is back on :3: analysis failed at 25%: measurement 1/1 of step 1 ("),
                "\(r.stdout)")
        #expect(!r.stdout.contains("measured by Prometheus"), "\(r.stdout)")
        let demo = Sandbox(existing: dir)
        #expect(demo.exists("probe.py") && !demo.exists("production.py") && !demo.exists("serving/production"))
        #expect(demo.read("slipway.yaml")?.contains("error_rate: {cmd: python3 probe.py, fail_if: \"> production + 0.05\"}") == true)
    }

    /// A component of production that dies (Prometheus, killed) fails the
    /// demo, saying so, and the rest of production is stopped with it.
    @Test func aDemoWhoseProductionDiesFailsAndLeavesNothingRunning() throws {
        try skipWithoutTools()
        let s = Sandbox()
        let (p, dir, log) = try Self.startDemo(s)
        defer { Self.end(p, s) }
        let said = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        #expect(s.waitUntil(timeout: 120) { said().contains("weather-classifier:1 is live in production") }, "\(said())")
        let pids = try #require(try? String(contentsOfFile: dir + "/serving/production/pids.txt", encoding: .utf8))
        let prometheus = try #require(pids.split(separator: "\n").first { $0.hasPrefix("prometheus ") }?.split(separator: " ").last.flatMap { Int32($0) })
        kill(prometheus, SIGKILL)
        let status = s.reap(p, timeout: 120)
        #expect(status != 0 && status != -1, "\(said())")
        #expect(said().contains("production stopped while waiting for"), "\(said())")
        #expect(said().contains("prometheus exited"), "\(said())")
        #expect(Self.leftovers(dir).isEmpty, "\(Self.leftovers(dir))")
    }

    /// Interrupted (SIGTERM as from `kill`, SIGINT as from Ctrl-C), the demo
    /// leaves no HAProxy, Prometheus or Python process of its workspace.
    @Test(arguments: [SIGTERM, SIGINT]) func anInterruptedDemoLeavesNothingRunning(signal: Int32) throws {
        try skipWithoutTools()
        let s = Sandbox()
        let (p, dir, log) = try Self.startDemo(s)
        defer { Self.end(p, s) }
        // Production is up and serving v1.
        let up = s.waitUntil(timeout: 120) {
            (try? String(contentsOfFile: log, encoding: .utf8))?.contains("weather-classifier:1 is live in production") == true
        }
        #expect(up, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(!Self.leftovers(dir).isEmpty, "production should be running before the signal")
        kill(p.processIdentifier, signal)
        s.reap(p, timeout: 30)
        #expect(s.waitUntil(timeout: 30) { Self.leftovers(dir).isEmpty }, "\(Self.leftovers(dir))")
    }

    /// The supervisor (production.py) killed mid-demo: the demo fails naming
    /// it, and HAProxy, Prometheus and the scorers, in sessions of their own,
    /// end with it.
    @Test func aDemoWhoseSupervisorIsKilledFailsAndLeavesNothingRunning() throws {
        try skipWithoutTools()
        let s = Sandbox()
        let (p, dir, log) = try Self.startDemo(s)
        defer { Self.end(p, s) }
        let said = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        #expect(s.waitUntil(timeout: 120) { said().contains("weather-classifier:1 is live in production") }, "\(said())")
        let supervisor = try #require(Self.supervisor(dir), "\(Self.leftovers(dir))")
        kill(supervisor, SIGKILL)
        let status = s.reap(p, timeout: 120)
        #expect(status != 0 && status != -1, "\(said())")
        #expect(said().contains("production.py exited"), "\(said())")
        #expect(s.waitUntil(timeout: 30) { Self.leftovers(dir).isEmpty }, "\(Self.leftovers(dir))")
    }
}
