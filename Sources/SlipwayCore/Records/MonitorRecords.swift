import Foundation

/// One production batch a monitor received.
public struct MonitorBatchRecord: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable { case calm, drifted, rejected }
    public var id: Int64
    public var monitor: String
    /// SHA-256 of the batch's bytes: a batch received twice is recorded once.
    public var contentHash: String
    /// Where it came from (a file name, `stdin`).
    public var source: String
    public var rows: Int
    public var receivedAt: Millis
    public var status: Status
    /// Features drifted / features compared.
    public var driftedFeatures: Int
    public var features: Int
    public var driftShare: Double?
    /// Why the batch was rejected, or what made it drifted.
    public var reason: String
    /// Performance values (`{"accuracy": 0.71, …}`), JSON; empty without labels.
    public var performance: String

    public init(id: Int64 = 0, monitor: String, contentHash: String, source: String, rows: Int, receivedAt: Millis, status: Status,
                driftedFeatures: Int, features: Int, driftShare: Double?, reason: String, performance: String) {
        self.id = id
        self.monitor = monitor
        self.contentHash = contentHash
        self.source = source
        self.rows = rows
        self.receivedAt = receivedAt
        self.status = status
        self.driftedFeatures = driftedFeatures
        self.features = features
        self.driftShare = driftShare
        self.reason = reason
        self.performance = performance
    }

    public var performanceValues: [String: Double] {
        (try? JSONDecoder().decode([String: Double].self, from: Data(performance.utf8))) ?? [:]
    }
}

/// One feature's drift score in one batch.
public struct MonitorScoreRecord: Codable, Sendable, Hashable {
    public var batchID: Int64
    public var monitor: String
    public var feature: String
    public var method: String
    public var score: Double
    public var threshold: Double
    public var drifted: Bool
    /// Reference and batch histograms, JSON (`{"edges": […], "reference": […], "current": […]}` or categories).
    public var histogram: String

    public init(batchID: Int64 = 0, monitor: String, feature: String, method: String, score: Double, threshold: Double, drifted: Bool, histogram: String) {
        self.batchID = batchID
        self.monitor = monitor
        self.feature = feature
        self.method = method
        self.score = score
        self.threshold = threshold
        self.drifted = drifted
        self.histogram = histogram
    }
}

/// A drifted batch or a performance breach.
public struct MonitorAlertRecord: Codable, Sendable, Hashable {
    public var id: Int64
    public var monitor: String
    public var batchID: Int64
    /// `drift` or `performance`.
    public var kind: String
    /// What crossed which threshold, JSON.
    public var detail: String
    public var at: Millis
    /// The trigger event it fired (nil when inside the cool-down or with no pipeline).
    public var triggerID: Int64?
    /// Why it started nothing (`inside the cool-down of alert 3`).
    public var suppressed: String?

    public init(id: Int64, monitor: String, batchID: Int64, kind: String, detail: String, at: Millis, triggerID: Int64? = nil, suppressed: String? = nil) {
        self.id = id
        self.monitor = monitor
        self.batchID = batchID
        self.kind = kind
        self.detail = detail
        self.at = at
        self.triggerID = triggerID
        self.suppressed = suppressed
    }
}

/// Something that starts a pipeline run: a drift alert, a new commit, a
/// changed dataset, a schedule. One event starts at most one run (its key is
/// unique per pipeline); events that fire while the pipeline runs wait as
/// `queued` and start together in the next run.
public struct TriggerEventRecord: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable { case queued, started, skipped }
    public var id: Int64
    public var pipeline: String
    /// `drift`, `performance`, `commit`, `data`, `schedule`.
    public var kind: String
    /// Unique per pipeline: `drift:inputs:alert/7`, `commit:main:1a2b…`, `schedule:0 3 * * 1:2026-11-30T03:00Z`.
    public var key: String
    /// Why, in words and links (JSON).
    public var cause: String
    public var firedAt: Millis
    public var state: State
    public var runID: Int64?

    public var causeFields: [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(cause.utf8))) ?? [:]
    }

    public init(id: Int64, pipeline: String, kind: String, key: String, cause: String, firedAt: Millis, state: State, runID: Int64? = nil) {
        self.id = id
        self.pipeline = pipeline
        self.kind = kind
        self.key = key
        self.cause = cause
        self.firedAt = firedAt
        self.state = state
        self.runID = runID
    }
}

public struct NewBatch: Sendable {
    public var batch: MonitorBatchRecord
    public var scores: [MonitorScoreRecord]
    /// The alert the batch raises, recorded with it.
    public var alert: NewAlert?

    public init(batch: MonitorBatchRecord, scores: [MonitorScoreRecord], alert: NewAlert? = nil) {
        self.batch = batch
        self.scores = scores
        self.alert = alert
    }
}

/// A drifted batch's (or a performance breach's) alert: `suppressed` says why
/// it starts nothing; otherwise one trigger event per pipeline is fired. The
/// store keeps the kind, detail and suppression; which trigger events the alert
/// fires (from `pipelines`) and who the trail names (`actor`) are the engine's
/// to decide (`MonitorEvents`, `AlertTriggers`).
public struct NewAlert: Sendable {
    public var kind: String
    public var detail: String
    public var suppressed: String?
    public var pipelines: [String]
    public var actor: String

    public init(kind: String, detail: String, suppressed: String?, pipelines: [String], actor: String) {
        self.kind = kind
        self.detail = detail
        self.suppressed = suppressed
        self.pipelines = pipelines
        self.actor = actor
    }
}

/// A trigger event to record: unique per pipeline by `key`, so the same
/// event never starts two runs.
public struct NewTrigger: Sendable, Hashable {
    public var pipeline: String
    /// `drift`, `performance`, `commit`, `data`, `schedule`.
    public var kind: String
    public var key: String
    /// Why, in words and links (kept as JSON).
    public var cause: [String: String]
    public var state: TriggerEventRecord.State

    public init(pipeline: String, kind: String, key: String, cause: [String: String], state: TriggerEventRecord.State = .queued) {
        self.pipeline = pipeline
        self.kind = kind
        self.key = key
        self.cause = cause
        self.state = state
    }
}

/// What recording a batch did.
public struct RecordedBatch: Sendable {
    public var batch: MonitorBatchRecord
    /// False when the monitor already had these bytes (nothing was written).
    public var isNew: Bool
    public var alert: MonitorAlertRecord?
    public var events: [TriggerEventRecord]

    public init(batch: MonitorBatchRecord, isNew: Bool, alert: MonitorAlertRecord? = nil, events: [TriggerEventRecord] = []) {
        self.batch = batch
        self.isNew = isNew
        self.alert = alert
        self.events = events
    }
}
