import Foundation
import Testing
import SlipwayStore
import SlipwayCore

/// Every trigger event in a workspace's registry, oldest first: what may
/// still start a run (queued) and what did (started, with its run).
func triggerEvents(_ s: Sandbox) throws -> [TriggerEventRecord] {
    let registry = try SQLiteRegistry(path: s.root + "/.slipway/registry.sqlite")
    return try registry.triggerEvents(pipeline: nil, state: nil, limit: 1000).sorted { $0.id < $1.id }
}

/// Monitors, drift-triggered retraining and the other triggers, through the real binary.
@Suite struct MonitorTests {
    /// Numeric columns x and y: `shift` moves both; labels and predictions for performance.
    static func batch(rows: Int = 200, shift: Double = 0, seed: Int = 1, accuracy: Double = 1) -> String {
        var out = "x,y,label,predicted\n"
        var state = UInt64(seed * 7919 + 17)
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        for i in 0..<rows {
            let x = next() * 10 + shift, y = next() * 5 + shift / 2
            let label = x > 5 + shift ? "high" : "low"
            let predicted = Double(i % 100) < accuracy * 100 ? label : (label == "high" ? "low" : "high")
            out += "\(x),\(y),\(label),\(predicted)\n"
        }
        return out
    }

    func workspace(monitor extra: String = "", pipelineExtra: String = "") -> Sandbox {
        let s = Sandbox()
        s.write("data/reference.csv", Self.batch(rows: 500, seed: 99))
        s.write("slipway.yaml", """
        project: monitors
        pipelines:
          retrain:
            model: clf
            triggers: [{drift: inputs}]\(pipelineExtra)
            stages:
              train: {cmd: "sleep 0.3; date +%s%N > model.txt; echo run >> runs.log", outs: [model.txt]}
        monitors:
          inputs:
            reference: data/reference.csv
            features: [x, y]
            method: psi
            threshold: 0.2
            cooldown: 1h
            incoming: incoming
        \(extra)
        """)
        return s
    }

    func runs(_ s: Sandbox) throws -> [[String: Any]] {
        try #require(try s.json("runs", "--json") as? [[String: Any]])
    }

    func waitForRuns(_ s: Sandbox, _ n: Int) -> Bool {
        s.waitUntil(timeout: 20) { ((try? runs(s)) ?? []).filter { $0["status"] as? String == "succeeded" }.count >= n }
    }

    @Test func aDriftedBatchStartsExactlyOneRunAndTheCoolDownHoldsTheNext() throws {
        let s = workspace()
        s.write("calm.csv", Self.batch(seed: 2))
        let calm = s.run("monitor", "ingest", "inputs", "calm.csv")
        #expect(calm.status == 0 && calm.stdout.contains("calm (0 of 2 features drifted)"), "\(calm.stdout) \(calm.stderr)")
        s.write("drifted.csv", Self.batch(shift: 8, seed: 3))
        let drifted = s.run("monitor", "ingest", "inputs", "drifted.csv")
        #expect(drifted.status == 0)
        #expect(drifted.stdout.contains("DRIFTED (2 of 2 features); alert 1; trigger event 1 for retrain"), "\(drifted.stdout)")
        #expect(drifted.stdout.contains("started run 1 in the background"), "\(drifted.stdout)")
        #expect(waitForRuns(s, 1))
        // Inside the cool-down: recorded and alerted, nothing started.
        s.write("drifted2.csv", Self.batch(shift: 9, seed: 4))
        let again = s.run("monitor", "ingest", "inputs", "drifted2.csv")
        #expect(again.stdout.contains("starts nothing: inside the cool-down of alert 1"), "\(again.stdout)")
        // Nothing can start later either: the only trigger event is the one run 1 claimed.
        let events = try triggerEvents(s)
        #expect(events.count == 1 && events.first?.state == .started && events.first?.runID == 1, "\(events)")
        let all = try runs(s)
        #expect(all.count == 1 && all.first?["trigger"] as? String == "drift:inputs")
        // show links the run to the alert, the batch and the scores.
        let show = s.run("show", "1")
        #expect(show.stdout.contains("drift alert 1 of monitor inputs on batch 2 (drifted.csv) · trigger event 1"), "\(show.stdout)")
        #expect(show.stdout.contains("▲ x: PSI"))
        let json = try #require(try s.json("show", "1", "--json") as? [String: Any])
        let cause = try #require((json["triggeredBy"] as? [[String: Any]])?.first)
        #expect(cause["alert"] as? Int == 1 && cause["batch"] as? Int == 2)
        // drift and status.
        let drift = try #require(try s.json("drift", "inputs", "--json") as? [String: Any])
        #expect(drift["state"] as? String == "alert" && drift["batches"] as? Int == 3)
        let features = try #require(drift["features"] as? [[String: Any]])
        #expect(features.map { $0["feature"] as? String } == ["x", "y"])
        #expect((features.first?["history"] as? [[Double]])?.count == 3)
        #expect((drift["alerts"] as? [[String: Any]])?.last?["run"] as? Int == 1)
        let status = s.run("status").stdout
        #expect(status.contains("monitors     ▲ inputs in alert: batch 3"))
        // An alerting monitor is never beside "no drift reports".
        #expect(!status.contains("no drift reports"), "\(status)")
        #expect(s.run("audit", "verify").status == 0)
    }

