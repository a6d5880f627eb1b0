import Foundation
import SlipwayEngine

/// What one stage sees of the endpoint: its own MLflow run (the one
/// `MLFLOW_RUN_ID` names), the runs it creates, the models it logs, its
/// artifact area. Each request is checked whole (MLflow's rules and limits)
/// before anything is kept, then kept here (for reads: `runs/get`, metric
/// history) and passed to the sink (the registry).
///
/// One lock: requests of one stage are applied in the order they arrive,
/// so a metric's points reach the registry in the order logged.
final class StageScope: @unchecked Sendable {
    let token: String
    let info: TrackedStageInfo
    let sink: any TrackingSink
    let experiment: Experiment
    let area: ArtifactArea
    /// The MLflow id of the stage's own run.
    let runID: String

    let lock = NSLock()
    var runs: [String: TrackedRun] = [:]
    var runOrder: [String] = []
    var models: [String: TrackedModel] = [:]
    var modelOrder: [String] = []
    var takenFolders: Set<String> = []
    var notedEndpoints: Set<String> = []
    var requestCount = 0
    /// Uploads under way (weakly: one that ends is let go by its request).
    private var uploads: [Weak] = []
    private var ended = false
    private final class Weak { weak var upload: ArtifactUpload?; init(_ u: ArtifactUpload) { upload = u } }

    static let maxBatchMetrics = 1000
    static let maxBatchParamsOrTags = 100
    static let maxBatchEntities = 1000

    init(token: String, runID: String, info: TrackedStageInfo, sink: any TrackingSink, experiment: Experiment, area: ArtifactArea) {
        self.token = token
        self.info = info
        self.sink = sink
        self.experiment = experiment
        self.area = area
        self.runID = runID
        let own = TrackedRun(id: runID, name: info.stage, experimentID: experiment.id, userID: info.user,
                             startTime: info.startedAt, artifactFolder: "", keyPrefix: "", isStageRun: true)
        runs[runID] = own
        runOrder.append(runID)
    }

    /// The `mlflow-artifacts:` URI of a folder of the area.
    func artifactURI(_ folder: String) -> String {
        "mlflow-artifacts:/" + info.stage + (folder.isEmpty ? "" : "/" + folder)
    }

    func counted() { lock.withLock { requestCount += 1 } }

    /// Starts an upload (`start` makes its file) and keeps track of it, to cancel it if
    /// the stage ends first; refused once the stage has ended.
    func track(_ path: String, _ start: () throws -> ArtifactUpload) throws -> ArtifactUpload {
        try lock.withLock {
            guard !ended else { throw ArtifactUpload.stageEnded(path) }
            let upload = try start()
            uploads.removeAll { $0.upload == nil }
            uploads.append(Weak(upload))
            return upload
        }
    }

    /// The stage ended: uploads still under way are cancelled, later ones refused.
    func cancelUploads() {
        let live = lock.withLock { () -> [ArtifactUpload] in
            ended = true
            return uploads.compactMap(\.upload)
        }
        for u in live { u.cancel() }
    }

    var summary: TrackedStageSummary {
        lock.withLock {
            TrackedStageSummary(params: runs[runID]!.paramList.map { KeyValue($0.key, $0.value) }, requests: requestCount)
        }
    }

    /// Says once in the stage's log that an endpoint the stage called is not served.
    func noteUnsupported(_ method: String, _ path: String) {
        let first = lock.withLock { notedEndpoints.insert(method + " " + path).inserted }
        if first {
            sink.note("the MLflow client called \(method) \(path), which slipway's tracking endpoint does not serve (answered ENDPOINT_NOT_FOUND); see docs/mlflow.md")
        }
    }

    // MARK: - experiments

    func checkExperiment(_ id: String?) throws {
        guard let id, !id.isEmpty, id != experiment.id, id != "0" else { return }
        throw MLflowError.missing("No Experiment with id=\(id) exists")
    }

    func experimentResponse() -> [UInt8] {
        var w = JSONWriter()
        w.object { o in o.object("experiment") { experiment.write(&$0) } }
        return w.bytes
    }

    // MARK: - runs

    /// Changes an active run in place (hold `lock`): a run holding 100,000
    /// points is not copied to add a batch.
    func withRun<T>(_ id: String?, _ body: (inout TrackedRun) throws -> T) throws -> T {
        let id = try Names.checkRunID(id)
        guard let stage = runs[id]?.lifecycleStage else { throw MLflowError.missing("Run with id=\(id) not found") }
        guard stage == "active" else {
            throw MLflowError.invalid("The run \(id) must be in the 'active' state. Current state is \(stage).")
        }
        return try body(&runs[id]!)
    }

