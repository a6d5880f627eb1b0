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

    public enum FileError: Error, CustomStringConvertible {
        case notJSON(String)
        case notObject

        public var description: String {
            switch self {
            case .notJSON(let why): return "is not valid JSON (\(why))"
            case .notObject: return "must hold a JSON object of metric names to numbers"
            }
        }
    }

    /// Flattens a metrics JSON object: nested objects become dotted keys
    /// (`{"eval": {"acc": 0.9}}` → `eval.acc`); numbers and booleans are kept,
    /// strings that hold numbers are read, other values are skipped.
    public static func parseJSON(_ data: Data) throws(FileError) -> [MetricPoint] {
        let root: JSONValue
        do {
            root = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch let DecodingError.dataCorrupted(context) {
            throw .notJSON(context.underlyingError.map { "\($0)" } ?? context.debugDescription)
        } catch {
            throw .notJSON("\(error)")
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
