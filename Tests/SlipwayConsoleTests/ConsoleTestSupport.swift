import Foundation
import Synchronization
import Testing
@testable import SlipwayConsole
@testable import SlipwayStore

/// Compares text with `Snapshots/NAME.txt`. Set SLIPWAY_RECORD_SNAPSHOTS=1 to
/// re-record; a missing snapshot is recorded and the test fails once.
func assertSnapshot(_ text: String, named name: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots")
    let file = dir.appendingPathComponent(name + ".txt")
    let record = ProcessInfo.processInfo.environment["SLIPWAY_RECORD_SNAPSHOTS"] == "1"
    if record || !FileManager.default.fileExists(atPath: file.path) {
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try? (text + "\n").write(to: file, atomically: true, encoding: .utf8)
        if !record { Issue.record("recorded a new snapshot \(name); run the tests again", sourceLocation: sourceLocation) }
        return
    }
    let expected = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
    if expected != text + "\n" {
        let e = expected.split(separator: "\n", omittingEmptySubsequences: false), a = (text + "\n").split(separator: "\n", omittingEmptySubsequences: false)
        let first = zip(e, a).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(e.count, a.count)
        Issue.record("snapshot \(name) differs at line \(first + 1):\nexpected: \(first < e.count ? String(e[first]) : "<end>")\n  actual: \(first < a.count ? String(a[first]) : "<end>")\n\(text)",
                     sourceLocation: sourceLocation)
    }
}

/// A frame's text plus a style layer: `^` marks selected cells, `!` error, `+` success, `~` warning.
func styled(_ frame: ScreenBuffer) -> String {
    var out: [String] = []
    for y in 0..<frame.height {
        var line = "", marks = ""
        for x in 0..<frame.width {
            let c = frame[x, y]
            line += c.text
            let m: String
            if c.style.bg == .selection && y > 1 { m = "^" }
            else if c.style.fg == .error { m = "!" }
            else if c.style.fg == .success { m = "+" }
            else if c.style.fg == .warning { m = "~" }
            else { m = " " }
            marks += String(repeating: m, count: max(1, ScreenBuffer.width(of: c.text)) - (c.text.isEmpty ? 1 : 0))
        }
        while line.hasSuffix(" ") { line.removeLast() }
        while marks.hasSuffix(" ") { marks.removeLast() }
        out.append(line)
        if !marks.isEmpty { out.append("      style: " + marks) }
    }
    return out.joined(separator: "\n")
}

/// Gives every time in a snapshot a fixed value, so frames do not depend on
/// when the test ran: run i starts at 09:00 + i min and its stages take 4.2 s.
func normalized(_ snap: ConsoleSnapshot) -> ConsoleSnapshot {
    var s = snap
    let base: Millis = 1_795_510_800_000  // 2026-11-24 09:00:00 UTC
    func runStart(_ id: Int64) -> Millis { base + id * 60_000 }
    s.runs = s.runs.map { r in
        var r = r
        r.startedAt = runStart(r.id)
        r.heartbeatAt = r.startedAt
        if r.endedAt != nil { r.endedAt = r.startedAt + 12_600 }
        return r
    }
    if var d = s.detail {
        d.run.startedAt = runStart(d.run.id)
        if d.run.endedAt != nil { d.run.endedAt = d.run.startedAt + 12_600 }
        d.stages = d.stages.enumerated().map { i, st in
            var st = st
            if st.startedAt != nil { st.startedAt = runStart(d.run.id) + Millis(i) * 4_200 }
            if st.endedAt != nil { st.endedAt = st.startedAt! + 4_200 }
            return st
        }
        s.detail = d
    }
    s.versions = s.versions.map { v in var v = v; v.createdAt = runStart(v.runID) + 13_000; return v }
    s.audit = s.audit.map { e in var e = e; e.timestamp = base + e.seq * 1_000; return e }
    s.lanes = s.lanes.map { l in
        var l = l
        l.since = l.since.map { _ in base + 5 * 60_000 }
        l.history = l.history.map { e in var e = e; e.at = base + 5 * 60_000; return e }
        return l
    }
    s.agent = nil
    s.now = base + 10 * 60_000
    s.workspace = "/workspace"
    return s
}

