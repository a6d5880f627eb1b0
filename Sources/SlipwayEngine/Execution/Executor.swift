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

    public init(command: String, workingDirectory: String, environment: [String: String], logPath: String, timeout: Double?) {
        self.command = command
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.logPath = logPath
        self.timeout = timeout
    }
}

public enum JobOutcome: Sendable, Equatable {
    case exited(Int32)
    case signalled(Int32)
    case timedOut(after: Double)
    case cancelled
    case failedToStart(String)

    public var succeeded: Bool { self == .exited(0) }

    public var summary: String {
        switch self {
        case .exited(let code): return "exit code \(code)"
        case .signalled(let sig): return "killed by signal \(sig)"
        case .timedOut(let t): return "timed out after \(Durations.format(t))"
        case .cancelled: return "cancelled"
        case .failedToStart(let why): return "could not start: \(why)"
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
}
