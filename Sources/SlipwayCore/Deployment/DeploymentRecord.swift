/// A deployment's state as the registry keeps it: a plain value, so the
/// deployment machine (``DeploymentMachine``) decides on it without I/O and
/// every store persists it the same way.

/// Where a deployment (one version going live in one environment) stands.
public enum DeploymentState: String, Codable, Sendable, CaseIterable {
    /// Steps are being deployed and analysed.
    case progressing
    /// An analysis was inconclusive: waiting for `promote --continue` or `abort`.
    case paused
    /// Live at 100 %; `rollback_when` is watched until `watchUntil`.
    case watching
    case succeeded
    /// An analysis, a `rollback_when` breach or a failed deploy call put the stable version back.
    case rolledBack = "rolled_back"
    /// A person aborted it (`abort`, `rollback`).
    case aborted
    /// A deploy call failed and there was no stable version to go back to.
    case failed

    public var isActive: Bool { self == .progressing || self == .paused || self == .watching }
}

/// What a progressing deployment does next.
public enum DeploymentPhase: String, Codable, Sendable {
    /// The current step's deploy call is due.
    case deploy
    /// Waiting for `dueAt`, then the step's analysis.
    case analyse
    /// Every step passed: the version becomes the live one.
    case promote
    /// Putting the stable version back at 100 %, then `ending` is the state.
    case rollback
    /// Nothing left to do (an ended, or a watching, deployment).
    case none
}

public struct DeploymentRecord: Codable, Sendable, Hashable {
    public var id: Int64
    public var environment: String
    public var model: String
    /// The candidate.
    public var version: Int
    public var stableVersion: Int?
    /// The steps as a comma-separated list of percents.
    public var steps: String
    public var state: DeploymentState
    public var phase: DeploymentPhase
    /// Index into `steps` of the current step.
    public var step: Int
    /// Percent of traffic on the candidate now.
    public var traffic: Int
    public var dueAt: Millis?
    public var inconclusive: Int
    public var watchUntil: Millis?
    /// The state a rollback in progress ends in.
    public var ending: DeploymentState?
    public var startedAt: Millis
    public var updatedAt: Millis
    public var actor: String
    public var reason: String
    /// The last thing that happened, in words.
    public var detail: String

    public init(id: Int64, environment: String, model: String, version: Int, stableVersion: Int?, steps: String, state: DeploymentState,
                phase: DeploymentPhase, step: Int, traffic: Int, dueAt: Millis?, inconclusive: Int, watchUntil: Millis?,
                ending: DeploymentState?, startedAt: Millis, updatedAt: Millis, actor: String, reason: String, detail: String) {
        self.id = id
        self.environment = environment
        self.model = model
        self.version = version
        self.stableVersion = stableVersion
        self.steps = steps
        self.state = state
        self.phase = phase
        self.step = step
        self.traffic = traffic
        self.dueAt = dueAt
        self.inconclusive = inconclusive
        self.watchUntil = watchUntil
        self.ending = ending
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.actor = actor
        self.reason = reason
        self.detail = detail
    }

    public var stepList: [Int] { steps.split(separator: ",").compactMap { Int($0) } }
    public var label: String { "\(model):\(version) → \(environment)" }
}

