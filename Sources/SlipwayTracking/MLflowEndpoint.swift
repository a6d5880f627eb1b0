import Foundation
import SlipwayEngine

/// SlipwayTracking: an MLflow-compatible tracking endpoint a run serves to
/// its stages, so training code that logs with MLflow logs into the run
/// unchanged (docs/mlflow.md).
///
/// - ``TrackingService``: MLflow's REST API over stage scopes (no HTTP);
/// - ``TrackingServer``: HTTP/1.1 on loopback through SwiftNIO;
/// - ``TrackingHost``: the `slipway-mlflow` executable a run starts when a stage
///   first connects (the engine's ``HelperEndpoint`` is its other end);
/// - ``MLflowEndpointFactory``: the same endpoint inside the calling process (tests).
///
/// The `slipway` executable does not link this target.
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

    /// The address a stage's client uses (``TrackingAddress/uri(port:token:)``).
    public func uri(token: String) -> String { TrackingAddress.uri(port: server.port, token: token) }

    public func openStage(_ stage: TrackedStageInfo, sink: any TrackingSink) throws -> TrackingScope {
        let opened = service.open(stage: stage, sink: sink)
        return TrackingScope(token: opened.token, environment: TrackingAddress.environment(
            port: server.port, token: opened.token, runID: opened.runID, pipeline: pipeline))
    }

    public func closeStage(_ scope: TrackingScope) -> TrackedStageSummary {
        service.close(token: scope.token)
    }

    public func stop() { server.stop() }
}
