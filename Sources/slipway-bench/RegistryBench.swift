import Foundation
import SlipwayEngine
import SlipwayStore

/// The registry: listings, the audit chain, metrics, status, many versions.
extension Bench {
    /// `runs --json` against the text listing, 1,000 and 100,000 runs.
    static func runsJSON() throws {
        let dir = scratch("runs-json")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "project: bench\npipelines:\n  main:\n    stages:\n      a: {cmd: 'true'}\n".write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        let registry = try Workspace(root: dir).openRegistry()
        let provenance = Provenance(gitCommit: "abc1234def", gitDirty: false, user: "bench", host: "elsewhere", slipwayVersion: "0")
        let t0 = now()
        for i in 0..<100_000 {
            let run = try registry.startRun(NewRun(pipeline: "main", trigger: "bench", provenance: provenance, pid: 1, params: [:]))
            try registry.finishRun(id: run.id, status: i % 7 == 0 ? .failed : .succeeded, message: i % 7 == 0 ? "stage a failed: exit code 1" : nil)
        }
        let setup = now() - t0
        for limit in [1_000, 100_000] {
            var json: [Double] = [], text: [Double] = []
            for _ in 0..<9 {
                json.append(runSlipway(["runs", "--limit", String(limit), "--json"], in: dir))
                text.append(runSlipway(["runs", "--limit", String(limit)], in: dir))
            }
            report("runs --json, \(limit) runs", String(format: "%.1f ms", median(json) * 1000),
                   String(format: "text %.1f ms; min %.1f max %.1f over 9 (setup %.0f s); target <= %@",
                          median(text) * 1000, json.min()! * 1000, json.max()! * 1000, setup, limit == 1_000 ? "50 ms" : "1 s"))
        }
    }

