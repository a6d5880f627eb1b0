import Foundation
import SlipwayEngine

/// MLflow 3's logged models (`mlflow.<flavor>.log_model`), and the folders
/// artifacts of a model or a run go to.
extension StageScope {
    // MARK: - logged models (MLflow 3)

    func createModel(_ req: CreateLoggedModelRequest) throws -> [UInt8] {
        try checkExperiment(req.experiment_id)
        if let source = req.source_run_id, !source.isEmpty, lock.withLock({ runs[source] == nil }) {
            throw MLflowError.missing("Run with id=\(source) not found")
        }
        let name = try Names.checkValue(req.name.flatMap { $0.isEmpty ? nil : $0 } ?? "model", field: "name", limit: Names.maxRunNameLength)
        let id: String = try lock.withLock {
            let folder = uniqueFolderName(name, under: "models")
            let now = SystemClock.nowMillis()
            var m = TrackedModel(id: "m-" + TrackingAddress.hex128(), name: name, experimentID: experiment.id,
                                 sourceRunID: req.source_run_id.flatMap { $0.isEmpty ? nil : $0 }, modelType: req.model_type,
                                 artifactFolder: "models/" + folder, createdAt: now, updatedAt: now)
            for (i, p) in (req.params ?? []).enumerated() {
                m.setParam(try Names.checkKey(p.key, field: "params[\(i)].key"),
                           try Names.checkValue(p.value, field: "params[\(i)].value", limit: Names.maxParamValueLength))
            }
            for (i, t) in (req.tags ?? []).enumerated() {
                m.setTag(try Names.checkKey(t.key, field: "tags[\(i)].key"),
                         try Names.checkValue(t.value, field: "tags[\(i)].value", limit: Names.maxTagValueLength))
            }
            models[m.id] = m
            modelOrder.append(m.id)
            return m.id
        }
        return try modelResponse(id)
    }

    func modelResponse(_ id: String) throws -> [UInt8] {
        try lock.withLock {
            guard let m = models[id] else { throw MLflowError.missing("Logged model with ID '\(id)' not found.") }
            var w = JSONWriter(capacity: 1024)
            w.object { o in o.object("model") { m.write(&$0, artifactURI: artifactURI(m.artifactFolder), metrics: modelMetrics(m)) } }
            return w.bytes
        }
    }

    /// A logged model's metrics: its source run's latest values.
    func modelMetrics(_ m: TrackedModel) -> [(key: String, point: TrackedRun.Point)] {
        m.sourceRunID.flatMap { runs[$0] }?.latestMetrics ?? []
    }

    func updateModel(_ id: String, _ body: (inout TrackedModel) throws -> Void) throws {
        try lock.withLock {
            guard var m = models[id] else { throw MLflowError.missing("Logged model with ID '\(id)' not found.") }
            try body(&m)
            m.updatedAt = SystemClock.nowMillis()
            models[id] = m
        }
    }

    /// A model marked ready: a line in the stage's log names where its files are.
    func finalizeModel(_ id: String, status: String) throws {
        var folder = ""
        try updateModel(id) { m in
            m.status = status
            folder = m.artifactFolder
        }
        if status == "LOGGED_MODEL_READY" {
            sink.note("model logged: \(area.relative(folder)) (id \(id))")
        }
    }

    func deleteModel(_ id: String) throws {
        try lock.withLock {
            guard models.removeValue(forKey: id) != nil else { throw MLflowError.missing("Logged model with ID '\(id)' not found.") }
            modelOrder.removeAll { $0 == id }
        }
    }

    func searchModels(_ req: SearchLoggedModelsRequest) throws -> [UInt8] {
        for id in req.experiment_ids ?? [] { try checkExperiment(id) }
        return lock.withLock {
            let all = modelOrder.compactMap { models[$0] }.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
            let start = req.page_token.flatMap { Int($0) }.map { max(0, min($0, all.count)) } ?? 0
            let end = min(all.count, start + max(1, Int(req.max_results?.value ?? 100)))
            var w = JSONWriter(capacity: 1024)
            w.object { o in
                o.array("models", all[start..<end]) { w, m in
                    w.object { m.write(&$0, artifactURI: artifactURI(m.artifactFolder), metrics: modelMetrics(m)) }
                }
                if end < all.count { o.field("next_page_token", String(end)) }
            }
            return w.bytes
        }
    }

    func modelFolder(_ id: String) throws -> String {
        try lock.withLock {
            guard let m = models[id] else { throw MLflowError.missing("Logged model with ID '\(id)' not found.") }
            return m.artifactFolder
        }
    }

    func runFolder(_ id: String?) throws -> String {
        try lock.withLock {
            let id = try Names.checkRunID(id)
            guard let r = runs[id] else { throw MLflowError.missing("Run with id=\(id) not found") }
            return r.artifactFolder
        }
    }
}
