import Foundation
import GRDB
import SlipwayEngine
import Synchronization
import SlipwayStore

/// The MLflow-compatible endpoint, measured as users meet it: a real
/// `slipway run` whose stage holds its endpoint open while a load client
/// (plain sockets, keep-alive, the bodies the MLflow client sends) logs into
/// it, beside `mlflow server` with a SQLite backend on the same machine when
/// one is installed (`SLIPWAY_BENCH_MLFLOW=/path/to/bin/mlflow`, or
/// `.build/mlflow-server-venv/bin/mlflow`; not part of CI).
extension Bench {
    /// A workspace whose one stage writes its MLflow address and waits for `done`.
    struct HeldRun {
        let dir: String
        let process: Process
        let port: Int
        let prefix: String
        let runID: String

        static func start(_ name: String) throws -> HeldRun {
            let dir = scratch(name)
            try """
            project: bench
            pipelines:
              main:
                stages:
                  train: {cmd: "echo \\"$MLFLOW_TRACKING_URI $MLFLOW_RUN_ID\\" > endpoint.txt; while [ ! -e done ]; do sleep 0.02; done"}
            """.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: slipway)
            p.arguments = ["-C", dir, "run"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            var line = ""
            for _ in 0..<3000 where !line.hasSuffix("\n") {
                line = (try? String(contentsOfFile: dir + "/endpoint.txt", encoding: .utf8)) ?? ""
                if !line.hasSuffix("\n") { usleep(10_000) }
            }
            let parts = line.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ")
            guard parts.count == 2, let url = URL(string: String(parts[0])), let port = url.port else {
                throw BenchFailure("the stage did not report its MLflow endpoint")
            }
            return HeldRun(dir: dir, process: p, port: port, prefix: url.path, runID: String(parts[1]))
        }

        /// Lets the stage finish; waits for the run to end.
        func finish() {
            _ = FileManager.default.createFile(atPath: dir + "/done", contents: nil)
            process.waitUntilExit()
        }

        func pointsStored() -> Int {
            guard let r = try? SQLiteRegistry(path: dir + "/.slipway/registry.sqlite") else { return 0 }
            return (try? r.metrics(runID: 1).count) ?? 0
        }

