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
///
/// Each step costs what it touches, not the size of the run: the stages ready
/// to start wait in a heap by their place in `order`, and each stage counts
/// the upstream stages that have not succeeded yet.
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
    public private(set) var runningCount = 0
    private var finishedCount = 0
    /// Each stage's place in `order`.
    private let rank: [String: Int]
    /// For each rank, the ranks of the stages that wait for it directly, ascending.
    private let dependents: [[Int]]
    /// For each rank, how many of its distinct upstream stages have not succeeded
    /// (an upstream name that is not a stage never does).
    private var unmet: [Int]
    /// Waiting stages whose upstream all succeeded, by rank.
    private var ready = PositionHeap()

    public init(graph: StageGraph, jobs: Int) {
        order = graph.topologicalOrder() ?? graph.names
        self.jobs = max(1, jobs)
        upstream = graph.upstream
        var phases: [String: Phase] = [:]
        var rank: [String: Int] = [:]
        phases.reserveCapacity(order.count)
        rank.reserveCapacity(order.count)
        for (i, name) in order.enumerated() where rank[name] == nil {
            rank[name] = i
            phases[name] = .waiting
        }
        var dependents = [[Int]](repeating: [], count: order.count)
        var unmet = [Int](repeating: 0, count: order.count)
        for (i, name) in order.enumerated() where rank[name] == i {
            var distinct: Set<String> = []
            for u in upstream[name, default: []] where distinct.insert(u).inserted {
                unmet[i] += 1
                if let r = rank[u] { dependents[r].append(i) }
            }
        }
        for i in dependents.indices { dependents[i].sort() }
        self.phases = phases
        self.rank = rank
        self.dependents = dependents
        self.unmet = unmet
        for (i, name) in order.enumerated() where rank[name] == i && unmet[i] == 0 { ready.insert(i) }
    }

    public var isDone: Bool { finishedCount == phases.count }

    public func status(of stage: String) -> StageStatus? {
        if case .finished(let s) = phases[stage] { return s }
        return nil
    }

    /// The stages that may start now, marked running.
    public mutating func startable() -> [String] {
        guard !isCancelled else { return [] }
        var started: [String] = []
        while runningCount < jobs, let r = ready.popMin() {
            let name = order[r]
            guard phases[name] == .waiting else { continue }
            phases[name] = .running
            runningCount += 1
            started.append(name)
        }
        return started
    }

    /// Records how a stage ended (a running one, or a waiting one the engine
    /// settled itself, such as a stage restored from the cache); returns the
    /// stages this settles (dependents of a failure), with the reason.
    @discardableResult
    public mutating func finish(_ stage: String, _ outcome: StageStatus) -> [(stage: String, reason: String)] {
        let before = phases[stage]
        guard before != nil else { return [] }
        phases[stage] = .finished(outcome)
        if before == .running { runningCount -= 1 }
        if case .finished(let old) = before {
            // Finished twice: only the record changes.
            guard old.isSuccess != outcome.isSuccess, outcome.isSuccess else { return [] }
        } else {
            finishedCount += 1
        }
        guard let r = rank[stage] else { return [] }
        if outcome.isSuccess {
            for d in dependents[r] {
                unmet[d] -= 1
                if unmet[d] == 0, phases[order[d]] == .waiting { ready.insert(d) }
            }
            return []
        }
        // In DAG order a stage's upstream is settled before it, so taking the
        // waiting dependents by rank reaches each once, with every failed
        // upstream of it already known.
        var settled: [(stage: String, reason: String)] = []
        var next = PositionHeap()
        var queued: Set<Int> = []
        for d in dependents[r] where queued.insert(d).inserted { next.insert(d) }
        while let d = next.popMin() {
            let name = order[d]
            guard phases[name] == .waiting else { continue }
            let failed = upstream[name, default: []].filter { status(of: $0).map { !$0.isSuccess } ?? false }
            guard !failed.isEmpty else { continue }
            let reason = "upstream \(failed.joined(separator: ", ")) did not succeed"
            phases[name] = .finished(.cancelled)
            finishedCount += 1
            settledReasons[name] = reason
            settled.append((name, reason))
            for e in dependents[d] where queued.insert(e).inserted { next.insert(e) }
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
            finishedCount += 1
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
