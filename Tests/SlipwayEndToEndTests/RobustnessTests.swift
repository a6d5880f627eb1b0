import Foundation
import Testing

@Suite struct RobustnessTests {
    @Test func outOutsideTheWorkspaceIsRefusedBeforeAnythingRuns() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              first: {cmd: "touch ran.txt", outs: [ran.txt]}
              bad: {cmd: "touch ../escape", outs: [../escape]}
        """)
        let r = s.run("run")
        #expect(r.status == 2)
        #expect(r.stderr.contains("slipway.yaml:6:44: pipelines.main.stages.bad.outs[0]: '../escape' leaves the workspace"))
        #expect(!s.exists("ran.txt"))
        #expect(!FileManager.default.fileExists(atPath: s.root + "/../escape"))
        #expect(s.run("runs", "--json").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]" ||
                s.run("runs", "--json").stdout.contains("[]"))
    }

    @Test func symlinkLeavingTheWorkspaceIsRefused() throws {
        let s = Sandbox()
        let outside = NSTemporaryDirectory() + "slipway-outside-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: s.root + "/link", withDestinationPath: outside)
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "touch link/x", outs: [link/x]}
        """)
        let r = s.run("lint")
        #expect(r.status == 2)
        #expect(r.stderr.contains("'link/x' leaves the workspace through a symlink"))
        #expect(s.run("run").status == 2)
        #expect(!FileManager.default.fileExists(atPath: outside + "/x"))
    }

    @Test func lintReportsEveryProblemWithItsPlace() {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              train: {cmd: "true", params: [train.lrr], outz: [x]}
              eval: {cmd: "true", needs: [trian]}
        """)
        s.write("params.yaml", "train:\n  lr: 0.1\n")
        let r = s.run("lint")
        #expect(r.status == 2)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains("slipway.yaml:5:49: pipelines.main.stages.train.outz: unknown key (did you mean 'outs'?)"))
        #expect(lines.contains("slipway.yaml:6:35: pipelines.main.stages.eval.needs[0]: unknown stage 'trian' (did you mean 'train'?); stages here: train, eval"))
        #expect(lines.contains("slipway.yaml:5:37: pipelines.main.stages.train.params[0]: param 'train.lrr' is not defined in params.yaml (did you mean 'train.lr'?)"))
        #expect(lines.last == "slipway: 3 problems in the spec; nothing was run")
        s.write("slipway.yaml", "project: p\npipelines: {main: {stages: {a: {cmd: 'true'}}}}\n")
        let ok = s.run("lint")
        #expect(ok.status == 0)
        #expect(ok.stdout == "slipway.yaml: OK (1 pipeline, 1 stage)\n")
    }

    @Test func everyCommandRefusesABrokenSpec() {
        let s = Sandbox()
        s.write("slipway.yaml", "project: p\npipelines:\n  main:\n    stages:\n      a: {cmd: x, needs: [nope]}\n")
        for args in [["run"], ["run", "--explain"], ["lint"]] {
            let r = s.run(args)
            #expect(r.status == 2, "\(args)")
            #expect(r.stderr.contains("unknown stage 'nope'"), "\(args)")
        }
    }

    @Test func killedRunIsMarkedInterruptedAndResumesFromCache() throws {
        let s = Sandbox()
        // A sleep no other test (or another checkout's test run) has: pgrep looks machine-wide.
        let nap = "sleep 61.\(UInt32.random(in: 100_000...999_999))"
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              quick: {cmd: "echo run >> .count-quick && echo q > q.txt", outs: [q.txt]}
              slow: {cmd: "echo run >> .count-slow && \(nap) && echo s > s.txt", deps: [q.txt], outs: [s.txt]}
        """)
        let p = try s.start(["run"])
        #expect(s.waitUntil { s.count(".count-slow") == 1 })
        kill(p.processIdentifier, SIGKILL)
        s.reap(p)

        // The next command of any kind notices.
        let status = s.run("status")
        #expect(status.status == 0)
        let show = try #require(try s.json("show", "1", "--json") as? [String: Any])
        let run = try #require(show["run"] as? [String: Any])
        #expect(run["status"] as? String == "interrupted")
        let stages = try #require(run["stages"] as? [[String: Any]])
        #expect(stages.map { $0["status"] as? String } == ["succeeded", "interrupted"])
        // The orphaned sleep was stopped with its process group.
        let orphanGone = s.waitUntil(timeout: 5) {
            let ps = Process()
            ps.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
            ps.arguments = ["-f", nap]
            ps.standardOutput = FileHandle.nullDevice
            try? ps.run()
            ps.waitUntilExit()
            return ps.terminationStatus != 0
        }
        #expect(orphanGone)

        // The next run reuses the finished stage.
        s.write("slipway.yaml", (s.read("slipway.yaml") ?? "").replacingOccurrences(of: nap, with: "true"))
        let again = s.run("run")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(s.count(".count-quick") == 1)
        #expect(s.read("s.txt") == "s\n")
        let audit = s.run("show", "2", "--json")
        #expect(audit.stdout.contains("\"cached\""))
    }

    @Test func interruptCancelsTheRunAndStopsItsCommands() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              slow: {cmd: "echo started > started.txt; sleep 62; touch finished.txt"}
              after: {cmd: "touch after.txt", needs: [slow]}
        """)
        let p = s.process(["run"])
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        #expect(s.waitUntil { s.exists("started.txt") })
        kill(p.processIdentifier, SIGINT)
        let status = s.reap(p)
        #expect(status >> 8 == 1)
        let show = try #require(try s.json("show", "1", "--json") as? [String: Any])
        let run = try #require(show["run"] as? [String: Any])
        #expect(run["status"] as? String == "cancelled")
        let stages = try #require(run["stages"] as? [[String: Any]])
        #expect(stages.map { $0["status"] as? String } == ["cancelled", "cancelled"])
        #expect(!s.exists("finished.txt") && !s.exists("after.txt"))
    }

    @Test func twoProcessesWritingAtOnceLoseNothing() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          a:
            stages:
              s: {cmd: "for i in $(seq 1 500); do echo \\"::metric name=m step=$i value=$i\\"; done; touch a.txt", outs: [a.txt]}
          b:
            stages:
              s: {cmd: "for i in $(seq 1 500); do echo \\"::metric name=m step=$i value=$i\\"; done; touch b.txt", outs: [b.txt]}
        """)
        let processes = (0..<6).map { i in s.process(["run", i % 2 == 0 ? "a" : "b", "--force"]) }
        for p in processes {
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
        }
        for p in processes { #expect(s.reap(p) == 0) }
        let runs = try #require(try s.json("runs", "--json") as? [[String: Any]])
        #expect(runs.count == 6)
        for id in 1...6 {
            let show = try #require(try s.json("show", "\(id)", "--json") as? [String: Any])
            #expect((show["metrics"] as? [[String: Any]])?.count == 500)
        }
    }

    @Test func badParamsFileNamesItsPlace() {
        let s = Sandbox()
        s.write("slipway.yaml", "project: p\npipelines: {main: {stages: {a: {cmd: 'true', params: [x]}}}}\n")
        s.write("params.yaml", "x: [1, 2\n")
        let r = s.run("run")
        #expect(r.status == 2)
        #expect(r.stderr.contains("params.yaml:"))
        #expect(r.stderr.contains("invalid YAML"))
    }
}

