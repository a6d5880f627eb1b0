import Foundation

/// What the runner intends for one stage, before running it.
public struct StagePlan: Sendable, Hashable {
    public enum Decision: Sendable, Hashable {
        /// Same inputs as a stored result: its outs will be restored.
        case cached(fromRun: Int64?)
        /// Its inputs changed (or it never ran): it will run, for these reasons.
        case run(reasons: [String])
        /// It reads what an upstream stage that will run produces: decided then.
        case afterUpstream([String])
        /// It cannot run: a dep is missing and no stage makes it.
        case blocked(String)
    }

    public var stage: String
    public var decision: Decision

    public var explanation: String {
        switch decision {
        case .cached(let run): return "cached" + (run.map { " (same inputs as run \($0))" } ?? "")
        case .run(let reasons): return "will run: " + reasons.joined(separator: "; ")
        case .afterUpstream(let ups): return "decided after \(ups.joined(separator: ", ")) (which will run)"
        case .blocked(let why): return "cannot run: \(why)"
        }
    }
}

/// A stage as finished in a run.
public struct StageOutcome: Sendable {
    public var record: StageRunRecord
    /// True when the failure was a check or gate (exit 3), not the command.
    public var isCheckFailure: Bool
}

public struct RunResult: Sendable {
    public var run: RunRecord
    public var stages: [StageOutcome]
    public var gates: [GateResultRecord]
    /// The model version this run registered, if any.
    public var registered: ModelVersionRecord?
    /// The newest version, when the run produced exactly its artifacts again.
    public var unchangedVersion: ModelVersionRecord?
    /// Why registering the version failed, if it did.
    public var registrationError: String?

    /// The exit status the command line should report.
    public var exitStatus: ExitStatus {
        switch run.status {
        case .succeeded: return .success
        case .failed where stages.contains(where: { $0.isCheckFailure && $0.record.status == .failed }): return .checkFailed
        default: return .stageFailed
        }
    }
}

/// Hears what a run does as it happens (the command line prints it on a TTY).
public protocol RunReporter: Sendable {
    /// The run waits for something (another run of the pipeline).
    func waiting(_ why: String)
    func runStarted(_ run: RunRecord)
    func stageStarted(_ stage: StageRunRecord)
    func stageFinished(_ stage: StageRunRecord)
}

/// A built-in stage (`uses:`): done by the engine rather than a command.
public protocol BuiltinStageHandler: Sendable {
    /// Does the stage's work; writes its report to `log`. Returns nil on
    /// success, else a one-line failure message; `isCheckFailure` when a check
    /// (not Slipway) failed.
    func execute(stage: StageSpec, context: BuiltinContext) -> (message: String, isCheckFailure: Bool)?
}

public struct BuiltinContext: Sendable {
    public var workspace: Workspace
    public var registry: any Registry
    public var run: RunRecord
    public var stageRun: StageRunRecord
    public var logPath: String
}
