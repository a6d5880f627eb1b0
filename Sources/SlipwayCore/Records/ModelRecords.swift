import Foundation

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

    public init(id: Int64, model: String, version: Int, runID: Int64, pipeline: String, gitCommit: String? = nil, artifactDigest: String, createdAt: Millis, createdBy: String, description: String, tags: [String: String], imageDigest: String? = nil) {
        self.id = id
        self.model = model
        self.version = version
        self.runID = runID
        self.pipeline = pipeline
        self.gitCommit = gitCommit
        self.artifactDigest = artifactDigest
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.description = description
        self.tags = tags
        self.imageDigest = imageDigest
    }
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

    public init(name: String, latestVersion: Int? = nil, versionCount: Int, environments: [String: Int]) {
        self.name = name
        self.latestVersion = latestVersion
        self.versionCount = versionCount
        self.environments = environments
    }
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
    /// Why the change was made (rows recorded before causes were got
    /// theirs in migration v17; nil only from a store that skipped it).
    public var cause: AliasCause?

    /// Why the change was made, typed.
    public var why: AliasCause { cause ?? .promotion }

    public init(id: Int64, model: String, environment: String, version: Int? = nil, previousVersion: Int? = nil, at: Millis, actor: String, reason: String, cause: AliasCause? = nil) {
        self.id = id
        self.model = model
        self.environment = environment
        self.version = version
        self.previousVersion = previousVersion
        self.at = at
        self.actor = actor
        self.reason = reason
        self.cause = cause
    }
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
