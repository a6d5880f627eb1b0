import Foundation
import SlipwayEngine

// The JSON that `--json` prints. Field names are part of the command-line
// contract (docs/cli.md): add fields, never rename them.

struct RunJSON: Encodable {
    var id: Int64
    var pipeline: String
    var trigger: String
    var status: String
    var startedAt: String?
    var endedAt: String?
    var durationSeconds: Double?
    var user: String
    var host: String
    var pid: Int32
    var gitCommit: String?
    var gitDirty: Bool?
    var slipwayVersion: String
    var message: String?
    var stages: [StageJSON]?
    var gates: [GateJSON]?
    var registered: String?
    /// The version the run made again when it registered none: an earlier
    /// one (its params set back) or the newest (nothing changed).
    var madeAgain: String?

    init(_ r: RunRecord, stages: [StageRunRecord]? = nil) {
        id = r.id; pipeline = r.pipeline; trigger = r.trigger; status = r.status.rawValue
        startedAt = Output.iso(r.startedAt); endedAt = Output.iso(r.endedAt); durationSeconds = r.duration
        user = r.user; host = r.host; pid = r.pid; gitCommit = r.gitCommit; gitDirty = r.gitDirty
        slipwayVersion = r.slipwayVersion; message = r.message
        self.stages = stages?.map(StageJSON.init)
    }
}

struct StageJSON: Encodable {
    var stage: String
    var status: String
    var startedAt: String?
    var endedAt: String?
    var durationSeconds: Double?
    var exitCode: Int32?
    var cacheKey: String?
    var reason: String
    var log: String?
    var message: String?
    /// The executor's handle of the stage's job (`slurm:CLUSTER:JOBID`, `local:HOST:PGID`).
    var job: String?
    /// What the executor says of the job: state, pending reason, node, resources asked and used, elapsed.
    var jobStatus: JobStatus?

    init(_ s: StageRunRecord) {
        stage = s.stage; status = s.status.rawValue; startedAt = Output.iso(s.startedAt); endedAt = Output.iso(s.endedAt)
        durationSeconds = s.duration; exitCode = s.exitCode; cacheKey = s.cacheKey; reason = s.reason
        log = s.logPath; message = s.message; job = s.job; jobStatus = s.jobStatus
    }
}

/// A metric point. JSON has no NaN or infinities: such a value is written as
/// `"value": null` with `"nonFinite": "NaN"`, `"Infinity"` or `"-Infinity"`
/// (docs/cli.md), so the point is never dropped.
struct MetricJSON: Encodable {
    var stage: String
    var key: String
    var step: Int64?
    var value: Double?
    var nonFinite: String?
    var timestamp: String?

    init(_ m: MetricRecord) {
        stage = m.stage; key = m.key; step = m.step
        value = m.value.isFinite ? m.value : nil
        nonFinite = NonFinite.name(m.value)
        timestamp = Output.iso(m.timestamp)
    }

    enum CodingKeys: String, CodingKey { case stage, key, step, value, nonFinite, timestamp }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(stage, forKey: .stage)
        try c.encode(key, forKey: .key)
        try c.encodeIfPresent(step, forKey: .step)
        try c.encode(value, forKey: .value)
        try c.encodeIfPresent(nonFinite, forKey: .nonFinite)
        try c.encodeIfPresent(timestamp, forKey: .timestamp)
    }
}

enum NonFinite {
    /// `NaN`, `Infinity` or `-Infinity` for a value JSON cannot hold; nil for a finite one.
    static func name(_ v: Double) -> String? {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "Infinity" : "-Infinity" }
        return nil
    }
}

/// A param, tag, artifact (digest, size) or input a stage logged through MLflow.
struct TrackedJSON: Encodable {
    var stage: String
    var kind: String
    var key: String
    var value: String
    var size: Int64?
    var at: String?

    init(_ t: TrackedValueRecord) {
        stage = t.stage; kind = t.kind.rawValue; key = t.key; value = t.value; size = t.size
        at = Output.iso(t.at)
    }
}

struct DatasetJSON: Encodable {
    var path: String
    var hash: String
    var size: Int64
    var addedBy: String
    var addedAt: String?
    var current: Bool?

    init(_ d: DatasetRecord, current: Bool?) {
        path = d.path; hash = d.hash; size = d.size; addedBy = d.addedBy; addedAt = Output.iso(d.addedAt)
        self.current = current
    }
}

struct GateJSON: Encodable {
    var stage: String
    var metric: String
    var condition: String
    var candidate: Double?
    var production: Double?
    var threshold: Double?
    var baseline: String?
    var passed: Bool
    var explanation: String

    init(_ g: GateResultRecord) {
        stage = g.stage; metric = g.metric; condition = g.condition
        candidate = g.candidate.flatMap { $0.isFinite ? $0 : nil }
        production = g.production.flatMap { $0.isFinite ? $0 : nil }
        threshold = g.threshold.flatMap { $0.isFinite ? $0 : nil }
        baseline = g.baselineModel.flatMap { m in g.baselineVersion.map { "\(m):\($0)" } }
        passed = g.passed; explanation = g.explanation
    }
}
