import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayTracking

/// A sink that keeps what it is given.
final class RecordingSink: TrackingSink, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var metrics: [TrackedMetric] = []
    private(set) var params: [KeyValue] = []
    private(set) var tags: [KeyValue] = []
    private(set) var artifacts: [TrackedArtifact] = []
    private(set) var inputs: [TrackedInput] = []
    private(set) var notes: [String] = []

    func logMetrics(_ points: [TrackedMetric]) throws { lock.withLock { metrics += points } }
    func logParams(_ p: [KeyValue]) throws { lock.withLock { params += p } }
    func setTags(_ t: [KeyValue]) throws { lock.withLock { tags += t } }
    func recordArtifact(_ a: TrackedArtifact) throws { lock.withLock { artifacts.append(a) } }
    func logInputs(_ i: [TrackedInput]) throws { lock.withLock { inputs += i } }
    func note(_ message: String) { lock.withLock { notes.append(message) } }
}

/// A service with one open stage scope, in a temporary workspace.
struct ServiceFixture {
    let root: String
    let service: TrackingService
    let sink = RecordingSink()
    let token: String
    let runID: String
    let experimentID: String

    init(stage: String = "train") throws {
        root = NSTemporaryDirectory() + "slipway-tracking-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        service = TrackingService(workspace: Workspace(root: root), pipeline: "demo")
        let info = TrackedStageInfo(runID: 7, stageRunID: 21, pipeline: "demo", stage: stage, user: "alice",
                                    artifactArea: "mlflow-artifacts/" + stage, startedAt: 1_700_000_000_000)
        (token, runID, experimentID) = service.open(stage: info, sink: sink)
    }

    var scope: StageScope {
        guard case .scope(let s, _) = service.access(path: "/\(token)/api/2.0/mlflow/runs/get", authorization: nil) else {
            fatalError("the scope is not open")
        }
        return s
    }

    /// Sends a request as the HTTP layer would; the status and the parsed JSON body.
    @discardableResult
    func call(_ method: String, _ endpoint: String, _ body: [String: Any]? = nil,
              query: [(String, String)] = []) throws -> (status: Int, json: [String: Any]) {
        let bytes = try body.map { Array(try JSONSerialization.data(withJSONObject: $0)) } ?? []
        let r = service.handle(TrackingRequest(method: method, path: endpoint, query: query, body: bytes), scope: scope)
        guard case .bytes(let out) = r.body else { return (r.status, [:]) }
        let json = out.isEmpty ? [:] : (try JSONSerialization.jsonObject(with: Data(out)) as? [String: Any] ?? [:])
        return (r.status, json)
    }

    func api(_ method: String, _ name: String, _ body: [String: Any]? = nil, query: [(String, String)] = []) throws -> (status: Int, json: [String: Any]) {
        try call(method, "/api/2.0/mlflow/" + name, body, query: query)
    }
}

@Suite struct TrackingServiceTests {
    @Test func theStageRunHoldsWhatIsLoggedWithStepsAndTimestamps() throws {
        let f = try ServiceFixture()
        #expect(try f.api("POST", "runs/log-metric", ["run_id": f.runID, "key": "loss", "value": 0.5, "timestamp": 1000, "step": 1]).status == 200)
        #expect(try f.api("POST", "runs/log-metric", ["run_id": f.runID, "key": "loss", "value": 0.25, "timestamp": 2000, "step": 2]).status == 200)
        #expect(try f.api("POST", "runs/log-parameter", ["run_id": f.runID, "key": "lr", "value": "0.01"]).status == 200)
        #expect(try f.api("POST", "runs/set-tag", ["run_id": f.runID, "key": "team", "value": "vision"]).status == 200)
        let batch: [String: Any] = ["run_id": f.runID,
                                    "metrics": [["key": "acc", "value": 0.9, "timestamp": 3000, "step": 5],
                                                ["key": "acc", "value": "NaN", "timestamp": 3001, "step": 6]],
                                    "params": [["key": "epochs", "value": "3"]], "tags": [["key": "kind", "value": "cnn"]]]
        #expect(try f.api("POST", "runs/log-batch", batch).status == 200)

        #expect(f.sink.metrics.map(\.key) == ["loss", "loss", "acc", "acc"])
        #expect(f.sink.metrics[1] == TrackedMetric(key: "loss", value: 0.25, timestamp: 2000, step: 2))
        #expect(f.sink.metrics[3].value.isNaN && f.sink.metrics[3].step == 6)
        #expect(f.sink.params == [KeyValue("lr", "0.01"), KeyValue("epochs", "3")])
        #expect(f.sink.tags == [KeyValue("team", "vision"), KeyValue("kind", "cnn")])

        let run = try #require(try f.api("GET", "runs/get", query: [("run_id", f.runID)]).json["run"] as? [String: Any])
        let info = try #require(run["info"] as? [String: Any])
        #expect(info["run_id"] as? String == f.runID)
        #expect(info["experiment_id"] as? String == f.experimentID)
        #expect(info["status"] as? String == "RUNNING")
        #expect(info["artifact_uri"] as? String == "mlflow-artifacts:/train")
        let data = try #require(run["data"] as? [String: Any])
        let metrics = try #require(data["metrics"] as? [[String: Any]])
        // The latest value of each: the greatest step.
        #expect(metrics.first { $0["key"] as? String == "loss" }?["value"] as? Double == 0.25)
        #expect(metrics.first { $0["key"] as? String == "acc" }?["value"] as? String == "NaN")

        let history = try f.api("GET", "metrics/get-history", query: [("run_id", f.runID), ("metric_key", "loss")]).json
        let points = try #require(history["metrics"] as? [[String: Any]])
        #expect(points.map { $0["step"] as? Int } == [1, 2])
        #expect(points.map { $0["timestamp"] as? Int } == [1000, 2000])
    }

