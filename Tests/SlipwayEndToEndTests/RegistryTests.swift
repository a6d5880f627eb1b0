import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// A pipeline whose evaluate stage reports the metrics written in `scores.env`.
func gatedWorkspace(gates: String = #"{accuracy: ">= production - 0.01", latency_ms: "<= 50"}"#, extra: String = "") -> Sandbox {
    let s = Sandbox()
    s.write("slipway.yaml", """
    project: reg
    pipelines:
      weather:
        model: clf
        stages:
          train:
            cmd: cat params.yaml > model.txt && date +%s%N >> model.txt
            deps: [params.yaml]
            params: [train.lr]
            outs: [model.txt]
          evaluate:
            cmd: . ./scores.env && printf '{"accuracy":%s,"latency_ms":%s}' "$ACC" "$LAT" > eval.json
            deps: [model.txt, scores.env]
            metrics: [eval.json]
            gates: \(gates)
    \(extra)
    environments:
      staging: {}
      production: {requires: none}
    """)
    s.write("params.yaml", "train:\n  lr: 0.1\n")
    s.write("scores.env", "ACC=0.90\nLAT=12\n")
    return s
}

@Suite struct RegistryEndToEndTests {
    @Test func gatesAgainstProductionDecideRegistration() throws {
        let s = gatedWorkspace()
        // Nothing in production: the relative gate passes (on_no_baseline: pass), version 1 is registered.
        let first = s.run("run", "--json")
        #expect(first.status == 0, "\(first.stderr)")
        let j1 = try #require(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
        #expect(j1["registered"] as? String == "clf:1")
        let gates1 = try #require(j1["gates"] as? [[String: Any]])
        #expect((gates1[0]["explanation"] as? String)?.contains("nothing is in production yet (on_no_baseline: pass)") == true)

        #expect(s.run("promote", "clf:1", "--to", "production").stdout == "clf:1 → production (first version there)\n")
        #expect(s.run("status").stdout.contains("production  clf:1"))
        #expect(s.run("status").stdout.contains("staging  nothing live"))

        // A worse candidate fails its gate: exit 3, nothing registered, nothing after it runs.
        s.write("scores.env", "ACC=0.85\nLAT=12\n")
        s.write("params.yaml", "train:\n  lr: 0.2\n")
        let worse = s.run("run")
        #expect(worse.status == 3)
        #expect(worse.stderr.contains("gate failed: accuracy 0.85 < 0.9 - 0.01 = 0.89 → FAIL"))
        let models = try #require(try s.json("models", "--json") as? [[String: Any]])
        #expect(models[0]["latestVersion"] as? Int == 1)

        // `compare` shows the failing candidate against production, and exits 3.
        let compare = s.run("compare")
        #expect(compare.status == 3)
        #expect(compare.stdout.contains("run 2 (candidate) vs clf:1 (production)"))
        #expect(compare.stdout.contains("accuracy 0.85 < 0.9 - 0.01 = 0.89 → FAIL"))
        #expect(compare.stdout.contains("2 gates · 1 pass · 1 fail"))
        // Its columns are named as its title names the sides.
        #expect(compare.stdout.split(separator: "\n").contains { $0.contains("production") && $0.contains("candidate") && !$0.contains(" vs ") }, "\(compare.stdout)")
        let cj = try #require(try JSONSerialization.jsonObject(with: Data(s.run("compare", "--json").stdout.utf8)) as? [String: Any])
        let rows = try #require(cj["rows"] as? [[String: Any]])
        #expect(rows[0]["metric"] as? String == "accuracy")
        #expect(abs((rows[0]["delta"] as? Double ?? 0) - -0.05) < 1e-12)
        #expect(rows[0]["passed"] as? Bool == false)

        // A better one passes, is registered as 2, and compares cleanly with 1.
        s.write("scores.env", "ACC=0.92\nLAT=11\n")
        #expect(s.run("run").status == 0)
        #expect(s.run("compare", "clf:1", "clf:2").status == 0)
        let diff = s.run("params", "diff", "clf:1", "clf:2")
        #expect(diff.stdout.split(separator: "\n").last?.split(separator: " ") == ["train.lr", "0.1", "0.2"])
        let show = try #require(try s.json("models", "show", "clf:2", "--json") as? [String: Any])
        #expect(show["run"] as? Int == 3)
        #expect((show["params"] as? [String: String])?["train.lr"] == "0.2")
        #expect((show["metrics"] as? [String: Double])?["accuracy"] == 0.92)
        #expect((show["artifactDigest"] as? String)?.count == 64)
        let datasets = try #require(show["datasets"] as? [[String: String]])
        #expect(datasets.contains { $0["path"] == "params.yaml" })
    }

