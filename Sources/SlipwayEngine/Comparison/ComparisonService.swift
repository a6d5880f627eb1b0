import Foundation
import SlipwayStore

/// The one definition of "the candidate" and "the baseline", used by
/// `slipway compare`, the CI reports and the console's Evals tab.
///
/// - The baseline is the version live in the gated stage's `baseline:`
///   environment (default production).
/// - The candidate is a given run (the run CI just made), else the newest run
///   of the pipeline that reported a gated metric (a run still training has
///   nothing to compare yet), else the pipeline's newest run.
public struct ComparisonService: Sendable {
    let registry: any Registry
    let spec: WorkspaceSpec?

    /// How many recent runs are searched for one that reported a gated metric.
    public static let candidateSearchDepth = 20

    public init(registry: any Registry, spec: WorkspaceSpec?) {
        self.registry = registry
        self.spec = spec
    }

    public struct Side: Sendable {
        public var label: String
        public var runID: Int64?
        public var version: ModelVersionRecord?
        public var metrics: [MetricRecord]
        public var exists: Bool
    }

    public struct Result: Sendable {
        public var baseline: Side
        public var candidate: Side
        public var comparison: MetricComparison
        public var baselineEnvironment: String?
    }

    public struct Problem: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String { message }
    }

    /// The gates of a pipeline, in spec order.
    public static func gates(of pipeline: PipelineSpec) -> [(stage: String, gate: GateSpec, policy: NoBaselinePolicy)] {
        pipeline.stages.flatMap { s in s.gates.map { (stage: s.name, gate: $0, policy: s.onNoBaseline) } }
    }

    public static func baselineEnvironment(of pipeline: PipelineSpec) -> String {
        pipeline.stages.first { !$0.gates.isEmpty }?.baseline ?? "production"
    }

    /// The pipeline a comparison is about: named, or the one of `model`, or the only one.
    public func pipeline(named name: String?, model: String? = nil) throws -> PipelineSpec? {
        guard let spec else { return nil }
        if let name {
            guard let p = spec.pipeline(named: name) else {
                let names = spec.pipelines.map(\.name)
                let hint = Suggestions.closest(to: name, in: names).map { " (did you mean '\($0)'?)" } ?? ""
                throw Problem(message: "no pipeline '\(name)' in slipway.yaml\(hint)")
            }
            return p
        }
        if let model, let p = spec.pipelines.first(where: { $0.modelName == model }) { return p }
        return spec.pipelines.count == 1 ? spec.pipelines.first : nil
    }

    /// The candidate run of a pipeline (see the type's rules).
    public func candidateRun(of pipeline: PipelineSpec, among recent: [RunRecord]? = nil) throws -> RunRecord? {
        let gated = Set(Self.gates(of: pipeline).map(\.gate.metric))
        let runs = try recent?.filter { $0.pipeline == pipeline.name }.prefix(Self.candidateSearchDepth).map { $0 }
            ?? registry.runs(pipeline: pipeline.name, limit: Self.candidateSearchDepth)
        if !gated.isEmpty {
            for run in runs where try registry.metrics(runID: run.id).contains(where: { gated.contains($0.key) }) {
                return run
            }
        }
        return try runs.first ?? registry.latestRun(pipeline: pipeline.name)
    }

    /// The live version of the pipeline's model in its baseline environment.
    public func baseline(of pipeline: PipelineSpec) throws -> Side {
        let env = Self.baselineEnvironment(of: pipeline)
        if let live = try registry.alias(model: pipeline.modelName, environment: env, at: nil),
           let v = try registry.modelVersion(model: pipeline.modelName, version: live) {
            return Side(label: "\(v.model):\(v.version) (\(env))", runID: v.runID, version: v,
                        metrics: try registry.metrics(runID: v.runID), exists: true)
        }
        return Side(label: "\(env): none", runID: nil, version: nil, metrics: [], exists: false)
    }

    /// Candidate (a given run, else per the rules) against the baseline, with the gates applied.
    public func candidateVsBaseline(pipeline: PipelineSpec, candidateRun given: Int64? = nil,
                                    recent: [RunRecord]? = nil) throws -> Result {
        let run: RunRecord
        if let given {
            guard let r = try registry.run(id: given) else { throw Problem(message: "no run \(given)") }
            run = r
        } else {
            guard let r = try candidateRun(of: pipeline, among: recent) else {
                throw Problem(message: "pipeline '\(pipeline.name)' has no runs yet: `slipway run` first")
            }
            run = r
        }
        let candidate = Side(label: "run \(run.id)", runID: run.id, version: try registry.modelVersion(runID: run.id),
                             metrics: try registry.metrics(runID: run.id), exists: true)
        let baseline = try baseline(of: pipeline)
        let comparison = MetricComparison.build(baseline: baseline.metrics, candidate: candidate.metrics,
                                                gates: Self.gates(of: pipeline), hasBaseline: baseline.exists)
        return Result(baseline: baseline, candidate: candidate, comparison: comparison,
                      baselineEnvironment: Self.baselineEnvironment(of: pipeline))
    }

    /// Two registered versions (`a` the baseline, `b` the candidate), with the
    /// pipeline's gates when it is known.
    public func versions(_ a: ModelVersionRecord, _ b: ModelVersionRecord, pipeline: PipelineSpec?) throws -> Result {
        let left = Side(label: a.label, runID: a.runID, version: a, metrics: try registry.metrics(runID: a.runID), exists: true)
        let right = Side(label: b.label, runID: b.runID, version: b, metrics: try registry.metrics(runID: b.runID), exists: true)
        let comparison = MetricComparison.build(baseline: left.metrics, candidate: right.metrics,
                                                gates: pipeline.map(Self.gates(of:)) ?? [], hasBaseline: true)
        return Result(baseline: left, candidate: right, comparison: comparison, baselineEnvironment: nil)
    }

    /// Per gated metric: (version, value) in each registered version that
    /// reported it, oldest first, over the newest `limit` versions.
    public func gatedMetricHistory(pipeline: PipelineSpec, limit: Int = 50) throws -> [String: [(version: Int, value: Double)]] {
        let gates = Self.gates(of: pipeline)
        var history: [String: [(version: Int, value: Double)]] = [:]
        for v in try registry.modelVersions(model: pipeline.modelName, limit: limit).reversed() {
            let metrics = try registry.metrics(runID: v.runID)
            let values = GateEvaluator.lastValues(metrics)
            for g in gates {
                // The gated stage's value; any stage's for a version made before the stage was gated.
                if let x = GateEvaluator.lastValues(metrics, stage: g.stage)[g.gate.metric] ?? values[g.gate.metric] {
                    history[g.gate.metric, default: []].append((v.version, x))
                }
            }
        }
        return history
    }
}