    func runResponse(_ id: String?, key: String = "run") throws -> [UInt8] {
        try lock.withLock {
            let id = try Names.checkRunID(id)
            guard let r = runs[id] else { throw MLflowError.missing("Run with id=\(id) not found") }
            var w = JSONWriter(capacity: 1024)
            w.object { o in o.object(key) { r.write(&$0, artifactURI: artifactURI(r.artifactFolder)) } }
            return w.bytes
        }
    }

    func createRun(_ req: CreateRunRequest) throws -> [UInt8] {
        try checkExperiment(req.experiment_id)
        var tags: [(String, String)] = []
        for (i, t) in (req.tags ?? []).enumerated() {
            tags.append((try Names.checkKey(t.key, field: "tags[\(i)].key"),
                         try Names.checkValue(t.value, field: "tags[\(i)].value", limit: Names.maxTagValueLength)))
        }
        let requested = req.run_name.flatMap { $0.isEmpty ? nil : $0 } ?? tags.last(where: { $0.0 == "mlflow.runName" })?.1
        let id: String = try lock.withLock {
            let name = try Names.checkValue(requested, field: "run_name", limit: Names.maxRunNameLength)
            let label = uniqueFolderName(name.isEmpty ? "run-\(runOrder.count)" : name, under: "runs")
            var r = TrackedRun(id: TrackingAddress.hex128(), name: name.isEmpty ? label : name, experimentID: experiment.id,
                               userID: req.user_id ?? info.user, startTime: req.start_time?.value ?? SystemClock.nowMillis(),
                               artifactFolder: "runs/" + label, keyPrefix: label + "/", isStageRun: false)
            for (k, v) in tags { r.setTag(k, v) }
            if r.tags["mlflow.runName"] == nil { r.setTag("mlflow.runName", r.name) }
            runs[r.id] = r
            runOrder.append(r.id)
            try sink.setTags(r.tagList.map { KeyValue(r.keyPrefix + $0.key, $0.value) })
            return r.id
        }
        return try runResponse(id)
    }

    func updateRun(_ req: UpdateRunRequest) throws -> [UInt8] {
        try lock.withLock {
            try withRun(req.run_id.flatMap { $0.isEmpty ? nil : $0 } ?? req.run_uuid) { r in
                if let s = req.status {
                    guard let status = RunStatusName.name(s) else {
                        throw MLflowError.invalid("Invalid value for parameter 'status' supplied: \(s.name ?? String(s.number ?? -1))")
                    }
                    r.status = status
                }
                if let end = req.end_time { r.endTime = end.value }
                if let name = req.run_name, !name.isEmpty {
                    r.name = try Names.checkValue(name, field: "run_name", limit: Names.maxRunNameLength)
                    r.setTag("mlflow.runName", r.name)
                }
                var w = JSONWriter()
                let run = r
                w.object { o in o.object("run_info") { run.writeInfo(&$0, artifactURI: artifactURI(run.artifactFolder)) } }
                return w.bytes
            }
        }
    }

    func deleteRun(_ id: String?, restore: Bool) throws {
        try lock.withLock {
            let id = try Names.checkRunID(id)
            guard var r = runs[id] else { throw MLflowError.missing("Run with id=\(id) not found") }
            guard !r.isStageRun else { throw MLflowError(.permissionDenied, "the stage's own run cannot be deleted") }
            r.lifecycleStage = restore ? "active" : "deleted"
            runs[id] = r
        }
    }

    // MARK: - logging