@Suite struct WorkspaceCommandTests {
    @Test func initMakesAWorkspaceAndRefusesToOverwrite() throws {
        let s = Sandbox()
        let r = s.run("init")
        #expect(r.status == 0)
        #expect(s.exists("slipway.yaml") && s.exists("params.yaml") && s.exists(".slipway/registry.sqlite"))
        let attrs = try FileManager.default.attributesOfItem(atPath: s.root + "/.slipway")
        #expect(attrs[.posixPermissions] as? Int == 0o700)
        let db = try FileManager.default.attributesOfItem(atPath: s.root + "/.slipway/registry.sqlite")
        #expect(db[.posixPermissions] as? Int == 0o600)
        let original = s.read("slipway.yaml")
        let again = s.run("init")
        #expect(again.status == 2)
        #expect(again.stderr.contains("already a Slipway workspace"))
        #expect(s.read("slipway.yaml") == original)
        // The skeleton is a working spec.
        #expect(s.run("lint").status == 0)
        #expect(s.run("run").status == 0)
    }

    @Test func demoRuns() throws {
        let s = Sandbox()
        #expect(s.run("init", "--demo").status == 0)
        let r = s.run("run")
        #expect(r.status == 0, "\(r.stderr)")
        let show = try #require(try s.json("show", "latest", "--json") as? [String: Any])
        let metrics = try #require(show["metrics"] as? [[String: Any]])
        #expect(metrics.contains { $0["stage"] as? String == "evaluate" && $0["key"] as? String == "accuracy" })
    }

