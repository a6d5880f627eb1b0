import Foundation
import SlipwayStore

/// `slipway agent`: the long-running process of a workspace. Each pass it
/// drives deployments (canary steps, analyses, the `rollback_when` watch),
/// promotes into `auto:` environments, carries out approved promotions,
/// expires approval requests, and runs its other duties (monitors,
/// triggers). Everything it decides is in the registry before it acts on it,
/// so `kill -9` at any point and a restart resume at the right step.
///
/// One agent per workspace: `.slipway/agent.lock` is held (flock) for the
/// agent's life; `.slipway/agent.json` is its heartbeat.
public final class Agent: @unchecked Sendable {
    public let workspace: Workspace
    let registry: any Registry
    let actor: String
    let duties: [any AgentDuty]
    let echo: (@Sendable (String) -> Void)?
    private var lockFD: Int32 = -1
    private var startedAt: Millis = SystemClock.nowMillis()
    private var passes = 0
    private let wake = DispatchSemaphore(value: 0)
    private let stopLock = NSLock()
    private var stopping = false

    public init(workspace: Workspace, registry: any Registry, actor: String = "slipway-agent", duties: [any AgentDuty] = [],
                echo: (@Sendable (String) -> Void)? = nil) {
        self.workspace = workspace
        self.registry = registry
        self.actor = actor
        self.duties = duties
        self.echo = echo
    }

    deinit { if lockFD >= 0 { close(lockFD) } }

    public var lockPath: String { workspace.stateDir + "/agent.lock" }
    public var heartbeatPath: String { Self.heartbeatPath(workspace) }
    public var logPath: String { workspace.stateDir + "/agent.log" }
    public static func heartbeatPath(_ workspace: Workspace) -> String { workspace.stateDir + "/agent.json" }

    public struct AlreadyRunning: SlipwayError {
        public var pid: Int32?
        public var since: String?
        public var exitStatus: ExitStatus { .usage }
        public var description: String {
            "an agent is already running for this workspace" + (pid.map { " (pid \($0)" + (since.map { ", since \($0)" } ?? "") + ")" } ?? "")
                + "; stop it first (" + (pid.map { "kill -TERM \($0)" } ?? "`fuser .slipway/agent.lock` names its process") + ")"
        }
    }

    /// The pid the lock's holder wrote into it. The holder writes it right
    /// after taking the lock, so a look in between finds nothing yet (or the
    /// pid of an agent long gone): look again, briefly, until a live one.
    static func holder(of lockPath: String) -> Int32? {
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: lockPath, encoding: .utf8),
               let pid = Int32(text.split(separator: "\n").first ?? ""), pid > 0, kill(pid, 0) == 0 || errno == EPERM {
                return pid
            }
            usleep(5_000)
        }
        return nil
    }

    /// Takes the workspace's agent lock, or says who holds it.
    public func acquireLock(onePass: Bool = false) throws {
        try workspace.prepareStateDirectory()
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw FileSystem.Failure(path: lockPath, operation: "open", code: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            // The lock file names its holder; the heartbeat may be missing, or an older agent's.
            let beat = Self.heartbeat(workspace)
            let pid = Self.holder(of: lockPath) ?? beat.flatMap { $0.isRunning ? $0.pid : nil }
            throw AlreadyRunning(pid: pid, since: beat.flatMap { $0.pid == pid ? Self.iso($0.startedAt) : nil })
        }
        // Written over what is there, then cut to length: never an empty file to a reader.
        let text = Array("\(getpid())\n".utf8)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        ftruncate(fd, off_t(text.count))
        lockFD = fd
        startedAt = SystemClock.nowMillis()
        log(onePass ? "agent: one pass (pid \(getpid()))" : "agent started (pid \(getpid()))")
        try? beat(error: nil)
    }

    /// What `.slipway/agent.json` holds.
    public struct Heartbeat: Codable, Sendable, Hashable {
        public var pid: Int32
        public var host: String
        public var startedAt: Millis
        public var heartbeatAt: Millis
        public var passes: Int
        public var lastError: String?
        /// Set by a clean stop.
        public var stoppedAt: Millis?

        /// Running: not stopped, and the process is alive (on this host).
        public var isRunning: Bool {
            guard stoppedAt == nil else { return false }
            if host == Provenance.hostName() { return kill(pid, 0) == 0 || errno == EPERM }
            return SystemClock.nowMillis() - heartbeatAt < 60_000
        }
    }

    public static func heartbeat(_ workspace: Workspace) -> Heartbeat? {
        guard let data = try? FileSystem.readFile(heartbeatPath(workspace)) else { return nil }
        return try? JSONDecoder().decode(Heartbeat.self, from: data)
    }

    func beat(error: String?, stopped: Bool = false) throws {
        let h = Heartbeat(pid: getpid(), host: Provenance.hostName(), startedAt: startedAt, heartbeatAt: SystemClock.nowMillis(),
                          passes: passes, lastError: error, stoppedAt: stopped ? SystemClock.nowMillis() : nil)
        try FileSystem.writeFile(heartbeatPath, try JSONEncoder.sorted.encode(h))
    }

    /// Asks a running `run(interval:)` to stop after the step it is taking.
    public func stop() {
        stopLock.withLock { stopping = true }
        wake.signal()
    }

    var isStopping: Bool { stopLock.withLock { stopping } }

    /// One pass over every duty; returns what happened, in words.
    @discardableResult
    public func pass() -> [String] {
        passes += 1
        var lines: [String] = []
        var lastError: String?
        let spec: WorkspaceSpec
        do { spec = try workspace.loadSpec().spec } catch {
            lastError = "slipway.yaml: \(error)"
            log(lastError!)
            try? beat(error: lastError)
            return [lastError!]
        }
        let context = AgentContext(workspace: workspace, registry: registry, spec: spec, actor: actor, stopping: { [weak self] in self?.isStopping ?? true })
        for duty in [DeploymentDuty() as any AgentDuty] + duties {
            if isStopping { break }
            do {
                lines += try duty.pass(context)
            } catch {
                lastError = "\(duty.name): \(error)"
                lines.append(lastError!)
            }
        }
        for line in lines { log(line) }
        try? beat(error: lastError)
        return lines
    }

    /// Passes every `interval` seconds until `stop()` (or SIGTERM/SIGINT, when
    /// `handleSignals`); the step in progress finishes first.
    public func run(interval: Double, handleSignals: Bool = true) {
        let signals = handleSignals ? SignalWatch.watch([SIGTERM, SIGINT]) { [weak self] sig in
            self?.log("agent stopping (\(sig == SIGTERM ? "SIGTERM" : "SIGINT"))")
            self?.stop()
        } : nil
        // On a store with a change feed (PostgreSQL), a vote, a promotion or a
        // rollback made on any machine starts a pass at once; `interval` is then
        // the fallback. The feed leaves out the agent's own writes, so a pass that
        // writes does not start another.
        var feed: (any ChangeFeed)?
        do { feed = try registry.changeFeed() } catch {
            log("cannot listen for changes to the registry (\(error)); passing every \(Durations.format(interval))")
        }
        if let feed {
            log("listening for changes to the registry (a pass starts on each; every \(Durations.format(interval)) otherwise)")
            Thread { [weak self] in
                while let self, !self.isStopping {
                    do {
                        if try feed.wait(timeout: 1) { self.wake.signal() }
                    } catch {
                        self.log("change feed lost (\(error)); passing every \(interval) s")
                        return
                    }
                }
            }.start()
        }
        while !isStopping {
            pass()
            if isStopping { break }
            if wake.wait(timeout: .now() + interval) == .success {
                // Several announcements (or one and a stop) make one pass.
                while wake.wait(timeout: .now()) == .success {}
            }
        }
        feed?.close()
        try? beat(error: nil, stopped: true)
        log("agent stopped")
        signals?.release()
    }

    func log(_ line: String) {
        let text = "\(Self.iso(SystemClock.nowMillis())) \(line)\n"
        echo?(line)
        let fd = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { return }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    static func iso(_ ms: Millis) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: SystemClock.date(ms))
    }
}