    @Test func aParamKeepsItsFirstValueAsInMLflow() throws {
        let f = try ServiceFixture()
        try f.api("POST", "runs/log-parameter", ["run_id": f.runID, "key": "lr", "value": "0.01"])
        #expect(try f.api("POST", "runs/log-parameter", ["run_id": f.runID, "key": "lr", "value": "0.01"]).status == 200)
        let r = try f.api("POST", "runs/log-parameter", ["run_id": f.runID, "key": "lr", "value": "0.02"])
        #expect(r.status == 400)
        #expect(r.json["error_code"] as? String == "INVALID_PARAMETER_VALUE")
        #expect((r.json["message"] as? String)?.contains("Changing param values is not allowed") == true)
        #expect(f.sink.params == [KeyValue("lr", "0.01")])
    }

    @Test func aPointLoggedAgainIsKeptOnceAsInMLflow() throws {
        // `log_model` logs the run's points of its step again, with the model's id.
        let f = try ServiceFixture()
        let point: [String: Any] = ["key": "loss", "value": 0.5, "timestamp": 1000, "step": 0]
        var again = point
        again["model_id"] = "m-1"
        #expect(try f.api("POST", "runs/log-batch", ["run_id": f.runID, "metrics": [point, point]]).status == 200)
        #expect(try f.api("POST", "runs/log-batch", ["run_id": f.runID, "metrics": [again, ["key": "loss", "value": 0.5, "timestamp": 1000, "step": 1]]]).status == 200)
        #expect(try f.api("POST", "runs/log-metric", ["run_id": f.runID, "key": "loss", "value": "NaN", "timestamp": 2000, "step": 2]).status == 200)
        #expect(try f.api("POST", "runs/log-metric", ["run_id": f.runID, "key": "loss", "value": "NaN", "timestamp": 2000, "step": 2]).status == 200)
        #expect(f.sink.metrics.map(\.step) == [0, 1, 2])
        let history = try f.api("GET", "metrics/get-history", query: [("run_id", f.runID), ("metric_key", "loss")]).json["metrics"] as? [[String: Any]]
        #expect(history?.map { $0["step"] as? Int } == [0, 1, 2])
    }

    @Test func aBatchOverMLflowsLimitsIsRefusedWhole() throws {
        let f = try ServiceFixture()
        let tooMany = (0...1000).map { ["key": "m\($0 % 7)", "value": 1.0, "timestamp": 1, "step": $0] as [String: Any] }
        let r = try f.api("POST", "runs/log-batch", ["run_id": f.runID, "metrics": tooMany])
        #expect(r.status == 400 && r.json["error_code"] as? String == "INVALID_PARAMETER_VALUE")
        #expect((r.json["message"] as? String)?.contains("at most 1000 metrics") == true)
        let params = (0...100).map { ["key": "p\($0)", "value": "v"] }
        #expect(try f.api("POST", "runs/log-batch", ["run_id": f.runID, "params": params]).status == 400)
        let tags = (0...100).map { ["key": "t\($0)", "value": "v"] }
        #expect(try f.api("POST", "runs/log-batch", ["run_id": f.runID, "tags": tags]).status == 400)
        // One bad key anywhere: nothing from the batch is kept.
        let mixed: [String: Any] = ["run_id": f.runID, "metrics": [["key": "ok", "value": 1, "timestamp": 1, "step": 0],
                                                                   ["key": "../escape", "value": 1, "timestamp": 1, "step": 0]]]
        #expect(try f.api("POST", "runs/log-batch", mixed).status == 400)
        let big = String(repeating: "x", count: 5000)
        let oversized = (0..<250).map { ["key": "t\($0)", "value": big] }
        let r2 = try f.api("POST", "runs/log-batch", ["run_id": f.runID, "params": Array(oversized.prefix(100)), "tags": Array(oversized.suffix(100))])
        #expect(r2.status == 400)
        #expect((r2.json["message"] as? String)?.contains("at most 1000000 bytes") == true)
        #expect(f.sink.metrics.isEmpty && f.sink.params.isEmpty && f.sink.tags.isEmpty)
    }

