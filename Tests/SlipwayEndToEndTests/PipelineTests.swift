import Foundation
import Testing

/// A 3-stage pipeline whose commands count their executions in `.count-*` files.
func threeStageWorkspace() -> Sandbox {
    let s = Sandbox()
    s.write("slipway.yaml", """
    project: e2e
    pipelines:
      main:
        stages:
          prepare:
            cmd: echo run >> .count-prepare && mkdir -p data && cp raw.csv data/clean.csv && echo "::metric name=rows value=3"
            deps: [raw.csv]
            params: [prepare.seed]
            outs: [data]
          train:
            cmd: echo run >> .count-train && echo "lr=$SLIPWAY_PARAM_TRAIN_LR" > model.txt && cat data/clean.csv >> model.txt && printf '{"loss":0.25,"eval":{"acc":0.9}}' > train.json && for i in 1 2 3; do echo "::metric name=loss step=$i value=0.$i"; done
            deps: [data/clean.csv]
            params: [train.lr]
            outs: [model.txt]
            metrics: [train.json]
          evaluate:
            cmd: echo run >> .count-evaluate && wc -l < model.txt > score.txt
            deps: [model.txt]
            outs: [score.txt]
            needs: [train]
    """)
    s.write("params.yaml", "prepare:\n  seed: 1\ntrain:\n  lr: 0.1\n")
    s.write("raw.csv", "a,b\n1,2\n3,4\n")
    #expect(s.run("init").status == 2) // refuses: slipway.yaml exists
    try! FileManager.default.createDirectory(atPath: s.root + "/.slipway", withIntermediateDirectories: true)
    return s
}

/// How many times prepare, train and evaluate have executed.
func stageCounts(_ s: Sandbox) -> [Int] {
    [s.count(".count-prepare"), s.count(".count-train"), s.count(".count-evaluate")]
}

@Suite struct PipelineTests {
    @Test func runsThenReusesTheCacheAndRestoresDeletedOuts() throws {
        let s = threeStageWorkspace()
        let first = s.run("run")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        #expect(s.read("model.txt")?.hasPrefix("lr=0.1\na,b") == true)
        #expect(s.read("score.txt")?.contains("4") == true)
        #expect(stageCounts(s) == [1, 1, 1] as [Int])

        // Nothing changed: nothing executes.
        let second = s.run("run")
        #expect(second.status == 0)
        #expect(stageCounts(s) == [1, 1, 1] as [Int])

        // Deleted outs come back from the store, still without executing.
        s.remove("model.txt")
        s.remove("data")
        let third = s.run("run")
        #expect(third.status == 0, "\(third.stderr)")
        #expect(stageCounts(s) == [1, 1, 1] as [Int])
        #expect(s.read("model.txt")?.hasPrefix("lr=0.1") == true)
        #expect(s.read("data/clean.csv") == "a,b\n1,2\n3,4\n")

        let stages = try s.stageRecords("3")
        #expect(stages.map { $0["status"] as? String } == ["cached", "cached", "cached"])
        #expect((stages[1]["reason"] as? String)?.contains("same inputs as run 1") == true)
    }

    @Test func changingOneParamRerunsOnlyItsStageAndDependents() throws {
        let s = threeStageWorkspace()
        #expect(s.run("run").status == 0)
        s.write("params.yaml", "prepare:\n  seed: 1\ntrain:\n  lr: 0.2\n")
        let explain = s.run("run", "--explain", "--dry-run")
        #expect(explain.stderr.contains("prepare: cached"))
        #expect(explain.stderr.contains("train: will run: param changed: train.lr (0.1 → 0.2)"))
        #expect(explain.stderr.contains("evaluate: decided after train"))
        #expect(s.count(".count-train") == 1) // --dry-run ran nothing

        #expect(s.run("run").status == 0)
        #expect(stageCounts(s) == [1, 2, 2] as [Int])
        #expect(s.read("model.txt")?.hasPrefix("lr=0.2") == true)
        let show = try #require(try s.json("show", "latest", "--json") as? [String: Any])
        let stages = try #require((show["run"] as? [String: Any])?["stages"] as? [[String: Any]])
        #expect(stages.map { $0["status"] as? String } == ["cached", "succeeded", "succeeded"])
        #expect(stages[1]["reason"] as? String == "param changed: train.lr (0.1 → 0.2)")
        #expect(stages[2]["reason"] as? String == "dep changed: model.txt")
        #expect((show["params"] as? [String: String])?["train.lr"] == "0.2")

        // Back to 0.1: the earlier result is still in the store.
        s.write("params.yaml", "prepare:\n  seed: 1\ntrain:\n  lr: 0.1\n")
        #expect(s.run("run").status == 0)
        #expect(stageCounts(s) == [1, 2, 2] as [Int])
        #expect(s.read("model.txt")?.hasPrefix("lr=0.1") == true)

        // --force runs everything.
        #expect(s.run("run", "--force").status == 0)
        #expect(stageCounts(s) == [2, 3, 3] as [Int])
    }

