import Foundation
import SlipwayEngine
import SlipwayStore

/// Benchmarks for docs/benchmarks.md. Build and run in release mode:
///
///     swift build -c release && .build/release/slipway-bench [NAME…]
///
/// Each benchmark prints one line: what it measured, the median (and spread)
/// of its repetitions, and the target. Whole-process timings run the real
/// `slipway` binary found next to this one.
@main
struct Bench {
    static let all: [(String, @Sendable () throws -> Void)] = [
        ("hash", hashLargeFile),
        ("noop-rerun", noopRerun),
        ("metrics-batched", metricsBatched),
        ("metrics-lines", metricsFromLines),
        ("status", statusCommand),
        ("registry-10k", registryTenThousandVersions),
        ("validate-1m", validateMillionRows),
        ("console-100k", consoleLargeRegistry),
        ("console-matrix", consoleMatrixRun),
        ("noop-rerun-git", noopRerunInGit),
        ("runs-json", runsJSON),
        ("audit-verify-1m", auditVerifyMillion),
        ("package-1g", packageGiB),
        ("rollback", rollbackCommand),
        ("ingest-100k", ingestBatch),
        ("drift-json-10k", driftJSON),
        ("agent-idle", agentIdle),
        ("slurm-submit", slurmSubmitOverhead),
        ("slurm-noop-rerun", slurmNoopRerun),
        ("mlflow-batch", mlflowBatchLatency),
        ("mlflow-concurrent", mlflowConcurrent),
        ("mlflow-100k", mlflowHundredThousand),
        ("scale", scalePipelines),
        ("lint-10k", lintLargeSpec),
        ("pg-metrics", postgresMetrics),
        ("canary-5xx", canaryFiveHundreds),
        ("pg-200k", postgresLargeRegistry),
    ]

    static func main() throws {
        let chosen = CommandLine.arguments.dropFirst()
        for (name, body) in all where chosen.isEmpty || chosen.contains(name) {
            try body()
        }
    }

    static let slipway: String = {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("slipway").path
    }()

    static let keep = ProcessInfo.processInfo.environment["BENCH_KEEP"] != nil