    @Test func namesFollowMLflowsRules() throws {
        let f = try ServiceFixture()
        for bad in ["a\u{1b}[31m", "../x", "/abs", "a//b", "", String(repeating: "k", count: 251)] {
            let r = try f.api("POST", "runs/log-metric", ["run_id": f.runID, "key": bad, "value": 1, "timestamp": 1])
            #expect(r.status == 400, "\(bad)")
        }
        for good in ["train/loss", "val acc", "précision", "a:b-c.d_e"] {
            #expect(try f.api("POST", "runs/log-metric", ["run_id": f.runID, "key": good, "value": 1, "timestamp": 1]).status == 200)
        }
        #expect(try f.api("POST", "runs/log-parameter", ["run_id": f.runID, "key": "long", "value": String(repeating: "v", count: 6001)]).status == 400)
    }

    @Test func aCreatedRunLogsUnderItsNameIntoTheStage() throws {
        let f = try ServiceFixture()
        let created = try f.api("POST", "runs/create", ["experiment_id": f.experimentID, "run_name": "fold 1", "start_time": 5,
                                                         "tags": [["key": "mlflow.parentRunId", "value": f.runID]]])
        #expect(created.status == 200)
        let info = try #require((created.json["run"] as? [String: Any])?["info"] as? [String: Any])
        let child = try #require(info["run_id"] as? String)
        #expect(child != f.runID)
        #expect(info["artifact_uri"] as? String == "mlflow-artifacts:/train/runs/fold-1")
        try f.api("POST", "runs/log-batch", ["run_id": child, "metrics": [["key": "loss", "value": 1.5, "timestamp": 9, "step": 3]],
                                             "params": [["key": "lr", "value": "0.1"]]])
        // A child may log a param the stage's run has with another value.
        try f.api("POST", "runs/log-parameter", ["run_id": f.runID, "key": "lr", "value": "0.01"])
        #expect(f.sink.metrics == [TrackedMetric(key: "fold-1/loss", value: 1.5, timestamp: 9, step: 3)])
        #expect(f.sink.params == [KeyValue("fold-1/lr", "0.1"), KeyValue("lr", "0.01")])
        #expect(f.sink.tags.contains(KeyValue("fold-1/mlflow.parentRunId", f.runID)))
        // Only the stage's own run's params are compared with the declared ones.
        #expect(f.service.close(token: f.token).params == [KeyValue("lr", "0.01")])

        let search = try ServiceFixture()
        let other = try search.api("POST", "runs/create", ["experiment_id": search.experimentID, "run_name": "child",
                                                           "tags": [["key": "mlflow.parentRunId", "value": search.runID]]])
        #expect(other.status == 200)
        let found = try search.api("POST", "runs/search", ["experiment_ids": [search.experimentID],
                                                           "filter": "tags.mlflow.parentRunId = '\(search.runID)'"]).json
        #expect((found["runs"] as? [[String: Any]])?.count == 1)
        let all = try search.api("POST", "runs/search", ["experiment_ids": [search.experimentID]]).json
        #expect((all["runs"] as? [[String: Any]])?.count == 2)
        #expect(try search.api("POST", "runs/search", ["filter": "tags.x IN ('a')"]).status == 400)
    }

