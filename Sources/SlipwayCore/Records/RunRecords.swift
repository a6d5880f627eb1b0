import Foundation
import Foundation

/// Where a run came from: enough to reproduce it.
public struct Provenance: Codable, Sendable, Hashable {
    public var gitCommit: String?
    public var gitDirty: Bool?
    public var user: String
    public var host: String
    public var slipwayVersion: String

    public init(gitCommit: String? = nil, gitDirty: Bool? = nil, user: String, host: String, slipwayVersion: String) {
        self.gitCommit = gitCommit
        self.gitDirty = gitDirty
        self.user = user
        self.host = host
        self.slipwayVersion = slipwayVersion
    }
}

public struct NewRun: Sendable {
    public var pipeline: String
    public var trigger: String
    public var provenance: Provenance
    public var pid: Int32
    public var params: [String: String]
    /// Queued trigger events this run starts.
    public var claiming: [Int64] = []
    /// Params given for this run only (`run --set`, a sweep): key → value.
    /// Recorded as overrides beside ``params``; a key no stage reads is kept too.
    public var overrides: [String: String] = [:]

    public init(pipeline: String, trigger: String, provenance: Provenance, pid: Int32, params: [String: String],
                claiming: [Int64] = [], overrides: [String: String] = [:]) {
        self.pipeline = pipeline
        self.trigger = trigger
        self.provenance = provenance
        self.pid = pid
        self.params = params
        self.claiming = claiming
        self.overrides = overrides
    }

    /// The param rows to record: every param a stage reads, and every override.
    public var paramRows: [(key: String, value: String, overridden: Bool)] {
        var rows = params.merging(overrides) { _, o in o }
        _ = rows.removeValue(forKey: "")
        return rows.sorted { $0.key < $1.key }.map { ($0.key, $0.value, overrides[$0.key] != nil) }
    }
}

public struct RunRecord: Codable, Sendable, Hashable, Identifiable {
    public var id: Int64
    public var pipeline: String
    public var trigger: String
    public var status: RunStatus
    public var startedAt: Millis
    public var endedAt: Millis?
    /// The `slipway` process that owns the run, and its host.
    public var pid: Int32
    public var host: String
    /// Refreshed every second while the owner lives.
    public var heartbeatAt: Millis
    public var user: String
    public var gitCommit: String?
    public var gitDirty: Bool?
    public var slipwayVersion: String
    public var message: String?
    /// When someone asked to cancel the run (`slipway cancel`, the console):
    /// its owner stops its jobs; if the owner died, whoever finds the run does.
    public var cancelRequestedAt: Millis? = nil

    public var duration: Double? { endedAt.map { Double($0 - startedAt) / 1000 } }
    public var owner: RunOwner { RunOwner(pid: pid, host: host) }

    public init(id: Int64, pipeline: String, trigger: String, status: RunStatus, startedAt: Millis, endedAt: Millis? = nil, pid: Int32, host: String, heartbeatAt: Millis, user: String, gitCommit: String? = nil, gitDirty: Bool? = nil, slipwayVersion: String, message: String? = nil, cancelRequestedAt: Millis? = nil) {
        self.id = id
        self.pipeline = pipeline
        self.trigger = trigger
        self.status = status
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.pid = pid
        self.host = host
        self.heartbeatAt = heartbeatAt
        self.user = user
        self.gitCommit = gitCommit
        self.gitDirty = gitDirty
        self.slipwayVersion = slipwayVersion
        self.message = message
        self.cancelRequestedAt = cancelRequestedAt
    }
}

/// The `slipway` process that owns a running run: it heartbeats, follows the
/// run's jobs and records how they end.
public struct RunOwner: Sendable, Hashable, Codable {
    public var pid: Int32
    public var host: String

    public init(pid: Int32, host: String) {
        self.pid = pid
        self.host = host
    }
}

/// What a cache entry's planner needs of the stage run that made it: its run,
/// the key it was cached under, the inputs it ran with and its job handle.
/// A narrow read of a ``StageRunRecord`` (``RunStore/stageRunOrigins(ids:)``).
public struct StageRunOrigin: Sendable, Hashable {
    public var runID: Int64
    public var cacheKey: String?
    public var inputs: String?
    public var job: String?

    public init(runID: Int64, cacheKey: String?, inputs: String?, job: String?) {
        self.runID = runID
        self.cacheKey = cacheKey
        self.inputs = inputs
        self.job = job
    }

