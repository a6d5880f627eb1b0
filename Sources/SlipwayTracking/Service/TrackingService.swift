import Foundation
import SlipwayEngine

/// A request as the HTTP layer hands it over: the path percent-decoded and
/// without its scope's token, the query split into pairs.
public struct TrackingRequest: Sendable {
    public var method: String
    public var path: String
    public var query: [(String, String)]
    public var body: [UInt8]

    public init(method: String, path: String, query: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
    }

    func queryValue(_ name: String) -> String? { query.last { $0.0 == name }?.1 }
}

public struct TrackingResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// An artifact's file, opened: the HTTP layer streams and closes it.
        case file(fd: Int32, size: Int64)
    }

    public var status: Int
    public var contentType: String
    public var body: Body

    public static func json(_ bytes: [UInt8], status: Int = 200) -> TrackingResponse {
        TrackingResponse(status: status, contentType: "application/json", body: .bytes(bytes))
    }

    public static func error(_ e: MLflowError) -> TrackingResponse { .json(e.body, status: e.httpStatus) }

    static let empty = TrackingResponse.json(Array("{}".utf8))
}

/// MLflow's tracking REST API over the stage scopes of one run. Knows
/// nothing of HTTP: ``TrackingServer`` feeds it requests, tests call it directly.
public final class TrackingService: @unchecked Sendable {
    public let workspace: Workspace
    let experiment: Experiment
    private let lock = NSLock()
    private var scopes: [String: StageScope] = [:]
    private var finished: [String: String] = [:]

    /// Requests with a JSON body larger than this are refused (log-batch has MLflow's own 1 MB).
    public static let maxJSONBody = 4 << 20
    public static let maxBatchBody = 1_000_000
    public static let apiPrefix = "/api/2.0/mlflow/"
    public static let artifactsPrefix = "/api/2.0/mlflow-artifacts/artifacts"

    public init(workspace: Workspace, pipeline: String) {
        self.workspace = workspace
        self.experiment = Experiment(id: TrackingAddress.experimentID(pipeline), name: pipeline,
                                     artifactLocation: "mlflow-artifacts:/", createdAt: SystemClock.nowMillis())
    }

    /// Opens a stage's scope: a fresh secret token and the stage's run.
    public func open(stage: TrackedStageInfo, sink: any TrackingSink) -> (token: String, runID: String, experimentID: String) {
        let token = TrackingAddress.newToken(), runID = TrackingAddress.hex128()
        open(stage: stage, token: token, runID: runID, sink: sink)
        return (token, runID, experiment.id)
    }

    /// Opens a stage's scope under the token and MLflow run id the run chose for it.
    public func open(stage: TrackedStageInfo, token: String, runID: String, sink: any TrackingSink) {
        let area = ArtifactArea(folder: stage.artifactArea, files: ContainedFiles(root: workspace.root))
        let scope = StageScope(token: token, runID: runID, info: stage, sink: sink, experiment: experiment, area: area)
        lock.withLock { scopes[token] = scope }
    }

    public func close(token: String) -> TrackedStageSummary {
        let scope = lock.withLock { () -> StageScope? in
            guard let s = scopes.removeValue(forKey: token) else { return nil }
            finished[token] = s.info.stage
            return s
        }
        // Before the run reads the stage's outputs: no partial upload is among them.
        scope?.cancelUploads()
        return scope?.summary ?? TrackedStageSummary()
    }

    enum Access {
        case scope(StageScope, path: String)
        case refused(MLflowError)
    }

