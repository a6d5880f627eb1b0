import Foundation

/// What a stage logs through the tracking endpoint, into the run's record:
/// metric points join the run's metric store (through the run's
/// ``MetricsRecorder``, so the console draws them live and gates read them
/// by name), params, tags, artifacts and inputs are kept per stage run,
/// notes go to the stage's log.
public final class RegistryTrackingSink: TrackingSink, @unchecked Sendable {
    let registry: any Registry
    let metrics: MetricsRecorder
    let stageRun: StageRunRecord
    let logPath: String

    public init(registry: any Registry, metrics: MetricsRecorder, stageRun: StageRunRecord, logPath: String) {
        self.registry = registry
        self.metrics = metrics
        self.stageRun = stageRun
        self.logPath = logPath
    }

    public func logMetrics(_ points: [TrackedMetric]) throws {
        metrics.enqueue(points.map {
            MetricRecord(runID: stageRun.runID, stageRunID: stageRun.id, stage: stageRun.stage, key: $0.key, step: $0.step,
                         value: $0.value, timestamp: $0.timestamp)
        })
    }

    public func logParams(_ params: [KeyValue]) throws { try record(.param, params.map { ($0.key, $0.value, nil) }) }

    public func setTags(_ tags: [KeyValue]) throws { try record(.tag, tags.map { ($0.key, $0.value, nil) }) }

    public func recordArtifact(_ artifact: TrackedArtifact) throws {
        try record(.artifact, [(artifact.path, artifact.digest, artifact.size)])
    }

    public func logInputs(_ inputs: [TrackedInput]) throws {
        try record(.input, inputs.map { ($0.name, $0.digest + ($0.source.isEmpty ? "" : " " + $0.source), nil) })
    }

    private func record(_ kind: TrackedValueRecord.Kind, _ values: [(String, String, Int64?)]) throws {
        let now = Clock.nowMillis()
        try registry.recordTracked(values.map {
            TrackedValueRecord(runID: stageRun.runID, stageRunID: stageRun.id, stage: stageRun.stage, kind: kind,
                               key: $0.0, value: $0.1, size: $0.2, at: now)
        })
    }

    public func note(_ message: String) { StageLog.append(logPath, "[slipway] mlflow: " + message) }
}

/// Lines slipway adds to a stage's log beside the command's own output.
enum StageLog {
    /// Appends one line (O_APPEND: it lands whole beside what the command writes).
    static func append(_ path: String, _ line: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        // Control characters (from a request's path, say) never reach the log.
        let clean = String(String.UnicodeScalarView(line.unicodeScalars.map {
            $0.value < 0x20 || (0x7f...0x9f).contains($0.value) ? "?" : $0
        }))
        let bytes = Array((clean + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}

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

    func stop() {
        if case .success(let e)? = lock.withLock({ started }) { e.stop() }
    }
}
