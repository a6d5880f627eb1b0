import Foundation
import SlipwayStore

/// Why a stage failed, as a type: the exit status and the words follow from it.
public enum StageFailure: Sendable, Equatable, CustomStringConvertible {
    /// A dep or env file does not exist.
    case depMissing(String)
    /// An input the stage reads is malformed (a ragged CSV, say).
    case input(String)
    /// The command exited non-zero, was killed, timed out or did not start.
    case command(JobOutcome)
    /// A built-in check (validation) failed.
    case check(String)
    /// One or more gates failed (their explanations).
    case gates([String])
    /// The stage did not produce what it declared (an out, a metrics file).
    case output(String)
    /// Slipway could not do its part (clear or store outs, an unavailable built-in).
    case slipway(String)

    public var description: String {
        switch self {
        case .depMissing(let path): return "dep \(path) does not exist"
        case .command(let outcome): return outcome.summary
        case .check(let message), .input(let message): return message
        case .gates(let explanations): return "gate failed: " + explanations.joined(separator: "; ")
        case .output(let message): return message
        case .slipway(let message): return message
        }
    }

    /// A check or gate decided against the candidate (exit 3), rather than
    /// something failing to run (exit 1).
    public var isCheckFailure: Bool {
        switch self {
        case .check, .gates: return true
        default: return false
        }
    }
}

/// A stage as finished in a run.
public struct StageOutcome: Sendable {
    public var record: StageRunRecord
    public var failure: StageFailure?
    /// Warnings about what the stage printed (a `::metric` line that does not parse).
    public var warnings: [String] = []

    public var isCheckFailure: Bool { failure?.isCheckFailure ?? false }

    public init(record: StageRunRecord, failure: StageFailure? = nil, warnings: [String] = []) {
        self.record = record
        self.failure = failure
        self.warnings = warnings
    }
}

public struct RunResult: Sendable {
    public var run: RunRecord
    public var stages: [StageOutcome]
    public var gates: [GateResultRecord]
    /// What registering the run's model did (nil when the run did not succeed).
    public var registration: Registration?
    /// What the deploy stage's promotion did, in words.
    public var deployment: String?

    /// The model version this run registered, if any.
    public var registered: ModelVersionRecord? {
        if case .registered(let v) = registration { return v }
        return nil
    }

    /// The newest version, when the run produced exactly its artifacts again.
    public var unchangedVersion: ModelVersionRecord? {
        if case .unchanged(let v) = registration { return v }
        return nil
    }

    /// The existing version the run's outputs are, when it registered none:
    /// the newest (nothing changed) or an earlier one (``madeAgainVersion``).
    public var existingVersion: ModelVersionRecord? {
        switch registration {
        case .unchanged(let v)?, .madeAgain(let v)?: return v
        default: return nil
        }
    }

    /// The earlier version this run made again (its params set back), if it did.
    public var madeAgainVersion: ModelVersionRecord? {
        if case .madeAgain(let v) = registration { return v }
        return nil
    }

    public var warnings: [String] { stages.flatMap { s in s.warnings.map { "\(s.record.stage): \($0)" } } }

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
    /// success, else why it failed (``StageFailure/check(_:)`` when a check,
    /// not Slipway, failed). Throws only when the registry fails.
    func execute(stage: StageSpec, context: BuiltinContext) throws -> StageFailure?
}

public struct BuiltinContext: Sendable {
    public var workspace: Workspace
    public var registry: any Registry
    public var run: RunRecord
    public var stageRun: StageRunRecord
    public var logPath: String
    public var pipeline: PipelineSpec
    public var signing: SigningSpec
    /// Build the package as this version (`slipway reproduce`).
    public var packageVersion: Int? = nil
}
