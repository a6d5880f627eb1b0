import Foundation
import SlipwayStore

/// Decides an evaluation stage's gates: the stage run's metrics against the
/// same metrics of the version live in the stage's baseline environment.
public struct GateEvaluator: Sendable {
    let registry: any Registry
    let model: String

    public init(registry: any Registry, model: String) {
        self.registry = registry
        self.model = model
    }

    /// The last value of each metric key, as reported by one stage of a run.
    public static func lastValues(_ metrics: [MetricRecord], stage: String? = nil, stageRunID: Int64? = nil) -> [String: Double] {
        var values: [String: (step: Int64, value: Double)] = [:]
        for m in metrics {
            if let stage, m.stage != stage { continue }
            if let stageRunID, m.stageRunID != stageRunID { continue }
            let step = m.step ?? Int64.max
            if let existing = values[m.key], existing.step > step { continue }
            values[m.key] = (step, m.value)
        }
        return values.mapValues(\.value)
    }

    /// The last value of each metric of a run, named by its key when one stage
    /// reports it and `stage.key` when several do (matrix members each
    /// reporting `auc`), as ``MetricComparison`` names its rows.
    public static func namedValues(_ metrics: [MetricRecord]) -> [String: Double] {
        var byStage: [String: [MetricRecord]] = [:]
        for m in metrics { byStage[m.stage, default: []].append(m) }
        let last = byStage.mapValues { lastValues($0) }
        var stagesPerKey: [String: Int] = [:]
        for values in last.values { for key in values.keys { stagesPerKey[key, default: 0] += 1 } }
        var named: [String: Double] = [:]
        for (stage, values) in last {
            for (key, value) in values { named[stagesPerKey[key, default: 0] > 1 ? "\(stage).\(key)" : key] = value }
        }
        return named
    }

    /// The version live in `environment` now and its metrics for `stage`
    /// (falling back to any stage's metric of that name).
    public func baseline(environment: String, stage: String) throws -> (version: ModelVersionRecord, metrics: [String: Double])? {
        guard let v = try registry.alias(model: model, environment: environment, at: nil),
              let version = try registry.modelVersion(model: model, version: v) else { return nil }
        let all = try registry.metrics(runID: version.runID)
        var values = Self.lastValues(all)
        for (k, v) in Self.lastValues(all, stage: stage) { values[k] = v }
        return (version, values)
    }

    public func evaluate(stage: StageSpec, stageRun: StageRunRecord) throws -> [GateResultRecord] {
        guard !stage.gates.isEmpty else { return [] }
        let candidate = Self.lastValues(try registry.metrics(runID: stageRun.runID), stageRunID: stageRun.id)
        let base = try baseline(environment: stage.baseline, stage: stage.name)
        return stage.gates.map { gate in
            let result = Gates.evaluate(metric: gate.metric, condition: gate.condition, candidate: candidate[gate.metric],
                                        production: base?.metrics[gate.metric], hasBaseline: base != nil,
                                        onNoBaseline: stage.onNoBaseline)
            return GateResultRecord(runID: stageRun.runID, stageRunID: stageRun.id, stage: stage.name, metric: gate.metric,
                                    condition: gate.condition.text, candidate: result.candidate, production: result.production,
                                    threshold: result.threshold, baselineModel: base.map { _ in model },
                                    baselineVersion: base?.version.version, passed: result.passed,
                                    explanation: result.explanation)
        }
    }
}
