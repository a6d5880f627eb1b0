import Foundation
import SlipwayEngine

/// SlipwayTracking: an MLflow-compatible tracking endpoint a run serves to
/// its stages, so training code that logs with MLflow logs into the run
/// unchanged (docs/mlflow.md).
///
/// - ``TrackingService``: MLflow's REST API over stage scopes (no HTTP);
/// - ``TrackingServer``: HTTP/1.1 on loopback through SwiftNIO;
/// - ``MLflowEndpointFactory``: the engine's ``TrackingEndpointFactory``.
///
/// Only the commands that run pipelines link this target.
public struct MLflowEndpointFactory: TrackingEndpointFactory {
    public init() {}

    public func start(workspace: Workspace, runID: Int64, pipeline: String) throws -> any TrackingEndpoint {
        let service = TrackingService(workspace: workspace, pipeline: pipeline)
        return MLflowEndpoint(service: service, server: try TrackingServer(service: service), pipeline: pipeline)
    }
}

/// One run's endpoint: a stage's scope is its token; its variables point
/// the MLflow client at it.
public final class MLflowEndpoint: TrackingEndpoint, @unchecked Sendable {
    public let service: TrackingService
    public let server: TrackingServer
    let pipeline: String

    public init(service: TrackingService, server: TrackingServer, pipeline: String) {
        self.service = service
        self.server = server
        self.pipeline = pipeline
    }

    /// The address a stage's client uses: the token is the first part of the path. Not
    /// `MLFLOW_TRACKING_TOKEN`: the client lets a user name and password (from the
    /// environment or `~/.mlflow/credentials`) replace that header, and a stage that sends
    /// its data to another server by setting only `MLFLOW_TRACKING_URI` would send it there.
    public func uri(token: String) -> String { "http://127.0.0.1:\(server.port)/\(token)" }

    public func openStage(_ stage: TrackedStageInfo, sink: any TrackingSink) throws -> TrackingScope {
        let opened = service.open(stage: stage, sink: sink)
        return TrackingScope(token: opened.token, environment: [
            "MLFLOW_TRACKING_URI": uri(token: opened.token),
            "MLFLOW_RUN_ID": opened.runID,
            "MLFLOW_EXPERIMENT_ID": opened.experimentID,
            "MLFLOW_EXPERIMENT_NAME": pipeline,
            // The client prints "View run … at: URI" when a run ends: a link to a UI
            // this endpoint does not have, and the token in the stage's log.
            "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        ])
    }

    public func closeStage(_ scope: TrackingScope) -> TrackedStageSummary {
        service.close(token: scope.token)
    }

    public func stop() { server.stop() }
}
