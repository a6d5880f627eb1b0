import SlipwayCore
import SlipwayStore

/// What the audit trail says when a deployment starts: `deployment.started`,
/// and `deployment.ended` for the active deployment it replaces. Composed
/// here once for every store.
enum DeploymentEvents {
    static func ended(_ deployment: DeploymentRecord, actor: String) -> AuditDraft {
        AuditDraft(actor: actor, kind: .deploymentEnded, subject: "deployment/\(deployment.id)",
                   payload: AuditChain.payload(["state": deployment.state.rawValue, "detail": deployment.detail]))
    }

    static func started(_ record: DeploymentRecord, _ new: NewDeployment) -> AuditDraft {
        var fields = ["model": new.model, "version": String(new.version), "environment": new.environment,
                      "steps": record.steps, "reason": new.reason]
        if let s = new.stableVersion { fields["stable"] = String(s) }
        if let use = new.approval { fields["request"] = String(use.requestID) }
        if new.origin != .promotion { fields["cause"] = new.origin.rawValue }
        return AuditDraft(actor: new.actor, kind: .deploymentStarted, subject: "deployment/\(record.id)", payload: AuditChain.payload(fields))
    }

    /// The events of starting `new`, by its actor.
    static func starting(_ new: NewDeployment) -> DeploymentStartEvents {
        DeploymentStartEvents(ended: { ended($0, actor: new.actor) },
                              started: { started($0, new) },
                              approvalUsed: { ApprovalEvents.used($0, actor: new.actor) })
    }
}

extension DeploymentStore {
    /// Starts a deployment (see the store's requirement), audited with the
    /// events ``DeploymentEvents`` composes.
    public func startDeployment(_ new: NewDeployment) throws -> (deployment: DeploymentRecord, aborted: DeploymentRecord?) {
        try startDeployment(new, audit: DeploymentEvents.starting(new))
    }
}
