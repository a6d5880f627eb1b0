import Foundation

/// What an executor says about a stage's job: while it waits (and why), where
/// it runs, and in the end what it used. Recorded with the stage run, so
/// `slipway show`, `status` and the console's Runs tab can say "pending:
/// Resources" or "on gpu-07, 1:02:03 of 2:00:00".
public struct JobStatus: Sendable, Hashable, Codable {
    /// The executor that runs it: `local`, `slurm`.
    public var executor: String
    /// The job's id there (a Slurm job id; a local process group).
    public var jobID: String?
    /// The executor's own word for the state: Slurm's `PENDING`, `RUNNING`,
    /// `COMPLETING`, `COMPLETED`, `FAILED`, `TIMEOUT`, `CANCELLED`, …; a local
    /// job is `RUNNING` then `COMPLETED` or `FAILED`.
    public var state: String
    /// Why a pending job waits (Slurm's reason: `Resources`, `Priority`,
    /// `QOSMaxJobsPerUserLimit`, `ReqNodeNotAvail…`), or why it ended.
    public var reason: String?
    /// Where it runs or ran.
    public var node: String?
    /// What the stage asked for: `partition=gpu gres=gpu:1 cpus=8 mem=32G time=2:00:00`.
    public var requested: String?
    /// What the cluster gave it (Slurm's TRES, `cpu=8,mem=32G,node=1,gres/gpu=1`).
    public var allocated: String?
    /// Seconds it has run (or ran), by the executor's clock.
    public var elapsed: Double?
    /// Seconds it waited in the queue before it started.
    public var queued: Double?
    /// Its time limit as the executor writes it (`2:00:00`).
    public var timeLimit: String?
    /// The exit code as the executor reports it (Slurm's `N:S`: code, signal).
    public var exitCode: String?

    public init(executor: String, jobID: String? = nil, state: String, reason: String? = nil, node: String? = nil,
                requested: String? = nil, allocated: String? = nil, elapsed: Double? = nil, queued: Double? = nil,
                timeLimit: String? = nil, exitCode: String? = nil) {
        self.executor = executor
        self.jobID = jobID
        self.state = state
        self.reason = reason
        self.node = node
        self.requested = requested
        self.allocated = allocated
        self.elapsed = elapsed
        self.queued = queued
        self.timeLimit = timeLimit
        self.exitCode = exitCode
    }

    public var isPending: Bool { state == "PENDING" || state == "CONFIGURING" || state == "REQUEUED" }

    /// One line for listings: `slurm job 12 PENDING (Resources)`,
    /// `slurm job 12 RUNNING on gpu-07 · 1:02 of 2:00:00`.
    public var summary: String {
        var text = executor == "local" ? "local" : executor + (jobID.map { " job \($0)" } ?? "")
        text += " " + state
        if isPending, let reason, !reason.isEmpty, reason != "None" { text += " (\(reason))" }
        if let node, !isPending { text += " on \(node)" }
        if let elapsed, !isPending {
            text += " · \(Durations.clock(elapsed))"
            if let timeLimit, timeLimit != "UNLIMITED" { text += " of \(timeLimit)" }
        }
        return text
    }

    /// The resource use of a finished job, for `slipway show`:
    /// `on vm · 0:42 (queued 0:03) · asked partition=gpu cpus=8 · got cpu=8,mem=32G,node=1`.
    public var usage: String {
        var parts: [String] = []
        if let node { parts.append("on \(node)") }
        if let elapsed {
            parts.append(Durations.clock(elapsed) + (queued.map { $0 >= 1 ? " (queued \(Durations.clock($0)))" : "" } ?? ""))
        }
        if let requested, !requested.isEmpty { parts.append("asked \(requested)") }
        if let allocated, !allocated.isEmpty { parts.append("got \(allocated)") }
        return parts.joined(separator: " · ")
    }
}

extension JobStatus {
    /// The status a registry row holds (JSON, as `Encodable` wrote it): read
    /// by ``FlatJSON`` when it can, else by `JSONDecoder`, whose answer it is either way.
    public static func decode(_ data: Data) throws -> JobStatus {
        if let members = FlatJSON.object(data), let fast = JobStatus(members) { return fast }
        return try JSONDecoder().decode(JobStatus.self, from: data)
    }

    /// What the synthesised `Decodable` makes of these members; nil where it would throw.
    init?(_ m: [String: FlatJSON.Value]) {
        func text(_ key: String) -> String?? {
            switch m[key] {
            case nil, .null?: return .some(nil)
            case .string(let s)?: return .some(s)
            default: return nil
            }
        }
        func seconds(_ key: String) -> Double?? {
            switch m[key] {
            case nil, .null?: return .some(nil)
            case .number(let n)?: return .some(n)
            default: return nil
            }
        }
        guard case .string(let executor)? = m["executor"], case .string(let state)? = m["state"],
              let jobID = text("jobID"), let reason = text("reason"), let node = text("node"),
              let requested = text("requested"), let allocated = text("allocated"), let timeLimit = text("timeLimit"),
              let exitCode = text("exitCode"), let elapsed = seconds("elapsed"), let queued = seconds("queued") else { return nil }
        self.init(executor: executor, jobID: jobID, state: state, reason: reason, node: node, requested: requested,
                  allocated: allocated, elapsed: elapsed, queued: queued, timeLimit: timeLimit, exitCode: exitCode)
    }
}
