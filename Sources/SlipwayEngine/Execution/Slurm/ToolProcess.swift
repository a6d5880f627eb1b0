import Foundation

/// Runs a short command (`sbatch`, `scontrol`, `scancel`) and collects its
/// output, with a time limit. Spawned like stage commands (under
/// ``ProcessExecutor``'s spawn lock, pipes close-on-exec), so a stage
/// started at the same moment never inherits these pipes, and this call
/// never holds a stage's pipe open.
enum ToolProcess {
    struct Result: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut = false
        var succeeded: Bool { status == 0 && !timedOut }
    }

    struct SpawnFailed: Error, CustomStringConvertible {
        var tool: String
        var reason: String
        var description: String { "cannot run \(tool): \(reason)" }
    }

    /// Finds `name` on PATH (an absolute or relative path is taken as is).
    static func locate(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `executable` with `arguments`; kills it after `timeout` seconds.
    static func run(_ executable: String, _ arguments: [String], timeout: Double = 60) throws -> Result {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        ProcessExecutor.spawnLock.lock()
        guard pipe(&outPipe) == 0 else {
            ProcessExecutor.spawnLock.unlock()
            throw SpawnFailed(tool: executable, reason: String(cString: strerror(errno)))
        }
        guard pipe(&errPipe) == 0 else {
            close(outPipe[0]); close(outPipe[1])
            ProcessExecutor.spawnLock.unlock()
            throw SpawnFailed(tool: executable, reason: String(cString: strerror(errno)))
        }
        // Close-on-exec before anyone else spawns (all spawns here hold this lock).
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attrs = posix_spawnattr_t()
        posix_spawnattr_init(&attrs)
        defer { posix_spawnattr_destroy(&attrs) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE); sigaddset(&defaults, SIGINT); sigaddset(&defaults, SIGTERM)
        posix_spawnattr_setsigdefault(&attrs, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attrs, &mask)
        posix_spawnattr_setflags(&attrs, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let argv = [executable] + arguments
        let env = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        let rc = withCStrings(argv) { a in withCStrings(env) { e in posix_spawn(&pid, executable, &actions, &attrs, a, e) } }
        close(outPipe[1]); close(errPipe[1])
        ProcessExecutor.spawnLock.unlock()
        guard rc == 0 else {
            close(outPipe[0]); close(errPipe[0])
            throw SpawnFailed(tool: executable, reason: String(cString: strerror(rc)))
        }

        // Read both pipes in one loop until both close or the time is up.
        var out: [UInt8] = [], err: [UInt8] = []
        var fds = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0), pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeout) * 1e9)
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while fds.contains(where: { $0.fd >= 0 }) {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= deadline { timedOut = true; break }
            let waitMs = Int32(min(UInt64(1000), (deadline - now) / 1_000_000 + 1))
            let n = poll(&fds, nfds_t(fds.count), waitMs)
            if n < 0 { if errno == EINTR { continue }; break }
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                let r = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if r > 0 {
                    if i == 0 { out.append(contentsOf: buffer[0..<r]) } else { err.append(contentsOf: buffer[0..<r]) }
                } else if r == 0 || errno != EINTR {
                    close(fds[i].fd)
                    fds[i].fd = -1
                }
            }
        }
        for f in fds where f.fd >= 0 { close(f.fd) }
        if timedOut { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: code, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self),
                      timedOut: timedOut)
    }
}
