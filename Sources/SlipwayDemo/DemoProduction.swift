import Foundation
import SlipwayCore
import SlipwayEngine

/// The demo's production environment: HAProxy and Prometheus on loopback
/// when both are installed (the recipe of `examples/deploy/haproxy/`, run
/// for real), else simulated by scripts. The demo installs nothing.
///
/// The real one is started by `production.py start` (a demo resource written
/// into the workspace), a supervisor whose standard input is a pipe only this
/// process holds: when the demo ends, fails or is killed, the pipe closes and
/// the supervisor stops every process it started (scorers, HAProxy,
/// Prometheus, the load generator) and exits. ``stop()`` does the same and
/// waits for it. The canary's decisions stay in the engine: this only starts
/// the components and says where they are.
final class DemoProduction: @unchecked Sendable {
    /// Where the real environment answers.
    struct Endpoints: Decodable {
        var prometheus: String
        var socket: String
        var frontend: String
        var rate: Double
    }

    enum Kind {
        case real(Endpoints, haproxy: String)
        case simulated(why: String)
    }

    private(set) var kind: Kind
    private var supervisor: Process?
    private var input: Pipe?
    let folder: String

    /// The line the demo shows first: which production it uses.
    var summary: String {
        switch kind {
        case .real(let e, let haproxy):
            return "production: \(haproxy) + Prometheus on \(e.prometheus.replacingOccurrences(of: "http://", with: ""))"
        case .simulated(let why): return "production: simulated — \(why)"
        }
    }

    var endpoints: Endpoints? { if case .real(let e, _) = kind { return e } else { return nil } }

    /// Why the real production stopped on its own (a component died, or the
    /// supervisor itself ended, killed for instance), if it did; sanitised.
    var failure: String? {
        guard endpoints != nil else { return nil }
        if let said = failedText { return said }
        guard supervisor != nil, !supervisorRunning else { return nil }
        // It may have said why just before it exited.
        return failedText ?? ("production.py exited" + (logTail.map { ": " + $0 } ?? ""))
    }

    /// What `failed.txt` says, sanitised for the terminal.
    private var failedText: String? {
        FileManager.default.contents(atPath: folder + "/failed.txt").map { Self.shown(String(decoding: $0, as: UTF8.self)) }
    }

    /// The end of `supervisor.log`, sanitised, if it says anything.
    private var logTail: String? {
        guard let text = try? String(contentsOfFile: folder + "/supervisor.log", encoding: .utf8) else { return nil }
        let tail = Self.shown(String(text.suffix(400)))
        return tail.isEmpty ? nil : tail
    }

    /// Outside text as the terminal may show it: trimmed, controls made visible.
    static func shown(_ text: String) -> String {
        TerminalText.sanitize(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private init(kind: Kind, folder: String, supervisor: Process? = nil, input: Pipe? = nil) {
        self.kind = kind
        self.folder = folder
        self.supervisor = supervisor
        self.input = input
    }

    /// `HAProxy 2.6` from `haproxy -v`.
    static func haproxyName() -> String {
        let out = (try? OutsideTool.run(["haproxy", "-v"]))?.stdout ?? ""
        let words = out.split(separator: " ")
        guard let i = words.firstIndex(of: "version"), i + 1 < words.count else { return "HAProxy" }
        let parts = words[i + 1].split(separator: ".")
        return "HAProxy " + (parts.count >= 2 ? "\(parts[0]).\(parts[1].prefix { $0.isNumber })" : String(words[i + 1]))
    }

    /// The simulated production, saying why.
    static func simulated(_ why: String, folder: String) -> DemoProduction {
        DemoProduction(kind: .simulated(why: why), folder: folder)
    }

    /// Which tools are missing for the real production (empty: none).
    static func missingTools() -> [String] {
        ["haproxy", "prometheus", "python3"].filter { OutsideTool.locate($0) == nil }
    }

    /// Starts the real production with `production.py` in `root` (already
    /// written there); its state goes to `root/serving/production`. Throws
    /// when it does not come up, with what its log says. `timeout` outlasts
    /// production.py's own start-up budget (`STARTUP`, 100 s), so that its
    /// failure, saying which component, is what the demo shows.
    static func start(root: String, timeout: Double = 120) throws -> DemoProduction {
        let folder = root + "/serving/production"
        try FileSystem.makeDirectory(folder)
        let logPath = folder + "/supervisor.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw DemoScenario.Failed(message: "cannot write \(logPath)") }
        defer { try? log.close() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", root + "/production.py", "start", folder]
        p.currentDirectoryURL = URL(fileURLWithPath: root)
        let input = Pipe()
        // Only this process holds the pipe's other end: no child inherits it, so its
        // end (ours exiting, however) is the supervisor's signal to stop.
        _ = fcntl(input.fileHandleForWriting.fileDescriptor, F_SETFD, FD_CLOEXEC)
        p.standardInput = input
        p.standardOutput = log
        p.standardError = log
        do { try p.run() } catch { throw DemoScenario.Failed(message: "cannot start production.py: \(error)") }
        let production = DemoProduction(kind: .simulated(why: "starting"), folder: folder, supervisor: p, input: input)
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let data = FileManager.default.contents(atPath: folder + "/ready.json"),
               let e = try? JSONDecoder().decode(Endpoints.self, from: data) {
                production.kind = .real(e, haproxy: haproxyName())
                return production
            }
            if let failed = FileManager.default.contents(atPath: folder + "/failed.txt") {
                production.stop()
                throw DemoScenario.Failed(message: "HAProxy and Prometheus did not start: " + shown(String(decoding: failed, as: UTF8.self)))
            }
            if !production.supervisorRunning { break }
            usleep(100_000)
        }
        production.stop()
        let said = production.logTail ?? ""
        throw DemoScenario.Failed(message: "HAProxy and Prometheus did not start within \(Int(timeout)) s: \(said) (see \(folder))")
    }

    private var supervisorRunning: Bool { supervisor.map { isAlive($0.processIdentifier) } ?? false }

    /// Stops every process the supervisor started, and the supervisor; waits
    /// for them (at most about ten seconds). Safe to call more than once.
    func stop() {
        guard let p = supervisor else { return }
        supervisor = nil
        try? input?.fileHandleForWriting.close()
        input = nil
        let pid = p.processIdentifier
        var end = Date().addingTimeInterval(8)
        while Date() < end, isAlive(pid) { usleep(50_000) }
        if isAlive(pid) {
            kill(pid, SIGTERM)
            end = Date().addingTimeInterval(2)
            while Date() < end, isAlive(pid) { usleep(50_000) }
        }
        // Whatever is still running (the supervisor itself killed): ended here, by the
        // pids it recorded, when their command line still names the workspace.
        if let text = try? String(contentsOfFile: folder + "/pids.txt", encoding: .utf8) {
            let root = URL(fileURLWithPath: folder).deletingLastPathComponent().deletingLastPathComponent().path
            for line in text.split(separator: "\n") {
                guard let child = line.split(separator: " ").last.flatMap({ Int32($0) }), child > 1 else { continue }
                let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(child)/cmdline"))).map { String(decoding: $0, as: UTF8.self) } ?? ""
                if cmdline.contains(root) { kill(child, SIGKILL) }
            }
        }
        if isAlive(pid) { kill(pid, SIGKILL) }
    }

    private func isAlive(_ pid: Int32) -> Bool {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { return false }
        if r < 0 { return kill(pid, 0) == 0 && !isZombie(pid) }
        return true
    }

    private func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    deinit { stop() }
}
