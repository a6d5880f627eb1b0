import Foundation

/// Puts versions live in environments: the built-in `local` target (a
/// pointer file per environment) and an environment's `deploy:` command; and
/// the on-call engineer's rollback.
public struct DeploymentService: Sendable {
    let workspace: Workspace
    let registry: any Registry
    let spec: WorkspaceSpec

    public init(workspace: Workspace, registry: any Registry, spec: WorkspaceSpec) {
        self.workspace = workspace
        self.registry = registry
        self.spec = spec
    }

    /// What `.slipway/deploy/<env>.json` holds.
    public struct LocalTarget: Codable, Sendable, Hashable {
        public var environment: String
        public var model: String
        public var version: Int
        public var image: String?
        /// Percent of traffic on `version`.
        public var traffic: Int
        public var since: String
        public var by: String
        public var reason: String
    }

    public func targetPath(_ environment: String) -> String { workspace.stateDir + "/deploy/\(environment).json" }

    /// What follows every change of the live pointer (a promotion, a rollback):
    /// the local target is written, then the environment's deploy command runs,
    /// if it has one; returns that command's outcome.
    @discardableResult
    public func apply(_ event: AliasEvent, stable: Int?) throws -> JobOutcome? {
        try writeLocalTarget(event)
        guard let command = spec.environments.first(where: { $0.name == event.environment })?.deploy else { return nil }
        return try runDeploy(command, event: event, stable: stable)
    }

    /// Records the live version in the local target (atomically).
    public func writeLocalTarget(_ event: AliasEvent) throws {
        guard let version = event.version else { return }
        let record = try registry.modelVersion(model: event.model, version: version)
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let target = LocalTarget(environment: event.environment, model: event.model, version: version, image: record?.imageDigest,
                                 traffic: 100, since: f.string(from: Clock.date(event.at)), by: event.actor, reason: event.reason)
        try FileSystem.makeDirectory(workspace.stateDir + "/deploy")
        try FileSystem.writeFile(targetPath(event.environment), try OCI.encode(target))
    }

    public struct Refusal: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String { message }
    }

    public struct Rollback: Sendable {
        public var event: AliasEvent
        public var from: Int?
        /// The environment's deploy command's outcome, when it has one.
        public var deploy: JobOutcome?
    }

    /// Puts the previously live (or the named) version back in `environment`
    /// now. The previous version is the newest one live there before, skipping
    /// versions that were themselves rolled back.
    public func rollback(environment: String, model name: String?, to explicit: Int?, reason: String, actor: String) throws -> Rollback {
        let envs = spec.environments.map(\.name)
        guard envs.contains(environment) else {
            let hint = Suggestions.closest(to: environment, in: envs).map { " (did you mean '\($0)'?)" } ?? ""
            throw Refusal(message: "no environment '\(environment)'\(hint); environments: \(envs.joined(separator: ", "))")
        }
        let live = try registry.models().filter { $0.environments[environment] != nil }.map(\.name)
        let model: String
        if let name { model = name } else {
            guard live.count == 1 else {
                throw Refusal(message: live.isEmpty ? "nothing is live in \(environment): nothing to roll back"
                              : "several models are live in \(environment) (\(live.joined(separator: ", "))): pass --model")
            }
            model = live[0]
        }
        let current = try registry.alias(model: model, environment: environment, at: nil)
        let history = try registry.aliasHistory(model: model, environment: environment, until: nil)
        let target: Int
        if let explicit {
            guard try registry.modelVersion(model: model, version: explicit) != nil else {
                throw Refusal(message: "no version \(explicit) of model '\(model)'")
            }
            guard explicit != current else { throw Refusal(message: "\(model):\(explicit) is already live in \(environment)") }
            target = explicit
        } else {
            // Versions that were rolled back away from are not candidates.
            let rolledBack = Set(history.filter { $0.reason.hasPrefix("rollback") }.compactMap(\.previousVersion))
            guard let previous = history.reversed().compactMap(\.version).first(where: { $0 != current && !rolledBack.contains($0) }) else {
                throw Refusal(message: "\(model) has no earlier version in \(environment) to go back to; name one with --to VERSION")
            }
            target = previous
        }
        let event = try registry.setAlias(model: model, environment: environment, version: target, actor: actor,
                                          reason: "rollback" + (reason.isEmpty ? "" : ": " + reason))
        return Rollback(event: event, from: current, deploy: try apply(event, stable: target))
    }

    /// Runs an environment's deploy command for an alias change; its output
    /// goes to `.slipway/logs/deploy/`, its outcome into the audit trail.
    public func runDeploy(_ command: String, event: AliasEvent, stable: Int?) throws -> JobOutcome {
        guard let version = event.version else { return .exited(0) }
        let record = try registry.modelVersion(model: event.model, version: version)
        let id = "\(event.environment)-\(event.id)"
        let logDir = workspace.logsDir + "/deploy"
        try FileSystem.makeDirectory(logDir)
        var env = [
            "SLIPWAY_MODEL": event.model, "SLIPWAY_VERSION": String(version), "SLIPWAY_ENV": event.environment,
            "SLIPWAY_TRAFFIC": "100", "SLIPWAY_DEPLOYMENT_ID": id, "SLIPWAY_WORKSPACE": workspace.root,
        ]
        if let stable { env["SLIPWAY_STABLE_VERSION"] = String(stable) }
        if let digest = record?.imageDigest {
            env["SLIPWAY_IMAGE"] = ImageCatalog(workspace: workspace).layout(model: event.model).path + "@" + digest
        }
        let job = Job(command: command, workingDirectory: workspace.root, environment: env, logPath: logDir + "/\(id).log", timeout: 600)
        struct Quiet: JobObserver { func started(handle: JobHandle) {}; func stdoutLine(_ line: Substring) {} }
        let outcome = ProcessExecutor().run(job, observer: Quiet(), cancellation: CancellationFlag())
        try registry.appendAudit(AuditDraft(actor: event.actor, kind: .deployRan, subject: "env/\(event.environment)",
                                            payload: AuditChain.payload(["model": event.model, "version": String(version),
                                                                         "deployment": id, "outcome": outcome.summary,
                                                                         "log": ".slipway/logs/deploy/\(id).log"])))
        return outcome
    }
}
