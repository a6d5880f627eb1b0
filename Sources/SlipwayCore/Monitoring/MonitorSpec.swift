/// `monitors: {NAME: …}`: production batches compared with a reference, and
/// the pipeline a drifted batch (or a performance breach) starts.
public struct MonitorSpec: Sendable, Hashable, Codable {
    public enum Reference: Sendable, Hashable, Codable {
        /// A dataset in the workspace.
        case dataset(String)
        /// The training data recorded for the version of `model` live in the monitor's `env`.
        case model(String)
    }

    public enum Task: String, Sendable, Hashable, CaseIterable, Codable { case classification, regression }

    /// A breach of the model's measured performance.
    public struct PerformanceRule: Sendable, Hashable, Codable {
        /// `accuracy`, `error_rate` or `mae`.
        public var metric: String
        /// Breached when the batch's value is below this (for accuracy) or above it (error rate, MAE).
        public var limit: Double?
        /// Breached when the batch's value is worse than the live version's evaluated value by more than this.
        public var dropMoreThan: Double?

        public init(metric: String, limit: Double? = nil, dropMoreThan: Double? = nil) {
            self.metric = metric
            self.limit = limit
            self.dropMoreThan = dropMoreThan
        }

        /// Higher is better for accuracy, lower for the others.
        public var higherIsBetter: Bool { metric == "accuracy" }
    }

    public var name: String
    public var location: SourceLocation?
    public var reference: Reference
    /// The environment whose live version `model:` refers to (default: the last one).
    public var environment: String?
    /// Features to compare (empty: every column both have, except label and prediction).
    public var features: [String] = []
    /// A rule per feature, else `method`/`threshold`, else the validation defaults.
    public var rules: [String: DataSchema.DriftRule] = [:]
    public var method: DataSchema.DriftMethod?
    public var threshold: Double?
    /// The share of drifted features that makes a batch drifted.
    public var driftShare: Double = 0.5
    public var cooldownSeconds: Double = 6 * 3600
    /// The pipeline to start (else the pipelines that list `{drift: NAME}`).
    public var pipeline: String?
    /// The drop folder the agent watches.
    public var incoming: String?
    public var label: String?
    public var prediction: String?
    public var task: Task = .classification
    public var performance: PerformanceRule?

    public init(name: String, reference: Reference) {
        self.name = name
        self.reference = reference
    }

    /// The rule a feature is judged by (nil: the validation defaults).
    public func rule(for feature: String) -> DataSchema.DriftRule? {
        if let r = rules[feature] { return r }
        if let method { return DataSchema.DriftRule(method: method, threshold: threshold ?? method.defaultThreshold) }
        return nil
    }

    /// The pipelines a trigger of this monitor starts.
    public func pipelines(in spec: WorkspaceSpec) -> [String] {
        if let pipeline { return [pipeline] }
        return spec.pipelines.filter { $0.triggers.contains(.drift(monitor: name)) }.map(\.name)
    }
}