/// A workspace with a few runs, a registered and promoted model, a failed
/// gate, a validation report with drift, all at fixed times.
func seededWorkspace() throws -> (Workspace, RegistryConnection) {
    setenv("TZ", "UTC", 1)
    tzset()
    let dir = NSTemporaryDirectory() + "slipway-console-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
    try """
    project: seattle-weather
    pipelines:
      weather:
        model: weather-clf
        stages:
          validate: {uses: validate, data: data/cur.csv, reference: data/ref.csv}
          train: {cmd: "true", outs: [model.json], needs: [validate]}
          evaluate: {cmd: "true", metrics: [eval.json], needs: [train], gates: {accuracy: ">= production - 0.01", latency_p95_ms: "<= 12"}}
    environments: {staging: {}, production: {}}
    """.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
    var ref = "temp,weather\n", cur = "temp,weather\n"
    for i in 0..<60 { ref += "\(i % 20),\(i % 3 == 0 ? "rain" : "sun")\n"; cur += "\(i % 20 + 9),\(i % 4 == 0 ? "sun" : "rain")\n" }
    try ref.write(toFile: dir + "/data/ref.csv", atomically: true, encoding: .utf8)
    try cur.write(toFile: dir + "/data/cur.csv", atomically: true, encoding: .utf8)
    let ws = Workspace(root: dir)
    let registry = try ws.connect()
    let prov = Provenance(gitCommit: "a1c9e03f00", gitDirty: false, user: "ana", host: "ci-1", slipwayVersion: "0.1.0")
    func run(_ status: RunStatus, stages: [(String, StageStatus, String)], metrics: [(String, String, Double)], trigger: String = "manual") throws -> RunRecord {
        let r = try registry.startRun(NewRun(pipeline: "weather", trigger: trigger, provenance: prov, pid: 999_999, params: ["train.lr": "0.05"]))
        let srs = try registry.addStageRuns(runID: r.id, stages: stages.map(\.0))
        for (sr, spec) in zip(srs, stages) {
            var x = sr
            x.status = spec.1
            x.reason = spec.2
            if spec.1 == .failed { x.exitCode = 1; x.message = "exit code 1" }
            if spec.1 != .pending { x.startedAt = SystemClock.nowMillis(); x.endedAt = spec.1 == .running ? nil : SystemClock.nowMillis() + 4_200 }
            x.logPath = ".slipway/logs/run-\(r.id)/\(spec.0).log"
            try registry.updateStageRun(x)
            try FileManager.default.createDirectory(atPath: dir + "/.slipway/logs/run-\(r.id)", withIntermediateDirectories: true)
            // Training logs hold `::metric`/`::progress` lines (hidden in the console by default);
            // a failed stage ends with an error line longer than any pane.
            var log = "epoch 1/3 loss=0.61\n::metric name=loss value=0.61 step=1\n::progress step=1 total=3\nepoch 2/3 loss=0.48\n"
                + "::metric name=loss value=0.48 step=2\n\u{1B}]0;pwned\u{07}epoch 3/3 loss=0.41\n::progress step=3 total=3\n"
            if spec.1 == .failed {
                log += "Traceback (most recent call last):\n  File \"evaluate.py\", line 41, in <module>\n"
                    + "ERROR gate check: latency_p95_ms 14.9 exceeds the limit of 12 ms after the learning-rate change (lr=0.1, warmup 200 steps, batch 512); gradient norm 1.3e+02 at the last step\n"
            }
            try log.write(toFile: dir + "/" + x.logPath!, atomically: true, encoding: .utf8)
            let points = metrics.filter { $0.0 == spec.0 }
            try registry.appendMetrics(points.enumerated().map { MetricRecord(runID: r.id, stageRunID: x.id, stage: $0.element.0, key: $0.element.1, step: Int64($0.offset), value: $0.element.2, timestamp: 0) })
        }
        if status != .running { try registry.finishRun(id: r.id, status: status, message: status == .failed ? "stage evaluate failed" : nil) }
        return try registry.run(id: r.id)!
    }
    let good: [(String, String, Double)] = [("train", "loss", 0.61), ("train", "loss", 0.48), ("train", "loss", 0.41), ("evaluate", "accuracy", 0.905), ("evaluate", "latency_p95_ms", 11.2)]
    let r1 = try run(.succeeded, stages: [("validate", .succeeded, "first run"), ("train", .succeeded, "first run"), ("evaluate", .succeeded, "first run")], metrics: good)
    _ = try registry.registerVersion(NewModelVersion(model: "weather-clf", runID: r1.id, pipeline: "weather", gitCommit: "a1c9e03f00", artifactDigest: String(repeating: "ab", count: 32), createdBy: "ana"))
    try registry.setAlias(model: "weather-clf", environment: "production", version: 1, actor: "dana", reason: "first release")
    _ = try run(.failed, stages: [("validate", .cached, "same inputs as run 1"), ("train", .succeeded, "param changed: train.lr (0.05 → 0.1)"), ("evaluate", .failed, "gate failed")],
                metrics: [("evaluate", "accuracy", 0.912), ("evaluate", "latency_p95_ms", 14.9)], trigger: "commit")
    _ = try run(.running, stages: [("validate", .cached, "same inputs as run 1"), ("train", .running, "dep changed: data/train.csv"), ("evaluate", .pending, "")],
                metrics: [("train", "loss", 0.7), ("train", "loss", 0.52), ("train", "loss", 0.44)], trigger: "drift:inputs")
    let report = try DataValidator.validate(dataPath: dir + "/data/cur.csv", dataName: "data/cur.csv", schema: nil, referencePath: dir + "/data/ref.csv", referenceName: "data/ref.csv")
    try registry.recordValidation(ValidationRecord(runID: 3, stageRunID: nil, dataset: "data/cur.csv", passed: report.passed,
                                                   report: String(decoding: try ValidationReport.encoder().encode(report), as: UTF8.self)))
    return (ws, registry)
}
