import Foundation

/// How an environment receives versions: its place in the order, what it
/// requires first, its deploy command, its canary and what is watched after.
public struct DeploymentPlan: Sendable, Hashable, Codable {
    /// The environment a version must be live in first (nil: none).
    public var requires: String?
    /// Follows on its own once `requires` is healthy and the policy says low risk.
    public var auto: Bool = false
    /// Seconds a deploy command may take.
    public var timeoutSeconds: Double = 600
    public var canary: CanarySpec?
    /// Conditions watched for `watchSeconds` after a version goes live at 100 %.
    public var rollbackWhen: [AnalysisCheck] = []
    public var watchSeconds: Double = 0

    public init() {}
}

public struct CanarySpec: Sendable, Hashable, Codable {
    /// Percent of traffic on the candidate at each step; the last is 100.
    public var steps: [Int]
    /// Seconds between a step's deploy and its analysis.
    public var intervalSeconds: Double
    public var analysis: [AnalysisCheck]
    /// Inconclusive analyses in a row before the canary pauses for a human.
    public var maxInconclusive: Int
    /// `measure:` as written (nil: one measurement per step, `interval` after its deploy).
    public var measure: MeasurePlan?
    /// Too little traffic makes every measurement inconclusive.
    public var minSamples: MinSamples?

    public init(steps: [Int], intervalSeconds: Double, analysis: [AnalysisCheck] = [], maxInconclusive: Int = 1,
                measure: MeasurePlan? = nil, minSamples: MinSamples? = nil) {
        self.steps = steps
        self.intervalSeconds = intervalSeconds
        self.analysis = analysis
        self.maxInconclusive = maxInconclusive
        self.measure = measure
        self.minSamples = minSamples
    }

    /// How each step is measured: `measure:`, or once per step.
    public var measurePlan: MeasurePlan {
        measure ?? MeasurePlan(everySeconds: intervalSeconds, count: 1)
    }
}

/// One measured metric of an analysis: where its value comes from and the
/// conditions that fail or pass it.
public struct AnalysisCheck: Sendable, Hashable, Codable {
    public enum Source: Sendable, Hashable, Codable {
        /// A command printing JSON (run in the workspace).
        case command(String)
        /// A GET returning JSON.
        case http(String)
        /// An instant query to Prometheus, matched to the version by a label.
        case prometheus(PrometheusSource)

        /// `cmd`, `http`, `prometheus`.
        public var kind: String {
            switch self {
            case .command: return "cmd"
            case .http: return "http"
            case .prometheus: return "prometheus"
            }
        }
    }
    public var metric: String
    public var source: Source
    /// A path into the JSON (`data.result[0].value[1]`); default: the metric's name.
    public var valuePath: String
    public var failIf: GateCondition?
    public var passIf: GateCondition?

    public init(metric: String, source: Source, valuePath: String? = nil, failIf: GateCondition? = nil, passIf: GateCondition? = nil) {
        self.metric = metric
        self.source = source
        self.valuePath = valuePath ?? metric
        self.failIf = failIf
        self.passIf = passIf
    }
}
