import Foundation
import Testing

/// Staged deployment end to end: canary steps judged by analysis, automatic
/// rollback, pauses, the rollback_when watch, the agent and its restarts.
@Suite struct CanaryTests {
    /// A workspace whose every run registers a new version of `clf` (the
    /// `LR` in scores.env changes it); `deploy.sh` logs every call and
    /// `probe.sh` answers `{"error_rate": X}` with X from `rate.<version>`.
    func workspace(production: String, staging: String = "{deploy: ./deploy.sh}", extraEnvironments: String = "") -> Sandbox {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: canary
        pipelines:
          p:
            model: clf
            stages:
              train:
                cmd: . ./scores.env && echo "$LR" > model.txt
                deps: [scores.env]
                outs: [model.txt]
        environments:
          staging: \(staging)
          production:
        \(production.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        \(extraEnvironments)
        """)
        s.write("deploy.sh", """
        #!/bin/sh
        echo "$SLIPWAY_DEPLOYMENT_ID $SLIPWAY_MODEL:$SLIPWAY_VERSION $SLIPWAY_TRAFFIC% stable=$SLIPWAY_STABLE_VERSION" >> calls.log
        [ ! -e fail.$SLIPWAY_TRAFFIC ] || exit 7
        """, executable: true)
        s.write("probe.sh", """
        #!/bin/sh
        if [ -e nodata ]; then echo '{}'; exit 0; fi
        printf '{"error_rate": %s}' "$(cat rate.$SLIPWAY_ANALYSIS_VERSION 2>/dev/null || echo 0.01)"
        """, executable: true)
        return s
    }

    /// Registers version `n` and puts it in staging.
    func release(_ s: Sandbox, _ n: Int) {
        s.write("scores.env", "LR=\(n)\n")
        #expect(s.run("run").status == 0)
        let r = s.run("promote", "clf:\(n)", "--to", "staging")
        #expect(r.status == 0, "\(r.stderr)")
    }

    func calls(_ s: Sandbox) -> [String] { (s.read("calls.log") ?? "").split(separator: "\n").map(String.init) }

    func lane(_ s: Sandbox, _ env: String) throws -> [String: Any] {
        let lanes = try #require(try s.json("deployments", "--json") as? [[String: Any]])
        return try #require(lanes.first { $0["environment"] as? String == env })
    }

    func target(_ s: Sandbox, _ env: String) throws -> [String: Any] {
        let text = try #require(s.read(".slipway/deploy/\(env).json"))
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static let canary = """
    deploy: ./deploy.sh
    canary:
      steps: [10, 50, 100]
      interval: 0s
      analysis:
        error_rate: {cmd: ./probe.sh, value: error_rate, fail_if: "> 0.02"}
    """

    @Test func aCanaryPassesThroughEveryStep() throws {
        let s = workspace(production: Self.canary)
        release(s, 1)
        #expect(s.run("promote", "clf:1", "--to", "production").stdout.contains("clf:1 → production (first version there)"))
        release(s, 2)
        let r = s.run("promote", "clf:2", "--to", "production")
        #expect(r.status == 0 && r.stdout.contains("clf:2 → production (was :1)"), "\(r.stdout) \(r.stderr)")
        let production = calls(s).filter { $0.hasPrefix("production-") }
        #expect(production.suffix(3) == ["production-d4-s1 clf:2 10% stable=1", "production-d4-s2 clf:2 50% stable=1",
                                         "production-d4-s3 clf:2 100% stable=1"])
        #expect(try target(s, "production")["version"] as? Int == 2)
        let analysed = try #require(try s.json("audit", "--kind", "deployment.analysed", "--json") as? [[String: Any]])
        #expect(analysed.count == 3)
        #expect(s.run("audit", "verify").status == 0)
    }

    @Test func aFailingAnalysisRollsBackWithTheValuesRecorded() throws {
        let s = workspace(production: Self.canary)
        release(s, 1)
        #expect(s.run("promote", "clf:1", "--to", "production").status == 0)
        release(s, 2)
        s.write("rate.2", "0.05")
        let r = s.run("promote", "clf:2", "--to", "production")
        #expect(r.status == 3)
        // The reason names the measurement that decided it.
        #expect(r.stdout.contains("rolled back · analysis failed at 10%: measurement 1/1 of step 1 (")
                && r.stdout.contains("): error_rate 0.05 > 0.02 → fail"), "\(r.stdout)")
        #expect(calls(s).suffix(2) == ["production-d4-s1 clf:2 10% stable=1", "production-d4-rollback clf:1 100% stable=1"])
        let t = try target(s, "production")
        #expect(t["version"] as? Int == 1 && t["traffic"] as? Int == 100)
        let lane = try lane(s, "production")
        #expect(lane["live"] as? Int == 1)
        #expect((lane["deployment"] as? [String: Any])?["state"] as? String == "rolled_back")
        let samples = try #require(lane["samples"] as? [[String: Any]])
        #expect(samples.first?["value"] as? Double == 0.05 && samples.first?["verdict"] as? String == "fail")
        let ended = try #require(try s.json("audit", "--kind", "deployment.ended", "--json") as? [[String: Any]])
        #expect((ended.last?["payload"] as? String ?? "").contains("error_rate 0.05 > 0.02"))
    }

    @Test func anInconclusiveAnalysisPausesThenContinueAndAbort() throws {
        let s = workspace(production: Self.canary)
        release(s, 1)
        #expect(s.run("promote", "clf:1", "--to", "production").status == 0)
        release(s, 2)
        s.write("nodata", "")
        let paused = s.run("promote", "clf:2", "--to", "production")
        #expect(paused.status == 0 && paused.stdout.contains("canary at 10% (step 1 of 3; paused)"), "\(paused.stdout)")
        #expect(s.run("status").stdout.contains("canary :2 at 10% PAUSED"))
        #expect(s.run("agent", "--once").status == 0)
        #expect(try lane(s, "production")["deployment"].flatMap { ($0 as? [String: Any])?["state"] as? String } == "paused")
        // A person looks and continues: the next step, which is inconclusive again.
        let cont = s.run("promote", "--continue", "production")
        #expect(cont.stdout.contains("canary at 50% (step 2 of 3; paused)"), "\(cont.stdout) \(cont.stderr)")
        // Then aborts: the stable version back at 100 %.
        let abort = s.run("abort", "production", "--reason", "no metrics")
        #expect(abort.status == 0 && abort.stdout.contains("clf:1 is back at 100%"), "\(abort.stderr)")
        #expect(calls(s).last == "production-d4-rollback clf:1 100% stable=1")
        #expect(try lane(s, "production")["deployment"].flatMap { ($0 as? [String: Any])?["state"] as? String } == "aborted")
        #expect(s.run("abort", "production").status == 2)
        #expect(s.run("promote", "--continue", "production").stderr.contains("no paused canary in production"))
    }

    @Test func aRollbackWhenBreachDuringTheWatchRollsBack() throws {
        // The watch is checked every canary interval (every pass here).
        let s = workspace(production: """
        deploy: ./deploy.sh
        canary: {steps: [50, 100], interval: 0s}
        rollback_when:
          error_rate: {cmd: ./probe.sh, fail_if: "> 0.02"}
        watch: 1h
        """)
        release(s, 1)
        #expect(s.run("promote", "clf:1", "--to", "production").status == 0)
        release(s, 2)
        #expect(s.run("promote", "clf:2", "--to", "production").stdout.contains("clf:2 → production (was :1)"))
        #expect(s.run("status").stdout.contains("watching"))
        #expect(s.run("agent", "--once").status == 0)
        #expect(try target(s, "production")["version"] as? Int == 2)
        s.write("rate.2", "0.2")
        let breached = s.run("agent", "--once").stdout
        #expect(breached.contains("rolled_back · rollback_when breached: watch measurement ") && breached.contains("): error_rate 0.2 > 0.02"), "\(breached)")
        #expect(try target(s, "production")["version"] as? Int == 1)
        #expect(try lane(s, "production")["live"] as? Int == 1)
        #expect(s.read(".slipway/agent.log")?.contains("rollback_when breached") == true)
        #expect(s.run("audit", "verify").status == 0)
    }

    @Test func anAgentKilledBetweenStepsResumesWithoutRepeatingOrSkippingACall() throws {
        // The interval leaves the kill a wide window between the 50 % call's
        // end and the 100 % call, however slowly the audit is read back.
        var slow = Self.canary.replacingOccurrences(of: "interval: 0s", with: "interval: 4s")
        slow += "\n"
        let s = workspace(production: slow)
        release(s, 1)
        #expect(s.run("promote", "clf:1", "--to", "production").status == 0)
        release(s, 2)
        #expect(s.run("promote", "clf:2", "--to", "production").stdout.contains("canary at 10%"))
        let agent = s.process(["agent", "--interval", "0.1", "--quiet"])
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        // The 50 % call is journalled as finished (its `deploy.ran` is in the
        // trail); the agent now waits for the interval.
        #expect(s.waitUntil(timeout: 60) { ((try? s.deployRan("production-d4-s2")) ?? 0) == 1 })
        kill(agent.processIdentifier, SIGKILL)
        s.reap(agent)
        #expect(!calls(s).contains { $0.hasPrefix("production-d4-s3") }, "killed after the next call began: \(calls(s))")
        // A second agent while none runs: the lock died with the first.
        #expect(s.waitUntil(timeout: 60) {
            _ = s.run("agent", "--once", "--quiet")
            return (try? lane(s, "production")["live"] as? Int) == 2
        })
        let production = calls(s).filter { $0.hasPrefix("production-d4") }
        #expect(production == ["production-d4-s1 clf:2 10% stable=1", "production-d4-s2 clf:2 50% stable=1",
                               "production-d4-s3 clf:2 100% stable=1"])
    }

    @Test func aSecondAgentRefusesToStartAndSIGTERMStopsCleanly() throws {
        let s = workspace(production: Self.canary)
        let agent = s.process(["agent", "--interval", "0.2", "--quiet"])
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        #expect(s.waitUntil { s.exists(".slipway/agent.json") })
        let second = s.run("agent", "--once")
        #expect(second.status == 2)
        #expect(second.stderr.contains("an agent is already running for this workspace (pid \(agent.processIdentifier)"), "\(second.stderr)")
        #expect(s.run("status").stdout.contains("agent        ● running (pid \(agent.processIdentifier))"))
        kill(agent.processIdentifier, SIGTERM)
        let status = s.reap(agent, timeout: 10)
        #expect(status == 0)
        #expect(s.read(".slipway/agent.log")?.contains("agent stopped") == true)
        #expect(s.run("status").stdout.contains("agent        not running"))
    }

    @Test func aRollbackDuringACanaryPutsTheStableVersionBack() throws {
        let s = workspace(production: Self.canary.replacingOccurrences(of: "interval: 0s", with: "interval: 1h"))
        release(s, 1)
        #expect(s.run("promote", "clf:1", "--to", "production").status == 0)
        release(s, 2)
        #expect(s.run("promote", "clf:2", "--to", "production").stdout.contains("canary at 10%"))
        #expect(try target(s, "production")["traffic"] as? Int == 10)
        let r = s.run(["rollback", "production", "--reason", "pager"], environment: ["SLIPWAY_USER": "oncall"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("aborted the deployment of clf:2 (10% at the time)"))
        #expect(r.stdout.contains("clf:1 is live in production again (was :2)"))
        let t = try target(s, "production")
        #expect(t["version"] as? Int == 1 && t["traffic"] as? Int == 100 && t["by"] as? String == "oncall")
        #expect(calls(s).last == "production-d4-rollback clf:1 100% stable=1")
        #expect(s.run("agent", "--once").status == 0)
        #expect(calls(s).last == "production-d4-rollback clf:1 100% stable=1")
    }

    @Test func aFailedOrTimedOutDeployCallFailsTheStep() throws {
        let s = workspace(production: Self.canary)
        release(s, 1)
        #expect(s.run("promote", "clf:1", "--to", "production").status == 0)
        release(s, 2)
        s.write("fail.50", "")
        let r = s.run("promote", "clf:2", "--to", "production")
        #expect(r.status == 3)
        #expect(r.stdout.contains("the deploy call at 50% failed: exit code 7"), "\(r.stdout)")
        #expect(try target(s, "production")["version"] as? Int == 1)

        let t = workspace(production: "deploy: sleep 5\ntimeout: 1s")
        release(t, 1)
        let slow = t.run("promote", "clf:1", "--to", "production")
        #expect(slow.status == 3 && slow.stdout.contains("the deploy call at 100% failed: timed out after 1"), "\(slow.stdout)")
        #expect(try lane(t, "production")["live"] == nil || (try lane(t, "production")["live"] as? Int) == nil)
    }

    @Test func productionRequiresStagingFirstAndAutoEnvironmentsFollow() throws {
        let s = workspace(production: "deploy: ./deploy.sh", staging: "{deploy: ./deploy.sh, auto: true}",
                          extraEnvironments: "")
        // The order: dev → staging → production by default; here staging, production.
        s.write("scores.env", "LR=1\n")
        #expect(s.run("run").status == 0)
        let refused = s.run("promote", "clf:1", "--to", "production")
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("clf:1 has not been live in staging, which production requires first"))

        let t = workspace(production: "{auto: true, deploy: ./deploy.sh}".replacingOccurrences(of: "{", with: "").replacingOccurrences(of: "}", with: "")
                            .replacingOccurrences(of: ", ", with: "\n"))
        release(t, 1)
        let pass = t.run("agent", "--once")
        #expect(pass.stdout.contains("auto: clf:1 → production (first version there)"), "\(pass.stdout) \(pass.stderr)")
        #expect(try lane(t, "production")["live"] as? Int == 1)
        // Tried once: a version rolled back there is not promoted again.
        release(t, 2)
        #expect(t.run("agent", "--once").stdout.contains("auto: clf:2 → production (was :1)"))
        #expect(t.run("rollback", "production").status == 0)
        #expect(!t.run("agent", "--once").stdout.contains("auto:"))
        #expect(try lane(t, "production")["live"] as? Int == 1)
    }

    @Test func theDeployStagePutsANewVersionIntoTheFirstEnvironment() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: d
        pipelines:
          p:
            stages:
              train: {cmd: . ./scores.env && echo "$LR" > model.txt, deps: [scores.env], outs: [model.txt]}
              deploy: {uses: deploy, model: clf, needs: [train]}
        environments: {dev: {}, staging: {}}
        """)
        s.write("scores.env", "LR=1\n")
        #expect(s.run("run").status == 0)
        #expect(s.read(".slipway/deploy/dev.json")?.contains("\"version\":1") == true)
        let lanes = try #require(try s.json("deployments", "--json") as? [[String: Any]])
        #expect(lanes.first?["live"] as? Int == 1 && lanes.first?["environment"] as? String == "dev")
        // The deploy stage says what it deployed.
        let show = try #require(try s.json("show", "1", "--json") as? [String: Any])
        let deployStage = ((show["run"] as? [String: Any])?["stages"] as? [[String: Any]])?.first { $0["stage"] as? String == "deploy" }
        let said = deployStage?["reason"] as? String ?? ""
        #expect(said.contains("clf:1") && said.contains("dev"), "\(said)")
        #expect(s.run("audit", "verify").status == 0)
        // No new version: nothing to deploy.
        #expect(s.run("run").status == 0)
        #expect((try s.json("audit", "--kind", "deployment.started", "--json") as? [[String: Any]])?.count == 1)
    }
}

