import Foundation

/// Why a deployment is where it is, measurement by measurement: what every
/// face shows for `slipway deployments ENV --explain` and for Enter on an
/// analysis in the console's Deployments tab.
public struct DeploymentExplanation: Sendable, Hashable, Codable {
    public var environment: String
    /// The deployment in flight, else the newest one (nil: none yet).
    public var deployment: DeploymentRecord?
    /// Every measured value, oldest first, with its query and raw answer.
    public var measurements: [AnalysisSampleRecord]
    /// The measurement whose values decided the ending (a failure that rolled
    /// back, the last inconclusive one that paused), when there is one.
    public var deciding: DecidingMeasurement?

    public struct DecidingMeasurement: Sendable, Hashable, Codable {
        public var step: Int
        public var round: Int
        public var measurement: Int
        public var verdict: String
    }

    /// The rows of one measurement (step, round, number), in order.
    public var groups: [[AnalysisSampleRecord]] {
        var out: [[AnalysisSampleRecord]] = []
        for s in measurements {
            if let last = out.last?.last, last.step == s.step, last.round == s.round, last.measurement == s.measurement {
                out[out.count - 1].append(s)
            } else {
                out.append([s])
            }
        }
        return out
    }
}

extension DeploymentExplanation {
    /// One measured value as a face lists it (plain text; each face sanitises).
    public struct Row: Sendable, Hashable, Codable {
        /// `step 1 · #3` (`watch · #2` for rollback_when; `r2` for a second round).
        public var place: String
        public var at: Millis
        public var metric: String
        public var value: String
        public var condition: String
        public var verdict: String
        public var explanation: String
        public var query: String
        public var answer: String
        /// This row belongs to the measurement that decided the ending.
        public var deciding: Bool
    }

    public var rows: [Row] {
        measurements.map { s in
            let step = s.step < 0 ? "watch" : "step \(s.step + 1)"
            let round = s.round > 0 ? " r\(s.round + 1)" : ""
            let isDeciding = deciding.map { $0.step == s.step && $0.round == s.round && $0.measurement == s.measurement } ?? false
            return Row(place: "\(step)\(round) #\(s.measurement)", at: s.at, metric: s.metric,
                       value: s.value.map { AnalysisJudge.format($0) } ?? "—", condition: s.condition, verdict: s.verdict,
                       explanation: s.explanation, query: s.query ?? "", answer: s.answer ?? "", deciding: isDeciding)
        }
    }
}

extension DeploymentService {
    /// The measurements of `environment`'s deployment in flight (else its
    /// newest), or of deployment `id` there.
    public func explain(environment: String, deploymentID: Int64? = nil) throws -> DeploymentExplanation {
        try checkEnvironment(environment)
        let d: DeploymentRecord?
        if let deploymentID {
            guard let found = try registry.deployment(id: deploymentID), found.environment == environment else {
                throw Refusal(message: "no deployment \(deploymentID) in \(environment)")
            }
            d = found
        } else {
            d = try registry.activeDeployment(environment: environment) ?? registry.deployments(environment: environment, limit: 1).first
        }
        guard let d else { return DeploymentExplanation(environment: environment, deployment: nil, measurements: []) }
        return DeploymentExplanation(environment: environment, deployment: d, measurements: try registry.analysisSamples(deploymentID: d.id))
    }
}

extension DeploymentExplanation {
    /// A deployment's measurements (as read from the registry, or from a
    /// lane the console holds), with the deciding one found.
    public init(environment: String, deployment d: DeploymentRecord?, measurements: [AnalysisSampleRecord]) {
        self.environment = environment
        self.deployment = d
        self.measurements = measurements
        self.deciding = nil
        let deciding: [AnalysisSampleRecord]?
        switch d?.state {
        case .rolledBack?: deciding = groups.last { $0.contains { $0.verdict == "fail" } }
        case .paused?: deciding = groups.last
        default: deciding = nil
        }
        if let g = deciding, let first = g.first {
            let verdict = AnalysisVerdict.combined(g.map { AnalysisVerdict(rawValue: $0.verdict) ?? .error })
            self.deciding = .init(step: first.step, round: first.round, measurement: first.measurement, verdict: verdict.rawValue)
        }
    }
}