    /// Checks and keeps a batch: all of it, or (on an error) none of it.
    func log(runID id: String?, metrics: [WireMetric], params: [WireKeyValue], tags: [WireKeyValue]) throws {
        guard metrics.count <= Self.maxBatchMetrics, params.count <= Self.maxBatchParamsOrTags, tags.count <= Self.maxBatchParamsOrTags,
              metrics.count + params.count + tags.count <= Self.maxBatchEntities else {
            let (what, limit, n) = metrics.count > Self.maxBatchMetrics ? ("metrics", Self.maxBatchMetrics, metrics.count)
                : params.count > Self.maxBatchParamsOrTags ? ("params", Self.maxBatchParamsOrTags, params.count)
                : tags.count > Self.maxBatchParamsOrTags ? ("tags", Self.maxBatchParamsOrTags, tags.count)
                : ("metrics, params, and tags", Self.maxBatchEntities, metrics.count + params.count + tags.count)
            throw MLflowError.invalid("A batch logging request can contain at most \(limit) \(what). Got \(n) \(what). Please split up \(what) across multiple requests and try again.")
        }
        let now = SystemClock.nowMillis()
        var points: [(String, TrackedRun.Point)] = []
        points.reserveCapacity(metrics.count)
        var lastKey: String?  // a batch sends one key many times: it is checked once
        for (i, m) in metrics.enumerated() {
            let key: String
            if let k = m.key, k == lastKey { key = k } else {
                key = try Names.checkKey(m.key, field: "metrics[\(i)].key")
                lastKey = key
            }
            guard let value = m.value?.value else { throw MLflowError.invalid("Missing value for required parameter 'metrics[\(i)].value'.") }
            let ts = m.timestamp?.value ?? now
            guard ts >= 0 else { throw MLflowError.invalid("Invalid value \(ts) for parameter 'metrics[\(i)].timestamp' supplied: Timestamp must be a nonnegative long (64-bit integer)") }
            points.append((key, TrackedRun.Point(value: value, timestamp: ts, step: m.step?.value ?? 0)))
        }
        var newParams: [(String, String)] = []
        for (i, p) in params.enumerated() {
            newParams.append((try Names.checkKey(p.key, field: "params[\(i)].key"),
                              try Names.checkValue(p.value, field: "params[\(i)].value", limit: Names.maxParamValueLength)))
        }
        var newTags: [(String, String)] = []
        for (i, t) in tags.enumerated() {
            newTags.append((try Names.checkKey(t.key, field: "tags[\(i)].key"),
                            try Names.checkValue(t.value, field: "tags[\(i)].value", limit: Names.maxTagValueLength)))
        }
        try lock.withLock {
            try withRun(id) { r in
                var seen: [String: String] = [:]
                for (k, v) in newParams {
                    try r.checkParam(k, v)
                    if let other = seen[k], other != v {
                        throw MLflowError.invalid("Duplicate parameter keys have been submitted: '\(k)' with values '\(other)' and '\(v)'.")
                    }
                    seen[k] = v
                }
                let freshParams = newParams.filter { r.params[$0.0] == nil }
                let freshPoints = r.fresh(points)
                let prefix = r.keyPrefix
                if !freshPoints.isEmpty {
                    try sink.logMetrics(freshPoints.map { TrackedMetric(key: prefix + $0.0, value: $0.1.value, timestamp: $0.1.timestamp, step: $0.1.step) })
                }
                if !freshParams.isEmpty { try sink.logParams(freshParams.map { KeyValue(prefix + $0.0, $0.1) }) }
                if !newTags.isEmpty { try sink.setTags(newTags.map { KeyValue(prefix + $0.0, $0.1) }) }
                r.append(freshPoints)
                for (k, v) in freshParams { r.setParam(k, v) }
                for (k, v) in newTags { r.setTag(k, v) }
            }
        }
    }

    func deleteTag(runID id: String?, key: String?) throws {
        let key = try Names.checkKey(key, field: "key")
        try lock.withLock {
            try withRun(id) { r in
                guard r.deleteTag(key) else { throw MLflowError.missing("No tag with name: \(key) in run with id \(r.id)") }
            }
        }
    }

    func logInputs(_ req: LogInputsRequest) throws {
        var inputs: [TrackedRun.DatasetInput] = []
        for (i, d) in (req.datasets ?? []).enumerated() {
            guard let ds = d.dataset, let name = ds.name, let digest = ds.digest else {
                throw MLflowError.invalid("Missing value for required parameter 'datasets[\(i)].dataset'.")
            }
            let tags = (d.tags ?? []).map { KeyValue($0.key ?? "", $0.value ?? "") }
            inputs.append(TrackedRun.DatasetInput(name: name, digest: digest, sourceType: ds.source_type ?? "", source: ds.source ?? "",
                                                  schema: ds.schema, profile: ds.profile, tags: tags))
        }
        try lock.withLock {
            try withRun(req.run_id) { r in
                let fresh = inputs.filter { i in !r.datasetInputs.contains { $0.name == i.name && $0.digest == i.digest } }
                let prefix = r.keyPrefix
                if !fresh.isEmpty {
                    try sink.logInputs(fresh.map { TrackedInput(name: prefix + $0.name, digest: $0.digest, source: $0.source) })
                }
                r.datasetInputs += fresh
                for m in req.models ?? [] { if let id = m.model_id, !r.modelInputs.contains(id) { r.modelInputs.append(id) } }
            }
        }
    }