@Suite struct AnalysisOverHTTPTests {
    /// A Prometheus instant query's answer, served over loopback by python3's
    /// http.server (the query string is ignored: one file per version).
    @Test func aPrometheusShapedAnswerIsReadAsIsAndProductionComesFromTheStableVersion() throws {
        let s = Sandbox()
        func answer(_ value: String) -> String {
            #"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"model"},"value":[1795740000.123,"\#(value)"]}]}}"#
        }
        s.write("prom/v1/api/v1/query", answer("180"))
        s.write("prom/v2/api/v1/query", answer("190"))
        s.write("prom/v3/api/v1/query", answer("400"))
        let port = 20_000 + Int(getpid() % 20_000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", s.root + "/prom"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL); s.reap(server) }
        #expect(s.waitUntil(timeout: 10) {
            // Listening yet? (A connect on the loopback port.)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
        })
        s.write("slipway.yaml", """
        project: http
        pipelines:
          p:
            model: clf
            stages:
              train: {cmd: . ./scores.env && echo "$LR" > model.txt, deps: [scores.env], outs: [model.txt]}
        environments:
          production:
            canary:
              steps: [25, 100]
              interval: 0s
              analysis:
                p95_ms:
                  http: "http://127.0.0.1:\(port)/v${SLIPWAY_ANALYSIS_VERSION}/api/v1/query?query=histogram_quantile(0.95,rate(x[5m]))"
                  value: "data.result[0].value[1]"
                  fail_if: "> production * 1.1"
        """)
        for n in 1...3 {
            s.write("scores.env", "LR=\(n)\n")
            #expect(s.run("run").status == 0)
        }
        #expect(s.run("promote", "clf:1", "--to", "production").status == 0)
        let ok = s.run("promote", "clf:2", "--to", "production")
        #expect(ok.status == 0 && ok.stdout.contains("clf:2 → production (was :1)"), "\(ok.stdout) \(ok.stderr)")
        let bad = s.run("promote", "clf:3", "--to", "production")
        #expect(bad.status == 3)
        #expect(bad.stdout.contains("p95_ms 400 > 209 → fail"), "\(bad.stdout)")
        let lanes = try #require(try s.json("deployments", "--json") as? [[String: Any]])
        #expect(lanes.first?["live"] as? Int == 2)
    }
}