    public init(_ r: StageRunRecord) {
        self.init(runID: r.runID, cacheKey: r.cacheKey, inputs: r.inputs, job: r.job)
    }
}

public struct StageRunRecord: Codable, Sendable, Hashable, Identifiable {
    public var id: Int64
    public var runID: Int64
    public var stage: String
    public var status: StageStatus
    public var startedAt: Millis?
    public var endedAt: Millis?
    public var exitCode: Int32?
    public var cacheKey: String?
    /// Why it ran, or why it was cached or skipped, in words.
    public var reason: String
    /// The ``SlipwayCore/CacheInputs`` it ran with, as JSON.
    public var inputs: String?
    /// The log file, relative to the workspace.
    public var logPath: String?
    /// A one-line explanation of a failure.
    public var message: String?
    /// The process group of the running command (to stop it if its owner died).
    public var pid: Int32?
    /// The executor's handle of the running job (see `JobHandle` in the
    /// engine): which executor owns it and how that executor names it.
    public var job: String? = nil
    /// What a running stage reported with `::progress step=N total=M`.
    public var progressDone: Int64? = nil
    public var progressTotal: Int64? = nil
    /// What the executor says about the job: pending and why, the node it
    /// runs on, and at the end the resources it used.
    public var jobStatus: JobStatus? = nil

    public var duration: Double? {
        guard let s = startedAt, let e = endedAt else { return nil }
        return Double(e - s) / 1000
    }

    public init(id: Int64, runID: Int64, stage: String, status: StageStatus, startedAt: Millis? = nil, endedAt: Millis? = nil, exitCode: Int32? = nil, cacheKey: String? = nil, reason: String, inputs: String? = nil, logPath: String? = nil, message: String? = nil, pid: Int32? = nil, job: String? = nil, progressDone: Int64? = nil, progressTotal: Int64? = nil, jobStatus: JobStatus? = nil) {
        self.id = id
        self.runID = runID
        self.stage = stage
        self.status = status
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.exitCode = exitCode
        self.cacheKey = cacheKey
        self.reason = reason
        self.inputs = inputs
        self.logPath = logPath
        self.message = message
        self.pid = pid
        self.job = job
        self.progressDone = progressDone
        self.progressTotal = progressTotal
        self.jobStatus = jobStatus
    }
}

public struct MetricRecord: Codable, Sendable, Hashable {
    public var runID: Int64
    public var stageRunID: Int64?
    public var stage: String
    public var key: String
    public var step: Int64?
    public var value: Double
    public var timestamp: Millis

    public init(runID: Int64, stageRunID: Int64?, stage: String, key: String, step: Int64?, value: Double, timestamp: Millis) {
        self.runID = runID
        self.stageRunID = stageRunID
        self.stage = stage
        self.key = key
        self.step = step
        self.value = value
        self.timestamp = timestamp
    }
}

public struct DatasetRecord: Codable, Sendable, Hashable, Identifiable {
    public var id: Int64
    public var path: String
    public var hash: String
    public var size: Int64
    public var addedBy: String
    public var addedAt: Millis

    public init(id: Int64, path: String, hash: String, size: Int64, addedBy: String, addedAt: Millis) {
        self.id = id
        self.path = path
        self.hash = hash
        self.size = size
        self.addedBy = addedBy
        self.addedAt = addedAt
    }
}

/// A param, tag, artifact or input a stage logged through the tracking endpoint.
public struct TrackedValueRecord: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case param, tag, artifact, input
    }

    public var runID: Int64
    public var stageRunID: Int64
    public var stage: String
    public var kind: Kind
    /// The param or tag key, the artifact's workspace-relative path, the input's name.
    public var key: String
    /// The param or tag value, the artifact's digest, the input's digest and source.
    public var value: String
    /// An artifact's size in bytes.
    public var size: Int64?
    public var at: Millis

    public init(runID: Int64, stageRunID: Int64, stage: String, kind: Kind, key: String, value: String, size: Int64? = nil, at: Millis) {
        self.runID = runID
        self.stageRunID = stageRunID
        self.stage = stage
        self.kind = kind
        self.key = key
        self.value = value
        self.size = size
        self.at = at
    }
}

public struct RunDatasetRecord: Codable, Sendable, Hashable {
    public var runID: Int64
    public var stage: String
    public var path: String
    public var hash: String

    public init(runID: Int64, stage: String, path: String, hash: String) {
        self.runID = runID
        self.stage = stage
        self.path = path
        self.hash = hash
    }
}