    func logOutputs(_ req: LogOutputsRequest) throws {
        try lock.withLock {
            let known = Set(models.keys)
            let outputs = (req.models ?? []).compactMap { m in m.model_id.map { ($0, m.step?.value ?? 0) } }
            if let unknown = outputs.first(where: { !known.contains($0.0) }) {
                throw MLflowError.missing("Logged model with ID '\(unknown.0)' not found.")
            }
            try withRun(req.run_id) { r in r.modelOutputs += outputs.map { (id: $0.0, step: $0.1) } }
        }
    }

    /// `runs/log-model` (MLflow 2's record of a logged model): kept, as
    /// MLflow's server keeps it, in the `mlflow.log-model.history` tag.
    func logModel(_ req: LogModelRequest) throws {
        guard let json = req.model_json, let model = try? JSONSerialization.jsonObject(with: Data(json.utf8)), model is [String: Any] else {
            throw MLflowError.invalid("Missing value for required parameter 'model_json'.")
        }
        try lock.withLock {
            try withRun(req.run_id) { r in
                var history = r.tags["mlflow.log-model.history"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [Any] } ?? []
                history.append(model)
                let text = (try? JSONSerialization.data(withJSONObject: history)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
                try sink.setTags([KeyValue(r.keyPrefix + "mlflow.log-model.history", text)])
                r.setTag("mlflow.log-model.history", text)
            }
        }
    }

    func metricHistory(runID id: String?, key: String?, maxResults: Int?, pageToken: String?) throws -> [UInt8] {
        try lock.withLock {
            let id = try Names.checkRunID(id)
            guard let r = runs[id] else { throw MLflowError.missing("Run with id=\(id) not found") }
            let key = try Names.checkKey(key, field: "metric_key")
            let points = r.history(key)
            let start = pageToken.flatMap { Int($0) }.map { max(0, min($0, points.count)) } ?? 0
            let end = maxResults.map { min(points.count, start + max(1, $0)) } ?? points.count
            var w = JSONWriter(capacity: 64 + (end - start) * 80)
            w.object { o in
                o.array("metrics", points[start..<end]) { w, p in
                    w.object { mo in
                        mo.field("key", key)
                        mo.field("value", p.value)
                        mo.field("timestamp", p.timestamp)
                        mo.field("step", p.step)
                        mo.field("run_id", id)
                    }
                }
                if end < points.count { o.field("next_page_token", String(end)) }
            }
            return w.bytes
        }
    }

    func searchRuns(_ req: SearchRunsRequest) throws -> [UInt8] {
        for id in req.experiment_ids ?? [] { try checkExperiment(id) }
        let filter = try RunFilter(req.filter ?? "")
        return lock.withLock {
            let matching = runOrder.compactMap { runs[$0] }.filter { $0.lifecycleStage == "active" && filter.matches($0) }
                .sorted { ($0.startTime, $0.id) > ($1.startTime, $1.id) }
            let start = req.page_token.flatMap { Int($0) }.map { max(0, min($0, matching.count)) } ?? 0
            let limit = Int(req.max_results?.value ?? 1000)
            let end = min(matching.count, start + max(1, limit))
            var w = JSONWriter(capacity: 1024)
            w.object { o in
                o.array("runs", matching[start..<end]) { w, r in w.object { r.write(&$0, artifactURI: artifactURI(r.artifactFolder)) } }
                if end < matching.count { o.field("next_page_token", String(end)) }
            }
            return w.bytes
        }
    }

    /// A folder name under `parent` not used yet in this stage: `name`
    /// made safe as one path component, with `-2`, `-3` … when taken.
    func uniqueFolderName(_ name: String, under parent: String) -> String {
        var base = String(name.map { Names.isKeyCharacter($0) && $0 != "/" && $0 != " " ? $0 : "-" }.prefix(100))
        if base.isEmpty || base == "." || base == ".." || base.hasPrefix(ArtifactArea.uploadPrefix) { base = "run" }
        var candidate = base
        var n = 2
        while takenFolders.contains(parent + "/" + candidate) {
            candidate = base + "-" + String(n)
            n += 1
        }
        takenFolders.insert(parent + "/" + candidate)
        return candidate
    }
}
