import Foundation

/// A command to run for one stage.
public struct Job: Sendable {
    public var command: String
    public var workingDirectory: String
    /// Variables added to the inherited environment.
    public var environment: [String: String]
    /// The file that receives stdout and stderr as they are written.
    public var logPath: String
    public var timeout: Double?
    /// What the stage asked of its executor (a cluster's partition, CPUs, memory …).
    public var resources: ExecutorSpec
    /// A name for the job where the executor shows one (`slipway-run12-train`).
    public var name: String
    /// A folder of the run's own where the executor may keep files (a batch
    /// script); nil when it has none.
    public var workArea: String?
    /// Values in the environment that must not reach the log (a tracking scope's token),
    /// written there as `***`.
    public var secrets: [String] = []

    public init(command: String, workingDirectory: String, environment: [String: String], logPath: String, timeout: Double?,
                resources: ExecutorSpec = .local, name: String = "slipway", workArea: String? = nil) {
        self.command = command
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.logPath = logPath
        self.timeout = timeout
        self.resources = resources
        self.name = name
        self.workArea = workArea
    }
}

public enum JobOutcome: Sendable, Equatable {
    case exited(Int32)
    case signalled(Int32)
    case timedOut(after: Double)
    case cancelled
    case failedToStart(String)
    /// The cluster ended the job for a reason of its own: its node failed, it
    /// ran out of memory, it was preempted (Slurm's state and reason).
    case endedByCluster(state: String, reason: String)
    /// The executor can no longer say what became of the job (a cluster that
    /// forgot it): it may have run, so it is not reported as succeeded.
    case lost(String)

    public var succeeded: Bool { self == .exited(0) }

    public var summary: String {
        switch self {
        case .exited(let code): return "exit code \(code)"
        case .signalled(let sig): return "killed by signal \(sig)"
        case .timedOut(let t): return "timed out after \(Durations.format(t))"
        case .cancelled: return "cancelled"
        case .failedToStart(let why): return "could not start: \(why)"
        case .endedByCluster(let state, let reason): return "ended by the cluster: \(state)" + (reason.isEmpty ? "" : " (\(reason))")
        case .lost(let why): return "lost track of the job: \(why)"
        }
    }

    public var exitCode: Int32? {
        if case .exited(let c) = self { return c }
        return nil
    }
}

/// How an executor names a job it started: which executor (`local`,
/// later `slurm`, `kubernetes` …), where (a host, a cluster) and its id there
/// (a process group, a job id). Kept with the stage run as
/// `executor:location:id`, so whoever finds the job orphaned asks the
/// executor that owns it to cancel it, never signals a number it does not own.
public struct JobHandle: Sendable, Hashable, LosslessStringConvertible {
    public var executor: String
    public var location: String
    public var id: String

    public init(executor: String, location: String, id: String) {
        self.executor = executor
        self.location = location
        self.id = id
    }

    public init?(_ description: String) {
        let parts = description.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[2].isEmpty else { return nil }
        self.init(executor: String(parts[0]), location: String(parts[1]), id: String(parts[2]))
    }

    public var description: String { "\(executor):\(location):\(id)" }
}

/// Receives what a running job reports.
public protocol JobObserver: Sendable {
    /// The job started; `handle` identifies it to the executor that runs it.
    func started(handle: JobHandle)
    /// A complete line the job wrote (stdout and stderr share one stream).
    func stdoutLine(_ line: Substring)
    /// What the executor says about the job now: pending and why, the node it
    /// runs on, and at the end what it used. Reported when it changes.
    func status(_ status: JobStatus)
}

extension JobObserver {
    public func status(_ status: JobStatus) {}
}

/// Cancels jobs from any thread.
public final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    public init() {}
    public var isCancelled: Bool { lock.withLock { cancelled } }
    public func cancel() { lock.withLock { cancelled = true } }
}

/// Where stage commands run. The local ``ProcessExecutor`` runs them as child
/// processes; a Slurm or Kubernetes executor submits them to a cluster and
/// streams their logs back through the same calls.
public protocol Executor: Sendable {
    /// The name in the handles this executor issues (`JobHandle.executor`).
    var name: String { get }
    /// Runs the job to completion (blocking the calling thread), writing its
    /// output to `job.logPath` and reporting lines to `observer`.
    func run(_ job: Job, observer: any JobObserver, cancellation: CancellationFlag) -> JobOutcome
    /// Stops a job this executor started and whose owner died. Returns false
    /// when the handle is not this executor's to act on (another host, say).
    @discardableResult
    func cancel(_ handle: JobHandle) -> Bool
    /// Follows a job this executor started for an owner that died, to its
    /// end, as `run` would have (blocking): its log streams on from where the
    /// file is, and the outcome is the job's. Nil when this executor cannot
    /// (a local process is not this process's child): the caller cancels it.
    func reattach(_ handle: JobHandle, job: Job, observer: any JobObserver, cancellation: CancellationFlag) -> JobOutcome?
    /// Whether a job goes on when the `slipway` process that started it dies
    /// (a cluster's jobs do, so they are followed, not cancelled).
    var jobsOutliveOwner: Bool { get }
}

extension Executor {
    public var jobsOutliveOwner: Bool { false }

    public func reattach(_ handle: JobHandle, job: Job, observer: any JobObserver, cancellation: CancellationFlag) -> JobOutcome? { nil }
}
