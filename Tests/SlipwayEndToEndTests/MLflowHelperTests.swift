import Foundation
import Testing

/// The run's MLflow endpoint lives in `slipway-mlflow`, which the run starts when a stage
/// first connects and which never outlives the run.
@Suite(.serialized, .enabled(if: MLflowClient.available, "needs the MLflow client environment (.ci/mlflow-venv)"))
struct MLflowHelperTests {
    /// Python that names the `slipway-mlflow` processes whose parent is the `slipway`
    /// running this stage (found by walking up from the stage).
    static let helpers = #"""
        import os
        def stat(pid):
            text = open(f"/proc/{pid}/stat").read()
            comm = text[text.index("(") + 1:text.rindex(")")]
            return comm, int(text[text.rindex(")") + 2:].split()[1])
        def slipway():
            pid = os.getpid()
            while pid > 1:
                comm, parent = stat(pid)
                if comm == "slipway":
                    return pid
                pid = parent
            raise SystemExit("no slipway above this stage")
        def helpers():
            run, found = slipway(), []
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        comm, parent = stat(entry)
                    except OSError:
                        continue
                    if comm == "slipway-mlflow" and parent == run:
                        found.append(entry)
            return found
        """#

    /// A workspace with `helpers.py` and a pipeline `main` of `stages` (YAML, indented
    /// for their place under `stages:`).
    static func workspace(_ stages: String) -> Sandbox {
        let sb = Sandbox()
        sb.write("helpers.py", helpers)
        sb.write("slipway.yaml", "project: helper-e2e\npipelines:\n  main:\n    stages:\n" + stages)
        return sb
    }

    @Test func theHelperStartsOnlyWhenAStageConnectsAndEndsWithTheRun() throws {
        let sb = Self.workspace("""
                  quiet:
                    cmd: \(MLflowClient.path) quiet.py
                    deps: [quiet.py]
                    outs: [quiet.txt]
                  train:
                    cmd: \(MLflowClient.path) train.py
                    deps: [train.py, quiet.txt]
                    outs: [train.txt, token.txt]
                  evaluate:
                    cmd: \(MLflowClient.path) evaluate.py
                    deps: [evaluate.py, train.txt]
                    params: [train.lr]
            """)
        sb.write("quiet.py", "from helpers import helpers\nopen('quiet.txt', 'w').write(' '.join(helpers()) or 'none')\n")
        sb.write("train.py", """
            import os, mlflow
            from helpers import helpers
            with mlflow.start_run():
                mlflow.log_metric("loss", 0.5)
                mlflow.set_tag("note", "one\\n[slipway] fake warning\\x1b[31m")
            open("train.txt", "w").write(" ".join(helpers()))
            uri = os.environ["MLFLOW_TRACKING_URI"]
            open("token.txt", "w").write(uri.rsplit("/", 1)[-1])
            print("tracking at", uri, flush=True)  # as the client's error messages do
            # A path slipway does not serve, with the token in it twice: named in the log, masked.
            import urllib.request, urllib.error
            try:
                urllib.request.urlopen(uri + "/" + uri.rsplit("/", 1)[-1] + "/api/2.0/mlflow/nothing")
            except urllib.error.HTTPError as e:
                assert e.code == 404, e.code
            """)
        // The second stage to log opens its scope while the helper already serves.
        sb.write("params.yaml", "train:\n  lr: 0.01\n")
        sb.write("evaluate.py", """
            import mlflow
            with mlflow.start_run():
                mlflow.log_metric("acc", 0.9, step=3)
                mlflow.log_param("lr", 0.02)
            """)
        let r = sb.run("run")
        #expect(r.status == 0, "\(r.stderr)\n\(sb.run("logs", "latest").stdout)")
        // The first stage never called MLflow: nothing was started for it.
        #expect(sb.read("quiet.txt") == "none")
        // The second one did: one helper, a child of the run, gone when the run returned.
        let started = (sb.read("train.txt") ?? "").split(separator: " ").map(String.init)
        #expect(started.count == 1, "\(started)")
        for pid in started { #expect(!FileManager.default.fileExists(atPath: "/proc/\(pid)"), "helper \(pid) outlived its run") }
        let show = try #require(try sb.json("show", "latest", "--json") as? [String: Any])
        let metrics = (show["metrics"] as? [[String: Any]] ?? []).map { "\($0["stage"] ?? "")/\($0["key"] ?? "")/\($0["step"] ?? "")" }
        #expect(metrics.sorted() == ["evaluate/acc/3", "train/loss/0"])
        #expect(r.stderr.contains("logged param 'lr' = '0.02' differs from declared param 'train.lr' = '0.01'"), "\(r.stderr)")
        // A value logged from outside is one field of one line, piped or not.
        let shown = sb.run("show", "latest").stdout
        #expect(shown.contains("note = one^J[slipway] fake warning^[[31m"), "\(shown)")
        #expect(!shown.split(separator: "\n").contains { $0.hasPrefix("[slipway]") } && !shown.contains("\u{1b}"))
        // The stage printed its address: the log has it without the token.
        let token = try #require(sb.read("token.txt"))
        let log = sb.run("logs", "latest", "train").stdout
        #expect(token.count == 64 && !log.contains(token), "\(log)")
        #expect(log.contains("tracking at http://127.0.0.1:") && log.contains("/***"), "\(log)")
        #expect(log.contains("called GET /***/api/2.0/mlflow/nothing"), "\(log)")
    }

    @Test func killingTheRunEndsItsHelper() throws {
        let sb = Self.workspace("""
                  train:
                    cmd: \(MLflowClient.path) train.py
                    deps: [train.py]
            """)
        sb.write("train.py", """
            import os, time, mlflow
            from helpers import helpers
            mlflow.start_run()
            mlflow.log_metric("loss", 0.5)
            open("pids.txt", "w").write(" ".join(helpers()) + "\\n" + str(os.getpid()))
            for _ in range(1200):
                if os.path.exists("go"):
                    break
                time.sleep(0.05)
            # Not end_run: its endpoint is gone with the killed run, and the client would
            # retry for minutes.
            os._exit(0)
            """)
        let run = try sb.start(["run"])
        defer {
            sb.write("go", "")
            // The stage outlives its killed run (it has a process group of its own).
            if let stage = (sb.read("pids.txt") ?? "").components(separatedBy: "\n").last.flatMap({ Int32($0) }) { kill(stage, SIGKILL) }
        }
        #expect(sb.waitUntil(timeout: 60) { (sb.read("pids.txt") ?? "").contains("\n") })
        let helper = try #require((sb.read("pids.txt") ?? "").components(separatedBy: "\n").first)
        #expect(!helper.isEmpty, "the stage found no helper")
        #expect(FileManager.default.fileExists(atPath: "/proc/\(helper)"))
        kill(run.processIdentifier, SIGKILL)
        _ = sb.reap(run)
        // Its end of the socket pair closed with it: the helper stops serving and exits.
        func gone() -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(helper)/stat", encoding: .utf8) else { return true }
            return stat[stat.range(of: ")")!.upperBound...].hasPrefix(" Z")
        }
        #expect(sb.waitUntil(timeout: 20, gone), "helper \(helper) outlived the killed run")
    }
}

extension MLflowHelperTests {
    /// A helper that dies is said in the stage's log, and the stages after it run without
    /// an endpoint (a warning each), the run going on.
    @Test func aHelperThatDiesIsSaidAndTheRunGoesOn() throws {
        let sb = Self.workspace("""
                  train:
                    cmd: \(MLflowClient.path) train.py
                    deps: [train.py]
                    outs: [train.txt]
                  evaluate:
                    cmd: echo "${MLFLOW_TRACKING_URI:-none}" > uri.txt
                    deps: [train.txt]
                    outs: [uri.txt]
            """)
        sb.write("train.py", """
            import os, signal, time, mlflow
            from helpers import helpers
            with mlflow.start_run():
                mlflow.log_metric("loss", 0.5)
            pids = helpers()
            assert len(pids) == 1, pids
            os.kill(int(pids[0]), signal.SIGKILL)
            # Until the run has reaped it: by then the run knows it is gone.
            for _ in range(400):
                if not os.path.exists(f"/proc/{pids[0]}"):
                    break
                time.sleep(0.05)
            open("train.txt", "w").write("done")
            """)
        let r = sb.run("run")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(sb.read("uri.txt") == "none\n")
        #expect(r.stderr.contains("the tracking endpoint stopped"), "\(r.stderr)")
        // The run's reader saw the helper go before it closed the first stage's scope.
        let log = sb.run("logs", "latest", "train").stdout
        #expect(log.contains("the tracking endpoint stopped during the run: the helper was killed by signal 9"), "\(log)")
        let show = try #require(try sb.json("show", "latest", "--json") as? [String: Any])
        #expect((show["metrics"] as? [[String: Any]] ?? []).compactMap { $0["key"] as? String } == ["loss"])
    }
}

/// A `slipway` installed without its helper still runs every stage.
@Suite struct MissingHelperTests {
    @Test func aRunWithoutTheHelperSaysSoAndRunsItsStages() throws {
        let sb = Sandbox()
        let alone = sb.root + "/bin"
        try FileManager.default.createDirectory(atPath: alone, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Sandbox.binary, toPath: alone + "/slipway")
        sb.write("slipway.yaml", """
            project: helper-e2e
            pipelines:
              main:
                stages:
                  train:
                    cmd: echo "${MLFLOW_TRACKING_URI:-none}" > uri.txt
                    outs: [uri.txt]
            """)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: alone + "/slipway")
        p.arguments = ["run"]
        p.currentDirectoryURL = URL(fileURLWithPath: sb.root)
        var env = ProcessInfo.processInfo.environment
        for k in env.keys where k.hasPrefix("MLFLOW_") || k == "SLIPWAY_WORKSPACE" { env.removeValue(forKey: k) }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let said = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            + String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(said)")
        #expect(sb.read("uri.txt") == "none\n")
        #expect(said.contains("slipway-mlflow is missing"), "\(said)")
        #expect((sb.run("logs", "latest").stdout).contains("bin/slipway-mlflow is missing"))
    }
}