@Suite struct DeployRecipeTests {
    static let examples: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/deploy").path
    }()

    @Test(arguments: ["kserve.sh", "argo-rollouts.sh", "docker-host.sh"])
    func aRecipeParsesAndDryRunsUnderACanary(script: String) throws {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/bin/bash")
        check.arguments = ["-n", Self.examples + "/" + script]
        try check.run()
        check.waitUntilExit()
        #expect(check.terminationStatus == 0)

        let s = Sandbox()
        s.write("slipway.yaml", """
        project: recipes
        pipelines:
          p:
            model: clf
            stages:
              train: {cmd: . ./scores.env && echo "$LR" > model.txt, deps: [scores.env], outs: [model.txt]}
        environments:
          production:
            deploy: "DRY_RUN=1 \(Self.examples)/\(script)"
            canary: {steps: [10, 100], interval: 0s}
        """)
        for n in 1...2 {
            s.write("scores.env", "LR=\(n)\n")
            #expect(s.run("run").status == 0)
            let r = s.run("promote", "clf:\(n)", "--to", "production")
            #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        }
        let step = try #require(s.read(".slipway/logs/deploy/production-d2-s1.log"))
        switch script {
        case "kserve.sh":
            #expect(step.contains("canaryTrafficPercent: 10") && step.contains("name: clf-production"), "\(step)")
        case "argo-rollouts.sh":
            #expect(step.contains("{\"setWeight\":10}") && step.contains("set image clf-production model=registry.example.com/models/clf:2"), "\(step)")
        default:
            #expect(step.contains("server clf-production-v2:8080 weight=10;") && step.contains("server clf-production-v1:8080 weight=90;"), "\(step)")
        }
        #expect(s.run("rollback", "production").status == 0)
    }
}