    @Test func everyExperimentNameIsThePipelinesExperiment() throws {
        let f = try ServiceFixture()
        let byName = try f.api("GET", "experiments/get-by-name", query: [("experiment_name", "my-experiment")])
        #expect((byName.json["experiment"] as? [String: Any])?["experiment_id"] as? String == f.experimentID)
        #expect(try f.api("POST", "experiments/create", ["name": "another"]).json["experiment_id"] as? String == f.experimentID)
        #expect(try f.api("GET", "experiments/get", query: [("experiment_id", f.experimentID)]).status == 200)
        let missing = try f.api("GET", "experiments/get", query: [("experiment_id", "424242")])
        #expect(missing.status == 404 && missing.json["error_code"] as? String == "RESOURCE_DOES_NOT_EXIST")
        let noRun = try f.api("GET", "runs/get", query: [("run_id", "feedface")])
        #expect(noRun.status == 404 && noRun.json["error_code"] as? String == "RESOURCE_DOES_NOT_EXIST")
    }

    @Test func anEndpointNotServedAnswersMLflowsShapeAndIsNamedInTheLog() throws {
        let f = try ServiceFixture()
        let r = try f.call("POST", "/api/2.0/mlflow/registered-models/create", ["name": "x"])
        #expect(r.status == 404)
        #expect(r.json["error_code"] as? String == "ENDPOINT_NOT_FOUND")
        try f.call("POST", "/api/2.0/mlflow/registered-models/create", ["name": "y"])
        #expect(f.sink.notes.count == 1)
        #expect(f.sink.notes.first?.contains("POST /api/2.0/mlflow/registered-models/create") == true)
    }

    @Test func onlyTheScopesTokenOpensIt() throws {
        let f = try ServiceFixture()
        guard case .refused(let none) = f.service.access(path: "/api/2.0/mlflow/runs/get", authorization: nil) else {
            Issue.record("a request without a token was let in"); return
        }
        #expect(none.code == .unauthenticated && none.httpStatus == 401)
        let forged = String(repeating: "a", count: 64)
        guard case .refused(let wrong) = f.service.access(path: "/\(forged)/api/2.0/mlflow/runs/get", authorization: nil) else {
            Issue.record("a made-up token was let in"); return
        }
        #expect(wrong.code == .unauthenticated)
        guard case .scope(_, let rest) = f.service.access(path: "/api/2.0/mlflow/runs/get", authorization: "Bearer \(f.token)") else {
            Issue.record("the bearer token was refused"); return
        }
        #expect(rest == "/api/2.0/mlflow/runs/get")
        _ = f.service.close(token: f.token)
        guard case .refused(let closed) = f.service.access(path: "/\(f.token)/api/2.0/mlflow/runs/get", authorization: nil) else {
            Issue.record("a closed scope still answered"); return
        }
        #expect(closed.code == .permissionDenied)
    }

    @Test func loggedModelsGoToTheirOwnFolder() throws {
        let f = try ServiceFixture()
        let created = try f.api("POST", "logged-models", ["experiment_id": f.experimentID, "name": "model", "source_run_id": f.runID])
        let info = try #require((created.json["model"] as? [String: Any])?["info"] as? [String: Any])
        let id = try #require(info["model_id"] as? String)
        #expect(id.hasPrefix("m-"))
        #expect(info["artifact_uri"] as? String == "mlflow-artifacts:/train/models/model")
        #expect(info["status"] as? String == "LOGGED_MODEL_PENDING")
        #expect(try f.call("PATCH", "/api/2.0/mlflow/logged-models/\(id)", ["model_id": id, "status": "LOGGED_MODEL_READY"]).status == 200)
        #expect(try f.call("PATCH", "/api/2.0/mlflow/logged-models/\(id)/tags", ["tags": [["key": "flavor", "value": "pyfunc"]]]).status == 200)
        let got = try f.call("GET", "/api/2.0/mlflow/logged-models/\(id)").json
        let gotInfo = try #require((got["model"] as? [String: Any])?["info"] as? [String: Any])
        #expect(gotInfo["status"] as? String == "LOGGED_MODEL_READY")
        #expect((gotInfo["tags"] as? [[String: Any]])?.first?["value"] as? String == "pyfunc")
        #expect(f.sink.notes.contains { $0.contains("mlflow-artifacts/train/models/model") })
        let second = try f.api("POST", "logged-models", ["experiment_id": f.experimentID, "name": "model"])
        #expect(((second.json["model"] as? [String: Any])?["info"] as? [String: Any])?["artifact_uri"] as? String
                == "mlflow-artifacts:/train/models/model-2")
        #expect(try f.api("POST", "runs/outputs", ["run_id": f.runID, "models": [["model_id": id, "step": 0]]]).status == 200)
        #expect(try f.api("POST", "runs/outputs", ["run_id": f.runID, "models": [["model_id": "m-nope"]]]).status == 404)
    }
}