    /// `slipway audit verify` over a trail of 1,000,000 events.
    static func auditVerifyMillion() throws {
        let dir = scratch("audit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "project: bench\npipelines:\n  main:\n    stages:\n      a: {cmd: 'true'}\n".write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        let registry = try Workspace(root: dir).openRegistry()
        let provenance = Provenance(gitCommit: "abc1234def", gitDirty: false, user: "bench", host: "elsewhere", slipwayVersion: "0")
        let t0 = now()
        // Real decision records among them: runs, gate results, versions, promotions.
        for i in 1...1_000 {
            let run = try registry.startRun(NewRun(pipeline: "main", trigger: "bench", provenance: provenance, pid: 1, params: [:]))
            try registry.recordGateResults([GateResultRecord(runID: run.id, stageRunID: 0, stage: "eval", metric: "accuracy",
                                                             condition: ">= production - 0.01", candidate: 0.9, production: 0.89,
                                                             threshold: 0.88, baselineModel: "clf", baselineVersion: 1, passed: true,
                                                             explanation: "accuracy 0.9 >= 0.89 - 0.01 = 0.88 → pass")], actor: "bench")
            try registry.finishRun(id: run.id, status: .succeeded, message: nil,
                                   registering: NewModelVersion(model: "clf", runID: run.id, pipeline: "main", gitCommit: "abc",
                                                                artifactDigest: "d\(i)", createdBy: "bench"))
            if i % 10 == 0 { try registry.setAlias(model: "clf", environment: "production", version: i, actor: "bench", reason: "bench", cause: .promotion) }
        }
        var total = try registry.latestAuditSeq()
        while total < 1_000_000 {
            let n = Int(min(10_000, 1_000_000 - total))
            try registry.appendAudit((0..<n).map { i in
                AuditDraft(actor: "bench", kind: .stageFinished, subject: "run/\(total)/stage\(i % 5)",
                           payload: AuditChain.payload(["stage": "stage\(i % 5)", "status": "succeeded", "reason": "same inputs as run 12"]))
            })
            total += Int64(n)
        }
        let setup = now() - t0
        var times: [Double] = []
        for _ in 0..<3 { times.append(runSlipway(["audit", "verify"], in: dir)) }
        report("audit verify, 1,000,000 events", String(format: "%.2f s", median(times)),
               String(format: "min %.2f max %.2f over 3 whole-process runs (setup %.0f s); target <= 3 s", times.min()!, times.max()!, setup))
    }

    static func metricsBatched() throws {
        let dir = scratch("metrics")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let registry = try SQLiteRegistry(path: dir + "/r.sqlite")
        let run = try registry.startRun(NewRun(pipeline: "p", trigger: "bench",
                                               provenance: Provenance(user: "b", host: "h", slipwayVersion: "0"), pid: getpid(), params: [:]))
        let total = 1_000_000
        let recorder = MetricsRecorder(store: registry)
        let t = now()
        for i in 0..<total {
            recorder.record(MetricRecord(runID: run.id, stageRunID: nil, stage: "train", key: i % 2 == 0 ? "loss" : "acc",
                                         step: Int64(i / 2), value: Double(i) * 1e-6, timestamp: 0))
        }
        try recorder.close()
        let rate = Double(total) / (now() - t)
        let stored = try registry.metrics(runID: run.id).count
        precondition(stored == total)
        report("metrics, batched writes", String(format: "%.0f points/s", rate),
               "1,000,000 points through MetricsRecorder into SQLite; target >= 500,000/s")
    }

    static func metricsFromLines() throws {
        let dir = scratch("lines")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let count = 500_000
        try """
        project: bench
        pipelines:
          main:
            stages:
              emit: {cmd: "awk 'BEGIN { for (i = 1; i <= \(count); i++) printf \\"::metric name=loss step=%d value=%.6f\\\\n\\", i, 1/i }'"}
        """.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        let wall = runSlipway(["run"], in: dir)
        let registry = try SQLiteRegistry(path: dir + "/.slipway/registry.sqlite")
        let stored = try registry.metrics(runID: 1).count
        precondition(stored == count, "stored \(stored)")
        let stage = try registry.stageRuns(runID: 1)[0]
        let stageSeconds = stage.duration ?? wall
        report("metrics from ::metric lines", String(format: "%.0f points/s", Double(count) / wall),
               String(format: "500,000 lines, whole `slipway run` %.2f s (stage %.2f s), all stored; target >= 50,000/s", wall, stageSeconds))
    }

    static func statusCommand() throws {
        let dir = scratch("status")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "project: bench\npipelines:\n  main:\n    stages:\n      a: {cmd: 'true'}\n".write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        for _ in 0..<20 { runSlipway(["run", "--force"], in: dir) }
        var times: [Double] = []
        for _ in 0..<25 { times.append(runSlipway(["status"], in: dir)) }
        report("slipway status", String(format: "%.1f ms", median(times) * 1000),
               String(format: "min %.1f max %.1f over 25 whole-process runs, 20 runs in the registry; target <= 30 ms",
                      times.min()! * 1000, times.max()! * 1000))
    }

    static func registryTenThousandVersions() throws {
        let dir = scratch("registry")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        project: bench
        pipelines:
          main:
            model: clf
            stages:
              evaluate: {cmd: 'true', gates: {accuracy: ">= production - 0.01", latency_ms: "<= 50"}}
        environments: {staging: {}, production: {}}
        """.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        let ws = Workspace(root: dir)
        let registry = try ws.openRegistry()
        let provenance = Provenance(gitCommit: "abc", gitDirty: false, user: "bench", host: "h", slipwayVersion: "0")
        let versions = 10_000
        let t0 = now()
        for i in 1...versions {
            let run = try registry.startRun(NewRun(pipeline: "main", trigger: "bench", provenance: provenance, pid: 1,
                                                   params: ["train.lr": "\(Double(i) * 1e-4)", "model.arch": "gbm"]))
            let stage = try registry.addStageRuns(runID: run.id, stages: ["evaluate"])[0]
            try registry.appendMetrics(["accuracy", "f1", "latency_ms", "loss"].map {
                MetricRecord(runID: run.id, stageRunID: stage.id, stage: "evaluate", key: $0, step: nil, value: Double(i % 100) / 100, timestamp: 0)
            })
            try registry.finishRun(id: run.id, status: .succeeded, message: nil)
            _ = try registry.registerVersion(NewModelVersion(model: "clf", runID: run.id, pipeline: "main", gitCommit: "abc",
                                                             artifactDigest: "d\(i)", createdBy: "bench"))
            if i % 10 == 0 { try registry.setAlias(model: "clf", environment: i % 20 == 0 ? "production" : "staging", version: i, actor: "bench", reason: "bench", cause: .promotion) }
        }
        let setup = now() - t0
        var lookups: [Double] = []
        for _ in 0..<2_000 {
            let t = now()
            _ = try registry.alias(model: "clf", environment: "production", at: nil)
            lookups.append(now() - t)
        }
        var compare: [Double] = [], show: [Double] = []
        for _ in 0..<15 {
            compare.append(runSlipway(["compare", "clf:9000", "clf:10000"], in: dir))
            show.append(runSlipway(["models", "show", "clf:5000"], in: dir))
        }
        report("alias lookup, 10,000 versions", String(format: "%.3f ms", median(lookups) * 1000),
               String(format: "p99 %.3f ms over 2,000 in-process lookups (setup %.0f s); target <= 0.5 ms",
                      lookups.sorted()[Int(Double(lookups.count) * 0.99)] * 1000, setup))
        report("slipway compare, 10,000 versions", String(format: "%.1f ms", median(compare) * 1000),
               String(format: "min %.1f max %.1f over 15 whole-process runs; target <= 30 ms", compare.min()! * 1000, compare.max()! * 1000))
        report("slipway models show, 10,000 versions", String(format: "%.1f ms", median(show) * 1000),
               String(format: "min %.1f max %.1f over 15 whole-process runs; target <= 30 ms", show.min()! * 1000, show.max()! * 1000))
    }
}
