import Foundation
import SlipwayStore

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
        let now = SystemClock.nowMillis()
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
