import Foundation
import SlipwayStore

/// Starts pipeline runs in the background. Production spawns the `slipway`
/// executable itself (``SelfLauncher``); tests record what was asked.
public protocol RunLauncher: Sendable {
    /// Starts `slipway run PIPELINE` claiming the queued trigger events `claiming`.
    func launch(pipeline: String, trigger: String, claiming: [Int64]) throws
    /// Starts `slipway run PIPELINE` by hand (the console's `r`, `:run`);
    /// returns the process id when there is one.
    @discardableResult
    func start(pipeline: String) throws -> Int32?
}

extension RunLauncher {
    @discardableResult
    public func start(pipeline: String) throws -> Int32? {
        try launch(pipeline: pipeline, trigger: "manual", claiming: [])
        return nil
    }
}

/// Starts `slipway` itself in the background, detached (its own session, its
/// output appended to a log under `.slipway/logs/`).
public struct SelfLauncher: RunLauncher, RunFollowerLauncher {
    public let workspace: Workspace
    /// The `slipway` executable: this process's own, unless told otherwise.
    public let executable: String

    public init(workspace: Workspace, executable: String? = nil) {
        self.workspace = workspace
        self.executable = executable ?? Self.ownExecutable()
    }

    static func ownExecutable() -> String {
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return exe }
        let arg0 = CommandLine.arguments[0]
        return arg0.hasPrefix("/") ? arg0 : FileManager.default.currentDirectoryPath + "/" + arg0
    }

    public func launch(pipeline: String, trigger: String, claiming: [Int64]) throws {
        _ = try spawn(["run", pipeline, "--trigger", trigger, "--claim", claiming.map(String.init).joined(separator: ",")],
                      log: workspace.logsDir + "/triggered-runs.log")
    }

    @discardableResult
    public func start(pipeline: String) throws -> Int32? {
        try spawn(["run", pipeline], log: workspace.logsDir + "/started-runs.log")
    }

    /// Starts `slipway follow RUN` and waits until it owns the run (or ends),
    /// so a `slipway run` of the same pipeline that comes next waits for the
    /// jobs instead of submitting them again.
    public func follow(runID: Int64) throws {
        let pid = try spawn(["follow", String(runID)], log: workspace.logsDir + "/takeovers.log")
        let registry = try workspace.openRegistry()
        let me = Provenance.hostName()
        let end = Date().addingTimeInterval(15)
        while Date() < end {
            guard let run = try registry.run(id: runID), run.status == .running else { return }
            if run.pid == pid && run.host == me { return }
            // It ended without taking the run: another process follows it.
            if kill(pid, 0) != 0 { return }
            usleep(20_000)
        }
    }

    public struct LaunchFailure: SlipwayError {
        public var command: String
        public var reason: String
        public var description: String { "could not start `slipway \(command)`: \(reason)" }
        public var exitStatus: ExitStatus { .internalError }
    }

    /// Starts `slipway -C WORKSPACE ARGS` in its own session, its output
    /// appended to `log`; returns its pid.
    public func spawn(_ args: [String], log: String) throws -> Int32 {
        let argv = [executable, "-C", workspace.root] + args
        try FileSystem.makeDirectory(workspace.logsDir)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of ours goes with it: an inherited pipe would keep whoever
        // reads this process's output waiting until the run ends.
        let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
        for fd in open where fd > 2 && fcntl(fd, F_GETFD) >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, 0x80)  // POSIX_SPAWN_SETSID (glibc): its own session, detached
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = cargs.withUnsafeBufferPointer { posix_spawn(&pid, executable, &actions, &attr, UnsafeMutablePointer(mutating: $0.baseAddress!), environ) }
        guard rc == 0 else { throw LaunchFailure(command: args.joined(separator: " "), reason: String(cString: strerror(rc))) }
        // Reaped by a thread, so no zombie is left while this process lives on (the agent, the console).
        let child = pid
        Thread.detachNewThread { var status: Int32 = 0; _ = waitpid(child, &status, 0) }
        return pid
    }
}
