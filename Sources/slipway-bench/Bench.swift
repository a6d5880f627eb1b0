import Foundation
import SlipwayEngine
import SlipwayStore

/// Benchmarks for docs/benchmarks.md. Build and run in release mode:
///
///     swift build -c release --static-swift-stdlib && .build/release/slipway-bench [NAME…]
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

    // MARK: - Process helpers

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