    /// Finds the scope a request belongs to: its token first in the path
    /// (`/TOKEN/api/…`, how `MLFLOW_TRACKING_URI` carries it) or as a bearer
    /// token (`MLFLOW_TRACKING_TOKEN`). Without a token that opens a scope
    /// the request is refused and nothing is read or written.
    func access(path: String, authorization: String?) -> Access {
        var token: String?
        var rest = path
        if path.hasPrefix("/"), let slash = path.dropFirst().firstIndex(of: "/") {
            let first = String(path[path.index(after: path.startIndex)..<slash])
            if first.count == 64, first.allSatisfy(\.isHexDigit) {
                token = first
                rest = String(path[slash...])
            }
        }
        if token == nil, let auth = authorization, auth.hasPrefix("Bearer ") {
            token = String(auth.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        }
        guard let token else {
            return .refused(MLflowError(.unauthenticated, "this tracking endpoint serves one slipway run; use the MLFLOW_TRACKING_URI its stage was given"))
        }
        return lock.withLock {
            if let scope = scopes[token] { return .scope(scope, path: rest) }
            if let stage = finished[token] {
                return .refused(MLflowError(.permissionDenied, "stage '\(stage)' has finished; its tracking scope is closed"))
            }
            return .refused(MLflowError(.unauthenticated, "unknown token"))
        }
    }

    /// Answers a request of a scope (artifact uploads go through ``upload(_:path:)``).
    func handle(_ request: TrackingRequest, scope: StageScope) -> TrackingResponse {
        scope.counted()
        do {
            return try route(request, scope)
        } catch let e as MLflowError {
            return .error(e)
        } catch let e as DecodingError {
            return .error(.invalid("The request body is not valid JSON for \(request.path): \(Self.describe(e))"))
        } catch {
            scope.sink.note("\(request.method) \(request.path) failed: \(error)")
            return .error(MLflowError(.internalError, "\(error)"))
        }
    }

    /// Starts an artifact upload (`PUT …/mlflow-artifacts/artifacts/PATH`).
    func upload(_ scope: StageScope, path: String) throws -> ArtifactUpload {
        scope.counted()
        let inner = try artifactPath(scope, path)
        return try scope.track(inner) { try scope.area.upload(inner) }
    }

    /// An upload is complete: its file is in place; the sink records it.
    func finished(_ scope: StageScope, upload: ArtifactUpload) -> TrackingResponse {
        do {
            let artifact = try upload.finish()
            try scope.sink.recordArtifact(artifact)
            return .empty
        } catch let e as MLflowError {
            return .error(e)
        } catch {
            return .error(MLflowError(.internalError, "\(error)"))
        }
    }

    /// Whether a request streams its body into an artifact rather than sending JSON.
    public static func isUpload(method: String, path: String) -> Bool {
        method == "PUT" && path.hasPrefix(artifactsPrefix + "/")
    }

    /// The path inside the stage's area that an `mlflow-artifacts` path names:
    /// it must start with the stage's own name (its artifact URIs all do).
    func artifactPath(_ scope: StageScope, _ path: String) throws -> String {
        var p = Substring(path)
        if p.hasPrefix(Self.artifactsPrefix) { p = p.dropFirst(Self.artifactsPrefix.count) }
        while p.hasPrefix("/") { p = p.dropFirst() }
        let stage = scope.info.stage
        if p == stage { return "" }
        guard p.hasPrefix(stage + "/") else {
            throw MLflowError(.permissionDenied, "artifact path '\(p)' is outside stage '\(stage)''s artifacts (mlflow-artifacts:/\(stage))")
        }
        return try ArtifactArea.check(String(p.dropFirst(stage.count + 1)))
    }

    static func describe(_ e: DecodingError) -> String {
        switch e {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c):
            let path = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
            return (path.isEmpty ? "" : "at \(path.drop { $0 == "." }): ") + c.debugDescription
        @unknown default: return "\(e)"
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ r: TrackingRequest, limit: Int = maxJSONBody) throws -> T {
        guard r.body.count <= limit else {
            throw MLflowError(.invalidParameterValue, "The request body is \(r.body.count) bytes; at most \(limit) are accepted here", httpStatus: 413)
        }
        if r.body.isEmpty { return try JSONDecoder().decode(T.self, from: Data("{}".utf8)) }
        return try JSONDecoder().decode(T.self, from: Data(r.body))
    }

    private func route(_ r: TrackingRequest, _ s: StageScope) throws -> TrackingResponse {
        let path = r.path
        if path == Self.artifactsPrefix || path.hasPrefix(Self.artifactsPrefix + "/") {
            return try artifacts(r, s)
        }
        if path == "/api/3.0/mlflow/server-info" || path == "/api/2.0/mlflow/server-info" {
            var w = JSONWriter()
            w.object { o in
                o.field("multipart_uploads_enabled", false)
                o.field("multipart_downloads_enabled", false)
            }
            return .json(w.bytes)
        }
        guard path.hasPrefix(Self.apiPrefix) else { return notFound(r, s) }
        let endpoint = String(path.dropFirst(Self.apiPrefix.count))
        switch (r.method, endpoint) {
        case ("GET", "experiments/get-by-name"):
            guard let name = r.queryValue("experiment_name"), !name.isEmpty else {
                throw MLflowError.invalid("Missing value for required parameter 'experiment_name'.")
            }
            return .json(s.experimentResponse())
        case ("POST", "experiments/create"):
            let req = try decode(CreateExperimentRequest.self, r)
            guard let name = req.name, !name.isEmpty else { throw MLflowError.invalid("Missing value for required parameter 'name'.") }
            var w = JSONWriter()
            w.object { $0.field("experiment_id", experiment.id) }
            return .json(w.bytes)
        case ("GET", "experiments/get"):
            guard let id = r.queryValue("experiment_id"), !id.isEmpty else {
                throw MLflowError.invalid("Missing value for required parameter 'experiment_id'.")
            }
            try s.checkExperiment(id)
            return .json(s.experimentResponse())
        case ("POST", "experiments/search"), ("GET", "experiments/search"):
            var w = JSONWriter()
            w.object { o in o.array("experiments", [experiment]) { w, e in w.object { e.write(&$0) } } }
            return .json(w.bytes)
        case ("POST", "experiments/set-experiment-tag"):
            return .empty
        case ("POST", "runs/create"):
            return .json(try s.createRun(try decode(CreateRunRequest.self, r)))
        case ("GET", "runs/get"):
            return .json(try s.runResponse(r.queryValue("run_id").flatMap { $0.isEmpty ? nil : $0 } ?? r.queryValue("run_uuid")))
        case ("POST", "runs/update"):
            return .json(try s.updateRun(try decode(UpdateRunRequest.self, r)))
        case ("POST", "runs/delete"), ("POST", "runs/restore"):
            try s.deleteRun(try decode(RunRef.self, r).id, restore: endpoint == "runs/restore")
            return .empty
        case ("POST", "runs/log-metric"):
            let req = try decode(LogMetricRequest.self, r)
            let m = WireMetric(key: req.key, value: req.value, timestamp: req.timestamp, step: req.step, model_id: req.model_id)
            if req.key == nil { throw MLflowError.invalid("Missing value for required parameter 'key'.") }
            if req.value == nil { throw MLflowError.invalid("Missing value for required parameter 'value'.") }
            try s.log(runID: req.run_id.flatMap { $0.isEmpty ? nil : $0 } ?? req.run_uuid, metrics: [m], params: [], tags: [])
            return .empty
        case ("POST", "runs/log-parameter"):
            let req = try decode(KeyValueRequest.self, r)
            if req.key == nil { throw MLflowError.invalid("Missing value for required parameter 'key'.") }
            try s.log(runID: req.run_id.flatMap { $0.isEmpty ? nil : $0 } ?? req.run_uuid, metrics: [],
                      params: [WireKeyValue(key: req.key, value: req.value ?? "")], tags: [])
            return .empty
        case ("POST", "runs/set-tag"):
            let req = try decode(KeyValueRequest.self, r)
            if req.key == nil { throw MLflowError.invalid("Missing value for required parameter 'key'.") }
            try s.log(runID: req.run_id.flatMap { $0.isEmpty ? nil : $0 } ?? req.run_uuid, metrics: [], params: [],
                      tags: [WireKeyValue(key: req.key, value: req.value ?? "")])
            return .empty
        case ("POST", "runs/delete-tag"):
            let req = try decode(KeyValueRequest.self, r)
            try s.deleteTag(runID: req.run_id, key: req.key)
            return .empty
        case ("POST", "runs/log-batch"):
            guard r.body.count <= Self.maxBatchBody else {
                throw MLflowError.invalid("Batched logging API requests must be at most \(Self.maxBatchBody) bytes, got a request of size \(r.body.count).")
            }
            // The bytes read directly when they have the client's usual
            // shape; anything else through the decoder, with its messages.
            let req = try LogBatchReader.read(r.body) ?? decode(LogBatchRequest.self, r)
            try s.log(runID: req.run_id, metrics: req.metrics ?? [], params: req.params ?? [], tags: req.tags ?? [])
            return .empty
        case ("POST", "runs/log-inputs"):
            try s.logInputs(try decode(LogInputsRequest.self, r))
            return .empty
        case ("POST", "runs/outputs"):
            try s.logOutputs(try decode(LogOutputsRequest.self, r))
            return .empty
        case ("POST", "runs/log-model"):
            try s.logModel(try decode(LogModelRequest.self, r))
            return .empty
        case ("POST", "runs/search"):
            return .json(try s.searchRuns(try decode(SearchRunsRequest.self, r)))
        case ("GET", "metrics/get-history"):
            return .json(try s.metricHistory(runID: r.queryValue("run_id").flatMap { $0.isEmpty ? nil : $0 } ?? r.queryValue("run_uuid"),
                                             key: r.queryValue("metric_key"), maxResults: r.queryValue("max_results").flatMap { Int($0) },
                                             pageToken: r.queryValue("page_token")))
        case ("GET", "artifacts/list"):
            let folder = try s.runFolder(r.queryValue("run_id").flatMap { $0.isEmpty ? nil : $0 } ?? r.queryValue("run_uuid"))
            let sub = try ArtifactArea.check(r.queryValue("path") ?? "")
            let inner = [folder, sub].filter { !$0.isEmpty }.joined(separator: "/")
            var w = JSONWriter()
            w.object { o in
                o.field("root_uri", s.artifactURI(folder))
                o.array("files", s.area.list(inner)) { w, e in e.write(&w, path: sub.isEmpty ? e.name : sub + "/" + e.name) }
            }
            return .json(w.bytes)
        case ("POST", "logged-models"):
            return .json(try s.createModel(try decode(CreateLoggedModelRequest.self, r)))
        case ("POST", "logged-models/search"):
            return .json(try s.searchModels(try decode(SearchLoggedModelsRequest.self, r)))
        default:
            if endpoint.hasPrefix("logged-models/") { return try loggedModel(r, s, String(endpoint.dropFirst("logged-models/".count))) }
            return notFound(r, s)
        }
    }

    /// `logged-models/ID`, `…/ID/tags`, `…/ID/tags/KEY`, `…/ID/params`, `…/ID/artifacts/directories`.
    private func loggedModel(_ r: TrackingRequest, _ s: StageScope, _ rest: String) throws -> TrackingResponse {
        let parts = rest.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        let id = parts[0]
        switch (r.method, parts.count > 1 ? parts[1] : "") {
        case ("GET", ""):
            return .json(try s.modelResponse(id))
        case ("PATCH", ""):
            let req = try decode(FinalizeLoggedModelRequest.self, r)
            guard let st = req.status, let status = RunStatusName.modelName(st) else {
                throw MLflowError.invalid("Missing value for required parameter 'status'.")
            }
            try s.finalizeModel(id, status: status)
            return .json(try s.modelResponse(id))
        case ("DELETE", ""):
            try s.deleteModel(id)
            return .empty
        case ("PATCH", "tags"):
            let req = try decode(LoggedModelTagsRequest.self, r)
            var tags: [(String, String)] = []
            for (i, t) in (req.tags ?? []).enumerated() {
                tags.append((try Names.checkKey(t.key, field: "tags[\(i)].key"),
                             try Names.checkValue(t.value, field: "tags[\(i)].value", limit: Names.maxTagValueLength)))
            }
            try s.updateModel(id) { m in for (k, v) in tags { m.setTag(k, v) } }
            return .json(try s.modelResponse(id))
        case ("DELETE", "tags") where parts.count == 3:
            try s.updateModel(id) { m in m.tags.removeAll { $0.key == parts[2] } }
            return .empty
        case ("POST", "params"):
            let req = try decode(LoggedModelParamsRequest.self, r)
            var params: [(String, String)] = []
            for (i, p) in (req.params ?? []).enumerated() {
                params.append((try Names.checkKey(p.key, field: "params[\(i)].key"),
                               try Names.checkValue(p.value, field: "params[\(i)].value", limit: Names.maxParamValueLength)))
            }
            try s.updateModel(id) { m in for (k, v) in params { m.setParam(k, v) } }
            return .empty
        case ("GET", "artifacts") where parts.count == 3 && parts[2] == "directories":
            let folder = try s.modelFolder(id)
            let sub = try ArtifactArea.check(r.queryValue("artifact_directory_path") ?? "")
            let inner = [folder, sub].filter { !$0.isEmpty }.joined(separator: "/")
            var w = JSONWriter()
            w.object { o in
                o.field("root_uri", s.artifactURI(folder))
                o.array("files", s.area.list(inner)) { w, e in e.write(&w, path: sub.isEmpty ? e.name : sub + "/" + e.name) }
            }
            return .json(w.bytes)
        default:
            return notFound(r, s)
        }
    }

    /// `GET …/artifacts/PATH` (download), `GET …/artifacts?path=DIR` (list).
    private func artifacts(_ r: TrackingRequest, _ s: StageScope) throws -> TrackingResponse {
        switch r.method {
        case "GET" where r.path == Self.artifactsPrefix:
            let dir = r.queryValue("path") ?? ""
            let inner = dir.isEmpty ? "" : try artifactPath(s, dir)
            var w = JSONWriter()
            w.object { o in o.array("files", s.area.list(inner)) { w, e in e.write(&w, path: e.name) } }
            return .json(w.bytes)
        case "GET":
            let opened = try s.area.openFile(try artifactPath(s, r.path))
            return TrackingResponse(status: 200, contentType: "application/octet-stream", body: .file(fd: opened.fd, size: opened.size))
        default:
            return notFound(r, s)
        }
    }

    private func notFound(_ r: TrackingRequest, _ s: StageScope) -> TrackingResponse {
        s.noteUnsupported(r.method, r.path)
        return .error(MLflowError(.endpointNotFound, "No API endpoint found for \(r.method) \(r.path) on slipway's tracking endpoint"))
    }
}
