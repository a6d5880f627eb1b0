/// A YAML value kept as data, for parts of the spec whose meaning belongs to
/// a later layer (policy rules, canary settings, built-in stage options).
public enum SpecValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case list([SpecValue])
    case map([MapEntry])

    public struct MapEntry: Sendable, Hashable, Codable {
        public var key: String
        public var value: SpecValue
        public init(key: String, value: SpecValue) { self.key = key; self.value = value }
    }

    public subscript(key: String) -> SpecValue? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    public var stringValue: String? {
        switch self {
        case .string(let s): return s
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }

    public var numberValue: Double? {
        switch self {
        case .number(let n): return n
        case .string(let s): return Double(s)
        default: return nil
        }
    }

    public var listValue: [SpecValue]? {
        if case .list(let l) = self { return l }
        return nil
    }

    public var mapEntries: [MapEntry]? {
        if case .map(let m) = self { return m }
        return nil
    }

    /// Canonical text: the same value always gives the same text (map keys sorted),
    /// so it can enter a cache key.
    public var canonical: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number: return stringValue ?? "0"
        case .string(let s): return Self.quoted(s)
        case .list(let l): return "[" + l.map(\.canonical).joined(separator: ",") + "]"
        case .map(let m):
            return "{" + m.sorted { $0.key < $1.key }.map { Self.quoted($0.key) + ":" + $0.value.canonical }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func quoted(_ s: String) -> String {
        var out = ""
        appendQuoted(s, to: &out)
        return out
    }

    /// Appends `s` as a JSON string literal's UTF-8 (see ``quoted(_:)``).
    static func appendQuoted(_ s: String, to bytes: inout [UInt8]) {
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: s.utf8)
            bytes.append(UInt8(ascii: "\""))
        } else {
            bytes.append(contentsOf: quoted(s).utf8)
        }
    }

    /// Appends `s` as a JSON string literal (see ``quoted(_:)``).
    static func appendQuoted(_ s: String, to out: inout String) {
        // Most text needs no escape at all: one pass over its bytes tells.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += "\""
            out += s
            out += "\""
            return
        }
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    public var description: String {
        switch self {
        case .string(let s): return s
        default: return canonical
        }
    }
}

extension String {
    /// Replaces every occurrence of `target` (no Foundation needed).
    public func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}
