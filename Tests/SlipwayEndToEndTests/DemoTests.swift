import Foundation
import Testing

@Suite(.serialized) struct DemoTests {
    /// The headless demo plays every step and leaves a workspace that verifies.
    @Test func theHeadlessDemoPlaysEveryStep() throws {
        let s = Sandbox()
        let dir = s.root + "/demo"
        let r = s.run(["demo", dir, "--no-console", "--fast"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        for line in ["weather-classifier:1 registered from run 1", "Demo Approver signed off the first release",
                     "January 2014: 31 days, calm", "April 2014: temp_max drifted past its threshold",
                     "weather-classifier:2 registered from run 2", "production canary: step 1/2: 25% on :2",
                     "starts nothing (inside the cool-down)", "a commit changes model.arch to knn",
                     "v3 → production is high risk (model.arch softmax → knn)", "weather-classifier:3 is live in production after its canary",
                     "a commit makes prepare.py write temperatures in °F", "weather-classifier:4 registered from run 4",
                     "weather-classifier:4 rolled back automatically, production is back on :3: analysis failed at 25%: measurement 1/1 of step 1 (",
                     "Demo Approver rejected request", "the loop is closed", "every step happened"] {
            #expect(r.stdout.contains(line), "missing: \(line)\n\(r.stdout)")
        }
        let demo = Sandbox(existing: dir)
        let runs = try #require(try demo.json("runs", "--json") as? [[String: Any]])
        #expect(runs.compactMap { $0["trigger"] as? String }.sorted() == ["commit", "commit", "drift:weather", "manual"])
        // The classifier beats always predicting the most common weather.
        let evalText = try #require(demo.read("eval.json"))
        let eval = try #require(try JSONSerialization.jsonObject(with: Data(evalText.utf8)) as? [String: Double])
        #expect(eval["accuracy"]! > eval["majority_baseline"]! + 0.05)
        #expect(demo.run("audit", "verify").status == 0)
        #expect(demo.run("verify", "weather-classifier:3").status == 0)
        let lanes = try #require(try demo.json("deployments", "--json") as? [[String: Any]])
        // v4 went through dev and staging; its canary failed, so production stayed on :3.
        #expect(lanes.map { $0["live"] as? Int } == [4, 4, 3])
        let production = try #require(lanes.last?["deployment"] as? [String: Any])
        #expect(production["version"] as? Int == 4)
        #expect(production["state"] as? String == "rolled_back")
        let reason = try #require(production["detail"] as? String)
        #expect(reason.hasPrefix("analysis failed at 25%: measurement 1/1 of step 1 ("), "\(reason)")
        #expect(reason.contains("error_rate"), "\(reason)")
        // The measurement that decided it is recorded and marked.
        let explained = try #require(try demo.json("deployments", "production", "--explain", "--json") as? [String: Any])
        let rows = try #require(explained["rows"] as? [[String: Any]])
        #expect(rows.contains { $0["deciding"] as? Bool == true && $0["metric"] as? String == "error_rate" && $0["verdict"] as? String == "fail" },
                "\(rows)")
        // The rollback is in the audit trail with that reason.
        let ended = try #require(try demo.json("audit", "--json", "--kind", "deployment.ended") as? [[String: Any]])
        #expect(ended.contains {
            let p = $0["payload"] as? String ?? ""
            return p.contains("rolled_back") && p.contains("analysis failed at 25%: measurement 1/1 of step 1")
        }, "\(ended.map { $0["payload"] ?? "" })")
        // The request to put v1 back was rejected by the demo approver, with a comment.
        let requests = try #require(try demo.json("approvals", "--all", "--json") as? [[String: Any]])
        let rejected = try #require(requests.first { $0["status"] as? String == "rejected" }, "\(requests)")
        #expect(rejected["version"] as? Int == 1)
        #expect(rejected["environment"] as? String == "production")
        #expect(rejected["requester"] as? String == "demo-scientist")
        let decision = try #require((rejected["decisions"] as? [[String: String]])?.first)
        #expect(decision["approver"] == "Demo Approver")
        #expect(decision["decision"] == "reject")
        #expect(decision["comment"]?.contains("keep it") == true)
        let votes = try #require(try demo.json("audit", "--json", "--kind", "approval.voted") as? [[String: Any]])
        #expect(votes.contains { ($0["payload"] as? String ?? "").contains("reject") }, "\(votes.map { $0["payload"] ?? "" })")
    }
}

@Suite(.serialized, .enabled(if: TmuxSession.available)) struct DemoConsoleTests {
    /// `slipway demo` in a terminal: the first run progresses in the Runs tab;
    /// when the status line asks, the pending request is approved with the keys it names.
    @Test func theDemoConsoleShowsTheRunAndTakesTheApprovalFromTheKeysItNames() throws {
        let s = Sandbox()
        let dir = s.root + "/demo"
        let t = TmuxSession(command: "\(Sandbox.binary) demo \(dir) --speed 20")
        defer { t.kill() }
        // The console is up with the scenario's status line, and run 1 shows in the Runs tab.
        #expect(t.wait(for: "demo: ", timeout: 60), "\(t.screen)")
        #expect(t.wait(for: "1 weather", timeout: 60), "\(t.screen)")
        // The status line names the keys: press 4, then a, then Enter.
        #expect(t.wait(for: "approve it · press 4, then a, then Enter", timeout: 150), "\(t.screen)")
        t.keys("4")
        #expect(t.wait(for: "Approvals (1 pending)"), "\(t.screen)")
        t.keys("a")
        #expect(t.wait(for: "Signing as: Demo Approver"), "\(t.screen)")
        t.keys("Enter")
        // The status line follows the scenario by itself: the approval's notice gives way
        // to the canary's steps with no key in between.
        #expect(t.wait(for: "demo: production canary", timeout: 60), "\(t.screen)")
        t.keys("6")
        #expect(t.wait(for: "the loop is closed", timeout: 240), "\(t.screen)")
        // v4's canary failed on its own: production's history names the measurement.
        #expect(t.screen.contains("weather-classifier:4 rolled back · analysis failed at 25%: measurement 1/1 of step 1"), "\(t.screen)")
        #expect(t.screen.contains("live    weather-classifier:3"), "\(t.screen)")
        t.keys("q")
        let demo = Sandbox(existing: dir)
        #expect(demo.run("audit", "verify").status == 0)
        let lanes = try #require(try demo.json("deployments", "--json") as? [[String: Any]])
        #expect(lanes.last?["live"] as? Int == 3)
    }
}

@Suite struct CLIReferenceTests {
    /// docs/cli.md has a row for every command `slipway --help` lists.
    @Test func everyCommandIsInTheCLIReference() throws {
        let help = Sandbox().run("--help").stdout
        let section = try #require(help.components(separatedBy: "SUBCOMMANDS:").last)
        let commands = section.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  "), !line.hasPrefix("   "), !line.contains("'slipway help") else { return nil }
            return line.split(separator: " ").first.map(String.init)
        }.filter { $0 != "help" }
        #expect(commands.count >= 25, "\(commands)")
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/cli.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        for c in commands {
            #expect(text.contains("| `\(c)") || text.contains("`\(c) "), "docs/cli.md has no row for `\(c)`")
        }
    }
}
