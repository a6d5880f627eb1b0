import Foundation

/// How a canary step is measured: `count` measurements, `every` seconds
/// apart, and how many bad ones are tolerated before the step is decided.
///
/// Defaults (with `measure:` in slipway.yaml): every 30 s, 5 measurements,
/// no failed measurement tolerated (`failure_limit: 0`), no inconclusive one
/// (`inconclusive_limit: 0`), and at most 2 source errors in a row
/// (`consecutive_error_limit: 2`). Without `measure:` a step is measured
/// once, `interval` after its deploy, with the same limits.
public struct MeasurePlan: Sendable, Hashable, Codable {
    public var everySeconds: Double
    public var count: Int
    /// Failed measurements tolerated; one more fails the step at once.
    public var failureLimit: Int
    /// Inconclusive measurements (no data, too little traffic) tolerated; one
    /// more ends the step inconclusive.
    public var inconclusiveLimit: Int
    /// Source errors in a row tolerated (each is measured again after
    /// `every`); one more ends the step inconclusive. Errors never count
    /// towards `count`.
    public var consecutiveErrorLimit: Int

    public static let defaultEvery: Double = 30
    public static let defaultCount = 5

    public init(everySeconds: Double = MeasurePlan.defaultEvery, count: Int = MeasurePlan.defaultCount, failureLimit: Int = 0,
                inconclusiveLimit: Int = 0, consecutiveErrorLimit: Int = 2) {
        self.everySeconds = everySeconds
        self.count = count
        self.failureLimit = failureLimit
        self.inconclusiveLimit = inconclusiveLimit
        self.consecutiveErrorLimit = consecutiveErrorLimit
    }

    /// Seconds each source of a measurement may take: `every`, at most 30 s
    /// and at least 1 s. A hung source (a Prometheus that accepts the
    /// connection and never answers) then holds a step no longer than one
    /// measurement's slot, and its timeout is an `error` verdict.
    public var measurementTimeout: Double { Swift.min(Swift.max(everySeconds, 1), Self.maxTimeout) }

    /// Seconds a source may take when nothing ties it to a measurement's
    /// slot (a canary without `measure:`, the `rollback_when` watch).
    public static let maxTimeout: Double = 30

    /// The most measurements one round can take (errors included).
    public var maxMeasurements: Int { count + count * (consecutiveErrorLimit + 1) }
}

/// A step's measurements so far, decided (pure). The rules, checked after
/// each measurement in this order:
/// 1. more failed measurements than `failure_limit`: the step fails now
///    (the rollback does not wait for the remaining measurements);
/// 2. more source errors in a row than `consecutive_error_limit`, or more
///    errors in all than `count`: inconclusive;
/// 3. more inconclusive measurements than `inconclusive_limit`: inconclusive;
/// 4. `count` measurements taken (errors not counted): a pass when at least
///    one of them passed, else inconclusive;
/// 5. otherwise: measure again after `every`.
/// An error or an inconclusive measurement is never counted as a pass.
public enum MeasurementTally {
    public enum Decision: Sendable, Hashable {
        case measureAgain
        case pass
        /// `measurement`: the 1-based number of the measurement that decided it.
        case fail(measurement: Int)
        case inconclusive(measurement: Int, why: String)
    }

    public static func decide(_ verdicts: [AnalysisVerdict], plan: MeasurePlan) -> Decision {
        guard !verdicts.isEmpty else { return .measureAgain }
        let n = verdicts.count
        let fails = verdicts.filter { $0 == .fail }.count
        if fails > plan.failureLimit { return .fail(measurement: n) }
        let errorsInARow = verdicts.reversed().prefix { $0 == .error }.count
        if errorsInARow > plan.consecutiveErrorLimit {
            return .inconclusive(measurement: n, why: "\(errorsInARow) source errors in a row (consecutive_error_limit \(plan.consecutiveErrorLimit))")
        }
        let errors = verdicts.filter { $0 == .error }.count
        if errors > plan.count {
            return .inconclusive(measurement: n, why: "\(errors) source errors (more than count \(plan.count))")
        }
        let inconclusive = verdicts.filter { $0 == .inconclusive }.count
        if inconclusive > plan.inconclusiveLimit {
            return .inconclusive(measurement: n, why: "\(inconclusive) inconclusive measurements (inconclusive_limit \(plan.inconclusiveLimit))")
        }
        if n - errors >= plan.count {
            let passes = verdicts.filter { $0 == .pass }.count
            return passes > 0 ? .pass : .inconclusive(measurement: n, why: "no measurement passed")
        }
        return .measureAgain
    }
}

/// Too little traffic makes a canary's analysis inconclusive, however good
/// its values look: `min_samples` reads the candidate's request count from
/// a source and needs at least `atLeast`.
public struct MinSamples: Sendable, Hashable, Codable {
    public var source: AnalysisCheck.Source
    /// A path into a JSON answer (`cmd`, `http`); unused for `prometheus`.
    public var valuePath: String
    public var atLeast: Double

    public init(source: AnalysisCheck.Source, valuePath: String = "samples", atLeast: Double) {
        self.source = source
        self.valuePath = valuePath
        self.atLeast = atLeast
    }

    /// As a check the runner measures like any other (metric `samples`).
    public var check: AnalysisCheck {
        AnalysisCheck(metric: Self.metric, source: source, valuePath: valuePath,
                      passIf: try? GateCondition(parsing: ">= \(AnalysisJudge.format(atLeast))"))
    }

    public static let metric = "samples"

    /// A sample count's verdict: enough is a pass, too few or none is
    /// inconclusive (never a failure: too little traffic says nothing bad).
    public func judge(_ value: Double?, problem: AnswerProblem?) -> AnalysisMeasurement {
        let condition = "min_samples \(AnalysisJudge.format(atLeast))"
        guard let value, value.isFinite else {
            let isError = problem?.kind == .error
            return AnalysisMeasurement(metric: Self.metric, value: nil, production: nil, condition: condition,
                                       verdict: isError ? .error : .inconclusive,
                                       explanation: "samples: " + (isError ? "error" : "no data") + (problem.map { " (\($0.message))" } ?? ""))
        }
        if value < atLeast {
            return AnalysisMeasurement(metric: Self.metric, value: value, production: nil, condition: condition, verdict: .inconclusive,
                                       explanation: "samples \(AnalysisJudge.format(value)) < \(AnalysisJudge.format(atLeast)): too little traffic to judge")
        }
        return AnalysisMeasurement(metric: Self.metric, value: value, production: nil, condition: condition, verdict: .pass,
                                   explanation: "samples \(AnalysisJudge.format(value)) >= \(AnalysisJudge.format(atLeast))")
    }
}
