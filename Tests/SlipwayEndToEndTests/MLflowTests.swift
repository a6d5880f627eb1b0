import Foundation
import Testing

/// The real MLflow client (mlflow-skinny from PyPI, in the environment
/// `.ci/mlflow-venv` makes once per clone): its python, or why there is none.
enum MLflowClient {
    static let python: Result<String, Unavailable> = {
        if let p = ProcessInfo.processInfo.environment["SLIPWAY_MLFLOW_PYTHON"], FileManager.default.isExecutableFile(atPath: p) {
            return .success(p)
        }
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = package.appendingPathComponent(".ci/mlflow-venv").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: script)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { return .failure(Unavailable(reason: "\(script): \(error)")) }
        let path = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let why = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0, FileManager.default.isExecutableFile(atPath: path) else {
            return .failure(Unavailable(reason: "\(script) failed: \(why.suffix(400))"))
        }
        return .success(path)
    }()

    struct Unavailable: Error { var reason: String }

    static var available: Bool {
        if case .failure(let u) = python {
            print("◇ MLflow client tests skipped: no MLflow client environment (\(u.reason))")
            return false
        }
        return true
    }

    static var path: String { (try? python.get()) ?? "python3" }
}

/// A workspace whose stage runs a Python script with the real MLflow client.
func mlflowWorkspace(script: String, gates: String = "", params: String = "train:\n  lr: 0.01\n  epochs: 3\n",
                     declared: String = "[train.lr, train.epochs]") -> Sandbox {
    let sb = Sandbox()
    sb.write("params.yaml", params)
    sb.write("train.py", script)
    sb.write("slipway.yaml", """
        project: mlflow-e2e
        pipelines:
          train:
            stages:
              train:
                cmd: \(MLflowClient.path) train.py
                deps: [train.py]
                params: \(declared)
        \(gates.isEmpty ? "" : "        gates:\n" + gates)
        """)
    try! FileManager.default.createDirectory(atPath: sb.root + "/.slipway", withIntermediateDirectories: true)
    return sb
}

/// The timestamp `slipway show --json` writes (ISO 8601, UTC, milliseconds) in ms since the epoch.
func isoMillis(_ s: String) -> Int64? {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.date(from: s).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
}

@Suite(.serialized, .enabled(if: MLflowClient.available, "needs the MLflow client environment (.ci/mlflow-venv)"))
struct MLflowTests {
    static let training = #"""
        import json, os
        import mlflow, mlflow.pyfunc
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param, RunTag

