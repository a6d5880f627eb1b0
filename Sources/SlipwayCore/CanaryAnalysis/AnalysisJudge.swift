import Foundation

/// The verdict on one measured value, one measurement or one analysis.
/// `inconclusive`: no data, an empty vector, NaN, too little traffic, or a
/// `pass_if` not met. `error`: the source failed (refused, timed out,
/// terminated, exited non-zero, answered something that is not a number).
/// Neither is ever a pass.
public enum AnalysisVerdict: String, Sendable, Hashable, Codable {
    case pass, fail, inconclusive, error
}

/// One measured value with its verdict, in words.
public struct AnalysisMeasurement: Sendable, Hashable, Codable {
    public var metric: String
    public var value: Double?
    /// The stable version's value, where the source gives one.
    public var production: Double?
    public var condition: String
    public var verdict: AnalysisVerdict
    /// `error_rate 0.031 > 0.02 → fail`, `p95_ms: no data (…)`.
    public var explanation: String
    /// `prometheus`, `http` or `cmd` (set by whoever measured it).
    public var source: String? = nil
    /// What was asked: the PromQL as sent, the address, the command.
    public var query: String? = nil
    /// The raw answer (the engine bounds it when it records it).
    public var answer: String? = nil

    public init(metric: String, value: Double?, production: Double?, condition: String, verdict: AnalysisVerdict, explanation: String) {
        self.metric = metric
        self.value = value
        self.production = production
        self.condition = condition
        self.verdict = verdict
        self.explanation = explanation
    }
}

/// Judges measured values against their conditions (pure).
public enum AnalysisJudge {
    /// One check's verdict. A met `fail_if` fails; a met `pass_if` passes;
    /// with only `fail_if`, not meeting it passes; with a `pass_if` that is
    /// not met (and no failure), or without a value, it is inconclusive.
    /// Without a value it is inconclusive (no data), or an error when
    /// `problem` says the source failed.
    public static func judge(_ check: AnalysisCheck, value: Double?, production: Double?, problem: AnswerProblem? = nil) -> AnalysisMeasurement {
        let condition = [check.failIf.map { "fail_if \($0.text)" }, check.passIf.map { "pass_if \($0.text)" }]
            .compactMap { $0 }.joined(separator: ", ")
        guard let value, value.isFinite else {
            let isError = problem?.kind == .error
            return AnalysisMeasurement(metric: check.metric, value: nil, production: production, condition: condition,
                                       verdict: isError ? .error : .inconclusive,
                                       explanation: "\(check.metric): " + (isError ? "error" : "no data") + (problem.map { " (\($0.message))" } ?? ""))
        }
        func met(_ c: GateCondition) -> (Bool, String)? {
            guard let t = c.thresholdValue(production: production) else { return nil }
            return (c.comparison.holds(value, t), "\(format(value)) \(c.comparison.rawValue) \(format(t))")
        }
        if let f = check.failIf {
            guard let (hit, words) = met(f) else {
                return AnalysisMeasurement(metric: check.metric, value: value, production: nil, condition: condition, verdict: .inconclusive,
                                           explanation: "\(check.metric) \(format(value)): no production value for '\(f.text)'")
            }
            if hit {
                return AnalysisMeasurement(metric: check.metric, value: value, production: production, condition: condition, verdict: .fail,
                                           explanation: "\(check.metric) \(words) → fail")
            }
        }
        if let p = check.passIf {
            guard let (hit, words) = met(p) else {
                return AnalysisMeasurement(metric: check.metric, value: value, production: nil, condition: condition, verdict: .inconclusive,
                                           explanation: "\(check.metric) \(format(value)): no production value for '\(p.text)'")
            }
            return AnalysisMeasurement(metric: check.metric, value: value, production: production, condition: condition,
                                       verdict: hit ? .pass : .inconclusive,
                                       explanation: hit ? "\(check.metric) \(words) → pass" : "\(check.metric) \(format(value)) meets neither condition")
        }
        return AnalysisMeasurement(metric: check.metric, value: value, production: production, condition: condition, verdict: .pass,
                                   explanation: "\(check.metric) \(format(value)) within '\(check.failIf?.text ?? "")' → pass")
    }

    /// One measurement as a whole: any failure fails; else any source error
    /// is an error; else any inconclusive value is inconclusive; else it
    /// passes (an empty analysis passes).
    public static func combine(_ measurements: [AnalysisMeasurement]) -> AnalysisVerdict {
        if measurements.contains(where: { $0.verdict == .fail }) { return .fail }
        if measurements.contains(where: { $0.verdict == .error }) { return .error }
        if measurements.contains(where: { $0.verdict == .inconclusive }) { return .inconclusive }
        return .pass
    }

    public static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(format: "%.6g", v)
    }
}

/// Reads a value out of decoded JSON by a path like `data.result[0].value[1]`
/// (a Prometheus instant query's answer as is). Numbers and numeric strings
/// are values.
public enum JSONValuePath {
    public enum Step: Sendable, Hashable { case key(String), index(Int) }

    public struct ParseError: Error, Sendable, Hashable { public var message: String }

    public static func parse(_ path: String) throws(ParseError) -> [Step] {
        var steps: [Step] = []
        var i = path.startIndex
        var key = ""
        func flushKey() { if !key.isEmpty { steps.append(.key(key)); key = "" } }
        while i < path.endIndex {
            let c = path[i]
            if c == "." {
                flushKey()
            } else if c == "[" {
                flushKey()
                guard let close = path[i...].firstIndex(of: "]"), let n = Int(path[path.index(after: i)..<close]), n >= 0 else {
                    throw ParseError(message: "'\(path)': '[' must hold an index like [0]")
                }
                steps.append(.index(n))
                i = close
            } else {
                key.append(c)
            }
            i = path.index(after: i)
        }
        flushKey()
        if steps.isEmpty { throw ParseError(message: "'\(path)' names no value") }
        return steps
    }

    /// The number at `steps` in `json` (from JSONSerialization), or why not.
    public static func number(in json: Any, at steps: [Step]) -> Result<Double, ParseError> {
        var current: Any = json
        for step in steps {
            switch step {
            case .key(let k):
                guard let d = current as? [String: Any], let next = d[k] else { return .failure(ParseError(message: "no '\(k)'")) }
                current = next
            case .index(let n):
                guard let a = current as? [Any], n < a.count else { return .failure(ParseError(message: "no element [\(n)]")) }
                current = a[n]
            }
        }
        if current is NSNull { return .failure(ParseError(message: "no value (null)")) }
        if let s = current as? String {
            guard let v = Double(s.trimmingWhitespace()) else { return .failure(ParseError(message: "'\(s.prefix(40))' is not a number")) }
            return .success(v)
        }
        if let n = current as? Double { return .success(n) }
        if let n = current as? Int { return .success(Double(n)) }
        return .failure(ParseError(message: "the value is not a number"))
    }
}

extension AnalysisVerdict {
    /// One measurement's verdict from its values': fail, else error, else inconclusive, else pass.
    public static func combined(_ verdicts: [AnalysisVerdict]) -> AnalysisVerdict {
        if verdicts.contains(.fail) { return .fail }
        if verdicts.contains(.error) { return .error }
        if verdicts.contains(.inconclusive) { return .inconclusive }
        return .pass
    }
}
