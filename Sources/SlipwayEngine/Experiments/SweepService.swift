import Foundation
import Synchronization

/// `slipway run --sweep 'train.lr=0.1,0.03,0.01'`: one run of the pipeline per
/// combination of the swept values, each a normal run (cache, gates,
/// registration as a candidate) given its values as overrides.
///
/// The first member runs in the workspace, alone, so that the stages the swept
/// params do not reach (data preparation, say) run once and are cached. The
/// others then run up to `parallel` at a time, each in a ``ScratchWorkspace``
/// (a copy of the workspace's files sharing its registry, store and logs), so
/// members writing the same outs never overwrite each other; with `parallel`
/// 1 they run one after another in the workspace itself. A member that fails
/// does not stop the sweep; a cancel does (members in flight are cancelled).
/// Members never deploy: each is a candidate, and promoting the winner is the
/// user's step (``PipelineRunner/Options/deploys``).
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
        /// What went wrong beside the members (a copy that could not be removed).
        public var warnings: [String] = []

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

    /// Makes the runner for one member in `workspace` (the workspace itself or
    /// a scratch copy); the CLI wires the registry, tracking endpoint and reporter.
    public typealias RunnerFactory = @Sendable (_ overrides: [ParamOverride], _ workspace: Workspace) throws -> PipelineRunner

    let workspace: Workspace
    let makeRunner: RunnerFactory
    let cancellation: CancellationFlag

    public init(workspace: Workspace, cancellation: CancellationFlag, makeRunner: @escaping RunnerFactory) {
        self.workspace = workspace
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

    /// Runs the members: the first in the workspace, then the rest `parallel`
    /// at a time. `started` and `finished` are told of each member (from the
    /// member's thread); the result lists members in their order.
    public func run(members: [[ParamOverride]], options: PipelineRunner.Options, parallel: Int = 1,
                    started: @escaping @Sendable (_ position: Int, _ overrides: [ParamOverride]) -> Void = { _, _ in },
                    finished: @escaping @Sendable (Member) -> Void = { _ in }) -> Result {
        let parallel = max(1, min(parallel, members.count))
        let done = Mutex([Member]())
        let warnings = Mutex(ScratchWorkspace.removeAbandoned(in: workspace))
        // Copies are made only under a claim: a sweep that cannot take one runs its members in the workspace.
        var claim: ScratchWorkspace.Claim?
        if parallel > 1 {
            do { claim = try ScratchWorkspace.Claim.take(in: workspace) } catch {
                warnings.withLock { $0.append("members run one after another in the workspace: no sweep folder could be claimed (\(error))") }
            }
        }
        defer {
            if let claim {
                ScratchWorkspace.removeFolder(of: claim.id, in: workspace)
                claim.release(workspace)
            }
        }
        let sweepID = claim?.id ?? ""
        @Sendable func runMember(_ i: Int, in scratch: Bool, jobs: Int) {
            let overrides = members[i]
            started(i + 1, overrides)
            var member = Member(position: i + 1, overrides: overrides)
            var copy: ScratchWorkspace?
            do {
                var where_ = workspace
                if scratch {
                    copy = try ScratchWorkspace.make(from: workspace, name: "\(sweepID)/\(i + 1)")
                    where_ = copy!.workspace
                }
                var o = options
                o.jobs = jobs
                o.deploys = false
                member.result = try makeRunner(overrides, where_).run(options: o)
            } catch {
                member.error = "\(error)"
            }
            do { try copy?.remove() } catch {
                warnings.withLock { $0.append("the copy member \(i + 1) ran in could not be removed (the next sweep tries again): \(error)") }
            }
            done.withLock { $0.append(member) }
            finished(member)
        }
        if !members.isEmpty, !cancellation.isCancelled {
            runMember(0, in: false, jobs: options.jobs)
        }
        if parallel == 1 || claim == nil {
            for i in members.indices.dropFirst() where !cancellation.isCancelled { runMember(i, in: false, jobs: options.jobs) }
        } else {
            // Members share the cores: `jobs` stages at once in all.
            let jobs = max(1, options.jobs / parallel)
            let next = Mutex(1)
            let group = DispatchGroup()
            for _ in 0..<parallel {
                group.enter()
                Thread {
                    defer { group.leave() }
                    while !cancellation.isCancelled {
                        let i = next.withLock { n -> Int in defer { n += 1 }; return n }
                        guard i < members.count else { return }
                        runMember(i, in: true, jobs: jobs)
                    }
                }.start()
            }
            group.wait()
        }
        let ordered = done.withLock { $0 }.sorted { $0.position < $1.position }
        return Result(members: ordered, cancelled: cancellation.isCancelled, warnings: warnings.withLock { $0 })
    }
}
