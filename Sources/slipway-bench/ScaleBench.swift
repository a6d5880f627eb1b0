import Foundation
import SlipwayEngine

/// Big pipelines: a no-op re-run, `status` and `lint` at 10 to 10,000 stages,
/// independent and in a chain, each in a git work tree with a registry that
/// has history, beside `dvc repro` and `dvc status` on the same pipelines.
///
/// Settings (environment):
/// - `SCALE_SIZES=10,100,1000,10000` the sizes to measure;
/// - `SCALE_SHAPES=independent,chain`;
/// - `SCALE_REPS=N` repetitions of each whole-process timing (default 9,
///   5 from 5,000 stages);
/// - `DVC=/path/to/dvc` the `dvc` to compare with (default
///   /tmp/dvc-venv/bin/dvc when present), `DVC_MAX=N` the largest size it is run at (default 1000);
/// - `SCALE_STORES=sqlite,postgres` the registries (default sqlite): with
///   `postgres`, each workspace is a project (a schema) on a throw-away
///   server (`scripts/pg-test-server.sh`, or `SLIPWAY_BENCH_POSTGRES_URL`).
extension Bench {
    enum ScaleShape: String, CaseIterable {
        /// Every stage reads its own input: no edges.
        case independent
        /// Stage i reads stage i-1's out (data edges, as DVC draws them).
        case chain
    }

    static var scaleSizes: [Int] {
        let text = ProcessInfo.processInfo.environment["SCALE_SIZES"] ?? "10,100,1000,10000"
        return text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    static var scaleShapes: [ScaleShape] {
        let text = ProcessInfo.processInfo.environment["SCALE_SHAPES"] ?? "independent,chain"
        return text.split(separator: ",").compactMap { ScaleShape(rawValue: String($0)) }
    }

    static func scaleReps(_ size: Int) -> Int {
        if let n = ProcessInfo.processInfo.environment["SCALE_REPS"].flatMap({ Int($0) }), n > 0 { return n }
        return size >= 5_000 ? 5 : 9
    }

    static var dvc: String? {
        let path = ProcessInfo.processInfo.environment["DVC"] ?? "/tmp/dvc-venv/bin/dvc"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    enum ScaleStore: String {
        case sqlite, postgres
    }

    static var scaleStores: [ScaleStore] {
        let text = ProcessInfo.processInfo.environment["SCALE_STORES"] ?? "sqlite"
        return text.split(separator: ",").map { name in
            let name = name.trimmingCharacters(in: .whitespaces)
            guard let store = ScaleStore(rawValue: name) else { fatalError("SCALE_STORES: unknown store '\(name)' (sqlite, postgres)") }
            return store
        }
    }

    static var dvcMax: Int { ProcessInfo.processInfo.environment["DVC_MAX"].flatMap { Int($0) } ?? 1_000 }

    /// The command of stage `i`: the same text for Slipway and DVC.
    static func scaleCommand(_ i: Int, _ shape: ScaleShape) -> String {
        switch shape {
        case .independent: return "cp in/\(i).txt out/\(i).txt"
        case .chain: return i == 0 ? "cp in/0.txt out/0.txt" : "{ head -c 64 out/\(i - 1).txt; cat in/\(i).txt; } > out/\(i).txt"
        }
    }

    static func scaleDeps(_ i: Int, _ shape: ScaleShape) -> [String] {
        shape == .chain && i > 0 ? ["in/\(i).txt", "out/\(i - 1).txt"] : ["in/\(i).txt"]
    }

    /// Writes the inputs and `slipway.yaml` (or `dvc.yaml`) of an `n`-stage pipeline.
    static func writeScalePipeline(in dir: String, stages n: Int, shape: ScaleShape, dvc: Bool, project: String = "bench") throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        var text = dvc ? "stages:\n" : "project: \(project)\npipelines:\n  main:\n    stages:\n"
        text.reserveCapacity(n * 120)
        let indent = dvc ? "  " : "      "
        for i in 0..<n {
            try "input \(i)\n".write(toFile: dir + "/in/\(i).txt", atomically: false, encoding: .utf8)
            let deps = scaleDeps(i, shape).joined(separator: ", ")
            let cmd = scaleCommand(i, shape).replacingOccurrences(of: "'", with: "''")
            text += "\(indent)s\(i): {cmd: '\(cmd)', deps: [\(deps)], outs: [out/\(i).txt]}\n"
        }
        try text.write(toFile: dir + (dvc ? "/dvc.yaml" : "/slipway.yaml"), atomically: true, encoding: .utf8)
    }

    /// `git init` and one commit of everything but outs and tool state.
    static func commitAll(_ dir: String, ignore: String) throws {
        try ignore.write(toFile: dir + "/.gitignore", atomically: true, encoding: .utf8)
        let git = ["git", "-C", dir, "-c", "user.email=b@example.org", "-c", "user.name=B"]
        sh(git + ["init", "-q"])
        sh(git + ["add", "-A"])
        sh(git + ["commit", "-q", "-m", "pipeline"])
    }

    /// A command's wall time (nil when it fails or runs past `limit` seconds).
    static func timedCommand(_ argv: [String], in dir: String, limit: Double) -> Double? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        let t = now()
        guard (try? p.run()) != nil else { return nil }
        let deadline = DispatchTime.now() + limit
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        if done.wait(timeout: deadline) == .timedOut {
            p.terminate()
            p.waitUntilExit()
            return nil
        }
        let elapsed = now() - t
        return p.terminationStatus == 0 ? elapsed : nil
    }

