import Foundation

/// Runs stage commands as local processes: `/bin/sh -c CMD` in the workspace,
/// each in its own process group so a timeout or cancel stops everything the
/// command started, not just the shell.
///
/// posix_spawn is used directly (rather than Foundation's Process) for that
/// process-group control and for unbuffered streaming of both pipes.
public struct ProcessExecutor: Executor {
    /// Seconds between SIGTERM and SIGKILL when stopping a job.
    public var gracePeriod: Double

    public init(gracePeriod: Double = 5) { self.gracePeriod = gracePeriod }

    public var name: String { "local" }

    /// The handle of a process group started here.
    public static func handle(processGroup: pid_t, host: String = Provenance.hostName()) -> JobHandle {
        JobHandle(executor: "local", location: host, id: String(processGroup))
    }

    /// Kills the process group of a job started on this host.
    public func cancel(_ handle: JobHandle) -> Bool {
        guard handle.executor == name, handle.location == Provenance.hostName(),
              let pgid = pid_t(handle.id), pgid > 1 else { return false }
        return kill(-pgid, SIGKILL) == 0
    }

    /// Held while any child is spawned here, so no child inherits a pipe
    /// another thread has not yet marked close-on-exec.
    static let spawnLock = NSLock()

    public func run(_ job: Job, observer: any JobObserver, cancellation: CancellationFlag) -> JobOutcome {
        let logFD = open(job.logPath, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { return .failedToStart("cannot open log \(job.logPath): \(String(cString: strerror(errno)))") }
        defer { close(logFD) }

        // Pipes are made close-on-exec under one lock with the spawn, so a stage
        // started in parallel never inherits another stage's pipe (which would
        // hold that stage's output open past its end).
        Self.spawnLock.lock()
        // One pipe for stdout and stderr keeps their lines in the order written.
        var outPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0 else {
            Self.spawnLock.unlock()
            return .failedToStart("pipe: \(String(cString: strerror(errno)))")
        }
        for fd in outPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)

        var attrs = posix_spawnattr_t()
        posix_spawnattr_init(&attrs)
        defer { posix_spawnattr_destroy(&attrs) }
        posix_spawnattr_setpgroup(&attrs, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT); sigaddset(&defaults, SIGTERM); sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attrs, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attrs, &mask)
        posix_spawnattr_setflags(&attrs, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var env = ProcessInfo.processInfo.environment
        for (k, v) in job.environment { env[k] = v }
        let envStrings = env.map { "\($0.key)=\($0.value)" }
        // The shell enters the working directory, then runs the command as given.
        let args = ["/bin/sh", "-c", "cd -- \"$0\" && exec /bin/sh -c \"$1\"", job.workingDirectory, job.command]

        var pid: pid_t = 0
        let rc = withCStrings(args) { argv in
            withCStrings(envStrings) { envp in
                posix_spawn(&pid, "/bin/sh", &actions, &attrs, argv, envp)
            }
        }
        close(outPipe[1])
        Self.spawnLock.unlock()
        guard rc == 0 else {
            close(outPipe[0])
            return .failedToStart(String(cString: strerror(rc)))
        }
        observer.started(handle: Self.handle(processGroup: pid))

        let group = DispatchGroup()
        group.enter()
        let readEnd = outPipe[0]
        Thread.detachNewThread {
            Self.pump(fd: readEnd, log: logFD, lines: observer, secrets: job.secrets)
            close(readEnd)
            group.leave()
        }

        // Wait for the child, watching the clock and the cancel flag.
        let start = DispatchTime.now().uptimeNanoseconds
        var status: Int32 = 0
        var stopReason: JobOutcome?
        var termSentAt: UInt64?
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if stopReason == nil {
                if cancellation.isCancelled {
                    stopReason = .cancelled
                } else if let t = job.timeout, elapsed >= t {
                    stopReason = .timedOut(after: t)
                }
                if stopReason != nil {
                    kill(-pid, SIGTERM)
                    termSentAt = DispatchTime.now().uptimeNanoseconds
                }
            } else if let sent = termSentAt, Double(DispatchTime.now().uptimeNanoseconds - sent) / 1e9 >= gracePeriod {
                kill(-pid, SIGKILL)
                termSentAt = nil
            }
            usleep(stopReason == nil && elapsed < 1 ? 2_000 : 20_000)
        }
        // Anything the command left running in its group goes with it.
        kill(-pid, SIGKILL)
        group.wait()

        if let stopReason { return stopReason }
        if (status & 0x7f) == 0 { return .exited((status >> 8) & 0xff) }
        return .signalled(status & 0x7f)
    }

    /// Copies the pipe into the log, handing complete lines to `lines`.
    static func pump(fd: Int32, log: Int32, lines: (any JobObserver)?, secrets: [String] = []) {
        let size = 64 * 1024
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        defer { buffer.deallocate() }
        var mask = SecretMask(secrets)
        var partial: [UInt8] = []
        // A line longer than this is still logged but not parsed for metrics.
        let maxLine = 64 * 1024
        var overlong = false
        func emit(_ bytes: UnsafeBufferPointer<UInt8>) {
            var off = 0
            while off < bytes.count {
                let w = write(log, bytes.baseAddress! + off, bytes.count - off)
                if w <= 0 { if errno == EINTR { continue }; break }
                off += w
            }
            guard let lines else { return }
            var start = 0
            for i in 0..<bytes.count where bytes[i] == UInt8(ascii: "\n") {
                if !overlong {
                    partial.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
                    let text = String(decoding: partial, as: UTF8.self)
                    lines.stdoutLine(Substring(text))
                }
                partial.removeAll(keepingCapacity: true)
                overlong = false
                start = i + 1
            }
            if start < bytes.count, !overlong {
                partial.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
                if partial.count > maxLine { overlong = true; partial.removeAll() }
            }
        }
        while true {
            let n = read(fd, buffer, size)
            if n < 0 { if errno == EINTR { continue }; break }
            if n == 0 { break }
            let chunk = UnsafeBufferPointer(start: buffer, count: n)
            if mask.isEmpty {
                emit(chunk)
            } else {
                mask.pass(chunk).withUnsafeBufferPointer { emit($0) }
            }
        }
        mask.finish().withUnsafeBufferPointer { if $0.count > 0 { emit($0) } }
        if !partial.isEmpty, !overlong, let lines {
            lines.stdoutLine(Substring(String(decoding: partial, as: UTF8.self)))
        }
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let pointers = strings.map { strdup($0) }
    defer { pointers.forEach { free($0) } }
    var array: [UnsafeMutablePointer<CChar>?] = pointers + [nil]
    return array.withUnsafeMutableBufferPointer { body(UnsafePointer($0.baseAddress!)) }
}