    @Test func workspaceIsFoundFromFlagEnvironmentAndParents() throws {
        let s = Sandbox()
        #expect(s.run("init").status == 0)
        try FileManager.default.createDirectory(atPath: s.root + "/deep/er", withIntermediateDirectories: true)
        #expect(s.run(["status"], directory: s.root + "/deep/er").status == 0)
        #expect(s.run(["-C", s.root, "status"], directory: "/").status == 0)
        #expect(s.run(["status", "-C", s.root], directory: "/").status == 0)
        #expect(s.run(["status"], environment: ["SLIPWAY_WORKSPACE": s.root], directory: "/").status == 0)
        let none = s.run(["status"], directory: "/")
        #expect(none.status == 2)
        #expect(none.stderr.contains("no Slipway workspace"))
    }

    @Test func dataVersionsAreRecordedByContent() throws {
        let s = Sandbox()
        #expect(s.run("init").status == 0)
        s.write("data/train.csv", "a\n1\n")
        let first = s.run("data", "add", "data/train.csv")
        #expect(first.status == 0)
        #expect(first.stdout.contains("new version"))
        #expect(s.run("data", "add", "data/train.csv").stdout.contains("unchanged"))
        s.remove("data/train.csv")
        s.write("data/train.csv", "a\n1\n2\n")
        #expect(s.run("data", "add", "data/train.csv").stdout.contains("new version"))
        let list = try #require(try s.json("data", "ls", "--json") as? [[String: Any]])
        #expect(list.count == 2)
        #expect(list.map { $0["current"] as? Bool } == [false, true])
        #expect(list[1]["size"] as? Int == 6)
        #expect(s.run("data", "add", "nope.csv").status == 2)
        #expect(s.run("data", "add", "../x").status == 2)
    }

    @Test func noCommandWithoutATerminalPrintsStatus() {
        let s = Sandbox()
        #expect(s.run("init").status == 0)
        let r = s.run()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("recent       no runs yet"))
        // The project is named after its folder, and .slipway/ is kept out of git.
        let folder = (s.root as NSString).lastPathComponent
        #expect(s.run(["-C", s.root], directory: "/").stdout.contains(folder))
        #expect(s.read(".gitignore")?.contains(".slipway/\n") == true)
        let console = s.run("console")
        #expect(console.status == 2)
        #expect(console.stderr.contains("the console needs a terminal"))
    }

    @Test func usageErrorsExitTwo() {
        let s = Sandbox()
        #expect(s.run("init").status == 0)
        #expect(s.run("frobnicate").status == 2)
        #expect(s.run("run", "--jobs", "0").status == 2)
        #expect(s.run("show", "99").status == 2)
        #expect(s.run("show", "abc").status == 2)
        #expect(s.run("--help").status == 0)
    }

    @Test func logsAndStatus() throws {
        let s = Sandbox()
        s.write("slipway.yaml", "project: p\npipelines: {main: {stages: {a: {cmd: 'echo hello; echo oops >&2'}, b: {cmd: 'echo world', needs: [a]}}}}\n")
        #expect(s.run("run").status == 0)
        #expect(s.run("logs", "1", "a").stdout == "hello\noops\n")
        let all = s.run("logs", "latest").stdout
        #expect(all.contains("==> a (succeeded) <==\nhello\noops\n==> b (succeeded) <==\nworld\n"))
        #expect(s.run("logs", "1", "c").stderr.contains("no stage 'c'"))
        // A stage taken from the cache has no log file; its log is why.
        #expect(s.run("run").status == 0)
        #expect(s.run("logs", "2", "a").stdout.hasPrefix("[slipway] cached: same inputs as run 1"))
        let status = s.run("status")
        #expect(status.stdout.contains("run 2 main  succeeded"))
        let json = try #require(try s.json("status", "--json") as? [String: Any])
        #expect((json["recent"] as? [[String: Any]])?.count == 2)
    }

    @Test func followStreamsALiveLog() throws {
        let s = Sandbox()
        s.write("slipway.yaml", "project: p\npipelines: {main: {stages: {a: {cmd: 'echo one; sleep 1; echo two'}}}}\n")
        let p = try s.start(["run"])
        #expect(s.waitUntil { s.exists(".slipway/logs/run-1/a.log") })
        let follow = s.run("logs", "1", "a", "--follow")
        s.reap(p)
        #expect(follow.stdout == "one\ntwo\n")
    }
}
