import SlipwayEngine
#if !SLIPWAY_WITHOUT_TRACKING
import SlipwayTracking
#endif

/// The MLflow-compatible endpoint a run serves (docs/mlflow.md), or none in a build made
/// with `SLIPWAY_WITHOUT_TRACKING=1` in the environment of `swift build`. That build
/// exists to measure what the serving code (SwiftNIO) costs the commands that do not
/// serve (docs/benchmarks.md); its runs give stages no `MLFLOW_TRACKING_URI`.
enum TrackingChoice {
    static var factory: (any TrackingEndpointFactory)? {
        #if SLIPWAY_WITHOUT_TRACKING
        return nil
        #else
        return MLflowEndpointFactory()
        #endif
    }
}