    @Test func gateOnMissingMetricAndNoBaselineFail() throws {
        let s = gatedWorkspace(gates: #"{f1: ">= 0.5", accuracy: ">= production"}"#)
        var yaml = s.read("slipway.yaml")!
        yaml = yaml.replacingOccurrences(of: "gates:", with: "on_no_baseline: fail\n        gates:")
        s.write("slipway.yaml", yaml)
        let r = s.run("run", "--json")
        #expect(r.status == 3)
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let gates = try #require(j["gates"] as? [[String: Any]])
        #expect(gates.map { $0["passed"] as? Bool } == [false, false])
        #expect(gates[0]["explanation"] as? String == "f1: the candidate did not report this metric → FAIL")
        #expect((gates[1]["explanation"] as? String)?.contains("(on_no_baseline: fail)") == true)
        #expect(j["registered"] == nil)
    }

    @Test func junitReportParsesWithTheRightCounts() throws {
        let s = gatedWorkspace(gates: #"{accuracy: ">= 0.95", latency_ms: "<= 50"}"#)
        let r = s.run("run", "--junit", "report.xml")
        #expect(r.status == 3)
        let xml = try #require(s.read("report.xml"))
        let doc = try XMLDocument(xmlString: xml)
        let root = try #require(doc.rootElement())
        #expect(root.attribute(forName: "tests")?.stringValue == "4")
        #expect(root.attribute(forName: "failures")?.stringValue == "2")
        let cases = try doc.nodes(forXPath: "//testcase") as! [XMLElement]
        #expect(cases.count == 4)
        let failures = try doc.nodes(forXPath: "//testcase/failure") as! [XMLElement]
        #expect(failures.count == 2)
        #expect(failures[0].attribute(forName: "message")?.stringValue == "accuracy 0.9 < 0.95 → FAIL")
        let gateSuite = try doc.nodes(forXPath: "//testsuite[@name='gates']") as! [XMLElement]
        #expect(gateSuite.first?.attribute(forName: "tests")?.stringValue == "2")
    }

    @Test func githubAnnotationsAndSummary() throws {
        let s = gatedWorkspace(gates: #"{accuracy: ">= 0.95", latency_ms: "<= 50"}"#)
        let summary = s.root + "/summary.md"
        let r = s.run(["run"], environment: ["GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary])
        #expect(r.status == 3)
        #expect(r.stdout.contains("::error title=Gate failed%3A evaluate accuracy::accuracy 0.9 < 0.95 → FAIL\n"))
        let md = try #require(s.read("summary.md"))
        #expect(md.contains("## Slipway run 1 · weather · failed"))
        #expect(md.contains("| metric | production: none | run 1 | delta | gate | result |"))
        #expect(md.contains("| accuracy | — | 0.9 | — | `>= 0.95` | ❌ **fail** |"))
        #expect(md.contains("| latency_ms | — | 12 | — | `<= 50` | ✅ pass |"))
        // Without GITHUB_ACTIONS nothing of the kind is printed.
        #expect(!s.run("run").stdout.contains("::error"))
    }

    @Test func aliasHistoryThroughTheCommandLine() throws {
        let s = gatedWorkspace()
        #expect(s.run("run").status == 0)
        s.write("params.yaml", "train:\n  lr: 0.3\n")
        #expect(s.run("run").status == 0)
        #expect(s.run("promote", "clf:1", "--to", "production").status == 0)
        Thread.sleep(forTimeInterval: 1.1)
        let before = ISO8601DateFormatter().string(from: Date())
        Thread.sleep(forTimeInterval: 1.1)
        #expect(s.run("promote", "clf:2", "--to", "production", "--reason", "better").status == 0)
        #expect(s.run("promote", "clf:2", "--to", "production").stdout.contains("already live"))
        #expect(s.run("promote", "clf:2", "--to", "prodution").stderr.contains("no environment 'prodution' (did you mean 'production'?)"))
        #expect(s.run("promote", "clf:9", "--to", "production").status == 2)
        let at = try #require(try s.json("models", "history", "clf", "--env", "production", "--at", before, "--json") as? [[String: Any]])
        #expect(at.first?["version"] as? Int == 1)
        let history = s.run("models", "history", "clf")
        #expect(history.stdout.contains(":1 → :2"))
        #expect(history.stdout.contains("better"))
        #expect(s.run("models", "history", "clf", "--at", "yesterday-ish").status == 2)
    }

    @Test func noOpRerunRegistersNothingNew() throws {
        let s = gatedWorkspace()
        #expect(s.run("run").status == 0)
        #expect(s.run("run").status == 0)
        let models = try #require(try s.json("models", "--json") as? [[String: Any]])
        #expect(models[0]["versionCount"] as? Int == 1)
    }

    @Test func twoProcessesRegisteringAtOnceGetDistinctVersions() throws {
        let s = gatedWorkspace(gates: #"{accuracy: ">= 0.5"}"#)
        let processes = (0..<4).map { _ in s.process(["run", "--force"]) }
        for (i, p) in processes.enumerated() {
            p.standardOutput = FileHandle.nullDevice
            FileManager.default.createFile(atPath: s.root + "/stderr-\(i).txt", contents: nil)
            p.standardError = FileHandle(forWritingAtPath: s.root + "/stderr-\(i).txt")
            try p.run()
        }
        // What a process that failed said, so a failure explains itself.
        for (i, p) in processes.enumerated() { #expect(s.reap(p) == 0, "\(s.read("stderr-\(i).txt") ?? "")") }
        let shown = try #require(try s.json("models", "--json") as? [[String: Any]])
        #expect(shown[0]["versionCount"] as? Int == 4)
        #expect(shown[0]["latestVersion"] as? Int == 4)
    }
}