    static func scratch(_ name: String) -> String {
        let dir = (ProcessInfo.processInfo.environment["BENCH_DIR"] ?? NSTemporaryDirectory()) + "/slipway-bench-\(name)-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes `bytes` pseudo-random bytes (not compressible, not all zero).
    static func makeFile(_ path: String, bytes: Int, seed: UInt64) {
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        precondition(fd >= 0)
        var state = seed | 1
        let chunk = 1 << 20
        var buffer = [UInt64](repeating: 0, count: chunk / 8)
        var written = 0
        while written < bytes {
            for i in 0..<buffer.count {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                buffer[i] = state
            }
            let n = min(chunk, bytes - written)
            _ = buffer.withUnsafeBytes { write(fd, $0.baseAddress, n) }
            written += n
        }
        close(fd)
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func report(_ name: String, _ value: String, _ detail: String) {
        print(name.padding(toLength: 40, withPad: " ", startingAt: 0) + value.padding(toLength: 22, withPad: " ", startingAt: 0) + detail)
        fflush(nil)
    }

    /// Runs the slipway binary (posix_spawn + waitpid, so the timing is the
    /// process's own and not a polling interval); returns wall seconds.
    @discardableResult
    static func runSlipway(_ args: [String], in dir: String, expect: Int32 = 0) -> Double {
        timedWithRSS([slipway, "-C", dir] + args, expect: [expect]).0
    }

    // MARK: - Benchmarks

    static func hashLargeFile() throws {
        let dir = scratch("hash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let size = 1 << 30
        makeFile(dir + "/big.bin", bytes: size, seed: 42)
        var rates: [Double] = []
        for _ in 0..<5 {
            let t = now()
            _ = try FileHasher.sha256(file: dir + "/big.bin")
            rates.append(Double(size) / (now() - t) / 1e9)
        }
        report("hash 1 GiB file (SHA-256)", String(format: "%.2f GB/s", median(rates)),
               String(format: "min %.2f max %.2f over 5; target >= 1.1 GB/s (file in page cache)", rates.min()!, rates.max()!))
    }

    /// Five stages in a chain, each reading a 205 MiB input (1 GiB in all) and writing a small out.
    static func makeFiveStagePipeline(in dir: String) throws {
        var stages = ""
        for i in 1...5 {
            makeFile(dir + "/input\(i).bin", bytes: 205 << 20, seed: UInt64(i))
            let needs = i > 1 ? ", needs: [s\(i - 1)]" : ""
            stages += "      s\(i): {cmd: \"wc -c < input\(i).bin > out\(i).txt\", deps: [input\(i).bin], outs: [out\(i).txt]\(needs)}\n"
        }
        try "project: bench\npipelines:\n  main:\n    stages:\n\(stages)".write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
    }

    static func noopRerun() throws {
        let dir = scratch("noop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeFiveStagePipeline(in: dir)
        let first = runSlipway(["run"], in: dir)
        var times: [Double] = []
        for _ in 0..<15 { times.append(runSlipway(["run"], in: dir)) }
        report("no-op re-run, 5 stages, 1 GiB deps", String(format: "%.1f ms", median(times) * 1000),
               String(format: "min %.1f max %.1f over 15 whole-process runs (first run %.2f s); target <= 50 ms",
                      times.min()! * 1000, times.max()! * 1000, first))
    }

    /// The no-op re-run again, in the case users meet: the workspace inside a
    /// git repository with 2,000 tracked files and 50 commits of history.
    static func noopRerunInGit() throws {
        let dir = scratch("noop-git")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeFiveStagePipeline(in: dir)
        try "*.bin\nout*.txt\n.slipway/\n".write(toFile: dir + "/.gitignore", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        let git = ["git", "-C", dir, "-c", "user.email=b@example.org", "-c", "user.name=B"]
        _ = sh(git + ["init", "-q"])
        for c in 0..<50 {
            for f in stride(from: c, to: 2_000, by: 50) {
                try "file \(f) at commit \(c)\n".write(toFile: dir + "/src/f\(f).py", atomically: false, encoding: .utf8)
            }
            _ = sh(git + ["add", "-A"])
            _ = sh(git + ["commit", "-q", "-m", "commit \(c)"])
        }
        let first = runSlipway(["run"], in: dir)
        var times: [Double] = []
        for _ in 0..<15 { times.append(runSlipway(["run"], in: dir)) }
        let t0 = now()
        for _ in 0..<100 { _ = GitState.read(workspace: Workspace(root: dir)) }
        let provenance = (now() - t0) / 100
        report("no-op re-run in a git work tree", String(format: "%.1f ms", median(times) * 1000),
               String(format: "min %.1f max %.1f over 15 runs (first %.2f s); provenance %.2f ms; 2,000 tracked files; target <= 50 ms, provenance <= 10 ms",
                      times.min()! * 1000, times.max()! * 1000, first, provenance * 1000))
    }

    /// Packaging a 1 GiB model (the package stage forced to run) and verifying
    /// the image, against `openssl dgst -sha256` over the same file.
    static func packageGiB() throws {
        let dir = scratch("package")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        makeFile(dir + "/model.bin", bytes: 1 << 30, seed: 7)
        try """
        project: bench
        pipelines:
          main:
            model: big
            stages:
              package: {uses: package, model: model.bin}
        """.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        runSlipway(["run"], in: dir)
        var openssl: [Double] = [], package: [Double] = [], verify: [Double] = []
        for _ in 0..<5 {
            openssl.append(timedWithRSS(["/usr/bin/openssl", "dgst", "-sha256", dir + "/model.bin"], expect: [0]).0)
            package.append(runSlipway(["run", "--force"], in: dir))
            verify.append(runSlipway(["verify", "big"], in: dir))
        }
        var noop: [Double] = []
        for _ in 0..<9 { noop.append(runSlipway(["run"], in: dir)) }
        let base = median(openssl)
        report("no-op re-run, cached 1 GiB package stage", String(format: "%.1f ms", median(noop) * 1000),
               String(format: "min %.1f max %.1f over 9; target <= 50 ms", noop.min()! * 1000, noop.max()! * 1000))
        report("package a 1 GiB model", String(format: "%.2f s (%.2f×)", median(package), median(package) / base),
               String(format: "openssl dgst %.2f s; whole `run --force` of a one-stage pipeline, 5 runs; target <= 1.5×", base))
        report("verify that image", String(format: "%.2f s (%.2f×)", median(verify), median(verify) / base),
               "whole `slipway verify`, 5 runs; target <= 1.2×")
    }

    /// `slipway rollback production` with the local target, 1,000 versions promoted in turn.
    static func rollbackCommand() throws {
        let dir = scratch("rollback")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        project: bench
        pipelines:
          main:
            model: clf
            stages:
              evaluate: {cmd: 'true'}
        environments: {staging: {}, production: {}}
        """.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        let registry = try Workspace(root: dir).openRegistry()
        let provenance = Provenance(gitCommit: "abc", gitDirty: false, user: "bench", host: "h", slipwayVersion: "0")
        for i in 1...1_000 {
            let run = try registry.startRun(NewRun(pipeline: "main", trigger: "bench", provenance: provenance, pid: 1, params: [:]))
            try registry.finishRun(id: run.id, status: .succeeded, message: nil,
                                   registering: NewModelVersion(model: "clf", runID: run.id, pipeline: "main", gitCommit: "abc",
                                                                artifactDigest: "d\(i)", createdBy: "bench"))
            try registry.setAlias(model: "clf", environment: "production", version: i, actor: "bench", reason: "promoted", cause: .promotion)
        }
        var times: [Double] = []
        for i in 0..<10 {
            times.append(runSlipway(i % 2 == 0 ? ["rollback", "production"] : ["rollback", "production", "--to", "1000"], in: dir))
        }
        report("slipway rollback production", String(format: "%.1f ms", median(times) * 1000),
               String(format: "min %.1f max %.1f over 10 whole-process runs, 1,000 versions in the history; target <= 100 ms",
                      times.min()! * 1000, times.max()! * 1000))
    }

    /// A CSV of `rows` × `features` numbers (`f0`…), shifted by `shift`.
    static func writeFeatures(_ path: String, rows: Int, features: Int, seed: UInt64, shift: Double) {
        var state = seed | 1
        var out = (0..<features).map { "f\($0)" }.joined(separator: ",") + "\n"
        out.reserveCapacity(rows * features * 8)
        for _ in 0..<rows {
            for f in 0..<features {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                let v = Double(state % 100_000) / 1000 + shift * Double(f % 3)
                out += String(format: "%.3f", v)
                out += f == features - 1 ? "\n" : ","
            }
        }
        try! out.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static let monitorSpec = """
    project: bench
    pipelines:
      retrain:
        model: clf
        triggers: [commit, {drift: inputs}]
        stages:
          train: {cmd: 'true'}
    environments: {staging: {}, production: {}}
    monitors:
      inputs: {reference: data/reference.csv, method: psi, threshold: 0.2, cooldown: 6h, incoming: incoming}
    """

    /// A workspace with a monitor whose reference is 100,000 × 20, and
    /// `history` batches of 20 scores already recorded.
    static func monitorWorkspace(_ name: String, history: Int) throws -> (String, any Registry) {
        let dir = scratch(name)
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        try monitorSpec.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        writeFeatures(dir + "/data/reference.csv", rows: 100_000, features: 20, seed: 7, shift: 0)
        let registry = try Workspace(root: dir).openRegistry()
        for i in 0..<history {
            let scores = (0..<20).map { f in
                MonitorScoreRecord(monitor: "inputs", feature: "f\(f)", method: "PSI", score: Double((i * 7 + f) % 50) / 100, threshold: 0.2,
                                   drifted: (i * 7 + f) % 50 >= 20, histogram: "{}")
            }
            _ = try registry.recordBatch(NewBatch(batch: MonitorBatchRecord(monitor: "inputs", contentHash: "history-\(i)", source: "h\(i).csv", rows: 1000,
                                                                            receivedAt: SystemClock.nowMillis() - Millis(history - i) * 60_000, status: .calm,
                                                                            driftedFeatures: 0, features: 20, driftShare: 0, reason: "", performance: "{}"),
                                                  scores: scores))
        }
        return (dir, registry)
    }

    /// `monitor ingest` of a 100,000-row × 20-feature batch, whole process,
    /// its scores stored, against a 100,000-row reference, 1,000 batches of history.
    static func ingestBatch() throws {
        let (dir, _) = try monitorWorkspace("ingest", history: 1_000)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var times: [Double] = []
        for i in 0..<5 {
            let batch = dir + "/batch\(i).csv"
            writeFeatures(batch, rows: 100_000, features: 20, seed: UInt64(100 + 2 * i), shift: 0.05)  // seeds differ after `| 1`
            times.append(runSlipway(["monitor", "ingest", "inputs", batch], in: dir))
        }
        report("monitor ingest 100k × 20", String(format: "%.0f ms", median(times) * 1000),
               String(format: "min %.0f max %.0f over 5 whole-process runs, reference 100k × 20, 1,000 batches of history; target <= 500 ms",
                      times.min()! * 1000, times.max()! * 1000))
    }

    /// `drift --json` over 10,000 batches of 20 features.
    static func driftJSON() throws {
        let (dir, _) = try monitorWorkspace("drift-json", history: 10_000)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var times: [Double] = []
        for _ in 0..<9 { times.append(runSlipway(["drift", "--json"], in: dir)) }
        report("drift --json, 10,000 batches", String(format: "%.1f ms", median(times) * 1000),
               String(format: "min %.1f max %.1f over 9 whole-process runs, 20 features, 50 batches of history each; target <= 50 ms",
                      times.min()! * 1000, times.max()! * 1000))
    }

    /// The agent idle for 30 s in a git work tree with a monitor's drop
    /// folder, a commit trigger and environments: its CPU time over wall time.
    static func agentIdle() throws {
        let (dir, _) = try monitorWorkspace("agent-idle", history: 1_000)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for args in [["init", "-q"], ["add", "-A"], ["-c", "user.email=b@x", "-c", "user.name=b", "commit", "-q", "-m", "bench"]] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["git", "-C", dir] + args
            try p.run()
            p.waitUntilExit()
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: slipway)
        p.arguments = ["-C", dir, "agent", "--quiet"]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        func cpu() -> Double {
            let text = (try? String(contentsOfFile: "/proc/\(p.processIdentifier)/stat", encoding: .utf8)) ?? ""
            let fields = text.split(separator: ")").last?.split(separator: " ") ?? []
            // utime and stime are fields 14 and 15; after ")" they are at 11 and 12.
            guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
            return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
        sleep(3)  // started, first passes done
        let c0 = cpu(), t0 = now()
        sleep(30)
        let used = cpu() - c0, wall = now() - t0
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        report("agent idle", String(format: "%.2f %% CPU", used / wall * 100),
               String(format: "%.2f s CPU over %.0f s, a pass a second: git HEAD, a drop folder, a monitor, environments; target <= 1 %%", used, wall))
    }

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

    /// Writes `rows` × `columns` CSV of numbers with six decimals.
    static func makeCSV(_ path: String, rows: Int, columns: Int, seed: UInt64, shift: Double) {
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        precondition(fd >= 0)
        var out = [UInt8]()
        out.reserveCapacity(1 << 22)
        out += Array((0..<columns).map { "f\($0)" }.joined(separator: ",").utf8) + [10]
        var state = seed | 1
        var digits = [UInt8](repeating: 0, count: 24)
        for _ in 0..<rows {
            for c in 0..<columns {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                // A value with six decimals, in [-500, 500) plus a per-column offset.
                let micro = Int64(state % 1_000_000_000) - 500_000_000 + Int64((Double(c) + shift) * 1_000_000)
                var v = micro < 0 ? -micro : micro
                var n = 0
                repeat { digits[n] = UInt8(48 + v % 10); v /= 10; n += 1 } while v > 0 || n < 7
                if micro < 0 { out.append(45) }
                for k in stride(from: n - 1, through: 6, by: -1) { out.append(digits[k]) }
                out.append(46)
                for k in stride(from: 5, through: 0, by: -1) { out.append(digits[k]) }
                out.append(c == columns - 1 ? 10 : 44)
            }
            if out.count > 1 << 22 { _ = out.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }; out.removeAll(keepingCapacity: true) }
        }
        _ = out.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    static func validateMillionRows() throws {
        let dir = scratch("validate")
        defer { if !keep { try? FileManager.default.removeItem(atPath: dir) } }
        makeCSV(dir + "/ref.csv", rows: 1_000_000, columns: 20, seed: 1, shift: 0)
        makeCSV(dir + "/cur.csv", rows: 1_000_000, columns: 20, seed: 2, shift: 0.2)
        var schema = "columns:\n"
        for c in 0..<20 { schema += "  f\(c): {type: float, min: -1000, max: 1000, max_missing: 0, drift: {method: ks}}\n" }
        try schema.write(toFile: dir + "/schema.yaml", atomically: true, encoding: .utf8)
        let size = (try FileManager.default.attributesOfItem(atPath: dir + "/cur.csv")[.size] as? Int) ?? 0
        var times: [Double] = []
        var rss: [Int] = []
        for _ in 0..<3 {
            let (t, maxrss) = timedWithRSS([slipway, "data", "check", dir + "/cur.csv", "--schema", dir + "/schema.yaml",
                                            "--reference", dir + "/ref.csv", "--json"], expect: [0, 3])
            times.append(t)
            rss.append(maxrss)
        }
        report("validate 1M x 20 vs 1M x 20", String(format: "%.2f s", median(times)),
               String(format: "min %.2f max %.2f over 3 whole-process runs; 2 x %.0f MB CSV; peak RSS %d MB; target <= 3 s, <= 400 MB",
                      times.min()!, times.max()!, Double(size) / 1e6, rss.max()! / 1024))
    }

    /// Runs a command; returns wall seconds and the child's peak RSS in KiB.
    static func timedWithRSS(_ argv: [String], expect: Set<Int32>) -> (Double, Int) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let t = now()
        let rc = cargs.withUnsafeBufferPointer { posix_spawn(&pid, argv[0], &actions, nil, UnsafeMutablePointer(mutating: $0.baseAddress!), environ) }
        precondition(rc == 0)
        var status: Int32 = 0
        var usage = rusage()
        wait4(pid, &status, 0, &usage)
        let elapsed = now() - t
        precondition(expect.contains((status >> 8) & 0xff), "\(argv) exited \((status >> 8) & 0xff)")
        return (elapsed, Int(usage.ru_maxrss))
    }

    /// Runs a command to completion; returns its stdout.
    @discardableResult
    static func sh(_ argv: [String]) -> String {
        let out = NSTemporaryDirectory() + "bench-sh-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_TRUNC, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        guard cargs.withUnsafeBufferPointer({ posix_spawnp(&pid, argv[0], &actions, nil, UnsafeMutablePointer(mutating: $0.baseAddress!), environ) }) == 0 else { return "" }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }

    static func cpuTicks(_ pid: String) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
    }

    static func consoleLargeRegistry() throws {
        let dir = scratch("console")
        defer { if !keep { try? FileManager.default.removeItem(atPath: dir) } }
        try """
        project: bench
        pipelines:
          main:
            model: clf
            stages:
              train: {cmd: 'true'}
              evaluate: {cmd: 'true', needs: [train], gates: {accuracy: ">= production - 0.01"}}
        environments: {staging: {}, production: {}}
        """.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        let ws = Workspace(root: dir)
        let registry = try ws.openRegistry()
        let provenance = Provenance(gitCommit: "abc1234", gitDirty: false, user: "bench", host: "elsewhere", slipwayVersion: "0")
        let runs = 100_000, pointsPerRun = 100
        let t0 = now()
        var batch: [MetricRecord] = []
        for i in 1...runs {
            let run = try registry.startRun(NewRun(pipeline: "main", trigger: "bench", provenance: provenance, pid: 1, params: [:]))
            let stages = try registry.addStageRuns(runID: run.id, stages: ["train", "evaluate"])
            for k in 0..<(pointsPerRun - 1) {
                batch.append(MetricRecord(runID: run.id, stageRunID: stages[0].id, stage: "train", key: "loss", step: Int64(k), value: 1 / Double(k + 1), timestamp: 0))
            }
            batch.append(MetricRecord(runID: run.id, stageRunID: stages[1].id, stage: "evaluate", key: "accuracy", step: nil, value: 0.9, timestamp: 0))
            if batch.count >= 20_000 { try registry.appendMetrics(batch); batch.removeAll(keepingCapacity: true) }
            try registry.finishRun(id: run.id, status: .succeeded, message: nil)
            if i % 1000 == 0 {
                _ = try registry.registerVersion(NewModelVersion(model: "clf", runID: run.id, pipeline: "main", gitCommit: "abc1234",
                                                                 artifactDigest: "d\(i)", createdBy: "bench"))
            }
        }
        try registry.appendMetrics(batch)
        try registry.setAlias(model: "clf", environment: "production", version: 50, actor: "bench", reason: "bench", cause: .promotion)
        let setup = now() - t0

        let trace = dir + "/trace.txt"
        let socket = "slipway-bench-\(getpid())"
        sh(["tmux", "-L", socket, "new-session", "-d", "-s", "c", "-x", "120", "-y", "40",
            "env TERM=xterm-256color LANG=C.UTF-8 SLIPWAY_CONSOLE_TRACE=\(trace) \(slipway) -C \(dir) console"])
        defer { sh(["tmux", "-L", socket, "kill-server"]) }
        var firstFrame: Double?
        let deadline = now() + 30
        while now() < deadline {
            if let text = try? String(contentsOfFile: trace, encoding: .utf8),
               let line = text.split(separator: "\n").first(where: { $0.hasPrefix("first-frame-ms") }) {
                firstFrame = Double(line.split(separator: " ")[1])
                break
            }
            usleep(20_000)
        }
        // The slipway process itself (not the shell tmux started it from).
        let pid = sh(["pgrep", "-f", "\(slipway) -C \(dir) console"]).split(separator: "\n").map(String.init).first { p in
            ((try? String(contentsOfFile: "/proc/\(p)/comm", encoding: .utf8)) ?? "").hasPrefix("slipway")
        } ?? ""
        usleep(1_500_000)  // let the poller finish verifying the audit chain
        // Key presses: move through the runs, switch tabs, back.
        let keys = (0..<150).map { i -> String in
            switch i % 10 { case 3: return "Tab"; case 7: return "BTab"; default: return i % 2 == 0 ? "j" : "k" }
        }
        for k in keys {
            sh(["tmux", "-L", socket, "send-keys", "-t", "c", k])
            usleep(30_000)
        }
        usleep(500_000)
        let latencies = ((try? String(contentsOfFile: trace, encoding: .utf8)) ?? "").split(separator: "\n")
            .filter { $0.hasPrefix("key-frame-us") }.compactMap { Double($0.split(separator: " ")[1]) }.sorted()
        // Idle: no keys, nothing changing, for 10 s.
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        let c0 = cpuTicks(pid), w0 = now()
        usleep(10_000_000)
        let idle = (cpuTicks(pid) - c0) / hz / (now() - w0) * 100
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let hwm = status.split(separator: "\n").first { $0.hasPrefix("VmHWM") }.map { $0.split(separator: " ", omittingEmptySubsequences: true)[1] } ?? "?"
        let p99 = latencies.isEmpty ? .nan : latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))]
        report("console first frame, 100k runs / 10M pts", firstFrame.map { String(format: "%.0f ms", $0) } ?? "none",
               String(format: "from main() to the first frame with data; setup %.0f s; target <= 150 ms", setup))
        report("console key -> frame", String(format: "p99 %.2f ms", p99 / 1000),
               String(format: "median %.2f ms over %d key presses (j/k, Tab); target p99 <= 16 ms", latencies.isEmpty ? .nan : latencies[latencies.count / 2] / 1000, latencies.count))
        report("console memory and idle CPU", "RSS \(Int(hwm).map { "\($0 / 1024) MB" } ?? hwm)",
               String(format: "peak RSS (VmHWM); idle CPU %.2f%% over 10 s; targets <= 150 MB, <= 1%%", idle))
    }
}
