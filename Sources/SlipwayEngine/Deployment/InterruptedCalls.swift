import Foundation
import SlipwayStore

/// A deploy call journalled as started and not finished: in flight (its
/// driver lives) or interrupted (its driver died: `kill -9`, a crash). What
/// `deployments`, `status` and the console's Deployments tab show.
public struct UnfinishedCall: Sendable, Hashable, Codable {
    public var callID: String
    public var environment: String
    public var deploymentID: Int64?
    public var model: String
    public var version: Int
    public var traffic: Int
    public var startedAt: Millis
    /// `pid@host` of the driver making it.
    public var owner: String?
    /// Its driver is gone: the next driver makes it again.
    public var interrupted: Bool

    init(_ c: DeployCallRecord) {
        callID = c.callID
        environment = c.environment
        deploymentID = c.deploymentID
        model = c.model
        version = c.version
        traffic = c.traffic
        startedAt = c.startedAt
        owner = c.owner
        interrupted = DeploymentService.mayTakeOver(c)
    }

    /// One line for people, the same in every face.
    public var summary: String {
        let who = owner.map { o in o.split(separator: "@", maxSplits: 1).map(String.init) }.map { "pid \($0[0])" + ($0.count > 1 ? " on \($0[1])" : "") }
            ?? "an unknown driver"
        let call = "deploy call \(callID) (\(model):\(version) at \(traffic)%)"
        if interrupted {
            return "\(call) interrupted: its driver (\(who)) is gone; the agent, the next promote or rollback, or `slipway status` makes it again"
        }
        return "\(call) in flight (\(who))"
    }
}

extension DeploymentService {
    /// The unfinished calls of one environment (every one when nil), oldest first.
    public func unfinishedCalls(environment: String? = nil) throws -> [UnfinishedCall] {
        try Self.unfinishedCalls(registry: registry, environment: environment)
    }

    /// The same, for a face that has not loaded the spec (`status`).
    public static func unfinishedCalls(registry: any Registry, environment: String? = nil) throws -> [UnfinishedCall] {
        try registry.unfinishedDeployCalls().filter { environment == nil || $0.environment == environment }.map(UnfinishedCall.init)
    }

    /// Makes again every deploy call (of `environment`, or of every one)
    /// journalled as started whose driver died before it finished, with the
    /// same `SLIPWAY_DEPLOYMENT_ID`. The agent does this on every pass and
    /// `status` when it runs; `promote` and `rollback` do it for their
    /// environment before they act, and close what their own call overtook
    /// after (`drivingDeployments` false: a deployment in flight is theirs to
    /// supersede or abort, not to drive on).
    ///
    /// A call of a deployment in flight is made again by driving that
    /// deployment on (its next step is that call). A call outside one (a
    /// rollback's) is made again when it is still the newest call of its
    /// environment; an older one was overtaken by a later decision (whose
    /// call carries the whole target: version, traffic, stable version) and
    /// is closed as overtaken, not made. Returns what it did, in words.
    public func resumeInterruptedCalls(environment: String? = nil, drivingDeployments: Bool = true) throws -> [String] {
        var lines: [String] = []
        for call in try registry.unfinishedDeployCalls() where environment == nil || call.environment == environment {
            guard Self.mayTakeOver(call) else { continue }
            let what = "the interrupted deploy call \(call.callID) (\(call.model):\(call.version) at \(call.traffic)%)"
            if let id = call.deploymentID, let d = try registry.deployment(id: id), d.state.isActive {
                guard drivingDeployments else { continue }
                if Self.currentCallID(d) == call.callID {
                    let p = try advanceUnlessTaken(d)
                    if let done = try registry.deployCall(callID: call.callID), done.finishedAt != nil, done.owner == Self.me {
                        lines.append("made \(what) again: \(done.outcome ?? "done") · deployment \(d.id) \(p.deployment.state.rawValue)")
                    }
                    continue
                }
            }
            if let newest = try registry.deployCalls(environment: call.environment, limit: 1).first, newest.callID != call.callID {
                try registry.finishDeployCall(callID: call.callID, outcome: "not made again: overtaken by \(newest.callID)", ok: false,
                                              then: nil, audit: [])
                lines.append("\(what) was overtaken by \(newest.callID): closed without making it again")
                continue
            }
            guard let made = try invoke(model: call.model, environment: call.environment, version: call.version, stable: call.stableVersion,
                                        traffic: call.traffic, callID: call.callID, deploymentID: call.deploymentID, actor: driver,
                                        reason: "made again: its driver (\(call.owner ?? "unknown")) died during it") else { continue }
            let words = made.result?.summary ?? "local target written"
            try registry.finishDeployCall(callID: call.callID, outcome: words, ok: made.result?.succeeded ?? true, then: nil, audit: [])
            lines.append("made \(what) again: \(words)")
        }
        return lines
    }

    /// The id of the call a deployment in flight makes next, if its phase makes one.
    static func currentCallID(_ d: DeploymentRecord) -> String? {
        switch d.phase {
        case .deploy: return "\(d.environment)-d\(d.id)-s\(d.step + 1)"
        case .rollback: return d.stableVersion.map { _ in Self.restoreCallID(d) }
        default: return nil
        }
    }
}
