import Foundation
import SlipwayStore

/// Production monitors: a batch is compared with the monitor's reference
/// feature by feature (the validation stage's drift statistics), its scores
/// are stored, and a drifted batch (or a performance breach) raises an alert
/// that fires one trigger event per pipeline, unless inside the monitor's
/// cool-down. The command line (`monitor ingest`), the agent's drop folder
/// and the demo all come through here.
public struct MonitorService: Sendable {
    let workspace: Workspace
    let registry: any Registry
    let spec: WorkspaceSpec

    /// The time batches are stamped by and cool-downs judged by.
    public var clock: any Clock = SystemClock()

    public init(workspace: Workspace, registry: any Registry, spec: WorkspaceSpec) {
        self.workspace = workspace
        self.registry = registry
        self.spec = spec
    }

    public struct Refusal: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String { message }
    }

    /// What ingesting one batch did.
    public struct Ingest: Sendable {
        public var batch: MonitorBatchRecord
        /// False when the monitor already had a batch with these bytes.
        public var isNew: Bool
        public var scores: [MonitorScoreRecord]
        public var alert: MonitorAlertRecord?
        public var events: [TriggerEventRecord]
    }

    public func monitor(_ name: String) throws -> MonitorSpec {
        guard let m = spec.monitor(named: name) else {
            let names = spec.monitorSpecs.map(\.name)
            let hint = Suggestions.closest(to: name, in: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw Refusal(message: "no monitor '\(name)'\(hint); " + (names.isEmpty ? "slipway.yaml declares none under monitors:" : "monitors: " + names.joined(separator: ", ")))
        }
        return m
    }

    /// Ingests the file at `path` (absolute; `source` is how it is named in records).
    public func ingest(monitor name: String, path: String, source: String, actor: String) throws -> Ingest {
        let monitor = try monitor(name)
        let hash = try FileHasher.sha256(file: path)
        // Same bytes again: recorded once.
        if let existing = try registry.batch(monitor: name, contentHash: hash) {
            return Ingest(batch: existing, isNew: false, scores: [], alert: nil, events: [])
        }
        let now = clock.now()
        var batch = MonitorBatchRecord(monitor: name, contentHash: hash, source: source, rows: 0, receivedAt: now, status: .calm,
                                       driftedFeatures: 0, features: 0, driftShare: nil, reason: "", performance: "{}")
        let measured: Measured
        do {
            // An empty file is a batch with nothing in it: rejected, and said so.
            if let st = FileSystem.status(path), st.st_size == 0 { throw BatchRejected(message: "\(source) is empty (0 bytes)") }
            measured = try measure(monitor, batchPath: path, source: source)
        } catch let e as BatchRejected {
            batch.status = .rejected
            batch.reason = e.message
            let r = try registry.recordBatch(NewBatch(batch: batch, scores: []))
            return Ingest(batch: r.batch, isNew: r.isNew, scores: [], alert: nil, events: [])
        }
        batch.rows = measured.rows
        batch.features = measured.scores.count
        batch.driftedFeatures = measured.scores.filter(\.drifted).count
        batch.driftShare = measured.scores.isEmpty ? nil : Double(batch.driftedFeatures) / Double(measured.scores.count)
        batch.performance = String(decoding: (try? JSONEncoder.sorted.encode(measured.performance)) ?? Data("{}".utf8), as: UTF8.self)
        let drifted = (batch.driftShare ?? 0) >= monitor.driftShare && batch.driftedFeatures > 0
        if drifted {
            batch.status = .drifted
            batch.reason = "\(batch.driftedFeatures) of \(batch.features) features drifted (share \(Gates.format(batch.driftShare ?? 0)) ≥ \(Gates.format(monitor.driftShare))): "
                + measured.scores.filter(\.drifted).map { "\($0.feature) \($0.method) \(Gates.format($0.score)) vs \(Gates.format($0.threshold))" }.joined(separator: ", ")
        }
        if let breach = measured.breach {
            batch.reason += (batch.reason.isEmpty ? "" : "; ") + breach
        }
        guard drifted || measured.breach != nil else {
            let r = try registry.recordBatch(NewBatch(batch: batch, scores: measured.scores))
            return Ingest(batch: r.batch, isNew: r.isNew, scores: r.isNew ? measured.scores : [], alert: nil, events: [])
        }
        let kind = drifted ? "drift" : "performance"
        var detail: [String: String] = ["reason": batch.reason, "rows": String(batch.rows)]
        for s in measured.scores where s.drifted { detail["score." + s.feature] = "\(s.method) \(Gates.format(s.score)) threshold \(Gates.format(s.threshold))" }
        for (k, v) in measured.performance { detail["performance." + k] = Gates.format(v) }
        let detailText = String(decoding: (try? JSONEncoder.sorted.encode(detail)) ?? Data(), as: UTF8.self)
        let pipelines = monitor.pipelines(in: spec)
        var suppressed: String?
        if pipelines.isEmpty {
            suppressed = "no pipeline to start: give the monitor `pipeline:` or list {drift: \(name)} in a pipeline's triggers"
        } else if let last = try registry.alerts(monitor: name, limit: 50).first(where: { $0.triggerID != nil }),
                  Double(now - last.at) / 1000 < monitor.cooldownSeconds {
            suppressed = "inside the cool-down of alert \(last.id) (\(Durations.format(monitor.cooldownSeconds)) from \(Self.iso(last.at)))"
        }
        // The batch, its alert and the events it fires: one transaction, so `kill -9` leaves all or none.
        let r = try registry.recordBatch(NewBatch(batch: batch, scores: measured.scores,
                                                  alert: NewAlert(kind: kind, detail: detailText, suppressed: suppressed, pipelines: pipelines, actor: actor)))
        return Ingest(batch: r.batch, isNew: r.isNew, scores: r.isNew ? measured.scores : [], alert: r.alert, events: r.events)
    }

    static func iso(_ ms: Millis) -> String { ISO8601DateFormatter().string(from: SystemClock.date(ms)) }

    // MARK: - Measuring

    struct BatchRejected: Error { var message: String }

    final class ScoreBox: @unchecked Sendable {
        private let lock = NSLock()
        private var slots: [MonitorScoreRecord?]
        init(count: Int) { slots = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ s: MonitorScoreRecord) { lock.withLock { slots[i] = s } }
        var all: [MonitorScoreRecord] { lock.withLock { slots.compactMap { $0 } } }
    }

    struct Measured {
        var rows: Int
        var scores: [MonitorScoreRecord]
        var performance: [String: Double]
        /// The performance rule breached, in words.
        var breach: String?
    }

    /// The reference data's path now: a dataset in the workspace, or the
    /// training data recorded for the live version of a model.
    public func referencePath(_ monitor: MonitorSpec) throws -> (path: String, name: String) {
        switch monitor.reference {
        case .dataset(let relative):
            let path = workspace.absolute(relative)
            guard FileSystem.staysInside(root: workspace.root, relative: relative), FileSystem.isFile(path) else {
                throw Refusal(message: "monitors.\(monitor.name).reference: \(relative) is not a file in the workspace")
            }
            return (path, relative)
        case .model(let model):
            let env = monitor.environment ?? spec.environments.last?.name ?? "production"
            guard let live = try registry.alias(model: model, environment: env, at: nil),
                  let version = try registry.modelVersion(model: model, version: live) else {
                throw Refusal(message: "monitors.\(monitor.name).reference: nothing of model '\(model)' is live in \(env) yet, so there is no training data to compare with")
            }
            // The training data: a data file a `train` stage read (else any stage's).
            let isData: (RunDatasetRecord) -> Bool = { d in [".csv", ".jsonl", ".ndjson", ".tsv"].contains { d.path.hasSuffix($0) } }
            let datasets = try registry.runDatasets(runID: version.runID).filter(isData)
            guard let data = datasets.first(where: { $0.stage.contains("train") }) ?? datasets.first else {
                throw Refusal(message: "monitors.\(monitor.name).reference: run \(version.runID) of \(version.label) recorded no dataset")
            }
            let store = ContentStore(workspace: workspace)
            if store.contains(data.hash) { return (store.objectPath(data.hash), "\(data.path) (of \(version.label))") }
            let current = workspace.absolute(data.path)
            if FileSystem.staysInside(root: workspace.root, relative: data.path), FileSystem.isFile(current),
               (try? FileHasher.sha256(file: current)) == data.hash {
                return (current, "\(data.path) (of \(version.label))")
            }
            throw Refusal(message: "monitors.\(monitor.name).reference: \(version.label) was trained on \(data.path) at \(data.hash.prefix(12)), "
                          + "which is neither in the store nor in the workspace any more")
        }
    }

    /// The reference data's content hash (the stat cache spares re-reading it).
    func referenceHash(_ monitor: MonitorSpec, path: String) throws -> String {
        if case .dataset(let relative) = monitor.reference {
            let hasher = FileHasher(root: workspace.root, cache: registry)
            defer { hasher.flush() }
            return try hasher.hash(relative)
        }
        return try FileHasher.sha256(file: path)
    }

    func measure(_ monitor: MonitorSpec, batchPath: String, source: String) throws -> Measured {
        let (refPath, refName) = try referencePath(monitor)
        var batch: DatasetProfile, reference: DatasetProfile
        let cache = ReferenceCache(workspace: workspace, monitor: monitor.name)
        let refHash = try referenceHash(monitor, path: refPath)
        let cached = cache.load(sha256: refHash, name: refName)
        do {
            let results = DataValidator.ResultBox()
            results.reference = cached
            DispatchQueue.concurrentPerform(iterations: cached == nil ? 2 : 1) { i in
                do {
                    let p = try DatasetProfile.read(path: i == 0 ? batchPath : refPath, displayName: i == 0 ? source : refName, types: [:])
                    results.lock.withLock { if i == 0 { results.data = p } else { results.reference = p } }
                } catch {
                    results.lock.withLock { results.errors.append(error) }
                }
            }
            if let e = results.errors.first {
                if let d = e as? DataFileError, d.file == source { throw BatchRejected(message: "\(d)") }
                throw e
            }
            batch = results.data!
            reference = results.reference!
            results.data = nil
            results.reference = nil
        }
        if cached == nil {
            var none = DatasetProfile(path: "", rows: 0, columns: [])
            DataValidator.sortAll(&reference, &none)
            cache.save(reference, sha256: refHash)
        }
        guard batch.rows > 0 else { throw BatchRejected(message: "\(source) has no rows") }
        let skip = Set([monitor.label, monitor.prediction].compactMap { $0 })
        var features = monitor.features
        if features.isEmpty {
            let have = Set(batch.columns.map(\.name))
            features = reference.columns.map(\.name).filter { have.contains($0) && !skip.contains($0) }
        }
        let missing = features.filter { batch.column($0) == nil }
        if !missing.isEmpty {
            throw BatchRejected(message: "\(source) lacks the monitored feature\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", ")) "
                                + "(it has \(batch.columns.map(\.name).joined(separator: ", ")))")
        }
        if let m = features.first(where: { reference.column($0) == nil }) {
            throw Refusal(message: "monitors.\(monitor.name): the reference \(refName) has no column '\(m)'")
        }
        DataValidator.sortAll(&batch, &reference)
        // Each feature on its own core.
        let results = ScoreBox(count: features.count)
        let (batchColumns, referenceColumns, referenceRows, names) = (batch, reference, reference.rows, features)
        DispatchQueue.concurrentPerform(iterations: names.count) { i in
            let f = names[i]
            let cur = batchColumns.column(f)!, ref = referenceColumns.column(f)!
            guard let d = DataValidator.columnDrift(current: cur, reference: ref, referenceRows: referenceRows, rule: monitor.rule(for: f), lean: true) else { return }
            results.set(i, MonitorScoreRecord(monitor: monitor.name, feature: f, method: d.method, score: d.statistic, threshold: d.threshold,
                                              drifted: d.drifted, histogram: Self.histogram(current: cur, reference: ref)))
        }
        let scores = results.all
        var performance: [String: Double] = [:]
        var breach: String?
        if let label = monitor.label, let prediction = monitor.prediction, batch.column(label) != nil, batch.column(prediction) != nil {
            performance = try Self.performance(path: batchPath, source: source, label: label, prediction: prediction, task: monitor.task)
            if let rule = monitor.performance, let value = performance[rule.metric] {
                breach = try judge(rule, value: value, monitor: monitor)
            }
        }
        return Measured(rows: batch.rows, scores: scores, performance: performance, breach: breach)
    }

    /// A performance rule against a batch's value: a fixed limit, or a drop
    /// from the live version's evaluated value.
    func judge(_ rule: MonitorSpec.PerformanceRule, value: Double, monitor: MonitorSpec) throws -> String? {
        let worse: (Double, Double) -> Bool = rule.higherIsBetter ? { $0 < $1 } : { $0 > $1 }
        if let limit = rule.limit, worse(value, limit) {
            return "\(rule.metric) \(Gates.format(value)) \(rule.higherIsBetter ? "<" : ">") \(Gates.format(limit))"
        }
        if let drop = rule.dropMoreThan, let live = try liveEvaluated(rule.metric, monitor: monitor) {
            let delta = rule.higherIsBetter ? live - value : value - live
            if delta > drop {
                return "\(rule.metric) \(Gates.format(value)) is \(Gates.format(delta)) worse than the live version's \(Gates.format(live)) (more than \(Gates.format(drop)))"
            }
        }
        return nil
    }

    /// The live version's evaluated value of a metric (its run's last value).
    func liveEvaluated(_ metric: String, monitor: MonitorSpec) throws -> Double? {
        let env = monitor.environment ?? spec.environments.last?.name ?? "production"
        let model: String
        if case .model(let m) = monitor.reference { model = m } else {
            guard let p = monitor.pipelines(in: spec).first.flatMap(spec.pipeline(named:)) else { return nil }
            model = p.modelName
        }
        guard let live = try registry.alias(model: model, environment: env, at: nil),
              let version = try registry.modelVersion(model: model, version: live) else { return nil }
        let values = GateEvaluator.lastValues(try registry.metrics(runID: version.runID))
        if let v = values[metric] { return v }
        if metric == "error_rate", let a = values["accuracy"] { return 1 - a }
        return nil
    }

    /// Reference vs batch, ten bins on the reference's deciles (numeric) or
    /// the reference's most common categories.
    static func histogram(current: ColumnProfile, reference: ColumnProfile) -> String {
        var object: [String: [Double]] = [:]
        var labels: [String] = []
        if current.type.isNumeric && reference.type.isNumeric && !reference.numbers.isEmpty {
            let edges = DriftStatistics.quantileEdges(sortedReference: reference.numbers)
            object["edges"] = edges
            object["reference"] = DriftStatistics.proportions(sorted: reference.numbers, edges: edges)
            object["current"] = DriftStatistics.proportions(sorted: current.numbers, edges: edges)
        } else {
            let top = reference.counts.sorted { $0.value > $1.value }.prefix(10).map(\.key)
            let nr = Double(max(1, reference.counts.values.reduce(0, +))), nc = Double(max(1, current.counts.values.reduce(0, +)))
            labels = top.map { String($0.prefix(24)) }
            object["reference"] = top.map { Double(reference.counts[$0] ?? 0) / nr }
            object["current"] = top.map { Double(current.counts[$0] ?? 0) / nc }
        }
        struct H: Encodable { var edges: [Double]?; var labels: [String]?; var reference: [Double]; var current: [Double] }
        let h = H(edges: object["edges"], labels: labels.isEmpty ? nil : labels, reference: object["reference"] ?? [], current: object["current"] ?? [])
        return String(decoding: (try? JSONEncoder.sorted.encode(h)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// Accuracy and error rate (classification) or MAE (regression) of the
    /// `prediction` column against `label`, row by row.
    static func performance(path: String, source: String, label: String, prediction: String, task: MonitorSpec.Task) throws -> [String: Double] {
        var pairs = PairSink(label: label, prediction: prediction, task: task)
        if path.hasSuffix(".jsonl") || path.hasSuffix(".ndjson") || JSONLines.looksLike(path: path) {
            for line in String(decoding: try FileSystem.readFile(path), as: UTF8.self).split(separator: "\n") {
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
                pairs.add(o[label].map { "\($0)" }, o[prediction].map { "\($0)" })
            }
        } else {
            try CSVReader(path: path, displayName: source).read(into: &pairs)
        }
        guard pairs.n > 0 else { return [:] }
        switch task {
        case .classification:
            let accuracy = Double(pairs.correct) / Double(pairs.n)
            return ["accuracy": accuracy, "error_rate": 1 - accuracy, "labelled_rows": Double(pairs.n)]
        case .regression:
            return ["mae": pairs.absError / Double(pairs.n), "labelled_rows": Double(pairs.n)]
        }
    }

    struct PairSink: RecordSink {
        let label: String, prediction: String, task: MonitorSpec.Task
        var li = -1, pi = -1
        var n = 0, correct = 0
        var absError = 0.0

        init(label: String, prediction: String, task: MonitorSpec.Task) {
            self.label = label
            self.prediction = prediction
            self.task = task
        }

        mutating func header(_ names: [String], file: String) throws {
            li = names.firstIndex(of: label) ?? -1
            pi = names.firstIndex(of: prediction) ?? -1
        }

        mutating func record(_ fields: UnsafeBufferPointer<Field>, line: Int) throws {
            guard li >= 0, pi >= 0, li < fields.count, pi < fields.count else { return }
            add(String(decoding: fields[li].bytes, as: UTF8.self), String(decoding: fields[pi].bytes, as: UTF8.self))
        }

        mutating func add(_ l: String?, _ p: String?) {
            guard let l, let p, !l.isEmpty, !p.isEmpty else { return }
            switch task {
            case .classification:
                n += 1
                if l.trimmingCharacters(in: .whitespaces) == p.trimmingCharacters(in: .whitespaces) { correct += 1 }
            case .regression:
                guard let a = Double(l.trimmingCharacters(in: .whitespaces)), let b = Double(p.trimmingCharacters(in: .whitespaces)) else { return }
                n += 1
                absError += abs(a - b)
            }
        }
    }
}

enum JSONLines {
    /// A file whose first byte is `{` is JSON Lines, whatever its name.
    static func looksLike(path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        return h.readData(ofLength: 1).first == UInt8(ascii: "{")
    }
}
