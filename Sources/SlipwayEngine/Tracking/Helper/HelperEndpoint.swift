import Foundation

/// Serves a run's MLflow endpoint through the `slipway-mlflow` executable installed
/// beside `slipway`. The run binds the loopback port itself (one socket, no threads);
/// the helper is started only when a stage first connects, and is handed the socket,
/// so a run whose stages never call MLflow starts nothing, and `slipway` itself links
/// no HTTP server (docs/mlflow.md, "Where the endpoint runs").
public struct HelperEndpointFactory: TrackingEndpointFactory {
    /// The helper's path.
    public let executable: String

    public init(executable: String) { self.executable = executable }

    /// `slipway-mlflow` in the folder of the running executable.
    public static func besideRunningExecutable() -> HelperEndpointFactory {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments.first ?? "slipway"
        return HelperEndpointFactory(executable: (exe as NSString).deletingLastPathComponent + "/slipway-mlflow")
    }

    public struct Missing: Error, CustomStringConvertible {
        public var description: String
    }

    public func start(workspace: Workspace, runID: Int64, pipeline: String) throws -> any TrackingEndpoint {
        guard access(executable, X_OK) == 0 else {
            throw Missing(description: "\(executable) is missing; it is built beside slipway by `swift build -c release --static-swift-stdlib`")
        }
        return try HelperEndpoint(executable: executable, root: workspace.root, pipeline: pipeline,
                                  errorLog: workspace.stateDir + "/runs/run-\(runID)/slipway-mlflow.log")
    }
}

/// One run's endpoint, its helper started on the first connection.
final class HelperEndpoint: TrackingEndpoint, @unchecked Sendable {
    let executable: String
    let root: String
    let pipeline: String
    let port: Int
    /// Where the helper's standard error goes (a crash's message, a failure to serve).
    let errorLog: String

    private enum State {
        case listening(fd: Int32, watcher: any DispatchSourceRead)
        case serving(FrameChannel, pid: pid_t)
        case failed(String)
        case stopped
    }

    private struct Scope {
        var token: String
        var runID: String
        var stage: TrackedStageInfo
        var sink: any TrackingSink
    }

