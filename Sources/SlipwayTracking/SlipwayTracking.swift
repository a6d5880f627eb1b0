/// SlipwayTracking: an MLflow-compatible tracking endpoint a run serves to
/// its stages, so training code that logs with MLflow logs into the run
/// unchanged (docs/mlflow.md).
///
/// - ``TrackingService``: MLflow's REST API over stage scopes (no HTTP; tests
///   call it directly);
/// - ``TrackingServer``: HTTP/1.1 on loopback through SwiftNIO;
/// - ``TrackingHost``: the `slipway-mlflow` executable a run starts when a stage
///   first connects (the engine's `HelperEndpoint` is its other end).
///
/// The `slipway` executable does not link this target.
enum SlipwayTracking {}