        /// Counts the points committed so far, on one read-only connection:
        /// cheap enough to ask every few milliseconds while the run writes
        /// (``pointsStored()`` reads every point, and took a core from the run).
        func pointCounter() throws -> () -> Int {
            var config = Configuration()
            config.readonly = true
            let db = try DatabaseQueue(path: dir + "/.slipway/registry.sqlite", configuration: config)
            return { (try? db.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM metricPoint") ?? 0 }) ?? 0 }
        }
    }

    /// `mlflow server` with a SQLite backend on a free port, or nil when none is installed.
    struct MLflowServer {
        let process: Process
        let port: Int
        let runID: String
        let dir: String

        static var executable: String? {
            if let p = ProcessInfo.processInfo.environment["SLIPWAY_BENCH_MLFLOW"] { return p }
            let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("mlflow-server-venv/bin/mlflow").path
            return FileManager.default.isExecutableFile(atPath: beside) ? beside : nil
        }

        static func start() throws -> MLflowServer? {
            guard let exe = executable else { return nil }
            let dir = scratch("mlflow-server")
            let port = Int.random(in: 20000...60000)
            let p = Process()
            // Foundation starts it as a process group's leader: the group is
            // signalled, so its workers (uvicorn, huey consumers, which outlive
            // their parent) stop with it.
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = ["server", "--backend-store-uri", "sqlite:///\(dir)/mlflow.db", "--default-artifact-root", dir + "/artifacts",
                           "--host", "127.0.0.1", "--port", String(port)]
            p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            p.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try p.run()
            var client: HTTPLoadClient?
            for _ in 0..<1200 {
                if let c = try? HTTPLoadClient(port: port), c.request("GET", "/health", body: []) == 200 { client = c; break }
                usleep(100_000)
            }
            guard let client else { kill(-p.processIdentifier, SIGTERM); throw BenchFailure("mlflow server did not start") }
            let experiment = client.requestJSON("POST", "/api/2.0/mlflow/experiments/create", #"{"name":"bench"}"#)["experiment_id"] as? String ?? "0"
            let created = client.requestJSON("POST", "/api/2.0/mlflow/runs/create", #"{"experiment_id":"\#(experiment)","start_time":1}"#)
            guard let runID = ((created["run"] as? [String: Any])?["info"] as? [String: Any])?["run_id"] as? String else {
                kill(-p.processIdentifier, SIGTERM); throw BenchFailure("mlflow server created no run")
            }
            return MLflowServer(process: p, port: port, runID: runID, dir: dir)
        }

        func stop() {
            kill(-process.processIdentifier, SIGTERM)  // the whole group: the server and its workers
            process.waitUntilExit()
        }
    }

    struct BenchFailure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// A log-batch body as the MLflow client writes it (`message_to_json`, then `requests`' `json=`).
    static func batchBody(runID: String, count: Int, first: Int, key: String = "loss") -> [UInt8] {
        var s = #"{"run_id": "\#(runID)", "metrics": ["#
        for i in 0..<count {
            if i > 0 { s += ", " }
            let n = first + i
            s += #"{"key": "\#(key)", "value": \#(1.0 / Double(n + 1)), "timestamp": \#(1_700_000_000_000 + n), "step": \#(n)}"#
        }
        s += "]}"
        return Array(s.utf8)
    }

    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        let s = xs.sorted()
        return s[min(s.count - 1, Int(Double(s.count) * p))]
    }

    // MARK: - benchmarks

    /// p50 of one log-batch of 1,000 metrics, client to registry buffer and back.
    static func mlflowBatchLatency() throws {
        let held = try HeldRun.start("mlflow-batch")
        defer { held.finish(); if !keep { try? FileManager.default.removeItem(atPath: held.dir) } }
        let client = try HTTPLoadClient(port: held.port)
        var times: [Double] = []
        for i in 0..<220 {
            let body = batchBody(runID: held.runID, count: 1000, first: i * 1000)
            let t = now()
            let status = client.request("POST", held.prefix + "/api/2.0/mlflow/runs/log-batch", body: body)
            precondition(status == 200, "log-batch answered \(status)")
            if i >= 20 { times.append(now() - t) }
        }
        var detail = String(format: "p90 %.2f ms, p99 %.2f ms over 200 requests (after 20), keep-alive, into a real `slipway run`; target p50 <= 5 ms",
                            percentile(times, 0.9) * 1000, percentile(times, 0.99) * 1000)
        if let mlflow = try MLflowServer.start() {
            defer { mlflow.stop() }
            let c = try HTTPLoadClient(port: mlflow.port)
            var theirs: [Double] = []
            for i in 0..<60 {
                let body = batchBody(runID: mlflow.runID, count: 1000, first: i * 1000)
                let t = now()
                let status = c.request("POST", "/api/2.0/mlflow/runs/log-batch", body: body)
                precondition(status == 200, "mlflow log-batch answered \(status)")
                if i >= 10 { theirs.append(now() - t) }
            }
            detail += String(format: "; mlflow server (SQLite): p50 %.1f ms", median(theirs) * 1000)
        }
        report("mlflow log-batch of 1,000 metrics", String(format: "p50 %.2f ms", median(times) * 1000), detail)
    }

    /// Requests per second with 20 clients at once, each sending 10-metric batches.
    static func mlflowConcurrent() throws {
        let seconds = 8.0
        let held = try HeldRun.start("mlflow-concurrent")
        defer { held.finish(); if !keep { try? FileManager.default.removeItem(atPath: held.dir) } }
        let ours = try concurrentLoad(port: held.port, path: held.prefix + "/api/2.0/mlflow/runs/log-batch", runID: held.runID,
                                      clients: 20, seconds: seconds)
        var detail = String(format: "20 keep-alive clients, 10-metric log-batch, %.0f s, p50 %.1f ms, %d errors", seconds, ours.p50 * 1000, ours.errors)
        if let mlflow = try MLflowServer.start() {
            defer { mlflow.stop() }
            let theirs = try concurrentLoad(port: mlflow.port, path: "/api/2.0/mlflow/runs/log-batch", runID: mlflow.runID,
                                            clients: 20, seconds: seconds)
            detail += String(format: "; mlflow server (SQLite): %.0f requests/s, p50 %.1f ms, %d errors → %.1f×",
                             theirs.rate, theirs.p50 * 1000, theirs.errors, ours.rate / max(theirs.rate, 0.001))
        } else {
            detail += "; no mlflow server to compare with (set SLIPWAY_BENCH_MLFLOW)"
        }
        report("mlflow 20 concurrent clients", String(format: "%.0f requests/s", ours.rate), detail + "; target >= 10× mlflow server")
    }

    static func concurrentLoad(port: Int, path: String, runID: String, clients: Int, seconds: Double)
        throws -> (rate: Double, p50: Double, errors: Int) {
        let results = Mutex<(latencies: [Double], errors: Int)>(([], 0))
        let group = DispatchGroup()
        let start = now() + 0.2
        for c in 0..<clients {
            let client = try HTTPLoadClient(port: port)
            group.enter()
            Thread.detachNewThread {
                var mine: [Double] = []
                var failed = 0
                var n = 0
                while now() < start { usleep(1000) }
                while now() - start < seconds {
                    let body = batchBody(runID: runID, count: 10, first: n * 10, key: "c\(c)")
                    let t = now()
                    if client.request("POST", path, body: body) == 200 { mine.append(now() - t) } else { failed += 1 }
                    n += 1
                }
                results.withLock { $0.latencies += mine; $0.errors += failed }
                group.leave()
            }
        }
        group.wait()
        let (latencies, errors) = results.withLock { ($0.latencies, $0.errors) }
        return (Double(latencies.count) / seconds, latencies.isEmpty ? 0 : median(latencies), errors)
    }

    /// 100,000 points through log-batch, from the first request until all are in the registry.
    static func mlflowHundredThousand() throws {
        let held = try HeldRun.start("mlflow-100k")
        defer { if !keep { try? FileManager.default.removeItem(atPath: held.dir) } }
        let client = try HTTPLoadClient(port: held.port)
        let bodies = (0..<100).map { batchBody(runID: held.runID, count: 1000, first: $0 * 1000) }
        let t = now()
        for body in bodies {
            precondition(client.request("POST", held.prefix + "/api/2.0/mlflow/runs/log-batch", body: body) == 200)
        }
        let answered = now() - t
        let count = try held.pointCounter()
        while count() < 100_000 { usleep(2_000) }
        let stored = now() - t
        held.finish()
        precondition(held.pointsStored() == 100_000, "stored \(held.pointsStored())")
        let rate = 100_000 / stored
        report("mlflow 100,000 points via log-batch", String(format: "%.0f points/s", rate),
               String(format: "100 × 1,000-metric batches, one client; all answered in %.0f ms, all in the registry after %.0f ms; target >= 100,000/s",
                      answered * 1000, stored * 1000))
        try pythonClientHundredThousand()
    }

    /// The same through the Python client in a stage, when its environment is there.
    static func pythonClientHundredThousand() throws {
        let python = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("mlflow-venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            report("mlflow Python client, 100,000 points", "skipped", "no .build/mlflow-venv (run .ci/mlflow-venv)")
            return
        }
        let dir = scratch("mlflow-python")
        defer { if !keep { try? FileManager.default.removeItem(atPath: dir) } }
        try """
        import json, time
        import mlflow
        from mlflow import MlflowClient
        from mlflow.entities import Metric
        client = MlflowClient()
        with mlflow.start_run() as run:
            calls = []
            start = time.perf_counter()
            for b in range(100):
                metrics = [Metric("loss", 1.0 / (i + 1), 1_700_000_000_000 + i, i) for i in range(b * 1000, b * 1000 + 1000)]
                t = time.perf_counter()
                client.log_batch(run.info.run_id, metrics=metrics)
                calls.append(time.perf_counter() - t)
            total = time.perf_counter() - start
        calls.sort()
        json.dump({"total": total, "p50": calls[50]}, open("timing.json", "w"))
        """.write(toFile: dir + "/log.py", atomically: true, encoding: .utf8)
        try "project: bench\npipelines:\n  main:\n    stages:\n      train: {cmd: \"\(python) log.py\"}\n"
            .write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        let wall = runSlipway(["run"], in: dir)
        let timing = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/timing.json"))) as? [String: Double] ?? [:]
        let stored = try SQLiteRegistry(path: dir + "/.slipway/registry.sqlite").metrics(runID: 1).count
        precondition(stored == 100_000, "stored \(stored)")
        report("mlflow Python client, 100,000 points", String(format: "%.0f points/s", 100_000 / (timing["total"] ?? 1)),
               String(format: "MlflowClient().log_batch × 100 in a stage: p50 %.1f ms a call (most of it the client's own), whole `slipway run` %.2f s, all stored",
                      (timing["p50"] ?? 0) * 1000, wall))
    }
}

/// A keep-alive HTTP/1.1 client over one loopback connection, for load.
final class HTTPLoadClient: @unchecked Sendable {
    let fd: Int32
    private var pending: [UInt8] = []

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); throw Bench.BenchFailure("connect: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    /// Sends a request and reads the whole response; its status (-1 when the connection failed).
    func request(_ method: String, _ path: String, body: [UInt8]) -> Int {
        exchange(method, path, body: body).status
    }

    func requestJSON(_ method: String, _ path: String, _ body: String) -> [String: Any] {
        let r = exchange(method, path, body: Array(body.utf8))
        return (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] ?? [:]
    }

    func exchange(_ method: String, _ path: String, body: [UInt8]) -> (status: Int, body: [UInt8]) {
        let head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
        let out = Array(head.utf8) + body
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return (-1, []) }
            sent += n
        }
        // Headers, then Content-Length bytes or chunks.
        guard let headerEnd = readUntil([13, 10, 13, 10]) else { return (-1, []) }
        let headerText = String(decoding: pending[..<headerEnd], as: UTF8.self)
        pending.removeFirst(headerEnd + 4)
        let lines = headerText.split(separator: "\r\n")
        let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? -1
        var length: Int?
        var chunked = false
        for line in lines.dropFirst() {
            let lower = line.lowercased()
            if lower.hasPrefix("content-length:") { length = Int(lower.dropFirst(15).trimmingCharacters(in: .whitespaces)) }
            if lower.hasPrefix("transfer-encoding:") && lower.contains("chunked") { chunked = true }
        }
        if chunked {
            var body: [UInt8] = []
            while true {
                guard let lineEnd = readUntil([13, 10]) else { return (-1, []) }
                let size = Int(String(decoding: pending[..<lineEnd], as: UTF8.self).split(separator: ";")[0], radix: 16) ?? 0
                pending.removeFirst(lineEnd + 2)
                guard fill(size + 2) else { return (-1, []) }
                body += pending[..<size]
                pending.removeFirst(size + 2)
                if size == 0 { return (status, body) }
            }
        }
        let n = length ?? 0
        guard fill(n) else { return (-1, []) }
        let body = Array(pending[..<n])
        pending.removeFirst(n)
        return (status, body)
    }

    private func readMore() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return false }
        pending += buffer.prefix(n)
        return true
    }

    private func fill(_ n: Int) -> Bool {
        while pending.count < n { if !readMore() { return false } }
        return true
    }

    private func readUntil(_ marker: [UInt8]) -> Int? {
        var from = 0
        while true {
            if pending.count >= marker.count {
                for i in from...(pending.count - marker.count) where pending[i..<(i + marker.count)].elementsEqual(marker) { return i }
                from = pending.count - marker.count + 1
            }
            if !readMore() { return nil }
        }
    }
}
