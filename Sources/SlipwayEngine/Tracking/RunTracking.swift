import Foundation
import SlipwayStore

/// A run's tracking endpoint, started when its first command stage starts
/// (a run whose stages all come from the cache binds nothing) and stopped
/// when the run ends.
final class RunTracking: @unchecked Sendable {
    let factory: any TrackingEndpointFactory
    let workspace: Workspace
    let runID: Int64
    let pipeline: String
    private let lock = NSLock()
    private var started: Result<any TrackingEndpoint, TrackingUnavailable>?

    struct TrackingUnavailable: Error { var reason: String }

    init(factory: any TrackingEndpointFactory, workspace: Workspace, runID: Int64, pipeline: String) {
        self.factory = factory
        self.workspace = workspace
        self.runID = runID
        self.pipeline = pipeline
    }

    /// The folder a stage's artifacts are written to.
    static func artifactArea(stage: String) -> String { "mlflow-artifacts/" + stage }

    func endpoint() -> Result<any TrackingEndpoint, TrackingUnavailable> {
        lock.withLock {
            if let started { return started }
            let r: Result<any TrackingEndpoint, TrackingUnavailable>
            do { r = .success(try factory.start(workspace: workspace, runID: runID, pipeline: pipeline)) } catch {
                r = .failure(TrackingUnavailable(reason: "\(error)"))
            }
            started = r
            return r
        }
    }

    /// Opens the stage's scope (its artifact area already cleared). Nil
    /// when the endpoint could not start: said in the stage's log and as a
    /// warning, and the stage runs without it.
    func open(stage: String, record: StageRunRecord, run: RunRecord, logPath: String, registry: any Registry,
              metrics: MetricsRecorder, warnings: inout [String]) -> StageTracking? {
        let area = Self.artifactArea(stage: stage)
        switch endpoint() {
        case .failure(let unavailable):
            StageLog.append(logPath, "[slipway] mlflow: no tracking endpoint for this run: \(unavailable.reason)")
            warnings.append("no MLflow tracking endpoint: \(unavailable.reason)")
            return nil
        case .success(let endpoint):
            let info = TrackedStageInfo(runID: run.id, stageRunID: record.id, pipeline: pipeline, stage: stage,
                                        user: run.user, artifactArea: area, startedAt: record.startedAt ?? SystemClock.nowMillis())
            let sink = RegistryTrackingSink(registry: registry, metrics: metrics, stageRun: record, logPath: logPath)
            do {
                return StageTracking(endpoint: endpoint, scope: try endpoint.openStage(info, sink: sink), logPath: logPath)
            } catch {
                StageLog.append(logPath, "[slipway] mlflow: no tracking scope for this stage: \(error)")
                warnings.append("no MLflow tracking scope: \(error)")
                return nil
            }
        }
    }

    func stop() {
        if case .success(let e)? = lock.withLock({ started }) { e.stop() }
    }
}

/// One stage's scope on the run's endpoint, from before its command starts
/// until it ends.
struct StageTracking {
    let endpoint: any TrackingEndpoint
    let scope: TrackingScope
    let logPath: String

    /// The variables the stage's command gets (`MLFLOW_TRACKING_URI` …).
    var environment: [String: String] { scope.environment }

    /// Closes the scope. The warnings: each param the stage logged that
    /// differs from the one it declares (also written to its log).
    func close(declared keys: [String], params: Params) -> [String] {
        let summary = endpoint.closeStage(scope)
        var declared: [String: String] = [:]
        for key in keys { declared[key] = params[key] ?? "" }
        return LoggedParamCheck.mismatches(logged: summary.params.map { ($0.key, $0.value) }, declared: declared).map {
            StageLog.append(logPath, "[slipway] warning: \($0)")
            return $0.description
        }
    }
}
