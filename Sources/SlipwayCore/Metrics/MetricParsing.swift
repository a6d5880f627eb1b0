import Foundation

/// One metric value as a stage reported it.
public struct MetricPoint: Sendable, Hashable, Codable {
    public var key: String
    public var value: Double
    public var step: Int64?

    public init(key: String, value: Double, step: Int64? = nil) {
        self.key = key
        self.value = value
        self.step = step
    }
}

/// Reads the two ways a stage reports metrics: `::metric` lines on stdout and
/// JSON metrics files.
public enum MetricParsing {
    /// What one line a stage printed means to Slipway.
    public enum StageLine: Sendable, Hashable {
        /// Plain output.
        case text
        case metric(MetricPoint)
        /// `::progress step=N total=M`: N of M units of work done.
        case progress(done: Int64, total: Int64)
        /// A `::metric` or `::progress` line that does not parse (reported, not dropped silently).
        case malformed(String)
    }

    /// Reads one line a stage printed.
    public static func classify(_ line: some StringProtocol) -> StageLine {
        var text = Substring(line)
        while let f = text.first, f == " " || f == "\t" { text.removeFirst() }
        guard text.hasPrefix("::") else { return .text }
        if text.hasPrefix("::metric") {
            let rest = text.dropFirst("::metric".count)
            guard rest.isEmpty || rest.first == " " || rest.first == "\t" else { return .text }
            return parseLine(text).map { .metric($0) } ?? .malformed(String(text.prefix(200)))
        }
        if text.hasPrefix("::progress") {
            let rest = text.dropFirst("::progress".count)
            guard rest.isEmpty || rest.first == " " || rest.first == "\t" else { return .text }
            var done: Int64?, total: Int64?
            for field in rest.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }) {
                guard let eq = field.firstIndex(of: "=") else { return .malformed(String(text.prefix(200))) }
                let k = field[..<eq], v = field[field.index(after: eq)...]
                if k == "step" { done = Int64(v) } else if k == "total" { total = Int64(v) }
            }
            guard let done, let total, total > 0, done >= 0 else { return .malformed(String(text.prefix(200))) }
            return .progress(done: min(done, total), total: total)
        }
        return .text
    }

    /// Parses `::metric name=loss value=0.42 step=3` (fields in any order, step
    /// optional). Returns nil for any other line, or a malformed one.
    public static func parseLine(_ line: some StringProtocol) -> MetricPoint? {
        var text = Substring(line)
        while let f = text.first, f == " " || f == "\t" { text.removeFirst() }
        guard text.hasPrefix("::metric") else { return nil }
        text = text.dropFirst("::metric".count)
        guard let f = text.first, f == " " || f == "\t" else { return nil }
        var name: String?
        var value: Double?
        var step: Int64?
        for field in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }) {
            guard let eq = field.firstIndex(of: "=") else { return nil }
            let k = field[..<eq], v = field[field.index(after: eq)...]
            switch k {
            case "name": name = v.isEmpty ? nil : String(v)
            case "value": value = Double(v)
            case "step":
                guard let s = Int64(v) else { return nil }
                step = s
            default: continue
            }
        }
        guard let name, let value else { return nil }
        return MetricPoint(key: name, value: value, step: step)
    }

    public enum FileError: SlipwayError {
        public var exitStatus: ExitStatus { .stageFailed }
        case notJSON(String)
        case notObject

        public var description: String {
            switch self {
            case .notJSON(let why): return "is not valid JSON (\(why))"
            case .notObject: return "must hold a JSON object of metric names to numbers"
            }
        }
    }

    /// Where JSON text first goes wrong, as `line L, column C: what`.
    static func syntaxProblem(in data: Data) -> String? {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return nil
        } catch {
            let text = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            // Foundation names a character offset ("… around character 15."); turn it into a line and column.
            guard let r = text.range(of: "character "), let offset = Int(text[r.upperBound...].prefix { $0.isNumber }) else {
                return text
            }
            var line = 1, column = 1
            for (i, b) in data.enumerated() {
                if i >= offset { break }
                if b == UInt8(ascii: "\n") { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
            }
            let what = text.components(separatedBy: " around").first ?? text
            return "line \(line), column \(column): \(what.lowercased())"
        }
    }

    /// The one rule for values that are not finite, wherever they come from
    /// (a `::metric` line, a metrics file, `1e999` or `NaN`): kept as the value
    /// they stand for, so the run shows what happened and a gate on them
    /// fails, and warned about. The warning, or nil for a finite value.
    public static func nonFiniteWarning(_ point: MetricPoint) -> String? {
        guard !point.value.isFinite else { return nil }
        let name = point.value.isNaN ? "NaN" : point.value > 0 ? "Infinity" : "-Infinity"
        return "metric \(point.key) is \(name) (kept as it is; a gate on it fails)"
    }

    /// Python's `json.dump` writes `NaN`, `Infinity` and `-Infinity` bare, which
    /// strict JSON refuses, and a number too large for a double (`1e999`) is
    /// refused too. Outside strings they are quoted here, so they read as the
    /// non-finite numbers they stand for (and a gate on them fails), the same
    /// as from a `::metric` line.
    static let numberBytes = Set(Array("0123456789.eE+-".utf8))

    static func quotingNonFinite(_ data: Data) -> Data {
        let bytes = [UInt8](data)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        var inString = false, escaped = false
        var i = 0
        func matches(_ word: String, at j: Int) -> Bool {
            let w = Array(word.utf8)
            guard j + w.count <= bytes.count, Array(bytes[j..<(j + w.count)]) == w else { return false }
            // A whole token: not followed by a letter or digit.
            if j + w.count < bytes.count, bytes[j + w.count] < 0x80,
               Character(Unicode.Scalar(bytes[j + w.count])).isLetter || Character(Unicode.Scalar(bytes[j + w.count])).isNumber {
                return false
            }
            return true
        }
        while i < bytes.count {
            let b = bytes[i]
            if inString {
                out.append(b)
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                i += 1
                continue
            }
            if b == UInt8(ascii: "\"") { inString = true; out.append(b); i += 1; continue }
            if b == UInt8(ascii: "-") || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) {
                // A number token: one that overflows a double becomes its infinity.
                var j = i + 1
                while j < bytes.count, Self.numberBytes.contains(bytes[j]) { j += 1 }
                let token = bytes[i..<j]
                if token.contains(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }),
                   let value = Double(String(decoding: token, as: UTF8.self)), !value.isFinite || value == 0 {
                    let word = value == 0 ? "0" : value > 0 ? "\"Infinity\"" : "\"-Infinity\""
                    out.append(contentsOf: Array(word.utf8))
                    i = j
                    continue
                }
                if j > i + 1 || b != UInt8(ascii: "-") {
                    out.append(contentsOf: token)
                    i = j
                    continue
                }
            }
            var replaced = false
            for word in ["-Infinity", "Infinity", "NaN"] where matches(word, at: i) {
                out.append(UInt8(ascii: "\""))
                out.append(contentsOf: Array(word.utf8))
                out.append(UInt8(ascii: "\""))
                i += word.utf8.count
                replaced = true
                break
            }
            if !replaced { out.append(b); i += 1 }
        }
        return Data(out)
    }

    /// Flattens a metrics JSON object: nested objects become dotted keys
    /// (`{"eval": {"acc": 0.9}}` → `eval.acc`); numbers and booleans are kept,
    /// strings that hold numbers are read, other values are skipped.
    public static func parseJSON(_ data: Data) throws(FileError) -> [MetricPoint] {
        let root: JSONValue
        let quoted = quotingNonFinite(data)
        do {
            root = try JSONDecoder().decode(JSONValue.self, from: quoted)
        } catch {
            throw .notJSON(syntaxProblem(in: quoted) ?? "\(error)")
        }
        guard case .object = root else { throw .notObject }
        var points: [MetricPoint] = []
        func walk(_ value: JSONValue, _ key: String) {
            switch value {
            case .object(let d):
                for k in d.keys.sorted() { walk(d[k]!, key.isEmpty ? k : "\(key).\(k)") }
            case .number(let n): points.append(MetricPoint(key: key, value: n))
            case .bool(let b): points.append(MetricPoint(key: key, value: b ? 1 : 0))
            case .string(let s):
                if let d = Double(s) { points.append(MetricPoint(key: key, value: d)) }
            case .array, .null: break
            }
        }
        walk(root, "")
        return points
    }
}

/// A JSON document as a value (numbers and booleans kept apart).
public enum JSONValue: Sendable, Hashable, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
}
