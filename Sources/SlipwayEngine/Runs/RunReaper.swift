import Foundation

/// Finds runs whose `slipway` process died (kill -9, a crash, a lost machine)
/// and marks them `interrupted`, keeping everything they recorded. Every
/// command calls it when it opens the registry.
///
/// A run on this host is dead when its process is gone, or when the pid now
/// belongs to a process that started after the run did (the pid was reused).
/// A living owner is never reaped, even with a stale heartbeat: a process
/// stopped with SIGSTOP (or a suspended terminal job) resumes and finishes
/// its run. A run on another host is presumed dead after a long silence.
///
/// The jobs a dead run left behind are cancelled through the executor that
/// owns each job's handle; a handle no known executor claims is left alone.
public struct RunReaper: Sendable {
    /// A run on another host is presumed dead after this long without a heartbeat.
    public var remoteStaleAfter: Millis = 120_000
    /// Where /proc cannot tell a process's start time: a run whose pid is alive
    /// but whose heartbeat is this old is presumed dead (its pid was reused).
    public var localStaleAfter: Millis = 30_000
    public var executors: [any Executor]

    public init(executors: [any Executor] = [ProcessExecutor()]) {
        self.executors = executors
    }

    /// Returns the ids of the runs it marked.
    @discardableResult
    public func reap(_ store: any RunStore, host: String = Provenance.hostName(), now: Millis = Clock.nowMillis()) throws -> [Int64] {
        var reaped: [Int64] = []
        for run in try store.activeRuns() where isDead(run, host: host, now: now) {
            for stage in try store.stageRuns(runID: run.id) where stage.status == .running {
                guard let text = stage.job, let handle = JobHandle(text) else { continue }
                for executor in executors where executor.name == handle.executor {
                    executor.cancel(handle)
                }
            }
            try store.markInterrupted(runID: run.id, reason: "the slipway process (pid \(run.pid) on \(run.host)) stopped without finishing the run")
            reaped.append(run.id)
        }
        return reaped
    }

    func isDead(_ run: RunRecord, host: String, now: Millis) -> Bool {
        let age = now - run.heartbeatAt
        guard run.host == host else { return age > remoteStaleAfter }
        guard kill(run.pid, 0) == 0 || errno == EPERM else { return true }
        if LocalProcess.isZombie(pid: run.pid) { return true }
        if let started = LocalProcess.startTime(pid: run.pid) {
            // Two seconds of slack: boot time is whole seconds.
            return started > run.startedAt + 2_000
        }
        return age > localStaleAfter
    }
}

/// Facts about a local process from /proc.
enum LocalProcess {
    /// When the process started (ms since the epoch), or nil where /proc cannot say.
    static func startTime(pid: Int32) -> Millis? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name; starttime is field 22 of the whole line.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]), let boot = bootTime else { return nil }
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        return boot + Millis(ticks / hz * 1000)
    }

    /// Whether the process exited and waits to be reaped by its parent (a
    /// zombie): dead, though `kill(pid, 0)` still succeeds.
    static func isZombie(pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
        return state == "Z" || state == "X"
    }

    /// The boot time (ms since the epoch), from /proc/stat's `btime`.
    static let bootTime: Millis? = {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Millis(line.dropFirst(6).trimmingCharacters(in: .whitespaces)).map { $0 * 1000 }
        }
        return nil
    }()
}
