/// A value with the place in `slipway.yaml` it came from.
public struct Located<Value: Sendable & Hashable>: Sendable, Hashable {
    public var value: Value
    public var location: SourceLocation?

    public init(_ value: Value, at location: SourceLocation? = nil) {
        self.value = value
        self.location = location
    }
}

/// The whole of `slipway.yaml`, parsed and checked.
public struct WorkspaceSpec: Sendable, Equatable {
    public var file: String
    public var project: String
    public var pipelines: [PipelineSpec]
    public var environments: [EnvironmentSpec]
    public var policy: SpecValue?
    public var monitors: [SpecValue.MapEntry]
    /// `monitors:`, parsed.
    public var monitorSpecs: [MonitorSpec] = []
    /// `signing:`: the key packages are signed with, and the keys that count.
    public var signing = SigningSpec()
    /// `policy:`, parsed: risk rules, approvers, approvals needed.
    public var rules = PolicySpec()
    /// `registry:`: a PostgreSQL URL (without a password) for a team's
    /// registry; nil for the embedded one. See ``RegistrySetting``.
    public var registry: Located<String>?
    /// `store:`: a folder on a shared file system holding the content store
    /// and the package images every clone of the project uses (absolute, or
    /// relative to the workspace). Outside the workspace on purpose.
    public var store: Located<String>?

    public init(file: String, project: String, pipelines: [PipelineSpec] = [],
                environments: [EnvironmentSpec] = [], policy: SpecValue? = nil,
                monitors: [SpecValue.MapEntry] = []) {
        self.file = file
        self.project = project
        self.pipelines = pipelines
        self.environments = environments
        self.policy = policy
        self.monitors = monitors
    }

    public func pipeline(named name: String) -> PipelineSpec? {
        pipelines.first { $0.name == name }
    }

    public func monitor(named name: String) -> MonitorSpec? {
        monitorSpecs.first { $0.name == name }
    }

    /// Every param key any stage reads.
    public var referencedParams: [Located<String>] {
        pipelines.flatMap { $0.stages.flatMap(\.params) }
    }
}

/// `signing: {key: PATH, signers: [ssh-ed25519 AAAA… who@where, …]}`.
public struct SigningSpec: Sendable, Hashable, Codable {
    /// The private key (or its `.pub`, with the private half in ssh-agent) the package stage signs with.
    public var key: String?
    /// Public keys whose signatures count for `slipway verify`.
    public var signers: [Located<SSHSig.PublicKey>] = []

    public init(key: String? = nil, signers: [Located<SSHSig.PublicKey>] = []) {
        self.key = key
        self.signers = signers
    }
}

/// What starts a pipeline besides `slipway run`.
public enum TriggerSpec: Sendable, Hashable {
    case manual
    case commit
    case data(path: String)
    case schedule(cron: String)
    case drift(monitor: String)
}

public struct PipelineSpec: Sendable, Equatable {
    public var name: String
    public var location: SourceLocation?
    public var model: String?
    public var triggers: [TriggerSpec]
    public var stages: [StageSpec]
    /// Runs of this pipeline started by triggers at once (default 1).
    public var maxConcurrentRuns = 1
    /// `executor:` on the pipeline: the default of its command stages.
    public var executor: ExecutorSpec?

    public init(name: String, location: SourceLocation? = nil, model: String? = nil,
                triggers: [TriggerSpec] = [], stages: [StageSpec]) {
        self.name = name
        self.location = location
        self.model = model
        self.triggers = triggers
        self.stages = stages
    }

    public func stage(named name: String) -> StageSpec? { stages.first { $0.name == name } }

    /// The registered model this pipeline produces: the deploy stage's `model:`,
    /// else the pipeline's `model:`, else the pipeline's name.
    public var modelName: String {
        if let deploy = stages.first(where: { $0.builtin == .deploy }),
           let name = deploy.options["model"]?.stringValue {
            return name
        }
        return model ?? name
    }
}

/// The built-in stages, run by the engine rather than by a user command.
public enum BuiltinStage: String, Sendable, Hashable, CaseIterable {
    case validate
    case package
    case deploy

