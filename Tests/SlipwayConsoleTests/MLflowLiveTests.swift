import Foundation
import Testing
@testable import SlipwayConsole
@testable import SlipwayEngine
@testable import SlipwayStore
@testable import SlipwayTracking

/// Metrics a training script logs through the MLflow endpoint appear in the
/// console while the stage still runs, as `::metric` lines do.
@Suite struct MLflowLiveTests {
    @Test func pointsLoggedThroughMLflowAppearWhileTheStageRuns() throws {
        let dir = NSTemporaryDirectory() + "slipway-console-mlflow-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/.slipway", withIntermediateDirectories: true)
        try "project: live\npipelines:\n  main:\n    stages:\n      train: {cmd: \"true\"}\n"
            .write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        let ws = Workspace(root: dir)
        let registry = try ws.connect()
        let run = try registry.startRun(NewRun(pipeline: "main", trigger: "manual",
                                               provenance: Provenance(user: "ana", host: "h", slipwayVersion: "0"), pid: getpid(), params: [:]))
        var stage = try registry.addStageRuns(runID: run.id, stages: ["train"])[0]
        stage.status = .running
        stage.startedAt = SystemClock.nowMillis()
        try registry.updateStageRun(stage)

        let recorder = MetricsRecorder(store: registry)
        let service = TrackingService(workspace: ws, pipeline: "main")
        let sink = RegistryTrackingSink(registry: registry, metrics: recorder, stageRun: stage, logPath: dir + "/train.log")
        let opened = service.open(stage: TrackedStageInfo(runID: run.id, stageRunID: stage.id, pipeline: "main", stage: "train", user: "ana",
                                                          artifactArea: "mlflow-artifacts/train", startedAt: 0), sink: sink)
        guard case .scope(let scope, _) = service.access(path: "/\(opened.token)/api/2.0/mlflow/runs/get", authorization: nil) else {
            Issue.record("no scope"); return
        }
        func logBatch(_ values: [Double], from step: Int) {
            let metrics = values.enumerated().map { #"{"key":"val_loss","value":\#($0.element),"timestamp":\#(1000 + step + $0.offset),"step":\#(step + $0.offset)}"# }
            let body = #"{"run_id":"\#(opened.runID)","metrics":[\#(metrics.joined(separator: ","))]}"#
            let r = service.handle(TrackingRequest(method: "POST", path: "/api/2.0/mlflow/runs/log-batch", body: Array(body.utf8)), scope: scope)
            #expect(r.status == 200)
            recorder.flush()  // what the recorder's timer does within 0.2 s
        }
        func frame() -> String {
            var s = ConsoleState()
            s.width = 100
            s.height = 30
            _ = s.update(.data(ConsoleLoader(workspace: ws, registry: registry).load(selectedRun: run.id, selectedModel: nil)))
            return ConsoleView.render(s).text
        }

        logBatch([0.9, 0.7], from: 1)
        let first = frame()
        #expect(first.contains("metrics · train"), "\(first)")
        #expect(first.contains("val_loss") && first.contains("0.7") && first.contains("(2 pts)"), "\(first)")
        logBatch([0.5, 0.42, 0.31], from: 3)
        let later = frame()
        #expect(later.contains("0.31") && later.contains("(5 pts)"), "\(later)")
        try recorder.close()
    }
}
