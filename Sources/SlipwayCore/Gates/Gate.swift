import Foundation

/// A gate condition on one metric: `">= 0.8"`, `"<= 50"`,
/// `">= production - 0.01"`, `">= production * 1.005"`, `"> production"`.
///
/// `production` stands for the metric's value in the version live in the
/// baseline environment. Parsing is strict so a typo is caught by `lint`.
public struct GateCondition: Sendable, Hashable, CustomStringConvertible {
    public enum Comparison: String, Sendable, CaseIterable {
        case greaterOrEqual = ">=", lessOrEqual = "<=", greater = ">", less = "<", equal = "==", notEqual = "!="

        func holds(_ a: Double, _ b: Double) -> Bool {
            switch self {
            case .greaterOrEqual: return a >= b
            case .lessOrEqual: return a <= b
            case .greater: return a > b
            case .less: return a < b
            case .equal: return a == b
            case .notEqual: return a != b
            }
        }

        /// The opposite symbol, used when a gate fails (`14.9 > 12`).
        var negated: String {
            switch self {
            case .greaterOrEqual: return "<"
            case .lessOrEqual: return ">"
            case .greater: return "<="
            case .less: return ">="
            case .equal: return "!="
            case .notEqual: return "=="
            }
        }
    }

    public enum Threshold: Sendable, Hashable {
        case constant(Double)
        /// `production OP operand` (`op` is nil for plain `production`).
        case relative(op: Character?, operand: Double)
    }

    public var comparison: Comparison
    public var threshold: Threshold
    public var text: String

    public var isRelative: Bool {
        if case .relative = threshold { return true }
        return false
    }

    public var description: String { text }

    public struct ParseError: SlipwayError, Sendable {
        public var exitStatus: ExitStatus { .usage }
        public var message: String
        public var description: String { message }
    }

    public init(parsing text: String) throws(ParseError) {
        self.text = text.trimmingWhitespace()
        var rest = Substring(self.text)
        guard let cmp = Comparison.allCases.sorted(by: { $0.rawValue.count > $1.rawValue.count })
            .first(where: { rest.hasPrefix($0.rawValue) }) else {
            throw ParseError(message: "'\(text)' must start with a comparison (>=, <=, >, <, ==, !=), e.g. \">= 0.8\" or \">= production - 0.01\"")
        }
        comparison = cmp
        rest = rest.dropFirst(cmp.rawValue.count)
        let tokens = rest.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        func number(_ s: String) throws(ParseError) -> Double {
            guard let v = Double(s), v.isFinite else { throw ParseError(message: "'\(s)' in '\(text)' is not a number") }
            return v
        }
        switch tokens.count {
        case 1 where tokens[0] == "production":
            threshold = .relative(op: nil, operand: 0)
        case 1:
            threshold = .constant(try number(tokens[0]))
        case 3 where tokens[0] == "production":
            guard tokens[1].count == 1, let op = tokens[1].first, "+-*/".contains(op) else {
                throw ParseError(message: "'\(tokens[1])' in '\(text)' must be one of + - * /")
            }
            let operand = try number(tokens[2])
            if op == "/" && operand == 0 { throw ParseError(message: "'\(text)' divides by zero") }
            threshold = .relative(op: op, operand: operand)
        default:
            throw ParseError(message: "'\(text)' is not a gate: write \"OP NUMBER\" or \"OP production [+-*/ NUMBER]\"")
        }
    }

    /// The threshold for a given production value (nil when relative and there is none).
    public func thresholdValue(production: Double?) -> Double? {
        switch threshold {
        case .constant(let v): return v
        case .relative(let op, let operand):
            guard let p = production else { return nil }
            switch op {
            case "+": return p + operand
            case "-": return p - operand
            case "*": return p * operand
            case "/": return p / operand
            default: return p
            }
        }
    }
}

/// What to do with a relative gate when nothing is in the baseline environment.
public enum NoBaselinePolicy: String, Sendable, Hashable, CaseIterable {
    case pass, fail
}

/// One gate decision, with its arithmetic in words.
public struct GateResult: Sendable, Hashable, Codable {
    public var metric: String
    public var condition: String
    public var candidate: Double?
    public var production: Double?
    public var threshold: Double?
    public var passed: Bool
    /// e.g. `accuracy 0.912 >= 0.905 - 0.01 = 0.895 → pass`.
    public var explanation: String

