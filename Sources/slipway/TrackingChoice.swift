import SlipwayEngine
#if !SLIPWAY_WITHOUT_TRACKING
import SlipwayTracking
#endif

/// The MLflow-compatible endpoint a run serves (docs/mlflow.md), or none in a build made
/// with `SLIPWAY_WITHOUT_TRACKING=1` in the environment of `swift build`. That build
/// exists to measure what the serving code (SwiftNIO) costs the commands that do not
/// serve (docs/benchmarks.md); its runs serve no endpoint, so a stage sees whatever
/// `MLFLOW_TRACKING_URI` the shell that started the run exported, if any.
enum TrackingChoice {
    static var factory: (any TrackingEndpointFactory)? {
        #if SLIPWAY_WITHOUT_TRACKING
        return nil
        #else
        return MLflowEndpointFactory()
        #endif
    }
}