    @Test func paramsReachTheCommandOnlyAsEnvironment() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              echo: {cmd: 'printf "%s" "$SLIPWAY_PARAM_NOTE" > note.txt; echo "$SLIPWAY_STAGE $SLIPWAY_RUN_ID" > who.txt', params: [note], outs: [note.txt, who.txt]}
        """)
        s.write("params.yaml", "note: \"$(touch pwned); `touch pwned2`\"\n")
        #expect(s.run("run").status == 0)
        #expect(s.read("note.txt") == "$(touch pwned); `touch pwned2`")
        #expect(!s.exists("pwned") && !s.exists("pwned2"))
        #expect(s.read("who.txt") == "echo 1\n")
    }

    @Test func failingStageStopsItsDependentsAndExitsOne() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "echo boom; exit 7", outs: [a.txt]}
              b: {cmd: "touch b.txt", needs: [a], outs: [b.txt]}
              c: {cmd: "touch c.txt", needs: [b], outs: [c.txt]}
        """)
        let r = s.run("run")
        #expect(r.status == 1)
        #expect(r.stderr.contains("stage 'a' failed (exit code 7)"))
        #expect(!s.exists("b.txt") && !s.exists("c.txt"))
        let show = try #require(try s.json("show", "latest", "--json") as? [String: Any])
        let run = try #require(show["run"] as? [String: Any])
        #expect(run["status"] as? String == "failed")
        let stages = try #require(run["stages"] as? [[String: Any]])
        #expect(stages.map { $0["status"] as? String } == ["failed", "cancelled", "cancelled"])
        #expect(stages[0]["exitCode"] as? Int == 7)
        #expect(stages[1]["reason"] as? String == "upstream a did not succeed")
        #expect(s.run("logs", "latest", "a").stdout == "boom\n")
    }

    @Test func runningSiblingFinishesWhenAStageFails() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              slow: {cmd: "sleep 1; touch slow.txt", outs: [slow.txt]}
              fail: {cmd: "exit 1"}
        """)
        #expect(s.run("run", "--jobs", "2").status == 1)
        #expect(s.exists("slow.txt"))
        let stages = try s.stageRecords("latest")
        #expect(stages.map { $0["status"] as? String } == ["succeeded", "failed"])
    }

    @Test func independentStagesRunInParallel() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "sleep 0.6; touch a", outs: [a]}
              b: {cmd: "sleep 0.6; touch b", outs: [b]}
              c: {cmd: "cat a b > c", deps: [a, b], outs: [c]}
        """)
        let first = s.run("run", "--jobs", "2")
        #expect(first.status == 0, "\(first.stderr)")
        let show = try #require(try s.json("show", "latest", "--json") as? [String: Any])
        let stages = try #require((show["run"] as? [String: Any])?["stages"] as? [[String: Any]])
        try #require(first.status == 0 && stages.allSatisfy { $0["endedAt"] is String }, "\(stages)")
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        func time(_ i: Int, _ k: String) -> Date { f.date(from: stages[i][k] as? String ?? "") ?? .distantPast }
        // a and b overlapped; c started after both ended.
        #expect(time(0, "startedAt") < time(1, "endedAt") && time(1, "startedAt") < time(0, "endedAt"))
        #expect(time(2, "startedAt") >= max(time(0, "endedAt"), time(1, "endedAt")))

        // With --jobs 1 they do not overlap.
        #expect(s.run("run", "--jobs", "1", "--force").status == 0)
        let serial = try #require(try s.json("show", "latest", "--json") as? [String: Any])
        let st = try #require((serial["run"] as? [String: Any])?["stages"] as? [[String: Any]])
        let aEnd = f.date(from: st[0]["endedAt"] as! String)!, bStart = f.date(from: st[1]["startedAt"] as! String)!
        #expect(bStart >= aEnd)
    }

    @Test func metricsFromLinesAndFilesLandInTheRegistry() throws {
        let s = threeStageWorkspace()
        #expect(s.run("run").status == 0)
        let show = try #require(try s.json("show", "1", "--json") as? [String: Any])
        let metrics = try #require(show["metrics"] as? [[String: Any]])
        func values(_ stage: String, _ key: String) -> [Double] {
            metrics.filter { $0["stage"] as? String == stage && $0["key"] as? String == key }.compactMap { $0["value"] as? Double }
        }
        #expect(values("prepare", "rows") == [3])
        #expect(values("train", "loss") == [0.1, 0.2, 0.3, 0.25])
        #expect(values("train", "eval.acc") == [0.9])
        let steps = metrics.filter { $0["key"] as? String == "loss" }.map { $0["step"] as? Int }
        #expect(steps == [1, 2, 3, nil])
        // A cached stage carries its metrics into the new run.
        #expect(s.run("run").status == 0)
        let again = try #require(try s.json("show", "2", "--json") as? [String: Any])
        #expect((again["metrics"] as? [[String: Any]])?.count == metrics.count)
    }

    @Test func timeoutStopsTheStage() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              hang: {cmd: "sleep 30 & sleep 30", timeout: 1s}
        """)
        let start = Date()
        let r = s.run("run")
        #expect(r.status == 1)
        #expect(r.stderr.contains("timed out after 1.0s"))
        #expect(Date().timeIntervalSince(start) < 15)
    }

    @Test func missingOutAndBadMetricsFileFailTheStage() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          a:
            stages:
              s: {cmd: "true", outs: [never.txt]}
          b:
            stages:
              s: {cmd: "echo not-json > m.json", metrics: [m.json]}
        """)
        let a = s.run("run", "a")
        #expect(a.status == 1)
        #expect(a.stderr.contains("declared out never.txt was not written"))
        let b = s.run("run", "b")
        #expect(b.status == 1)
        #expect(b.stderr.contains("metrics file m.json is not valid JSON"))
        let none = s.run("run")
        #expect(none.status == 2)
        #expect(none.stderr.contains("several pipelines"))
        let typo = s.run("run", "aa")
        #expect(typo.status == 2)
        #expect(typo.stderr.contains("no pipeline 'aa'"))
    }
}
