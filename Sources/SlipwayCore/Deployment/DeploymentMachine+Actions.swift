/// An audit event a deployment's transition records: its kind, the
/// deployment it is about, and its fields (the payload, as the audit trail
/// keeps it). The engine turns it into the store's audit draft.
public struct DeploymentEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// `deployment.step`: a step's call ended, or the version went live and is watched.
        case step
        /// `deployment.analysed`: a measurement, or a watch breach.
        case analysed
        /// `deployment.paused`: inconclusive, waiting for a human.
        case paused
        /// `deployment.resumed`: a human continued a paused canary.
        case resumed
        /// `deployment.ended`.
        case ended
    }

    public var kind: Kind
    /// The deployment's id (the event's subject is `deployment/<id>`).
    public var deploymentID: Int64
    public var fields: [String: String]

    public init(_ kind: Kind, _ d: DeploymentRecord, _ fields: [String: String]) {
        self.kind = kind
        self.deploymentID = d.id
        self.fields = fields
    }

    public var subject: String { "deployment/\(deploymentID)" }
}

/// People's actions on a deployment and the integrity check, as pure
/// transitions: the next state to save and the event to record with it.
extension DeploymentMachine {
    /// A paused canary continued by `actor` as if its analysis had passed.
    public static func continued(_ d: DeploymentRecord, by actor: String) -> (DeploymentRecord, [DeploymentEvent]) {
        var next = d
        next.state = .progressing
        if d.step + 1 < d.stepList.count { next.step += 1; next.phase = .deploy } else { next.phase = .promote }
        next.detail = "continued by \(actor)"
        return (next, [DeploymentEvent(.resumed, d, ["traffic": String(d.traffic)])])
    }

    /// The canary (or watch) aborted by `actor`: the stable version goes
    /// back at 100 % (the rollback phase), and the deployment ends aborted.
    public static func aborted(_ d: DeploymentRecord, by actor: String, reason: String) -> DeploymentRecord {
        var next = d
        next.state = .progressing
        next.phase = .rollback
        next.ending = .aborted
        next.detail = "aborted by \(actor)" + (reason.isEmpty ? "" : ": \(reason)")
        return next
    }

    /// A deployment that is not as its `deployment.started` event recorded
    /// it (a row inserted or edited behind Slipway's back): ended `failed`.
    public static func refused(_ d: DeploymentRecord) -> (DeploymentRecord, [DeploymentEvent]) {
        var next = d
        next.state = .failed
        next.phase = .none
        next.detail = "refused: deployment \(d.id) is not as Slipway started it (no deployment.started event records \(d.label))"
        return (next, [DeploymentEvent(.ended, d, ["state": "failed", "candidate": String(d.version), "why": next.detail])])
    }
}
