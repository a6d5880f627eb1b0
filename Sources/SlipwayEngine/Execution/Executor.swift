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

/// Receives what a running job reports.
public protocol JobObserver: Sendable {
    /// The job started; `handle` identifies it to the executor (a process group
    /// for the local executor, a job id for a cluster).
    func started(handle: Int32)
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
    /// Runs the job to completion (blocking the calling thread), writing its
    /// output to `job.logPath` and reporting lines to `observer`.
    func run(_ job: Job, observer: any JobObserver, cancellation: CancellationFlag) -> JobOutcome
}