    private final class Waiter: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var frame: TrackingFrame?
    }

    private let lock = NSLock()
    private var state: State
    private var scopes: [String: Scope] = [:]
    private var waiters: [UInt64: Waiter] = [:]
    private var nextCall: UInt64 = 1
    private var readerStarted = false
    /// Signalled when the listening socket's watcher has let go of it.
    private let released = DispatchSemaphore(value: 0)
    /// Signalled when the helper's reader has finished (the helper exited or was lost).
    private let readerEnded = DispatchSemaphore(value: 0)

    init(executable: String, root: String, pipeline: String, errorLog: String) throws {
        self.executable = executable
        self.root = root
        self.pipeline = pipeline
        self.errorLog = errorLog
        let (fd, port) = try LoopbackListener.open()
        self.port = port
        let watcher = DispatchSource.makeReadSource(fileDescriptor: fd, queue: .global(qos: .userInitiated))
        state = .listening(fd: fd, watcher: watcher)
        let released = self.released
        // A source's descriptor may be closed only once it is cancelled.
        watcher.setCancelHandler {
            close(fd)
            released.signal()
        }
        watcher.setEventHandler { [weak self] in self?.startHelper() }
        watcher.resume()
    }

    deinit { stop() }

    func openStage(_ stage: TrackedStageInfo, sink: any TrackingSink) throws -> TrackingScope {
        let scope = Scope(token: TrackingAddress.newToken(), runID: TrackingAddress.hex128(), stage: stage, sink: sink)
        let environment = TrackingAddress.environment(port: port, token: scope.token, runID: scope.runID, pipeline: pipeline)
        // A helper already serving learns of the scope before the stage can use it.
        let waiter: Waiter? = try lock.withLock {
            switch state {
            case .failed(let reason): throw HelperEndpointFactory.Missing(description: "the tracking endpoint stopped: \(reason)")
            case .stopped: throw HelperEndpointFactory.Missing(description: "the run's tracking endpoint is stopped")
            case .listening:
                scopes[scope.token] = scope
                return nil
            case .serving(let channel, _):
                let (waiter, call) = register()
                do { try channel.send(.open(call: call, token: scope.token, runID: scope.runID, stage: stage)) } catch {
                    waiters[call] = nil
                    throw error
                }
                scopes[scope.token] = scope
                return waiter
            }
        }
        if let waiter {
            awaitAnswer(waiter)
            guard case .done(_, nil)? = waiter.frame else {
                _ = lock.withLock { scopes.removeValue(forKey: scope.token) }
                var reason = "the tracking helper stopped"
                if case .done(_, let error?)? = waiter.frame { reason = error }
                throw HelperEndpointFactory.Missing(description: reason)
            }
        }
        return TrackingScope(token: scope.token, environment: environment)
    }

    func closeStage(_ scope: TrackingScope) -> TrackedStageSummary {
        let waiter: Waiter? = lock.withLock {
            guard scopes.removeValue(forKey: scope.token) != nil, case .serving(let channel, _) = state else { return nil }
            let (waiter, call) = register()
            do { try channel.send(.close(call: call, token: scope.token)) } catch {
                waiters[call] = nil
                return nil
            }
            return waiter
        }
        guard let waiter else { return TrackedStageSummary() }
        awaitAnswer(waiter)
        if case .summary(_, let summary)? = waiter.frame { return summary }
        return TrackedStageSummary()
    }

    func stop() {
        let (previous, reading) = lock.withLock { () -> (State, Bool) in
            defer { state = .stopped }
            return (state, readerStarted)
        }
        switch previous {
        case .failed where reading:
            readerEnded.wait()  // what it says in the stages' logs is written before the run ends
        case .listening(_, let watcher):
            watcher.cancel()
            released.wait()  // the port is free when stop returns
        case .serving(let channel, let pid):
            try? channel.send(.stop)
            // The helper closes the port and exits; one that does not is killed.
            if readerEnded.wait(timeout: .now() + Self.answerTime) == .timedOut {
                kill(pid, SIGKILL)
                readerEnded.wait()
            }
        case .failed, .stopped:
            break
        }
    }

    /// How long the helper may take to answer a call or to stop (seconds): it answers at
    /// once unless it is wedged, and a wedged helper must not hold the run.
    static let answerTime: Double = 30

    /// Waits for a call's answer; a helper that does not answer in time is killed (its
    /// reader then fails every waiting call and says so in the stages' logs).
    private func awaitAnswer(_ waiter: Waiter) {
        guard waiter.done.wait(timeout: .now() + Self.answerTime) == .timedOut else { return }
        let pid: pid_t? = lock.withLock {
            if case .serving(_, let pid) = state { return pid }
            return nil
        }
        if let pid { kill(pid, SIGKILL) }
        waiter.done.wait()
    }

    /// A waiter for the answer to a new call (the lock is held).
    private func register() -> (Waiter, UInt64) {
        let call = nextCall
        nextCall += 1
        let waiter = Waiter()
        waiters[call] = waiter
        return (waiter, call)
    }

    // MARK: - the helper

    /// The first connection is waiting: the helper is started with the socket and told
    /// of every scope open so far, then serves.
    private func startHelper() {
        lock.lock()
        defer { lock.unlock() }
        guard case .listening(let fd, let watcher) = state else { return }
        do {
            let (channel, pid) = try spawn(listening: fd)
            state = .serving(channel, pid: pid)
            try channel.send(.hello(root: root, pipeline: pipeline))
            for s in scopes.values {
                try channel.send(.open(call: 0, token: s.token, runID: s.runID, stage: s.stage))
            }
            try channel.send(.serve)
            readerStarted = true
            Thread.detachNewThread { [self] in read(channel, pid: pid) }
        } catch {
            if case .serving(let channel, let pid) = state {
                channel.close()
                kill(pid, SIGKILL)
                var status: Int32 = 0
                _ = waitpid(pid, &status, 0)
            }
            state = .failed("\(error)")
            for s in scopes.values { s.sink.note("the tracking endpoint could not start: \(error)") }
        }
        // Closes this process's copy of the socket: the helper has its own (or, when it
        // could not start, waiting clients are refused rather than left waiting).
        watcher.cancel()
    }

    private func spawn(listening fd: Int32) throws -> (FrameChannel, pid_t) {
        var pair: [Int32] = [0, 0]
        ProcessExecutor.spawnLock.lock()
        defer { ProcessExecutor.spawnLock.unlock() }
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw HelperEndpointFactory.Missing(description: "socketpair: \(String(cString: strerror(errno)))")
        }
        // The helper gets them as 3 and 4. Copies above 4 first: a dup2 of a descriptor onto
        // itself would leave it close-on-exec on some C libraries (glibc before 2.29).
        let listening = fcntl(fd, F_DUPFD_CLOEXEC, 5), control = fcntl(pair[1], F_DUPFD_CLOEXEC, 5)
        close(pair[1])
        defer { if listening >= 0 { close(listening) }; if control >= 0 { close(control) } }
        guard listening >= 0, control >= 0 else {
            close(pair[0])
            throw HelperEndpointFactory.Missing(description: "fcntl: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        try? FileManager.default.createDirectory(atPath: (errorLog as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        posix_spawn_file_actions_addopen(&actions, 2, errorLog, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0o644)
        posix_spawn_file_actions_adddup2(&actions, listening, 3)
        posix_spawn_file_actions_adddup2(&actions, control, 4)
        var attrs = posix_spawnattr_t()
        posix_spawnattr_init(&attrs)
        defer { posix_spawnattr_destroy(&attrs) }
        // Its own process group: the terminal's ^C reaches the run, which stops the
        // helper once its stages have ended, not the helper in the middle of a request.
        posix_spawnattr_setpgroup(&attrs, 0)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attrs, &mask)
        posix_spawnattr_setflags(&attrs, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK))
        let env = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let rc = withCStrings([executable]) { argv in
            withCStrings(env) { envp in posix_spawn(&pid, executable, &actions, &attrs, argv, envp) }
        }
        guard rc == 0 else {
            close(pair[0])
            throw HelperEndpointFactory.Missing(description: "cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        return (FrameChannel(fd: pair[0]), pid)
    }

    /// Reads the helper's frames until it exits: what stages log goes to their sinks
    /// (on this one thread, so in the order sent), answers go to their waiters.
    private func read(_ channel: FrameChannel, pid: pid_t) {
        var lost: String?
        do {
            while let frame = try channel.receive() {
                switch frame {
                case .done(let call, _), .summary(let call, _):
                    let waiter = lock.withLock { waiters.removeValue(forKey: call) }
                    waiter?.frame = frame
                    waiter?.done.signal()
                case .note(let token, let message):
                    // A note may quote a request's path, which may hold the token.
                    lock.withLock { scopes[token]?.sink }?.note(message.replacingOccurrences(of: token, with: "***"))
                case .metrics(let call, let token, _), .params(let call, let token, _), .tags(let call, let token, _),
                     .artifact(let call, let token, _), .inputs(let call, let token, _):
                    let error = deliver(frame, to: lock.withLock { scopes[token]?.sink })
                    try channel.send(.done(call: call, error: error))
                case .hello, .open, .serve, .close, .stop:
                    throw MalformedTrackingFrame(description: "the helper sent a frame only a run sends")
                }
            }
        } catch {
            lost = "\(error)"
        }
        // The state changes before the socket closes, so no one sends on a closed (or
        // reused) descriptor: a sender sees the endpoint failed or stopped, or a closed channel.
        let (pending, open, stopping) = lock.withLock { () -> ([Waiter], [Scope], Bool) in
            let pending = Array(waiters.values)
            waiters = [:]
            if case .stopped = state { return (pending, [], true) }
            state = .failed(lost ?? "the tracking helper exited")
            return (pending, Array(scopes.values), false)
        }
        channel.close()
        // A helper that sent what it should not is not left to decide when it stops.
        if lost != nil { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        for waiter in pending { waiter.done.signal() }
        if !stopping {
            let reason = (lost ?? Self.describe(status: status)) + Self.excerpt(of: errorLog)
            for s in open { s.sink.note("the tracking endpoint stopped during the run: \(reason)") }
        }
        readerEnded.signal()
    }

    /// The end of what the helper said on standard error, if anything (`; it said: …`).
    static func excerpt(of log: String) -> String {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return "" }
        let last = text.split(separator: "\n").suffix(3).joined(separator: " / ")
        return last.isEmpty ? "" : "; it said: " + String(last.suffix(500)) + " (\(log))"
    }

    /// A wait status in words.
    static func describe(status: Int32) -> String {
        let signal = status & 0x7f
        if signal == 0 { return "the helper exited with status \((status >> 8) & 0xff)" }
        return "the helper was killed by signal \(signal)"
    }

    /// Hands what a stage logged to its sink: nil, or why it was not kept.
    private func deliver(_ frame: TrackingFrame, to sink: (any TrackingSink)?) -> String? {
        guard let sink else { return "this stage's tracking scope is closed" }
        do {
            switch frame {
            case .metrics(_, _, let points): try sink.logMetrics(points)
            case .params(_, _, let kv): try sink.logParams(kv)
            case .tags(_, _, let kv): try sink.setTags(kv)
            case .artifact(_, _, let a): try sink.recordArtifact(a)
            case .inputs(_, _, let inputs): try sink.logInputs(inputs)
            default: break
            }
            return nil
        } catch {
            return "\(error)"
        }
    }
}