/// What a duty sees on each pass.
public struct AgentContext: Sendable {
    public var workspace: Workspace
    public var registry: any Registry
    public var spec: WorkspaceSpec
    public var actor: String
    /// True once the agent was asked to stop: a duty finishes the step it is in and returns.
    public var stopping: @Sendable () -> Bool
}

/// One of the agent's jobs (deployments, monitors, triggers).
public protocol AgentDuty: Sendable {
    var name: String { get }
    /// Does what is due now; returns what happened, in words (nothing when idle).
    func pass(_ context: AgentContext) throws -> [String]
}

/// Deployments, automatic promotions, approved promotions, expiring requests.
struct DeploymentDuty: AgentDuty {
    var name: String { "deployments" }

    func pass(_ c: AgentContext) throws -> [String] {
        var lines: [String] = []
        for id in try c.registry.expireApprovalRequests(now: SystemClock.nowMillis()) { lines.append("approval request \(id) expired") }
        let service = DeploymentService(workspace: c.workspace, registry: c.registry, spec: c.spec, driver: c.actor)
        // Calls cut short by a dead driver (a promote or rollback killed), made again with the same id.
        lines += try service.resumeInterruptedCalls()
        for d in try c.registry.activeDeployments() {
            if c.stopping() { break }
            let before = d
            let p: DeploymentService.Progress
            do { p = try service.advance(d) } catch is RegistryConflict {
                continue  // another driver (a promote command) moved it on meanwhile
            }
            if p.deployment.updatedAt != before.updatedAt || p.deployment.state != before.state {
                lines.append("deployment \(d.id) \(d.label): \(p.deployment.state.rawValue) · \(p.deployment.detail)")
            }
        }
        if c.stopping() { return lines }
        let approvals = ApprovalService(workspace: c.workspace, registry: c.registry, spec: c.spec)
        for f in try approvals.followUp(actor: c.actor) {
            let label = "\(f.model):\(f.version)"
            switch f.result {
            case .success(.decided(let outcome, _)): lines.append("auto: " + outcome.summary(label))
            case .success(.queued(let r, _)): lines.append("auto: \(label) → \(f.environment) is high risk: waiting for approval (request \(r.id))")
            case .success(.alreadyLive): break
            case .failure(let e): lines.append("auto: \(label) → \(f.environment) refused: \(e.message)")
            }
        }
        return lines
    }
}