        class AddOne(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return model_input + 1

        given = os.environ["MLFLOW_RUN_ID"]  # start_run takes it out of the environment
        token = os.environ["MLFLOW_TRACKING_URI"].rsplit("/", 1)[-1]
        mlflow.set_experiment("any-name-is-the-pipeline")
        with mlflow.start_run() as run:
            assert run.info.run_id == given, "start_run attaches to the stage's run"
            mlflow.log_param("lr", 0.01)
            mlflow.log_params({"epochs": 3, "optimizer": "adam"})
            for step in range(3):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_metrics({"val_acc": 0.91, "val_f1": 0.88}, step=2)
            mlflow.set_tag("team", "vision")
            with open("notes.txt", "w") as f:
                f.write("hello from training")
            mlflow.log_artifact("notes.txt", artifact_path="docs")
            mlflow.log_dict({"classes": ["cat", "dog"]}, "meta/classes.json")
            mlflow.log_text("plain text", "meta/readme.txt")
            os.makedirs("plots/sub", exist_ok=True)
            open("plots/a.csv", "w").write("x,y\n1,2\n")
            open("plots/sub/b.csv", "w").write("x,y\n3,4\n")
            mlflow.log_artifacts("plots", artifact_path="plots")
            mlflow.set_tags({"owner": "ana", "purpose": "e2e"})
            import numpy as np
            mlflow.log_input(mlflow.data.from_numpy(np.array([[1, 2], [3, 4]]), name="train-set", source="data/train.npy"),
                             context="training")
            client = MlflowClient()
            base = 1_700_000_000_000
            client.log_batch(run.info.run_id,
                             metrics=[Metric("batch_metric", i * 0.5, base + i, i) for i in range(1500)],
                             params=[Param("batch_size", "64")], tags=[RunTag("phase", "train")])
            info = mlflow.pyfunc.log_model(name="model", python_model=AddOne())
            with mlflow.start_run(run_name="fold-a", nested=True) as child:
                mlflow.log_metric("loss", 0.3, step=7)
                mlflow.log_param("lr", 0.5)
            found = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'", output_format="list")
            assert [r.info.run_id for r in found] == [child.info.run_id], found
            back = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="plots", dst_path="downloaded")
            assert open(os.path.join(back, "sub", "b.csv")).read() == "x,y\n3,4\n"
            keys = ["loss", "val_acc", "val_f1", "batch_metric"]
            history = {k: [[m.value, m.timestamp, m.step] for m in client.get_metric_history(run.info.run_id, k)] for k in keys}
            again = client.get_run(run.info.run_id)
            json.dump({"history": history, "params": again.data.params, "tags": {k: v for k, v in again.data.tags.items()},
                       "child_history": [[m.value, m.timestamp, m.step] for m in client.get_metric_history(child.info.run_id, "loss")],
                       "model_uri": info.model_uri, "token": token, "artifacts": sorted(f.path for f in client.list_artifacts(run.info.run_id))},
                      open("logged.json", "w"))
        """#

    @Test func unchangedTrainingCodeLogsIntoTheRun() throws {
        let sb = mlflowWorkspace(script: Self.training, gates: "          val_acc: \">= 0.9\"\n")
        let r = sb.run("run")
        #expect(r.status == 0, "\(r.stderr)\n\(sb.run("logs", "latest").stdout)")
        let logged = try #require(try JSONSerialization.jsonObject(with: Data((sb.read("logged.json") ?? "{}").utf8)) as? [String: Any])
        let show = try #require(try sb.json("show", "latest", "--json") as? [String: Any])
        let metrics = try #require(show["metrics"] as? [[String: Any]])

        // Every point arrived with its step and timestamp, in the order logged.
        func points(_ key: String) -> [[Double]] {
            metrics.filter { $0["stage"] as? String == "train" && $0["key"] as? String == key }.map {
                [$0["value"] as? Double ?? .nan, Double(isoMillis($0["timestamp"] as? String ?? "") ?? -1), Double($0["step"] as? Int ?? -1)]
            }
        }
        let history = try #require(logged["history"] as? [String: [[Double]]])
        for (key, expected) in history {
            #expect(points(key) == expected, "\(key)")
        }
        #expect(history["batch_metric"]?.count == 1500)
        #expect(points("batch_metric").last == [749.5, 1_700_000_001_499, 1499])
        #expect(points("loss").map { $0[2] } == [0, 1, 2])
        #expect(points("fold-a/loss") == (logged["child_history"] as? [[Double]]))

        // Params and tags, the nested run's under its name.
        let tracked = try #require(show["tracked"] as? [[String: Any]])
        func value(_ kind: String, _ key: String) -> String? {
            tracked.first { $0["kind"] as? String == kind && $0["key"] as? String == key }?["value"] as? String
        }
        #expect(value("param", "lr") == "0.01")
        #expect(value("param", "epochs") == "3")
        #expect(value("param", "optimizer") == "adam")
        #expect(value("param", "batch_size") == "64")
        #expect(value("param", "fold-a/lr") == "0.5")
        #expect(value("tag", "team") == "vision")
        #expect(value("tag", "phase") == "train")
        #expect((logged["params"] as? [String: String])?["optimizer"] == "adam")

        // Artifacts: in the stage's area, each with its digest; the model too.
        #expect(sb.read("mlflow-artifacts/train/docs/notes.txt") == "hello from training")
        #expect(sb.read("mlflow-artifacts/train/meta/classes.json")?.contains("dog") == true)
        #expect(sb.read("mlflow-artifacts/train/meta/readme.txt") == "plain text")
        #expect(sb.read("mlflow-artifacts/train/plots/sub/b.csv") == "x,y\n3,4\n")
        #expect(value("tag", "owner") == "ana")
        #expect(sb.exists("mlflow-artifacts/train/models/model/MLmodel"))
        #expect(sb.exists("mlflow-artifacts/train/models/model/python_model.pkl"))
        let notes = try #require(tracked.first { $0["kind"] as? String == "artifact" && $0["key"] as? String == "mlflow-artifacts/train/docs/notes.txt" })
        #expect(notes["value"] as? String == "sha256:" + sha256("hello from training"))
        #expect(notes["size"] as? Int == 19)
        #expect((logged["artifacts"] as? [String])?.contains("docs") == true)
        #expect((logged["model_uri"] as? String)?.hasPrefix("models:/m-") == true)
        // The area is an output of the stage, with its digest.
        let log = sb.run("logs", "latest", "train").stdout
        #expect(log.contains("[slipway] mlflow: model logged: mlflow-artifacts/train/models/model"))
        #expect(!log.contains("does not serve"), "\(log)")
        // The client's "View run … at: URI" would put the stage's token in its log.
        let token = try #require(logged["token"] as? String)
        #expect(token.count == 64)
        #expect(!log.contains(token), "\(log)")
        #expect(!log.contains("View run"), "\(log)")
        // set_experiment(any name) resolved to the pipeline's experiment; log_input was kept.
        #expect(tracked.first { $0["kind"] as? String == "input" && $0["key"] as? String == "train-set" }?["value"] as? String
                    == #"8be7b4a3 {"uri": "data/train.npy"}"#)

        // The gate decided on the MLflow-logged metric.
        let gates = try #require((try sb.json("run", "--json", "--force") as? [String: Any])?["gates"] as? [[String: Any]])
        #expect(gates.first?["metric"] as? String == "val_acc")
        #expect(gates.first?["passed"] as? Bool == true)

        // A run with nothing changed: the stage comes from the cache, its MLflow
        // artifacts and logged values with it.
        sb.remove("mlflow-artifacts")
        #expect(sb.run("run").status == 0)
        #expect(try sb.stageRecords("latest").first?["status"] as? String == "cached")
        #expect(sb.read("mlflow-artifacts/train/docs/notes.txt") == "hello from training")
        let cached = try #require((try sb.json("show", "latest", "--json") as? [String: Any])?["tracked"] as? [[String: Any]])
        #expect(cached.contains { $0["key"] as? String == "optimizer" })
    }

    @Test func aGateOnAnMLflowMetricDecides() throws {
        let script = """
            import mlflow
            with mlflow.start_run():
                mlflow.log_metric("val_acc", 0.91, step=1)
            """
        let sb = mlflowWorkspace(script: script, gates: "          val_acc: \">= 0.95\"\n")
        let r = sb.run("run")
        #expect(r.status == 3, "\(r.stderr)")
        let show = try #require(try sb.json("show", "latest", "--json") as? [String: Any])
        #expect((show["run"] as? [String: Any])?["status"] as? String == "failed")
        #expect(r.stderr.contains("val_acc"))
    }

    @Test func aParamThatDiffersFromParamsYamlIsAWarning() throws {
        let script = """
            import mlflow
            with mlflow.start_run():
                mlflow.log_params({"lr": 0.02, "epochs": 3})
            """
        let sb = mlflowWorkspace(script: script)
        let r = sb.run("run")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("logged param 'lr' = '0.02' differs from declared param 'train.lr' = '0.01'"))
        let log = sb.run("logs", "latest", "train").stdout
        #expect(log.contains("[slipway] warning: logged param 'lr' = '0.02' differs from declared param 'train.lr' = '0.01' (params.yaml)"))
        #expect(!log.contains("'epochs'"))
    }

    @Test func aRequestWithoutTheStagesTokenIsRefused() throws {
        // The stage says where its endpoint is, then waits while another
        // process (the test, through the same client) tries without the token.
        let script = """
            import os, time, mlflow
            open("uri.txt", "w").write(os.environ["MLFLOW_TRACKING_URI"] + "\\n" + os.environ["MLFLOW_RUN_ID"])
            deadline = time.monotonic() + 300  # the test writes it; if the test dies, the stage still ends
            while not os.path.exists("go") and time.monotonic() < deadline:
                time.sleep(0.05)
            with mlflow.start_run():
                mlflow.log_metric("mine", 1.0)
            """
        let sb = mlflowWorkspace(script: script)
        let run = try sb.start(["run"])
        defer { if run.isRunning { kill(run.processIdentifier, SIGTERM) } }
        #expect(sb.waitUntil(timeout: 60) { (sb.read("uri.txt") ?? "").contains("\n") })
        let parts = (sb.read("uri.txt") ?? "").split(separator: "\n").map(String.init)
        let uri = try #require(parts.first), runID = try #require(parts.last)
        let url = try #require(URL(string: uri))
        let bare = "http://127.0.0.1:\(url.port ?? 0)"
        let forged = bare + "/" + String(repeating: "0", count: 64)
        let intruder = """
            import sys, mlflow
            from mlflow import MlflowClient
            results = []
            for uri in sys.argv[1:]:
                try:
                    MlflowClient(tracking_uri=uri).log_metric(\"\(runID)\", "intruder", 666.0)
                    results.append("accepted")
                except mlflow.exceptions.MlflowException as e:
                    results.append(e.error_code)
            print(" ".join(results))
            """
        sb.write("intruder.py", intruder)
        let said = try python(["intruder.py", bare, forged], in: sb, environment: ["MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"])
        #expect(said.trimmingCharacters(in: .whitespacesAndNewlines) == "UNAUTHENTICATED UNAUTHENTICATED")
        // A second local user (nobody) with the same client, on the same port.
        if getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") {
            let other = try pythonAsNobody(code: intruder, args: [bare, forged])
            #expect(other.trimmingCharacters(in: .whitespacesAndNewlines) == "UNAUTHENTICATED UNAUTHENTICATED", "\(other)")
        } else {
            print("◇ the second-user request was not tried: it needs root and setpriv to become nobody")
        }
        sb.write("go", "")
        #expect(sb.reap(run) == 0)
        let show = try #require(try sb.json("show", "latest", "--json") as? [String: Any])
        let keys = (show["metrics"] as? [[String: Any]] ?? []).compactMap { $0["key"] as? String }
        #expect(keys == ["mine"])
    }

    @Test func aLoggedModelIsPackagedAndAnUnservedCallIsNamed() throws {
        let script = """
            import mlflow, mlflow.pyfunc
            from mlflow import MlflowClient
            class AddOne(mlflow.pyfunc.PythonModel):
                def predict(self, context, model_input, params=None):
                    return model_input + 1
            with mlflow.start_run():
                mlflow.log_metric("acc", 0.93)
                mlflow.pyfunc.log_model(name="model", python_model=AddOne())
                try:
                    MlflowClient().create_registered_model("clf")
                    open("registry.txt", "w").write("accepted")
                except mlflow.exceptions.MlflowException as e:
                    open("registry.txt", "w").write(e.error_code)
            """
        let sb = Sandbox()
        sb.write("train.py", script)
        sb.write("slipway.yaml", """
            project: mlflow-package
            pipelines:
              train:
                model: clf
                stages:
                  train: {cmd: \(MLflowClient.path) train.py, deps: [train.py], outs: [registry.txt], gates: {acc: ">= 0.9"}}
                  package:
                    uses: package
                    needs: [train]
                    model: mlflow-artifacts/train/models/model
            """)
        let r = sb.run("run")
        let log = sb.run("logs", "latest", "train").stdout
        #expect(r.status == 0, "\(r.stderr)\n\(log)")
        // MLflow's model registry is not served: the client gets MLflow's error, the log names the call.
        #expect(sb.read("registry.txt") == "ENDPOINT_NOT_FOUND")
        #expect(log.contains("POST /api/2.0/mlflow/registered-models/create, which slipway's tracking endpoint does not serve"), "\(log)")
        // The logged model is the packaged one: its MLmodel is in the image, and the image verifies.
        let show = try #require(try sb.json("models", "show", "clf", "--json") as? [String: Any])
        #expect("\(show)".contains("clf"), "\(show)")
        #expect(sb.run("verify", "clf").status == 0)
        let files = sb.run("show", "latest").stdout
        #expect(files.contains("mlflow-artifacts/train/models/model/MLmodel"), "\(files)")
    }

    @Test func autologgingOffLogsOnlyWhatTheCodeLogs() throws {
        let script = """
            import mlflow
            from sklearn.datasets import load_iris
            from sklearn.linear_model import LogisticRegression
            mlflow.autolog(disable=True)
            X, y = load_iris(return_X_y=True)
            with mlflow.start_run():
                model = LogisticRegression(max_iter=300).fit(X, y)
                mlflow.log_metric("train_acc", model.score(X, y))
            """
        let sb = mlflowWorkspace(script: script)
        #expect(sb.run("run").status == 0, "\(sb.run("logs", "latest").stdout)")
        let show = try #require(try sb.json("show", "latest", "--json") as? [String: Any])
        #expect((show["metrics"] as? [[String: Any]])?.compactMap { $0["key"] as? String } == ["train_acc"])
        #expect((show["tracked"] as? [[String: Any]])?.filter { $0["kind"] as? String == "param" }.isEmpty == true)
    }

    @Test func autologWithScikitLearn() throws {
        let script = """
            import mlflow
            from sklearn.datasets import load_iris
            from sklearn.linear_model import LogisticRegression
            mlflow.autolog()
            X, y = load_iris(return_X_y=True)
            LogisticRegression(max_iter=300, C=0.5).fit(X, y)
            mlflow.end_run()
            """
        let sb = mlflowWorkspace(script: script, gates: "          training_accuracy_score: \">= 0.9\"\n")
        let r = sb.run("run")
        let log = sb.run("logs", "latest", "train").stdout
        #expect(r.status == 0, "\(r.stderr)\n\(log)")
        let show = try #require(try sb.json("show", "latest", "--json") as? [String: Any])
        let keys = Set((show["metrics"] as? [[String: Any]] ?? []).compactMap { $0["key"] as? String })
        #expect(keys.contains("training_accuracy_score"), "\(keys)")
        let tracked = show["tracked"] as? [[String: Any]] ?? []
        #expect(tracked.contains { $0["kind"] as? String == "param" && $0["key"] as? String == "C" && $0["value"] as? String == "0.5" })
        #expect(tracked.contains { $0["kind"] as? String == "artifact" && ($0["key"] as? String ?? "").hasSuffix("/MLmodel") })
        #expect(!log.contains("does not serve"), "\(log)")
        // The client would print "View run … at: URI", the stage's token in it.
        #expect(!log.contains("View run"), "\(log)")
    }
}

/// Runs `code` with the MLflow client's python as the user nobody (from
/// root, through setpriv), outside any sandbox; what it printed, or its error.
func pythonAsNobody(code: String, args: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
    p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "--", MLflowClient.path, "-c", code] + args
    p.currentDirectoryURL = URL(fileURLWithPath: "/")
    p.environment = ["PATH": "/usr/bin:/bin", "HOME": "/tmp", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let said = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let why = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return said.isEmpty ? "exit \(p.terminationStatus): \(why.suffix(600))" : said
}

/// Runs the MLflow client's python in the sandbox; what it printed.
func python(_ args: [String], in sb: Sandbox, environment: [String: String] = [:]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: MLflowClient.path)
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: sb.root)
    var env = ProcessInfo.processInfo.environment
    for k in env.keys where k.hasPrefix("MLFLOW_") { env.removeValue(forKey: k) }
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let said = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return said
}

func sha256(_ s: String) -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    let input = Pipe(), output = Pipe()
    p.standardInput = input
    p.standardOutput = output
    try? p.run()
    input.fileHandleForWriting.write(Data(s.utf8))
    try? input.fileHandleForWriting.close()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(String(decoding: out, as: UTF8.self).prefix(64))
}
