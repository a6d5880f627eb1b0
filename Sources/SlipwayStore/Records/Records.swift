import Foundation
@_exported import SlipwayCore

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
}

/// A reusable stage result: the outputs (path → content hash) a stage with
/// these inputs produced.
public struct CacheEntry: Codable, Sendable, Hashable {
    public var key: String
    public var pipeline: String
    public var stage: String
    public var stageRunID: Int64
    public var outputs: [String: String]
    public var createdAt: Millis

    public init(key: String, pipeline: String, stage: String, stageRunID: Int64, outputs: [String: String], createdAt: Millis) {
        self.key = key
        self.pipeline = pipeline
        self.stage = stage
        self.stageRunID = stageRunID
        self.outputs = outputs
        self.createdAt = createdAt
    }
}

/// A stage a run restored from the cache, as the registry records it.
public struct RestoredStage: Sendable, Hashable {
    /// The stage run, finished (`cached`), with its inputs, key and reason.
    public var stageRun: StageRunRecord
    /// The stage run whose results it reuses: its metrics and validation reports are copied.
    public var source: Int64
    /// The deps it read: path → content hash.
    public var datasets: [String: String]
    /// The outs it restored: path → content hash.
    public var outputs: [String: String]

    public init(stageRun: StageRunRecord, source: Int64, datasets: [String: String], outputs: [String: String]) {
        self.stageRun = stageRun
        self.source = source
        self.datasets = datasets
        self.outputs = outputs
    }
}

/// What a file looked like when it was hashed: an unchanged size, mtime and
/// inode means an unchanged hash.
public struct FileState: Codable, Sendable, Hashable {
    public var path: String
    public var size: Int64
    public var mtimeNanos: Int64
    public var inode: Int64
    public var hash: String

    public init(path: String, size: Int64, mtimeNanos: Int64, inode: Int64, hash: String) {
        self.path = path
        self.size = size
        self.mtimeNanos = mtimeNanos
        self.inode = inode
        self.hash = hash
    }
}

public struct NewModelVersion: Sendable {
    public var model: String
    public var runID: Int64
    public var pipeline: String
    public var gitCommit: String?
    public var artifactDigest: String
    public var createdBy: String
    /// The OCI image manifest digest, when the run packaged the model.
    public var imageDigest: String? = nil
    /// The number the package was built for (its image says so); registration
    /// is refused when another version took it meanwhile.
    public var expectedVersion: Int? = nil

    public init(model: String, runID: Int64, pipeline: String, gitCommit: String?, artifactDigest: String, createdBy: String) {
        self.model = model
        self.runID = runID
        self.pipeline = pipeline
        self.gitCommit = gitCommit
        self.artifactDigest = artifactDigest
        self.createdBy = createdBy
    }
}

/// An immutable model version; only `tags` and `description` may be edited.
public struct ModelVersionRecord: Codable, Sendable, Hashable {
    public var id: Int64
    public var model: String
    public var version: Int
    public var runID: Int64
    public var pipeline: String
    public var gitCommit: String?
    public var artifactDigest: String
    public var createdAt: Millis
    public var createdBy: String
    public var description: String
    public var tags: [String: String]
    /// The OCI image manifest digest (`sha256:…`), when the version was packaged.
    public var imageDigest: String? = nil

    /// The image's tag: `3-9f2c4e1ab07d` (the version and the first 12 hex of the manifest digest).
    public var imageTag: String? {
        imageDigest.map { "\(version)-\($0.dropFirst("sha256:".count).prefix(12))" }
    }

    /// `weather:3-1a2b3c4`: the version with a short digest.
    public var label: String { "\(model):\(version)" }
}

/// Where a version's image was pushed (`slipway push … docker://`): the
/// registry reference as given and the manifest digest it holds there.
/// Promotion reads the image's referrers back from there by this digest.
public struct ImagePushRecord: Codable, Sendable, Hashable {
    public var id: Int64
    public var model: String
    public var version: Int
    /// `docker://HOST/REPO:TAG`, as pushed.
    public var reference: String
    /// The image manifest's digest (`sha256:…`) the registry holds under it.
    public var digest: String
    public var pushedAt: Millis
    public var pushedBy: String

    public init(id: Int64 = 0, model: String, version: Int, reference: String, digest: String, pushedAt: Millis, pushedBy: String) {
        self.id = id
        self.model = model
        self.version = version
        self.reference = reference
        self.digest = digest
        self.pushedAt = pushedAt
        self.pushedBy = pushedBy
    }
}

public struct ModelSummary: Codable, Sendable, Hashable {
    public var name: String
    public var latestVersion: Int?
    public var versionCount: Int
    /// Environment → live version.
    public var environments: [String: Int]
}

/// One change of which version is live in an environment.
public struct AliasEvent: Codable, Sendable, Hashable {
    public var id: Int64
    public var model: String
    public var environment: String
    /// nil when the environment was cleared.
    public var version: Int?
    public var previousVersion: Int?
    public var at: Millis
    public var actor: String
    public var reason: String
    /// Nil on changes recorded before causes were (``AliasCause/recordedBefore(reason:)``).
    public var cause: AliasCause?

    /// Why the change was made, typed.
    public var why: AliasCause { cause ?? .recordedBefore(reason: reason) }
}

public struct GateResultRecord: Codable, Sendable, Hashable {
    public var runID: Int64
    public var stageRunID: Int64
    public var stage: String
    public var metric: String
    public var condition: String
    public var candidate: Double?
    public var production: Double?
    public var threshold: Double?
    public var baselineModel: String?
    public var baselineVersion: Int?
    public var passed: Bool
    public var explanation: String

    public init(runID: Int64, stageRunID: Int64, stage: String, metric: String, condition: String, candidate: Double?,
                production: Double?, threshold: Double?, baselineModel: String?, baselineVersion: Int?, passed: Bool,
                explanation: String) {
        self.runID = runID
        self.stageRunID = stageRunID
        self.stage = stage
        self.metric = metric
        self.condition = condition
        self.candidate = candidate
        self.production = production
        self.threshold = threshold
        self.baselineModel = baselineModel
        self.baselineVersion = baselineVersion
        self.passed = passed
        self.explanation = explanation
    }
}

public struct ValidationRecord: Codable, Sendable, Hashable {
    public var runID: Int64?
    public var stageRunID: Int64?
    public var dataset: String
    public var passed: Bool
    /// The report as JSON.
    public var report: String
    public var createdAt: Millis

    public init(runID: Int64?, stageRunID: Int64?, dataset: String, passed: Bool, report: String, createdAt: Millis = SystemClock.nowMillis()) {
        self.runID = runID
        self.stageRunID = stageRunID
        self.dataset = dataset
        self.passed = passed
        self.report = report
        self.createdAt = createdAt
    }
}