    @Test func aDuplicateBatchIsRecordedOnceAndStdinWorks() throws {
        let s = workspace()
        let text = Self.batch(seed: 5)
        s.write("a.csv", text)
        #expect(s.run("monitor", "ingest", "inputs", "a.csv").status == 0)
        let p = s.process(["monitor", "ingest", "inputs", "-"])
        let input = Pipe(), out = Pipe()
        p.standardInput = input
        p.standardOutput = out
        try p.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let said = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        s.reap(p)
        #expect(said.contains("is batch 1 again (same sha256): recorded once"), "\(said)")
        let drift = try #require(try s.json("drift", "inputs", "--json") as? [String: Any])
        #expect(drift["batches"] as? Int == 1)
    }

    @Test func aModelReferenceIsTheLiveVersionsTrainingData() throws {
        let s = Sandbox()
        s.write("data/train.csv", Self.batch(rows: 400, seed: 21))
        s.write("slipway.yaml", """
        project: live
        pipelines:
          p:
            model: clf
            stages:
              train: {cmd: "wc -l data/train.csv > model.txt", deps: [train.sh, data/train.csv], outs: [model.txt]}
        environments: {production: {}}
        monitors:
          live: {reference: {model: clf}, features: [x], method: psi, threshold: 0.2}
        """)
        s.write("train.sh", "true\n")
        s.write("batch.csv", Self.batch(seed: 22))
        let early = s.run("monitor", "ingest", "live", "batch.csv")
        #expect(early.status == 2 && early.stderr.contains("nothing of model 'clf' is live in production yet"), "\(early.stderr)")
        #expect(s.run("run").status == 0)
        #expect(s.run("promote", "clf:1", "--to", "production").status == 0)
        let r = s.run("monitor", "ingest", "live", "batch.csv")
        #expect(r.status == 0 && r.stdout.contains("calm (0 of 1 features drifted)"), "\(r.stdout) \(r.stderr)")
        s.write("shifted.csv", Self.batch(shift: 7, seed: 23))
        #expect(s.run("monitor", "ingest", "live", "shifted.csv").stdout.contains("DRIFTED (1 of 1 features)"))
    }

