import SlipwayEngine

/// One MLflow run inside a stage's scope: the stage's own run (the one
/// `MLFLOW_RUN_ID` names), or one the stage created (a nested run, or any
/// `runs/create`). Everything a run logs lands in the stage's run in the
/// registry; a created run's keys carry its name as a prefix
/// (`fold-1/loss`), so its series stay apart and gates read the stage's own.
struct TrackedRun {
    struct Point {
        var value: Double
        var timestamp: Int64
        var step: Int64
    }

    /// What makes a point of one key the same point in MLflow's store:
    /// timestamp, step and value (every NaN alike).
    struct PointID: Hashable {
        var timestamp: Int64
        var step: Int64
        var bits: UInt64

        init(_ p: Point) {
            timestamp = p.timestamp
            step = p.step
            bits = p.value.isNaN ? Double.nan.bitPattern : p.value.bitPattern
        }
    }

    /// One metric's points, in the order logged, and its latest.
    struct Series {
        var points: [Point] = []
        var ids: Set<PointID> = []
        var latest: Point?

        func has(_ id: PointID) -> Bool { ids.contains(id) }

        mutating func append(_ point: Point, id: PointID) {
            guard ids.insert(id).inserted else { return }
            points.append(point)
            if let best = latest, !TrackedRun.isLater(point, than: best) { return }
            latest = point
        }
    }

    struct DatasetInput {
        var name: String, digest: String, sourceType: String, source: String
        var schema: String?, profile: String?
        var tags: [KeyValue]
    }

    let id: String
    var name: String
    let experimentID: String
    var userID: String
    var status: String = "RUNNING"
    var startTime: Int64
    var endTime: Int64?
    var lifecycleStage = "active"
    /// Folder of the run's artifacts inside the stage's area ("" for the stage's own run).
    let artifactFolder: String
    /// Prefix of its keys in the registry ("" for the stage's own run).
    let keyPrefix: String
    let isStageRun: Bool

    private(set) var params: [String: String] = [:]
    private(set) var paramOrder: [String] = []
    private(set) var tags: [String: String] = [:]
    private(set) var tagOrder: [String] = []
    private(set) var series: [String: Series] = [:]
    private(set) var metricOrder: [String] = []
    var datasetInputs: [DatasetInput] = []
    var modelInputs: [String] = []
    var modelOutputs: [(id: String, step: Int64)] = []

    init(id: String, name: String, experimentID: String, userID: String, startTime: Int64,
         artifactFolder: String, keyPrefix: String, isStageRun: Bool) {
        self.id = id
        self.name = name
        self.experimentID = experimentID
        self.userID = userID
        self.startTime = startTime
        self.artifactFolder = artifactFolder
        self.keyPrefix = keyPrefix
        self.isStageRun = isStageRun
    }

    /// MLflow's rule: a param, once logged, keeps its value.
    func checkParam(_ key: String, _ value: String) throws {
        if let old = params[key], old != value {
            throw MLflowError.invalid("Changing param values is not allowed. Param with key='\(key)' was already logged with value='\(old)' for run ID='\(id)'. Attempted logging new value '\(value)'.")
        }
    }

    mutating func setParam(_ key: String, _ value: String) {
        if params.updateValue(value, forKey: key) == nil { paramOrder.append(key) }
    }

    mutating func setTag(_ key: String, _ value: String) {
        if tags.updateValue(value, forKey: key) == nil { tagOrder.append(key) }
        if key == "mlflow.runName", !value.isEmpty { name = value }
    }

    mutating func deleteTag(_ key: String) -> Bool {
        guard tags.removeValue(forKey: key) != nil else { return false }
        tagOrder.removeAll { $0 == key }
        return true
    }

    /// The points of one key not held yet, each once. MLflow's store keeps
    /// a point once: the client logs a run's points again, with the model's
    /// id, when it logs a model (`log_model`), and that adds nothing.
    /// `points` come grouped by key as a batch sends them: a key's series is
    /// looked up when the key changes, not for every point.
    func fresh(_ points: [(String, Point)]) -> [(String, Point)] {
        var out: [(String, Point)] = []
        out.reserveCapacity(points.count)
        struct InBatch: Hashable { var key: Int, id: PointID }
        var keys: [String: Int] = [:]
        var seen: Set<InBatch> = []
        var lastKey: String?
        var held: Series?
        var k = 0
        for (key, p) in points {
            if key != lastKey {
                lastKey = key
                held = series[key]
                if let n = keys[key] { k = n } else { k = keys.count; keys[key] = k }
            }
            let id = PointID(p)
            if held?.has(id) == true { continue }
            if seen.insert(InBatch(key: k, id: id)).inserted { out.append((key, p)) }
        }
        return out
    }

    /// Keeps points (already checked by ``fresh(_:)``).
    mutating func append(_ points: [(String, Point)]) {
        var lastKey: String?
        var index: Dictionary<String, Series>.Index?
        for (key, p) in points {
            if key != lastKey {
                lastKey = key
                index = series.index(forKey: key)
                if index == nil {
                    metricOrder.append(key)
                    series[key] = Series()
                    index = series.index(forKey: key)
                }
            }
            series.values[index!].append(p, id: PointID(p))
        }
    }

    func history(_ key: String) -> [Point] { series[key]?.points ?? [] }

    /// MLflow's "latest" value of a metric: the greatest step, then the
    /// latest timestamp, then the greatest value.
    static func isLater(_ p: Point, than best: Point) -> Bool {
        if (p.step, p.timestamp) != (best.step, best.timestamp) { return (p.step, p.timestamp) > (best.step, best.timestamp) }
        return !(p.value <= best.value)
    }

    var paramList: [(key: String, value: String)] { paramOrder.map { ($0, params[$0]!) } }
    var tagList: [(key: String, value: String)] { tagOrder.compactMap { k in tags[k].map { (k, $0) } } }

    var latestMetrics: [(key: String, point: Point)] {
        metricOrder.compactMap { key in series[key]?.latest.map { (key, $0) } }
    }
}

/// An MLflow 3 logged model (`mlflow.<flavor>.log_model`): its files go to
/// `models/NAME` in the stage's artifact area.
struct TrackedModel {
    let id: String
    let name: String
    let experimentID: String
    let sourceRunID: String?
    let modelType: String?
    let artifactFolder: String
    let createdAt: Int64
    var updatedAt: Int64
    var status = "LOGGED_MODEL_PENDING"
    var params: [(key: String, value: String)] = []
    var tags: [(key: String, value: String)] = []

    mutating func setTag(_ key: String, _ value: String) {
        if let i = tags.firstIndex(where: { $0.key == key }) { tags[i].value = value } else { tags.append((key, value)) }
    }

    mutating func setParam(_ key: String, _ value: String) {
        if let i = params.firstIndex(where: { $0.key == key }) { params[i].value = value } else { params.append((key, value)) }
    }
}