@Suite(.serialized, .enabled(if: TmuxSession.available)) struct DeploymentsTabTmuxTests {
    /// The on-call path from a cold console start: 6 (the tab, production
    /// selected), r (roll back), Enter (confirm). The lane shows the restored
    /// version; how soon is printed (the `rollback` benchmark times the
    /// rollback itself; a bound here would time the loaded machine and tmux).
    @Test func productionIsRolledBackInTwoKeysPlusConfirm() throws {
        let suite = CanaryTests()
        let s = suite.workspace(production: CanaryTests.canary.replacingOccurrences(of: "interval: 0s", with: "interval: 1h"))
        suite.release(s, 1)
        #expect(s.run("promote", "clf:1", "--to", "production").status == 0)
        suite.release(s, 2)
        #expect(s.run("promote", "clf:2", "--to", "production").status == 0)
        // clf:2 is in its canary at 10% (the interval is an hour): the rollback aborts it.
        let t = TmuxSession(command: "SLIPWAY_USER=oncall \(Sandbox.binary) -C \(s.root) console")
        defer { t.kill() }
        #expect(t.wait(for: "1 Runs"), "\(t.screen)")
        t.keys("6")
        #expect(t.wait(for: "production · canary"), "\(t.screen)")
        #expect(t.wait(for: "canary  :2"), "\(t.screen)")
        t.keys("r")
        #expect(t.wait(for: "Roll back production to clf:1?"), "\(t.screen)")
        let confirmed = Date()
        t.keys("Enter")
        #expect(t.wait(for: "clf:1 is live in production again", timeout: 30), "\(t.screen)")
        #expect(t.wait(for: "rollback", timeout: 30), "\(t.screen)")
        let shownAfter = Date().timeIntervalSince(confirmed)
        FileHandle.standardError.write(Data("rollback shown \(Int(shownAfter * 1000)) ms after the confirmation\n".utf8))
        let target = s.read(".slipway/deploy/production.json") ?? ""
        #expect(target.contains("\"version\":1") && target.contains("\"traffic\":100") && target.contains("\"by\":\"oncall\""), "\(target)")
        #expect(!t.screen.contains("canary  :2"), "\(t.screen)")
        t.keys("q")
    }
}