    /// One whole-process run of `slipway`: wall seconds, CPU seconds (user +
    /// system, which a machine shared with other work stretches far less than
    /// wall time) and peak RSS in KiB.
    struct Measured {
        var wall: Double
        var cpu: Double
        var rssKiB: Int
    }

    static func measureSlipway(_ args: [String], in dir: String) -> Measured {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let argv = [slipway, "-C", dir] + args
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let t = now()
        let rc = cargs.withUnsafeBufferPointer { posix_spawn(&pid, argv[0], &actions, nil, UnsafeMutablePointer(mutating: $0.baseAddress!), environ) }
        precondition(rc == 0)
        var status: Int32 = 0
        var usage = rusage()
        wait4(pid, &status, 0, &usage)
        let wall = now() - t
        precondition((status >> 8) & 0xff == 0, "\(argv) exited \((status >> 8) & 0xff)")
        func seconds(_ tv: timeval) -> Double { Double(tv.tv_sec) + Double(tv.tv_usec) / 1e6 }
        return Measured(wall: wall, cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime), rssKiB: Int(usage.ru_maxrss))
    }

    /// Instructions one `slipway` command executes, counted by callgrind
    /// (the same count on a busy machine as on an idle one), when `CALLGRIND=1`.
    static func instructions(_ args: [String], in dir: String) -> Int? {
        guard ProcessInfo.processInfo.environment["CALLGRIND"] == "1" else { return nil }
        let out = NSTemporaryDirectory() + "slipway-bench-callgrind-\(getpid()).out"
        defer { try? FileManager.default.removeItem(atPath: out) }
        sh(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, slipway, "-C", dir] + args)
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix("summary:") }.flatMap { Int($0.dropFirst(8).trimmingCharacters(in: .whitespaces)) }
    }

    static func formatCount(_ n: Int?) -> String {
        guard let n else { return "" }
        return String(format: "; %.1f M instructions (callgrind)", Double(n) / 1e6)
    }

    /// `median (min–max)` of wall and CPU times.
    static func summary(_ ms: [Measured]) -> String {
        let w = ms.map(\.wall), c = ms.map(\.cpu)
        return "wall \(formatTime(median(w))) (\(formatTime(w.min()!))–\(formatTime(w.max()!))), CPU \(formatTime(median(c))) (\(formatTime(c.min()!))–\(formatTime(c.max()!))) over \(ms.count) runs"
    }

    /// The load average over the last minute: how shared the machine was.
    static var loadAverage: String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").first.map(String.init) ?? "?"
    }

    static func formatTime(_ seconds: Double) -> String {
        seconds >= 1 ? String(format: "%.2f s", seconds) : String(format: "%.1f ms", seconds * 1000)
    }

    /// DVC on the same pipeline: the first `dvc repro`, then no-op `dvc repro` and `dvc status`.
    static func dvcScale(_ root: String, stages n: Int, shape: ScaleShape) throws -> String {
        guard let dvc else { return "dvc: not installed" }
        guard n <= dvcMax else { return "dvc: not run (above DVC_MAX=\(dvcMax))" }
        let dir = root + "/dvc"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeScalePipeline(in: dir, stages: n, shape: shape, dvc: true)
        try commitAll(dir, ignore: "out/\n")
        guard timedCommand([dvc, "init", "-q"], in: dir, limit: 120) != nil,
              let first = timedCommand([dvc, "repro", "-q"], in: dir, limit: 3_600) else { return "dvc: setup failed" }
        var repro: [Double] = [], status: [Double] = []
        for _ in 0..<3 {
            guard let r = timedCommand([dvc, "repro", "-q"], in: dir, limit: 1_800),
                  let s = timedCommand([dvc, "status", "-q"], in: dir, limit: 1_800) else { return "dvc: a no-op run failed" }
            repro.append(r)
            status.append(s)
        }
        return "dvc repro \(formatTime(median(repro))), dvc status \(formatTime(median(status))) (first repro \(formatTime(first)), 3 runs)"
    }

    /// No-op re-runs and `status` at each size, beside DVC.
    static func scalePipelines() throws {
        for store in scaleStores {
            // Each workspace is its own project, so its own schema, on one server.
            let server = store == .postgres ? try BenchPostgres.start() : nil
            defer { server?.stop() }
            if let server { setenv("SLIPWAY_REGISTRY_URL", server.url, 1) } else { unsetenv("SLIPWAY_REGISTRY_URL") }
            defer { unsetenv("SLIPWAY_REGISTRY_URL") }
            try scalePipelines(store: store)
        }
    }

    static func scalePipelines(store: ScaleStore) throws {
        let on = store == .postgres ? " (PostgreSQL)" : ""
        for shape in scaleShapes {
            for n in scaleSizes {
                let root = scratch("scale-\(store.rawValue)-\(shape.rawValue)-\(n)")
                defer { if !keep { try? FileManager.default.removeItem(atPath: root) } }
                let dir = root + "/slipway"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try writeScalePipeline(in: dir, stages: n, shape: shape, dvc: false, project: "bench_\(shape.rawValue)_\(n)_\(getpid())")
                try commitAll(dir, ignore: "out/\n.slipway/\n")
                // History: the first run, three no-op runs, and 100 runs of another pipeline's model.
                let t0 = now()
                let first = runSlipway(["run"], in: dir)
                for _ in 0..<3 { runSlipway(["run"], in: dir) }
                try addHistory(dir)
                let setup = now() - t0
                let reps = scaleReps(n)
                var runs: [Measured] = [], statuses: [Measured] = []
                let load = loadAverage
                for _ in 0..<reps {
                    runs.append(measureSlipway(["run"], in: dir))
                    statuses.append(measureSlipway(["status"], in: dir))
                }
                let runCount = instructions(["run"], in: dir), statusCount = instructions(["status"], in: dir)
                let dvcText = store == .sqlite ? try dvcScale(root, stages: n, shape: shape) : "dvc: run with the SQLite registry"
                let perStage = median(runs.map(\.cpu)) / Double(n) * 1e6
                report("no-op re-run, \(n) \(shape.rawValue)\(on)", formatTime(median(runs.map(\.wall))),
                       String(format: "%@; %.0f µs CPU/stage%@; first run %@, setup %.0f s; load %@; %@; target: 1,000 <= 150 ms, 10,000 <= 1.5 s",
                              summary(runs), perStage, formatCount(runCount), formatTime(first), setup, load, dvcText))
                report("status, \(n) \(shape.rawValue)\(on)", formatTime(median(statuses.map(\.wall))),
                       "\(summary(statuses))\(formatCount(statusCount)); target <= 50 ms")
            }
        }
    }

    /// 100 earlier runs of a second pipeline, each with metrics and a model version.
    static func addHistory(_ dir: String) throws {
        let registry = try Workspace(root: dir).openRegistry()
        let provenance = Provenance(gitCommit: "abc1234", gitDirty: false, user: "bench", host: "h", slipwayVersion: "0")
        for i in 1...100 {
            let run = try registry.startRun(NewRun(pipeline: "earlier", trigger: "bench", provenance: provenance, pid: 1, params: ["lr": "0.1"]))
            let stage = try registry.addStageRuns(runID: run.id, stages: ["train"])[0]
            try registry.appendMetrics((0..<50).map {
                MetricRecord(runID: run.id, stageRunID: stage.id, stage: "train", key: "loss", step: Int64($0), value: 1 / Double($0 + 1), timestamp: 0)
            })
            try registry.finishRun(id: run.id, status: .succeeded, message: nil,
                                   registering: NewModelVersion(model: "earlier", runID: run.id, pipeline: "earlier", gitCommit: "abc1234",
                                                                artifactDigest: "d\(i)", createdBy: "bench"))
        }
    }

    /// `slipway lint` of a 10,000-stage spec (both shapes): time and peak RSS.
    static func lintLargeSpec() throws {
        let n = ProcessInfo.processInfo.environment["LINT_STAGES"].flatMap { Int($0) } ?? 10_000
        for shape in scaleShapes {
            let dir = scratch("lint-\(shape.rawValue)")
            defer { if !keep { try? FileManager.default.removeItem(atPath: dir) } }
            try writeScalePipeline(in: dir, stages: n, shape: shape, dvc: false)
            try commitAll(dir, ignore: "out/\n.slipway/\n")
            let size = (try FileManager.default.attributesOfItem(atPath: dir + "/slipway.yaml")[.size] as? Int) ?? 0
            let load = loadAverage
            let runs = (0..<scaleReps(n)).map { _ in measureSlipway(["lint"], in: dir) }
            report("lint, \(n) \(shape.rawValue) stages", formatTime(median(runs.map(\.wall))),
                   String(format: "%@%@; %.1f MB spec; peak RSS %d MB; load %@; target < 1 s, < 200 MB",
                          summary(runs), formatCount(instructions(["lint"], in: dir)), Double(size) / 1e6, runs.map(\.rssKiB).max()! / 1024, load))
        }
        // The same number of stages made by one matrix stage (what a sweep writes).
        let dir = scratch("lint-matrix")
        defer { if !keep { try? FileManager.default.removeItem(atPath: dir) } }
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        for i in 0..<n { try "input \(i)\n".write(toFile: dir + "/in/\(i).txt", atomically: false, encoding: .utf8) }
        try """
            project: bench
            pipelines:
              main:
                stages:
                  s:
                    matrix: {shard: "range(0, \(n))"}
                    cmd: cp in/${matrix.shard}.txt out/${matrix.shard}.txt
                    deps: ["in/${matrix.shard}.txt"]
                    outs: ["out/${matrix.shard}.txt"]

            """.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        try commitAll(dir, ignore: "out/\n.slipway/\n")
        let load = loadAverage
        let runs = (0..<scaleReps(n)).map { _ in measureSlipway(["lint"], in: dir) }
        report("lint, \(n) stages from one matrix", formatTime(median(runs.map(\.wall))),
               String(format: "%@%@; peak RSS %d MB; load %@; target < 1 s, < 200 MB",
                      summary(runs), formatCount(instructions(["lint"], in: dir)), runs.map(\.rssKiB).max()! / 1024, load))
    }
}