    /// Option keys this stage accepts besides the common stage keys.
    public var optionKeys: [String] {
        switch self {
        case .validate: return ["data", "schema", "reference", "drift_share", "method", "threshold"]
        case .package: return ["model", "include", "config", "base", "out"]
        case .deploy: return ["model", "to"]
        }
    }

    /// Options that are required.
    public var requiredOptions: [String] {
        switch self {
        case .validate: return ["data"]
        case .package: return ["model"]
        case .deploy: return ["model"]
        }
    }

    /// Options whose values are workspace paths this stage reads (they become deps).
    public var pathOptions: [String] {
        switch self {
        case .validate: return ["data", "schema", "reference"]
        case .package: return ["model", "include"]
        case .deploy: return []
        }
    }
}

/// One condition on an evaluation metric, e.g. `accuracy: ">= production - 0.01"`.
public struct GateSpec: Sendable, Hashable {
    public var metric: String
    public var condition: GateCondition
    public var location: SourceLocation?

    public init(metric: String, condition: GateCondition, location: SourceLocation? = nil) {
        self.metric = metric
        self.condition = condition
        self.location = location
    }
}

public struct StageSpec: Sendable, Hashable {
    public var name: String
    public var location: SourceLocation?
    /// The shell command (`cmd:`), for a user stage.
    public var command: Located<String>?
    /// The built-in stage (`uses:`), for an engine stage.
    public var builtin: BuiltinStage?
    /// Paths read, normalised, including the path options of a built-in stage.
    public var deps: [Located<String>]
    /// Dotted keys into `params.yaml`.
    public var params: [Located<String>]
    /// Paths written and cached.
    public var outs: [Located<String>]
    /// JSON metrics files written by the stage (cached like outs).
    public var metrics: [Located<String>]
    /// Stages that must finish first.
    public var needs: [Located<String>]
    /// Environment files (`requirements.txt`, lock files) that enter the cache key.
    public var env: [Located<String>]
    /// Seconds before the stage is stopped, if set.
    public var timeout: Double?
    public var gates: [GateSpec]
    /// The environment whose live version `production` in a gate refers to.
    public var baseline: String = "production"
    /// What relative gates do when nothing is live in the baseline environment.
    public var onNoBaseline: NoBaselinePolicy = .pass
    /// Every other key, kept as data (built-in options, `baseline`, …).
    public var options: [String: SpecValue]
    /// Where the command runs: the stage's `executor:` over its pipeline's
    /// (local when neither says). Not part of the cache key.
    public var executor: ExecutorSpec = .local
    /// The matrix this stage is a member of (`train[lr=0.1]` of `train`), if any.
    public var matrix: MatrixMember?

    public init(name: String, location: SourceLocation? = nil, command: Located<String>? = nil,
                builtin: BuiltinStage? = nil, deps: [Located<String>] = [], params: [Located<String>] = [],
                outs: [Located<String>] = [], metrics: [Located<String>] = [], needs: [Located<String>] = [],
                env: [Located<String>] = [], timeout: Double? = nil, gates: [GateSpec] = [],
                options: [String: SpecValue] = [:]) {
        self.name = name
        self.location = location
        self.command = command
        self.builtin = builtin
        self.deps = deps
        self.params = params
        self.outs = outs
        self.metrics = metrics
        self.needs = needs
        self.env = env
        self.timeout = timeout
        self.gates = gates
        self.options = options
    }

    /// Everything the stage writes and Slipway caches: outs and metrics files.
    public var cachedOutputs: [String] { outs.map(\.value) + metrics.map(\.value) }
}

public struct EnvironmentSpec: Sendable, Hashable, Codable {
    public var name: String
    public var location: SourceLocation?
    public var deploy: String?
    public var plan = DeploymentPlan()
    public var settings: SpecValue

    public init(name: String, location: SourceLocation? = nil, deploy: String? = nil, settings: SpecValue = .map([])) {
        self.name = name
        self.location = location
        self.deploy = deploy
        self.settings = settings
    }
}

extension Located: Codable where Value: Codable {}
