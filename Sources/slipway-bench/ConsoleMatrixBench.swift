import Foundation
import SlipwayEngine
import SlipwayStore

/// The console with a 1,000-member matrix run in flight (`console-matrix`):
/// key → frame latency on the Runs tab (moving between runs, the matrix run's
/// detail beside them) and in the opened run (moving through its members),
/// while members keep finishing and starting.
///
/// The run is written into the registry by this process (its pid, a heartbeat
/// every second), as a run in progress would be: no command has to run for
/// the console to have a big run to show. `CONSOLE_MEMBERS=N` sets the size.
extension Bench {
    static func consoleMatrixRun() throws {
        let members = ProcessInfo.processInfo.environment["CONSOLE_MEMBERS"].flatMap { Int($0) } ?? 1_000
        let dir = scratch("console-matrix")
        defer { if !keep { try? FileManager.default.removeItem(atPath: dir) } }
        try """
        project: bench
        pipelines:
          sweep:
            stages:
              prepare: {cmd: 'true'}
              train:
                matrix: {shard: range(0, \(members))}
                cmd: echo ${matrix.shard}
                needs: [prepare]
              report: {cmd: 'true', needs: [train]}
        """.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        let registry = try Workspace(root: dir).openRegistry()
        let provenance = Provenance(gitCommit: "abc1234", gitDirty: false, user: "bench", host: "h", slipwayVersion: "0")
        let names = ["prepare"] + (0..<members).map { "train[shard=\($0)]" } + ["report"]
        // Earlier runs to move between on the Runs tab.
        for _ in 0..<10 {
            let run = try registry.startRun(NewRun(pipeline: "sweep", trigger: "bench", provenance: provenance, pid: 1, params: [:]))
            _ = try registry.addStageRuns(runID: run.id, stages: ["prepare"])
            try registry.finishRun(id: run.id, status: .succeeded, message: nil)
        }
        let run = try registry.startRun(NewRun(pipeline: "sweep", trigger: "bench", provenance: provenance, pid: getpid(), params: [:]))
        let flight = MatrixRunInFlight(registry: registry, dir: dir, runID: run.id, records: try registry.addStageRuns(runID: run.id, stages: names))
        try FileManager.default.createDirectory(atPath: dir + "/.slipway/logs/run-\(run.id)", withIntermediateDirectories: true)
        // prepare done, 40 % of the members done, four running, the rest waiting.
        try flight.start(0); try flight.finish(0)
        for i in 1...(members * 2 / 5) { try flight.start(i); try flight.finish(i) }
        for _ in 0..<4 { try flight.startNext() }
        // In flight: a heartbeat every second, a member finishing and another starting every 200 ms.
        let driver = Thread {
            var beats = 0
            while !flight.stopped {
                usleep(200_000)
                beats += 1
                if beats % 5 == 0 { try? registry.heartbeat(runID: run.id) }
                try? flight.finishOldestRunning()
                try? flight.startNext()
            }
        }
        driver.start()
        defer { flight.stop() }

        let trace = dir + "/trace.txt"
        let socket = "slipway-bench-\(getpid())"
        sh(["tmux", "-L", socket, "new-session", "-d", "-s", "c", "-x", "120", "-y", "40",
            "env TERM=xterm-256color LANG=C.UTF-8 SLIPWAY_CONSOLE_TRACE=\(trace) \(slipway) -C \(dir) console"])
        defer { sh(["tmux", "-L", socket, "kill-server"]) }
        let deadline = now() + 30
        while now() < deadline {
            if let text = try? String(contentsOfFile: trace, encoding: .utf8), text.contains("first-frame-ms") { break }
            usleep(20_000)
        }
        usleep(1_500_000)
        func press(_ keys: [String]) -> [Double] {
            let before = latencies(trace).count
            for k in keys {
                sh(["tmux", "-L", socket, "send-keys", "-t", "c", k])
                usleep(30_000)
            }
            usleep(500_000)
            return Array(latencies(trace).dropFirst(before))
        }
        // The Runs tab: the matrix run selected (newest), moving to earlier runs and back.
        let runsTab = press((0..<60).map { $0 % 2 == 0 ? "j" : "k" })
        // The opened run: down through the members (the picker scrolls), and back up a little.
        let opened = press(["Enter"] + (0..<120).map { $0 % 6 == 5 ? "k" : "j" })
        let screen = sh(["tmux", "-L", socket, "capture-pane", "-p", "-t", "c"])
        let grouped = screen.contains("train (\(members))")
        for (name, values) in [("Runs tab, j/k", runsTab), ("opened run, j/k", opened)] {
            let sorted = values.sorted()
            let p99 = sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
            report("console key -> frame, \(members)-member matrix run, \(name)", String(format: "p99 %.2f ms", p99 / 1000),
                   String(format: "median %.2f ms, max %.2f ms over %d key presses; members grouped under train: %@; load %@; target p99 <= 16 ms",
                          sorted.isEmpty ? .nan : sorted[sorted.count / 2] / 1000, (sorted.last ?? .nan) / 1000, sorted.count,
                          grouped ? "yes" : "no", loadAverage))
        }
    }

    static func latencies(_ trace: String) -> [Double] {
        ((try? String(contentsOfFile: trace, encoding: .utf8)) ?? "").split(separator: "\n")
            .filter { $0.hasPrefix("key-frame-us") }.compactMap { Double($0.split(separator: " ")[1]) }
    }
}

/// The stage runs of a run in progress, moved on by one thread.
final class MatrixRunInFlight: @unchecked Sendable {
    let registry: any Registry
    let dir: String
    let runID: Int64
    private let lock = NSLock()
    private var records: [StageRunRecord]
    private var running: [Int] = []
    private var next = 1
    private var _stopped = false

    init(registry: any Registry, dir: String, runID: Int64, records: [StageRunRecord]) {
        self.registry = registry
        self.dir = dir
        self.runID = runID
        self.records = records
    }

    var stopped: Bool { lock.withLock { _stopped } }
    func stop() { lock.withLock { _stopped = true } }

    func start(_ i: Int) throws {
        let r = lock.withLock { () -> StageRunRecord in
            records[i].status = .running
            records[i].startedAt = SystemClock.nowMillis()
            records[i].logPath = ".slipway/logs/run-\(runID)/\(records[i].stage).log"
            running.append(i)
            next = max(next, i + 1)
            return records[i]
        }
        try "loading shard\nepoch 1 loss 0.5\n".write(toFile: dir + "/" + r.logPath!, atomically: false, encoding: .utf8)
        try registry.updateStageRun(r)
    }

    func finish(_ i: Int) throws {
        let r = lock.withLock { () -> StageRunRecord in
            records[i].status = .succeeded
            records[i].endedAt = SystemClock.nowMillis()
            records[i].reason = "new inputs"
            running.removeAll { $0 == i }
            return records[i]
        }
        try registry.updateStageRun(r)
    }

    /// Starts the next member that waits (never the stage after the matrix).
    func startNext() throws {
        let i = lock.withLock { next < records.count - 1 ? next : nil }
        if let i { try start(i) }
    }

    func finishOldestRunning() throws {
        if let i = lock.withLock({ running.first }) { try finish(i) }
    }
}
