import Foundation
import SlipwayStore

/// The on-call engineer's rollback: `slipway rollback ENV`, the console's
/// `r` on the Deployments tab, and the agent's automatic rollback of a watch
/// that breached (all through here). A canary in flight is aborted with its
/// stable version put back at 100 %; otherwise the previous version (or the
/// one named) goes live again, audited, through the environment's deploy call.
extension DeploymentService {
    public struct Rollback: Sendable {
        public var model: String
        public var environment: String
        /// The version live now.
        public var to: Int
        /// The version that was live (or in a canary) before.
        public var from: Int?
        /// The alias change (none when a canary was aborted: the stable version never left).
        public var event: AliasEvent?
        /// The canary or watch that was aborted.
        public var aborted: DeploymentRecord?
        /// The environment's deploy command's outcome, when it has one.
        public var deploy: JobOutcome?
    }

    /// Puts the previously live (or the named) version back in `environment`
    /// now, aborting any canary in flight. The previous version is the newest
    /// one live there before, skipping versions that were themselves rolled back.
    /// A deploy call there left unfinished by a dead driver is made again
    /// first (or, when the rollback's own call overtakes it, closed after); a
    /// deployment the agent changes meanwhile is read again and the rollback
    /// retried (bounded), so racing the agent does not fail it.
    public func rollback(environment: String, model name: String?, to explicit: Int?, reason: String, actor: String) throws -> Rollback {
        try checkEnvironment(environment)
        _ = try resumeInterruptedCalls(environment: environment, drivingDeployments: false)
        let done = try retryingConflicts {
            try rollbackOnce(environment: environment, model: name, to: explicit, reason: reason, actor: actor)
        }
        // The aborted deployment's interrupted call, overtaken by the rollback's: closed.
        _ = try? resumeInterruptedCalls(environment: environment, drivingDeployments: false)
        return done
    }

    func rollbackOnce(environment: String, model name: String?, to explicit: Int?, reason: String, actor: String) throws -> Rollback {
        let inFlight = try registry.activeDeployment(environment: environment)
        let live = try registry.models().filter { $0.environments[environment] != nil }.map(\.name)
        let model: String
        if let name { model = name } else if let inFlight { model = inFlight.model } else {
            guard live.count == 1 else {
                throw Refusal(message: live.isEmpty ? "nothing is live in \(environment): nothing to roll back"
                              : "several models are live in \(environment) (\(live.joined(separator: ", "))): pass --model")
            }
            model = live[0]
        }
        let current = try registry.alias(model: model, environment: environment, at: nil)
        let words = "rollback" + (reason.isEmpty ? "" : ": " + reason)
        // A canary in flight: its stable version is still the live one; putting it back at 100 % is the rollback.
        if let d = inFlight, d.model == model, d.state != .watching, explicit == nil || explicit == d.stableVersion, let stable = d.stableVersion {
            let next = try endInFlight(d, detail: "rolled back by \(actor)" + (reason.isEmpty ? "" : ": \(reason)"), actor: actor, why: words)
            // A driver may have made the candidate live just before the
            // deployment ended (its promotion, read before this rollback's);
            // now ended, no driver makes it live any more: the stable version back.
            var event: AliasEvent?
            if try registry.alias(model: model, environment: environment, at: nil) != stable {
                event = try registry.setAlias(model: model, environment: environment, version: stable, actor: actor, reason: words, cause: .abort)
            }
            let outcome = try putLive(model: model, environment: environment, version: stable, stable: stable, traffic: 100,
                                      callID: Self.restoreCallID(d), deploymentID: d.id, actor: actor, reason: words)
            return Rollback(model: model, environment: environment, to: stable, from: d.version, event: event, aborted: next, deploy: outcome)
        }
        let history = try registry.aliasHistory(model: model, environment: environment, until: nil)
        let target: Int
        if let explicit {
            guard try registry.modelVersion(model: model, version: explicit) != nil else {
                throw Refusal(message: "no version \(explicit) of model '\(model)'")
            }
            guard explicit != current || inFlight != nil else { throw Refusal(message: "\(model):\(explicit) is already live in \(environment)") }
            target = explicit
        } else {
            // Versions that were rolled back away from are not candidates.
            guard let previous = Self.rollbackTarget(history: history, current: current, inFlight: nil) else {
                throw Refusal(message: "\(model) has no earlier version in \(environment) to go back to; name one with --to VERSION")
            }
            target = previous
        }
        let aborted = try inFlight.map { try endInFlight($0, detail: "rolled back by \(actor) to :\(target)", actor: actor, why: words) }
        // The alias change and its deploy call are journalled together: a
        // rollback killed after the change leaves a call the next driver makes.
        try awaitCallsInFlight(environment: environment, except: "")
        let event = try registry.setAlias(model: model, environment: environment, version: target, actor: actor, reason: words, cause: .rollback,
                                          beginning: { self.callRecord(model: model, environment: environment, version: target, stable: target,
                                                                       traffic: 100, callID: Self.rollbackCallID($0), deploymentID: nil) })
        CrashPoint.reach("rollback.after-alias")
        let outcome = try putLive(model: model, environment: environment, version: target, stable: target, traffic: 100,
                                  callID: Self.rollbackCallID(event), deploymentID: nil, actor: actor, reason: words, begun: true)
        return Rollback(model: model, environment: environment, to: target, from: current, event: event, aborted: aborted, deploy: outcome)
    }

    /// A rollback's own deploy call: `<env>-a<alias event id>`.
    static func rollbackCallID(_ event: AliasEvent) -> String { "\(event.environment)-a\(event.id)" }

    /// Ends a deployment in flight as `aborted` (a person rolled back), audited.
    func endInFlight(_ d: DeploymentRecord, detail: String, actor: String, why: String) throws -> DeploymentRecord {
        var next = d
        next.state = .aborted
        next.phase = .none
        next.detail = detail
        var fields = ["state": "aborted", "candidate": String(d.version), "why": why]
        if let s = d.stableVersion { fields["stable"] = String(s) }
        try registry.updateDeployment(next, expectedUpdatedAt: d.updatedAt, audit: [
            AuditDraft(actor: actor, kind: .deploymentEnded, subject: "deployment/\(d.id)", payload: AuditChain.payload(fields))])
        return next
    }

    /// The version `rollback ENV` puts back: the stable one of a canary in
    /// flight, else the newest earlier version not itself rolled back from.
    static func rollbackTarget(history: [AliasEvent], current: Int?, inFlight: DeploymentRecord?) -> Int? {
        if let d = inFlight, d.state != .watching, let s = d.stableVersion { return s }
        let rolledBack = Set(history.filter { $0.why.undoesPrevious }.compactMap(\.previousVersion))
        return history.reversed().compactMap(\.version).first { $0 != current && !rolledBack.contains($0) }
    }
}
