import Foundation

// The seam between a run and a tracking endpoint it serves to its stages
// (MLflow's REST API, in the SlipwayTracking target). The engine knows only
// these types: a run serves through ``HelperEndpoint``, which starts the
// `slipway-mlflow` executable when a stage first connects, so the server and its
// HTTP library stay out of the `slipway` executable; a run without an endpoint
// factory (tests) serves nothing.

/// A metric point a stage logged through the endpoint.
public struct TrackedMetric: Sendable, Hashable {
    public var key: String
    public var value: Double
    /// Milliseconds since the epoch, as the client sent it.
    public var timestamp: Millis
    public var step: Int64

    public init(key: String, value: Double, timestamp: Millis, step: Int64) {
        self.key = key
        self.value = value
        self.timestamp = timestamp
        self.step = step
    }
}

/// A file a stage stored through the endpoint, once it is complete.
public struct TrackedArtifact: Sendable, Hashable {
    /// Workspace-relative path.
    public var path: String
    /// `sha256:…` of its bytes.
    public var digest: String
    public var size: Int64

    public init(path: String, digest: String, size: Int64) {
        self.path = path
        self.digest = digest
        self.size = size
    }
}

/// A dataset a stage says it read (`mlflow.log_input`).
public struct TrackedInput: Sendable, Hashable {
    public var name: String
    public var digest: String
    public var source: String

    public init(name: String, digest: String, source: String) {
        self.name = name
        self.digest = digest
        self.source = source
    }
}

/// Where an endpoint puts what one stage logs. The run implements it over
/// the registry (``RegistryTrackingSink``); tests use a recording one.
/// Calls come from the endpoint's threads, concurrently.
public protocol TrackingSink: Sendable {
    /// Metric points, in the order logged. Buffered: they reach the registry
    /// within a fraction of a second, and all of them before the stage's gates.
    func logMetrics(_ points: [TrackedMetric]) throws
    func logParams(_ params: [KeyValue]) throws
    func setTags(_ tags: [KeyValue]) throws
    func recordArtifact(_ artifact: TrackedArtifact) throws
    /// Datasets the stage declared it read (`mlflow.log_input`).
    func logInputs(_ inputs: [TrackedInput]) throws
    /// A line for the stage's log (`[slipway] mlflow: …`).
    func note(_ message: String)
}

public struct KeyValue: Sendable, Hashable {
    public var key: String
    public var value: String
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// The stage a scope is opened for.
public struct TrackedStageInfo: Sendable, Equatable {
    public var runID: Int64
    public var stageRunID: Int64
    public var pipeline: String
    public var stage: String
    public var user: String
    /// Workspace-relative folder the stage's artifacts are written to.
    public var artifactArea: String
    public var startedAt: Millis

    public init(runID: Int64, stageRunID: Int64, pipeline: String, stage: String, user: String,
                artifactArea: String, startedAt: Millis) {
        self.runID = runID
        self.stageRunID = stageRunID
        self.pipeline = pipeline
        self.stage = stage
        self.user = user
        self.artifactArea = artifactArea
        self.startedAt = startedAt
    }
}

/// A stage's scope on the endpoint: the variables its command gets.
public struct TrackingScope: Sendable {
    /// The secret in the scope's address; identifies the scope to ``TrackingEndpoint/closeStage(_:)``.
    public var token: String
    public var environment: [String: String]

    public init(token: String, environment: [String: String]) {
        self.token = token
        self.environment = environment
    }
}

/// What a stage logged through its scope, once it is closed.
public struct TrackedStageSummary: Sendable, Equatable {
    /// Params logged to the stage's own run (not to runs it created).
    public var params: [KeyValue]
    /// Requests that reached the endpoint.
    public var requests: Int

    public init(params: [KeyValue] = [], requests: Int = 0) {
        self.params = params
        self.requests = requests
    }
}

/// A tracking endpoint serving one run. Opening it is cheap (a socket is
/// bound; nothing is served until a stage connects), so a run whose stages
/// never use it pays nothing measurable.
public protocol TrackingEndpoint: Sendable {
    func openStage(_ stage: TrackedStageInfo, sink: any TrackingSink) throws -> TrackingScope
    /// Ends the scope: its address stops answering, and what it logged is returned.
    func closeStage(_ scope: TrackingScope) -> TrackedStageSummary
    /// Stops serving; called when the run ends.
    func stop()
}

/// Makes the endpoint for one run.
public protocol TrackingEndpointFactory: Sendable {
    func start(workspace: Workspace, runID: Int64, pipeline: String) throws -> any TrackingEndpoint
}