    public init(metric: String, condition: String, candidate: Double?, production: Double?, threshold: Double?,
                passed: Bool, explanation: String) {
        self.metric = metric
        self.condition = condition
        self.candidate = candidate
        self.production = production
        self.threshold = threshold
        self.passed = passed
        self.explanation = explanation
    }
}

public enum Gates {
    /// Decides one gate. `candidate` is the metric of the run being judged (nil
    /// when missing); `production` the same metric of the baseline version (nil
    /// when no version is live there or it lacks the metric); `hasBaseline`
    /// whether any version is live there.
    public static func evaluate(metric: String, condition: GateCondition, candidate: Double?, production: Double?,
                                hasBaseline: Bool, onNoBaseline: NoBaselinePolicy) -> GateResult {
        func result(_ passed: Bool, _ threshold: Double?, _ words: String) -> GateResult {
            GateResult(metric: metric, condition: condition.text, candidate: candidate, production: production,
                       threshold: threshold, passed: passed, explanation: words + (passed ? " → pass" : " → FAIL"))
        }
        guard let value = candidate else {
            return result(false, nil, "\(metric): the candidate did not report this metric")
        }
        guard !value.isNaN else {
            return result(false, nil, "\(metric) is NaN")
        }
        if condition.isRelative && production == nil {
            let why = hasBaseline ? "the production version has no \(metric)" : "nothing is in production yet"
            if hasBaseline || onNoBaseline == .fail {
                return result(false, nil, "\(metric) \(format(value)) \(condition.text): \(why)" + (hasBaseline ? "" : " (on_no_baseline: fail)"))
            }
            return result(true, nil, "\(metric) \(format(value)) \(condition.text): \(why) (on_no_baseline: pass)")
        }
        if let p = production, p.isNaN, condition.isRelative {
            return result(false, nil, "\(metric): the production value is NaN")
        }
        let threshold = condition.thresholdValue(production: production)!
        let passed = condition.comparison.holds(value, threshold)
        let shown = passed ? condition.comparison.rawValue : condition.comparison.negated
        var words = "\(metric) \(format(value)) \(shown) "
        switch condition.threshold {
        case .constant: words += format(threshold)
        case .relative(let op, let operand):
            if let op { words += "\(format(production!)) \(op) \(format(operand)) = \(format(threshold))" }
            else { words += format(threshold) }
        }
        return result(passed, threshold, words)
    }

    /// Shortest text that reads back as the same number (up to 6 significant digits).
    public static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        if v == v.rounded(), abs(v) < 1e12 { return String(Int64(v)) }
        if abs(v) < 1e-4 || abs(v) >= 1e12 {
            var s = String(format: "%.6g", v)
            if let e = s.firstIndex(of: "e"), s[..<e].contains(".") {
                var mantissa = String(s[..<e])
                while mantissa.hasSuffix("0") { mantissa.removeLast() }
                if mantissa.hasSuffix(".") { mantissa.removeLast() }
                s = mantissa + s[e...]
            }
            return s
        }
        var digits = 1
        while digits < 6 {
            let s = formatted(v, significant: digits)
            if Double(s).map({ abs($0 - v) <= abs(v) * 1e-9 }) == true { return s }
            digits += 1
        }
        return formatted(v, significant: 6)
    }

    private static func formatted(_ v: Double, significant: Int) -> String {
        let magnitude = v == 0 ? 0 : Int((log10Approx(abs(v))).rounded(.down))
        let decimals = max(0, significant - 1 - magnitude)
        let scale = pow10(decimals)
        let rounded = (v * scale).rounded() / scale
        var s = String(rounded)
        if s.contains("e") { return s }
        if let dot = s.firstIndex(of: ".") {
            let fraction = s[s.index(after: dot)...]
            if fraction.count > decimals { s = String(s[..<s.index(dot, offsetBy: decimals + 1)]) }
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s
    }

    private static func pow10(_ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<n { r *= 10 }
        return r
    }

    private static func log10Approx(_ v: Double) -> Double {
        var x = v, e = 0.0
        while x >= 10 { x /= 10; e += 1 }
        while x < 1 { x *= 10; e -= 1 }
        return e
    }
}

/// A condition is kept as its text and read back by parsing it.
extension GateCondition: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            self = try GateCondition(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}
