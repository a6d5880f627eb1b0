/// The scheduler of a run as a value: which stages are waiting, running and
/// done, which may start now, and what a failure or a cancel does to the rest.
/// The engine drives it from its threads; tests drive it directly.
///
/// Rules:
/// - a stage starts when every upstream stage succeeded (ran or came from the
///   cache), at most `jobs` at once, in DAG order;
/// - a failed stage settles every stage downstream of it as cancelled
///   ("upstream X did not succeed"); stages that do not depend on it go on;
/// - a cancel settles every waiting stage; running ones finish (the executor
///   stops them).
public struct SchedulerState: Sendable, Hashable {
    public enum Phase: Sendable, Hashable {
        case waiting
        case running
        case finished(StageStatus)
    }

    public let order: [String]
    public let jobs: Int
    let upstream: [String: [String]]
    public private(set) var phases: [String: Phase]
    /// Why a stage was settled without running.
    public private(set) var settledReasons: [String: String] = [:]
    public private(set) var isCancelled = false

    public init(graph: StageGraph, jobs: Int) {
        order = graph.topologicalOrder() ?? graph.names
        self.jobs = max(1, jobs)
        upstream = graph.upstream
        phases = Dictionary(uniqueKeysWithValues: order.map { ($0, .waiting) })
    }

    public var runningCount: Int { phases.values.filter { $0 == .running }.count }
    public var isDone: Bool { phases.values.allSatisfy { if case .finished = $0 { return true } else { return false } } }

    public func status(of stage: String) -> StageStatus? {
        if case .finished(let s) = phases[stage] { return s }
        return nil
    }

    /// The stages that may start now, marked running.
    public mutating func startable() -> [String] {
        guard !isCancelled else { return [] }
        var started: [String] = []
        var running = runningCount
        for name in order where phases[name] == .waiting && running < jobs {
            let ups = upstream[name, default: []]
            guard ups.allSatisfy({ status(of: $0)?.isSuccess == true }) else { continue }
            phases[name] = .running
            running += 1
            started.append(name)
        }
        return started
    }

    /// Records how a running stage ended; returns the stages this settles
    /// (dependents of a failure), with the reason.
    @discardableResult
    public mutating func finish(_ stage: String, _ outcome: StageStatus) -> [(stage: String, reason: String)] {
        phases[stage] = .finished(outcome)
        guard !outcome.isSuccess else { return [] }
        var settled: [(stage: String, reason: String)] = []
        // In DAG order a stage's upstream is settled before it, so one pass
        // reaches every dependent.
        for name in order where phases[name] == .waiting {
            let failed = upstream[name, default: []].filter { status(of: $0).map { !$0.isSuccess } ?? false }
            guard !failed.isEmpty else { continue }
            let reason = "upstream \(failed.joined(separator: ", ")) did not succeed"
            phases[name] = .finished(.cancelled)
            settledReasons[name] = reason
            settled.append((name, reason))
        }
        return settled
    }

    /// Cancels the run: every waiting stage is settled.
    @discardableResult
    public mutating func cancel(reason: String = "run cancelled") -> [(stage: String, reason: String)] {
        isCancelled = true
        var settled: [(stage: String, reason: String)] = []
        for name in order where phases[name] == .waiting {
            phases[name] = .finished(.cancelled)
            settledReasons[name] = reason
            settled.append((name, reason))
        }
        return settled
    }

    /// The run's status once every stage is done.
    public var runStatus: RunStatus {
        let finals = order.compactMap { status(of: $0) }
        if finals.contains(.failed) { return .failed }
        if isCancelled || finals.contains(.cancelled) || finals.count < order.count { return .cancelled }
        return .succeeded
    }
}
