import Foundation

/// What people do to a deployment in flight: continue a paused canary, abort.
extension DeploymentService {
    /// Continues a paused canary as if its analysis had passed.
    public func continuePaused(environment: String, actor: String) throws -> Progress {
        try checkEnvironment(environment)
        let next = try retryingConflicts { () throws -> DeploymentRecord in
            guard let d = try registry.activeDeployment(environment: environment), d.state == .paused else {
                throw Refusal(message: "no paused canary in \(environment)" + (try registry.activeDeployment(environment: environment)
                    .map { " (its deployment of :\($0.version) is \($0.state.rawValue))" } ?? ""))
            }
            let (next, events) = DeploymentMachine.continued(d, by: actor)
            try registry.updateDeployment(next, expectedUpdatedAt: d.updatedAt, audit: events.map { draft($0, actor: actor) })
            return next
        }
        return try advanceUnlessTaken(try reload(next))
    }

    /// Aborts the canary (or watch) in flight: the stable version back at
    /// 100 %. The progress says how that call went (``Progress/restored``).
    public func abort(environment: String, actor: String, reason: String) throws -> Progress {
        try checkEnvironment(environment)
        let next = try retryingConflicts { () throws -> DeploymentRecord in
            guard let d = try registry.activeDeployment(environment: environment) else {
                throw Refusal(message: "nothing is in flight in \(environment): nothing to abort (to put an earlier version back: slipway rollback \(environment))")
            }
            let next = DeploymentMachine.aborted(d, by: actor, reason: reason)
            try registry.updateDeployment(next, expectedUpdatedAt: d.updatedAt, audit: [])
            return next
        }
        // The person who aborts drives the rollback (its alias change and call are theirs).
        var driving = self
        driving.driver = actor
        return try driving.advanceUnlessTaken(try reload(next))
    }

    func checkEnvironment(_ environment: String) throws {
        let envs = spec.environments.map(\.name)
        guard envs.contains(environment) else {
            let hint = Suggestions.closest(to: environment, in: envs).map { " (did you mean '\($0)'?)" } ?? ""
            throw Refusal(message: "no environment '\(environment)'\(hint); environments: \(envs.joined(separator: ", "))")
        }
    }

}
