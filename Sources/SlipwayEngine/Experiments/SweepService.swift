import Foundation

/// `slipway run --sweep 'train.lr=0.1,0.03,0.01'`: one run of the pipeline per
/// combination of the swept values, each a normal run (cache, gates,
/// registration as a candidate) given its values as overrides.
///
/// Members run one after another in the workspace: they write the same outs,
/// so two at once would overwrite each other's. Within a member, independent
/// stages run concurrently up to `jobs`. Stages the swept params do not reach
/// (data preparation, say) come from the cache after the first member. A member
/// that fails does not stop the sweep; a cancel does.
public struct SweepService: Sendable {
    /// More members than this is almost certainly a mistake (a range typed wrong).
    public static let maximumMembers = 1_000

    public struct Member: Sendable {
        public var position: Int
        public var overrides: [ParamOverride]
        /// Nil when the sweep was cancelled before the member ran.
        public var result: RunResult?
        /// Why the member did not produce a run (the registry refused it, say).
        public var error: String?
    }

    public struct Result: Sendable {
        public var members: [Member]
        public var cancelled: Bool

        public var runIDs: [Int64] { members.compactMap { $0.result?.run.id } }
        /// 0 when every member succeeded; else the worst member's status.
        public var exitStatus: ExitStatus {
            if cancelled { return .stageFailed }
            if members.contains(where: { $0.error != nil }) { return .internalError }
            let statuses = members.compactMap { $0.result?.exitStatus }
            if statuses.contains(.stageFailed) { return .stageFailed }
            if statuses.contains(.checkFailed) { return .checkFailed }
            return statuses.first { $0 != .success } ?? .success
        }
    }

    public struct Problem: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String { message }
    }

    /// Makes the runner for one member (the CLI wires the tracking endpoint, the reporter).
    public typealias RunnerFactory = @Sendable (_ overrides: [ParamOverride]) throws -> PipelineRunner

    let makeRunner: RunnerFactory
    let cancellation: CancellationFlag

    public init(cancellation: CancellationFlag, makeRunner: @escaping RunnerFactory) {
        self.cancellation = cancellation
        self.makeRunner = makeRunner
    }

    /// The members a sweep would run: every combination of `sweeps`, each
    /// with the `sets` that apply to all of them. A key both set and swept is
    /// an error.
    public static func plan(sweeps: [String], sets: [String], loaded: LoadedSpec) throws -> [[ParamOverride]] {
        let known = loaded.paramKeys
        let fixed = try ParamOverrides.parse(sets: sets, known: known)
        let axes = try ParamOverrides.parse(sweeps: sweeps, known: known)
        if let both = axes.first(where: { axis in fixed.contains { $0.key == axis.key } }) {
            throw Problem(message: "\(both.key) is both set (--set) and swept (--sweep): keep one")
        }
        let count = axes.reduce(1) { n, axis in n.multipliedReportingOverflow(by: max(axis.values.count, 1)).partialValue }
        if count > maximumMembers {
            throw Problem(message: "the sweep has \(count) combinations; at most \(maximumMembers) run in one sweep")
        }
        return ParamOverrides.combinations(axes).map { fixed + $0 }
    }

    /// Runs the members in order. `started` is told before each member runs.
    public func run(members: [[ParamOverride]], options: PipelineRunner.Options,
                    started: (_ position: Int, _ overrides: [ParamOverride]) -> Void = { _, _ in },
                    finished: (Member) -> Void = { _ in }) -> Result {
        var done: [Member] = []
        for (i, overrides) in members.enumerated() {
            if cancellation.isCancelled { return Result(members: done, cancelled: true) }
            started(i + 1, overrides)
            var member = Member(position: i + 1, overrides: overrides)
            do {
                member.result = try makeRunner(overrides).run(options: options)
            } catch {
                member.error = "\(error)"
            }
            done.append(member)
            finished(member)
        }
        return Result(members: done, cancelled: cancellation.isCancelled)
    }
}
