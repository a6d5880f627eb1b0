import Foundation
import Testing

/// The one-node Slurm cluster the Slurm tests share: started once, by
/// `scripts/slurm-test-cluster.sh`, before the first of them and stopped
/// after the last (``SlurmClusterTrait``). Everything it needs lives in its
/// own temporary folder, on free ports, beside any other cluster.
final class SlurmTestCluster: @unchecked Sendable {
    static let shared = SlurmTestCluster()

    let dir = NSTemporaryDirectory() + "slipway-slurm-\(UUID().uuidString.prefix(8))"
    private let lock = NSLock()
    private var conf: String?
    private(set) var problem: String?

    static let script: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/slurm-test-cluster.sh").path

    /// `SLURM_CONF` for every command a test runs against the cluster.
    var environment: [String: String] { lock.withLock { conf.map { ["SLURM_CONF": $0] } ?? [:] } }

    /// Starts the cluster; false (with `problem` saying why) when it cannot.
    func start() -> Bool {
        let r = Self.script(["start", dir], timeout: 120)
        let last = r.output.split(separator: "\n").last.map(String.init) ?? ""
        guard r.status == 0, last.hasPrefix("SLURM_CONF=") else {
            lock.withLock { problem = r.output.split(separator: "\n").suffix(6).joined(separator: " | ") }
            try? FileManager.default.removeItem(atPath: dir)
            return false
        }
        lock.withLock { conf = String(last.dropFirst("SLURM_CONF=".count)) }
        return true
    }

    func stop() {
        _ = Self.script(["stop", dir], timeout: 120)
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Runs a Slurm client command against the cluster; its standard output.
    func command(_ tool: String, _ args: [String]) -> String {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        return Self.spawn(["/usr/bin/env", tool] + args, environment: env, timeout: 60).output
    }

    /// Slurm's state of a job (`scontrol show job`).
    func state(ofJob id: String) -> String? {
        let text = command("scontrol", ["show", "job", "-o", id])
        guard let range = text.range(of: "JobState=") else { return nil }
        return String(text[range.upperBound...].prefix { $0 != " " && $0 != "\n" })
    }

    /// Runs the cluster script, its output into a file, and waits for it with
    /// waitpid (Foundation's Process has been seen to leave such a child unreaped).
    private static func script(_ args: [String], timeout: Double) -> (status: Int32, output: String) {
        spawn(["/bin/bash", Self.script] + args, environment: ProcessInfo.processInfo.environment, timeout: timeout)
    }

    static func spawn(_ argv: [String], environment: [String: String], timeout: Double) -> (status: Int32, output: String) {
        let outPath = NSTemporaryDirectory() + "slurm-script-\(UUID().uuidString.prefix(8)).out"
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let cargs = argv.map { strdup($0) } + [nil]
        let cenv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cargs.forEach { free($0) }; cenv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = cargs.withUnsafeBufferPointer { a in
            cenv.withUnsafeBufferPointer { e in
                posix_spawn(&pid, argv[0], &actions, nil, UnsafeMutablePointer(mutating: a.baseAddress!), UnsafeMutablePointer(mutating: e.baseAddress!))
            }
        }
        guard rc == 0 else { return (127, "cannot run \(argv.joined(separator: " ")): \(String(cString: strerror(rc)))") }
        let end = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > end {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                return (124, "timed out after \(Int(timeout)) s")
            }
            usleep(50_000)
        }
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        return ((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
    }
}

/// Starts the shared cluster around a suite (once, however many tests it
/// holds) and stops it after; where Slurm cannot start here, the suite is
/// skipped with the reason.
struct SlurmClusterTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let cluster = SlurmTestCluster.shared
        guard cluster.start() else {
            let why = "Slurm tests skipped: the test cluster cannot start here (\(cluster.problem ?? "?"))"
            FileHandle.standardError.write(Data((why + "\n").utf8))
            try Test.cancel(Comment(rawValue: why))
        }
        defer { cluster.stop() }
        try await function()
    }
}

extension Trait where Self == SlurmClusterTrait {
    /// A running one-node Slurm cluster for the suite (see ``SlurmTestCluster``).
    static var slurmCluster: Self { Self() }
}

extension Sandbox {
    /// `slipway ARGS` pointed at the test cluster.
    @discardableResult
    func slurm(_ args: String...) -> Result {
        run(args, environment: SlurmTestCluster.shared.environment)
    }

    /// `slipway ARGS` in the background, pointed at the test cluster.
    func startOnSlurm(_ args: [String]) throws -> Process {
        let p = process(args, environment: SlurmTestCluster.shared.environment)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// `slipway show RUN --json`, run and stages.
    func shown(_ run: String) throws -> (run: [String: Any], stages: [String: [String: Any]]) {
        let r = slurm("show", run, "--json")
        #expect(r.status == 0, "\(r.stderr)")
        let show = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let run = try #require(show["run"] as? [String: Any])
        let stages = (run["stages"] as? [[String: Any]] ?? []).reduce(into: [String: [String: Any]]()) { $0[$1["stage"] as? String ?? ""] = $1 }
        return (run, stages)
    }

    /// A stage's job status (`show --json`), or nil (also while the run does not exist yet).
    func jobStatus(_ run: String, _ stage: String) -> [String: Any]? {
        let r = slurm("show", run, "--json")
        guard r.status == 0, let show = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
              let stages = (show["run"] as? [String: Any])?["stages"] as? [[String: Any]] else { return nil }
        return stages.first { $0["stage"] as? String == stage }?["jobStatus"] as? [String: Any]
    }

    /// The Slurm job id of a stage (from its handle `slurm:CLUSTER:ID`).
    func slurmJobID(_ run: String, _ stage: String) -> String? {
        guard let job = (try? shown(run))?.stages[stage]?["job"] as? String, job.hasPrefix("slurm:") else { return nil }
        return job.split(separator: ":").last.map(String.init)
    }
}

import Synchronization