    @Test func aPerformanceBreachTriggers() throws {
        let s = workspace(monitor: """
          labelled:
            reference: data/reference.csv
            features: [x]
            label: label
            prediction: predicted
            performance: {metric: accuracy, below: 0.8}
            pipeline: retrain
        """)
        s.write("good.csv", Self.batch(seed: 6, accuracy: 0.95))
        let good = s.run("monitor", "ingest", "labelled", "good.csv")
        #expect(good.stdout.contains("accuracy 0.95") && !good.stdout.contains("alert"), "\(good.stdout)")
        s.write("bad.csv", Self.batch(seed: 7, accuracy: 0.6))
        let bad = s.run("monitor", "ingest", "labelled", "bad.csv", "--json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bad.stdout.utf8)) as? [String: Any])
        #expect(object["alert"] as? Int == 1 && (object["triggerEvents"] as? [Int])?.count == 1, "\(bad.stdout)")
        #expect((object["reason"] as? String)?.contains("accuracy 0.6 < 0.8") == true)
        #expect(waitForRuns(s, 1))
        #expect(try runs(s).first?["trigger"] as? String == "performance:labelled")
    }

    @Test func theDropFolderSkipsHalfWrittenFilesAndRejectsBadOnesWithoutLosingThem() throws {
        let s = workspace()
        s.write("incoming/coming.csv.tmp", Self.batch(seed: 8))
        s.write("incoming/bad.csv", "x,y\n1,\"unterminated\n")
        s.write("incoming/missing-feature.csv", "x,z\n1,2\n3,4\n")
        s.write("incoming/growing.csv", Self.batch(rows: 50, seed: 9))
        #expect(s.run("agent", "--once", "--quiet").status == 0)
        // Still being written: it grows between the two looks.
        s.write("incoming/growing.csv", Self.batch(rows: 100, seed: 9))
        let second = s.run("agent", "--once")
        #expect(second.stdout.contains("rejected incoming/bad.csv"), "\(second.stdout)")
        #expect(second.stdout.contains("rejected incoming/missing-feature.csv: incoming/missing-feature.csv lacks the monitored feature y"))
        #expect(!second.stdout.contains("growing.csv"))
        #expect(s.exists("incoming/growing.csv") && s.exists("incoming/coming.csv.tmp"))
        #expect(s.read("incoming/rejected/bad.csv") == "x,y\n1,\"unterminated\n")
        #expect(s.read("incoming/rejected/bad.csv.reason.txt")?.contains("unterminated quote") == true)
        // Renamed into place, then stable: read on the next look.
        let third = s.run("agent", "--once")
        #expect(third.stdout.contains("batch"), "\(third.stdout)")
        #expect(s.exists("incoming/processed/growing.csv") && !s.exists("incoming/growing.csv"))
        let drift = try #require(try s.json("drift", "inputs", "--json") as? [String: Any])
        #expect(((drift["recent"] as? [[String: Any]]) ?? []).contains { $0["rows"] as? Int == 100 })
    }

    /// An empty file once sat in the drop folder forever, neither read nor rejected.
    @Test func anEmptyFileInTheDropFolderIsRejectedWithItsReason() throws {
        let s = workspace()
        s.write("incoming/empty.csv", "")
        #expect(s.run("agent", "--once", "--quiet").status == 0)
        let second = s.run("agent", "--once")
        #expect(second.stdout.contains("rejected incoming/empty.csv"), "\(second.stdout)")
        #expect(!s.exists("incoming/empty.csv"))
        #expect(s.read("incoming/rejected/empty.csv") == "")
        #expect(s.read("incoming/rejected/empty.csv.reason.txt")?.contains("empty") == true, "\(s.read("incoming/rejected/empty.csv.reason.txt") ?? "")")
        let drift = try #require(try s.json("drift", "inputs", "--json") as? [String: Any])
        #expect(((drift["recent"] as? [[String: Any]]) ?? []).contains { $0["status"] as? String == "rejected" }, "\(drift)")
    }

    @Test func aTriggerThatFiresWhileThePipelineRunsIsQueuedOnceAndStartsAfter() throws {
        let s = workspace(pipelineExtra: "\n    max_concurrent_runs: 1")
        // The retraining stage runs until the test releases it, so run 1 is
        // still running when d2 and d3 arrive, however slowly they are ingested.
        s.write("slipway.yaml", s.read("slipway.yaml")!.replacingOccurrences(of: "sleep 0.3", with: "for i in $(seq 6000); do [ -e release ] && break; sleep 0.05; done")
            .replacingOccurrences(of: "cooldown: 1h", with: "cooldown: 0s"))
        s.write("d1.csv", Self.batch(shift: 8, seed: 10))
        s.write("d2.csv", Self.batch(shift: 9, seed: 11))
        s.write("d3.csv", Self.batch(shift: 10, seed: 12))
        #expect(s.run("monitor", "ingest", "inputs", "d1.csv").stdout.contains("started run 1"))
        // Run 1 is running: two more alerts queue; they start one run, after.
        #expect(s.run("monitor", "ingest", "inputs", "d2.csv").stdout.contains("queued: starts when the running run of retrain finishes"))
        #expect(s.run("monitor", "ingest", "inputs", "d3.csv").stdout.contains("queued"))
        s.write("release", "")
        #expect(s.waitUntil(timeout: 120) { ((try? runs(s)) ?? []).filter { $0["status"] as? String == "succeeded" }.count >= 2 })
        // No event is left to start a third run: all three were claimed, by runs 1 and 2.
        let events = try triggerEvents(s)
        #expect(events.count == 3 && events.allSatisfy { $0.state == .started }, "\(events)")
        #expect(events.map(\.runID) == [1, 2, 2], "\(events)")
        let all = try runs(s)
        #expect(all.count == 2, "\(all)")
        let second = try #require(try s.json("show", "2", "--json") as? [String: Any])
        #expect((second["triggeredBy"] as? [[String: Any]])?.map { $0["alert"] as? Int } == [2, 3])
    }

    @Test func aCommitTriggerFiresOncePerNewHeadAcrossAnAgentKilledWithSIGKILL() throws {
        let s = workspace()
        s.write("slipway.yaml", s.read("slipway.yaml")!.replacingOccurrences(of: "triggers: [{drift: inputs}]", with: "triggers: [commit, {drift: inputs}]"))
        func git(_ args: String...) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["git", "-C", s.root, "-c", "user.email=t@example.org", "-c", "user.name=t"] + args
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try? p.run()
            p.waitUntilExit()
        }
        git("init", "-q", "-b", "main")
        s.write(".gitignore", ".slipway/\nmodel.txt\nruns.log\n")
        git("add", "-A")
        git("commit", "-q", "-m", "one")
        // The first look is a baseline: nothing starts.
        #expect(!s.run("agent", "--once").stdout.contains("trigger event"))
        s.write("notes.txt", "two")
        git("add", "-A")
        git("commit", "-q", "-m", "two")
        let agent = s.process(["agent", "--interval", "0.2", "--quiet"])
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        #expect(waitForRuns(s, 1))
        kill(agent.processIdentifier, SIGKILL)
        s.reap(agent)
        // Restarted: the same commit starts nothing again.
        #expect(!s.run("agent", "--once").stdout.contains("trigger event"))
        #expect(!s.run("agent", "--once").stdout.contains("started a run"))
        // The baseline (skipped) and one new commit, claimed by run 1: nothing else can start.
        let events = try triggerEvents(s)
        #expect(events.map(\.state) == [.skipped, .started] && events.last?.runID == 1, "\(events)")
        let all = try runs(s)
        #expect(all.count == 1 && all.first?["trigger"] as? String == "commit", "\(all)")
        // A new commit: one more.
        s.write("notes.txt", "three")
        git("add", "-A")
        git("commit", "-q", "-m", "three")
        #expect(s.run("agent", "--once").stdout.contains("trigger event"))
        #expect(waitForRuns(s, 2))
    }
}
