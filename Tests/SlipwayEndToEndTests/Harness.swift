import Foundation
import Testing

/// Runs the built `slipway` binary in a temporary workspace.
struct Sandbox {
    let root: String

    init() {
        root = NSTemporaryDirectory() + "slipway-e2e-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    /// A sandbox over a folder that exists already.
    init(existing root: String) { self.root = root }

    static let binary: String = {
        var candidates: [String] = []
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        candidates.append(exe.appendingPathComponent("slipway").path)
        candidates.append(exe.deletingLastPathComponent().appendingPathComponent("slipway").path)
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(package.appendingPathComponent(".build/debug/slipway").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func write(_ path: String, _ text: String, executable: Bool = false) {
        let full = root + "/" + path
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! text.write(toFile: full, atomically: true, encoding: .utf8)
        if executable { chmod(full, 0o755) }
    }

    func read(_ path: String) -> String? {
        try? String(contentsOfFile: root + "/" + path, encoding: .utf8)
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: root + "/" + path) }

    func remove(_ path: String) { try? FileManager.default.removeItem(atPath: root + "/" + path) }

    /// Lines in a counter file: each stage command appends one when it runs.
    func count(_ path: String) -> Int {
        (read(path) ?? "").split(separator: "\n").count
    }

    func process(_ args: [String], environment: [String: String] = [:], directory: String? = nil) -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: directory ?? root)
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "SLIPWAY_WORKSPACE")
        for (k, v) in environment { env[k] = v }
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        return p
    }

    /// Starts `slipway ARGS` in the background, its output discarded.
    func start(_ args: [String]) throws -> Process {
        let p = process(args)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    @discardableResult
    func run(_ args: String..., environment: [String: String] = [:], directory: String? = nil) -> Result {
        run(args, environment: environment, directory: directory)
    }

    @discardableResult
    func run(_ args: [String], environment: [String: String] = [:], directory: String? = nil) -> Result {
        let p = process(args, environment: environment, directory: directory)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try! p.run()
        // Read both pipes while it runs so a full pipe never blocks it.
        let outData = Mutex(Data()), errData = Mutex(Data())
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outData.withLock { $0 = out.fileHandleForReading.readDataToEndOfFile() }; group.leave() }
        group.enter()
        DispatchQueue.global().async { errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() }; group.leave() }
        p.waitUntilExit()
        group.wait()
        return Result(status: p.terminationStatus,
                      stdout: String(decoding: outData.withLock { $0 }, as: UTF8.self),
                      stderr: String(decoding: errData.withLock { $0 }, as: UTF8.self))
    }

    /// Parses `--json` output.
    func json(_ args: String...) throws -> Any {
        let r = run(args)
        #expect(r.status == 0, "\(args): \(r.stderr)")
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    }

    /// How many `deploy.ran` events the audit trail holds for the deploy
    /// call `callID` (a call journalled as finished has one). Throws, without
    /// recording an issue, when the trail cannot be read: a test polling it
    /// while an agent writes asks again.
    func deployRan(_ callID: String) throws -> Int {
        struct Unreadable: Error { var said: String }
        let r = run("audit", "--kind", "deploy.ran", "--json")
        guard r.status == 0, let events = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] else {
            throw Unreadable(said: r.stderr)
        }
        return events.filter { ($0["payload"] as? String ?? "").contains("\"deployment\":\"\(callID)\"") }.count
    }

    /// The stages of a run, as `slipway show RUN --json` gives them.
    func stageRecords(_ run: String) throws -> [[String: Any]] {
        let show = try #require(try json("show", run, "--json") as? [String: Any])
        return try #require((show["run"] as? [String: Any])?["stages"] as? [[String: Any]])
    }

    /// Waits for a process started with ``process(_:environment:directory:)``
    /// to end; returns its wait status. (Reaps it directly: Foundation's own
    /// reaping has been seen to stall for a child killed by a signal.)
    @discardableResult
    func reap(_ p: Process, timeout: Double = 60) -> Int32 {
        let end = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while Date() < end {
            let r = waitpid(p.processIdentifier, &status, WNOHANG)
            if r == p.processIdentifier { return status }
            if r < 0 { // Foundation reaped it first.
                if !p.isRunning { return p.terminationStatus << 8 }
            }
            usleep(20_000)
        }
        kill(p.processIdentifier, SIGKILL)
        return -1
    }

    /// Waits (up to `timeout` seconds) until `condition` holds.
    func waitUntil(timeout: Double = 20, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }
}

import Synchronization
