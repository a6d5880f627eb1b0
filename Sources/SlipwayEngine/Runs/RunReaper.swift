import Foundation
import SlipwayStore

/// Finds runs whose `slipway` process died (kill -9, a crash, a lost machine)
/// and settles them, keeping everything they recorded. Every command calls
/// it when it opens the registry; the agent calls it on every pass.
///
/// A run on this host is dead when its process is gone, or when the pid now
/// belongs to a process that started after the owner's last heartbeat (the
/// pid was reused). A living owner is never reaped, even with a stale
/// heartbeat: a process stopped with SIGSTOP (or a suspended terminal job)
/// resumes and finishes its run. A run on another host is presumed dead
/// after a long silence.
///
/// What a dead run left behind:
/// - jobs that outlive their owner (a cluster's) are followed to their end by
///   a process that takes the run over (``RunTakeover``, started through
///   `follower`), so they are neither orphaned nor run again;
/// - a run someone asked to cancel has its jobs cancelled through the
///   executor that owns each job's handle, and ends `cancelled`;
/// - otherwise its jobs are cancelled (a local process group lost its
///   owner's pipe) and the run is marked `interrupted`.
/// A handle no known executor claims is left alone.
public struct RunReaper: Sendable {
    /// A run on another host is presumed dead after this long without a heartbeat.
    public var remoteStaleAfter: Millis = 120_000
    /// Where /proc cannot tell a process's start time: a run whose pid is alive
    /// but whose heartbeat is this old is presumed dead (its pid was reused).
    public var localStaleAfter: Millis = 30_000
    public var executors: [any Executor]
    /// Starts a process that takes a dead run over and follows its jobs; nil
    /// leaves such runs for a command that can (their jobs go on meanwhile).
    public var follower: (any RunFollowerLauncher)?

    public init(executors: [any Executor] = Executors().all, follower: (any RunFollowerLauncher)? = nil) {
        self.executors = executors
        self.follower = follower
    }

    /// Returns the ids of the runs it settled (marked interrupted or cancelled).
    @discardableResult
    public func reap(_ store: any RunStore, host: String = Provenance.hostName(), now: Millis = SystemClock.nowMillis()) throws -> [Int64] {
        var reaped: [Int64] = []
        for run in try store.activeRuns() where isDead(run, host: host, now: now) {
            let running = try store.stageRuns(runID: run.id).filter { $0.status == .running }
            let outliving = running.contains { stage in
                guard let h = stage.job.flatMap(JobHandle.init) else { return false }
                return executors.first { $0.name == h.executor }?.jobsOutliveOwner == true
            }
            if outliving, run.cancelRequestedAt == nil {
                // Followed to their end by a process that takes the run over.
                if let follower { try follower.follow(runID: run.id) }
                continue
            }
            for stage in running {
                guard let text = stage.job, let handle = JobHandle(text) else { continue }
                for executor in executors where executor.name == handle.executor {
                    executor.cancel(handle)
                }
            }
            if run.cancelRequestedAt != nil {
                try settleCancelled(run, store)
            } else {
                try store.markInterrupted(runID: run.id, reason: "the slipway process (pid \(run.pid) on \(run.host)) stopped without finishing the run")
            }
            reaped.append(run.id)
        }
        return reaped
    }

    /// Ends a dead run whose cancel was asked: its unfinished stages cancelled.
    func settleCancelled(_ run: RunRecord, _ store: any RunStore) throws {
        let me = RunOwner(pid: getpid(), host: Provenance.hostName())
        guard try store.takeOverRun(id: run.id, from: run.owner, to: me, reason: "settling a cancel asked after its process died") else { return }
        for var s in try store.stageRuns(runID: run.id) where s.status == .pending || s.status == .running {
            if s.status == .running { s.endedAt = SystemClock.nowMillis() }
            s.status = .cancelled
            s.reason = s.reason.isEmpty ? "run cancelled" : s.reason
            try store.updateStageRun(s)
        }
        try store.finishRun(id: run.id, status: .cancelled, message: "cancelled (its process, pid \(run.pid) on \(run.host), had died)")
    }

    public func isDead(_ run: RunRecord, host: String = Provenance.hostName(), now: Millis = SystemClock.nowMillis()) -> Bool {
        let age = now - run.heartbeatAt
        guard run.host == host else { return age > remoteStaleAfter }
        guard kill(run.pid, 0) == 0 || errno == EPERM else { return true }
        if LocalProcess.isZombie(pid: run.pid) { return true }
        if let started = LocalProcess.startTime(pid: run.pid) {
            // A process that started after the owner's last heartbeat holds a
            // reused pid. Two seconds of slack: boot time is whole seconds.
            return started > run.heartbeatAt + 2_000
        }
        return age > localStaleAfter
    }
}

/// Starts a process that takes a dead run over (``RunTakeover``) and follows
/// its jobs to their end; the engine does not know its own binary.
public protocol RunFollowerLauncher: Sendable {
    /// Returns once that process owns the run, or gave up (another took it).
    func follow(runID: Int64) throws
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
