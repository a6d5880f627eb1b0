import Foundation

/// What every face shows about environments (the `deployments` listing, the
/// console's Deployments tab): one lane per environment, in order.
public struct DeploymentLane: Sendable, Hashable, Codable {
    public var environment: String
    public var requires: String?
    public var auto: Bool
    public var hasCanary: Bool
    public var model: String?
    /// The version live now (the stable one during a canary).
    public var live: Int?
    public var image: String?
    public var since: Millis?
    public var by: String?
    public var reason: String?
    public var previous: Int?
    /// The deployment in flight (progressing, paused, watching), else the last one.
    public var deployment: DeploymentRecord?
    /// Analysis values of that deployment, oldest first.
    public var samples: [AnalysisSampleRecord]
    /// The newest alias changes, newest first.
    public var history: [AliasEvent]
    /// What `rollback` would put back now, and instead of what.
    public var rollbackTarget: Int?
    /// Deploy calls started and not finished: in flight, or interrupted (made again by the next driver).
    public var unfinishedCalls: [UnfinishedCall] = []

    public var inFlight: Bool { deployment?.state.isActive ?? false }
}

extension DeploymentService {
    public func lanes(historyLimit: Int = 8) throws -> [DeploymentLane] {
        let models = try registry.models()
        let unfinished = try unfinishedCalls()
        return try spec.environments.map { env in
            var lane = DeploymentLane(environment: env.name, requires: env.plan.requires, auto: env.plan.auto, hasCanary: env.plan.canary != nil,
                                      samples: [], history: [])
            let deployment = try registry.activeDeployment(environment: env.name) ?? registry.deployments(environment: env.name, limit: 1).first
            let model = deployment?.model ?? models.first { $0.environments[env.name] != nil }?.name
            if let model {
                lane.model = model
                lane.live = try registry.alias(model: model, environment: env.name, at: nil)
                let history = try registry.aliasHistory(model: model, environment: env.name, until: nil)
                lane.history = Array(history.suffix(historyLimit).reversed())
                if let last = history.last {
                    lane.since = last.at
                    lane.by = last.actor
                    lane.reason = last.reason
                    lane.previous = last.previousVersion
                }
                if let live = lane.live { lane.image = try registry.modelVersion(model: model, version: live)?.imageTag }
                lane.rollbackTarget = Self.rollbackTarget(history: history, current: lane.live, inFlight: try registry.activeDeployment(environment: env.name))
            }
            lane.unfinishedCalls = unfinished.filter { $0.environment == env.name }
            if let deployment {
                lane.deployment = deployment
                lane.samples = try registry.analysisSamples(deploymentID: deployment.id)
            }
            return lane
        }
    }
}
