import Foundation

/// A value bound to a statement parameter (`$1`, `$2` …), sent in PostgreSQL's
/// text format; the server converts it to the parameter's type.
public protocol PGEncodable {
    /// The text PostgreSQL reads this value from.
    var pgText: String { get }
}

extension Int64: PGEncodable { public var pgText: String { String(self) } }
extension Int: PGEncodable { public var pgText: String { String(self) } }
extension Int32: PGEncodable { public var pgText: String { String(self) } }
extension String: PGEncodable { public var pgText: String { self } }
extension Substring: PGEncodable { public var pgText: String { String(self) } }
extension Bool: PGEncodable { public var pgText: String { self ? "t" : "f" } }

extension Double: PGEncodable {
    /// Swift prints the shortest text that reads back as the same double, which
    /// PostgreSQL's `float8` input reads exactly; NaN and the infinities are
    /// spelled as PostgreSQL spells them.
    public var pgText: String {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return description
    }
}

extension Data: PGEncodable {
    /// `bytea` in hex form (`\x0a1b…`).
    public var pgText: String {
        var text = "\\x"
        text.reserveCapacity(2 + count * 2)
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * 2)
        for b in self {
            bytes.append(digits[Int(b >> 4)])
            bytes.append(digits[Int(b & 15)])
        }
        text += String(decoding: bytes, as: UTF8.self)
        return text
    }
}

/// A statement's parameters: nil is SQL NULL.
public typealias PGParameters = [(any PGEncodable)?]

/// A value read from a result column, in PostgreSQL's text format.
public protocol PGDecodable {
    /// Decodes a column's text (nil for SQL NULL). Throws when the text is not
    /// of this type, or is NULL and the type is not optional.
    static func pgDecode(_ text: UnsafeBufferPointer<UInt8>?) throws(PGError) -> Self
}

private func nullError<T>(_ type: T.Type) -> PGError {
    PGError(kind: .decoding, message: "NULL where a \(T.self) was expected")
}

private func typeError<T>(_ type: T.Type, _ text: UnsafeBufferPointer<UInt8>) -> PGError {
    let shown = String(decoding: text.prefix(40), as: UTF8.self)
    return PGError(kind: .decoding, message: "'\(shown)' is not a \(T.self)")
}

extension Optional: PGDecodable where Wrapped: PGDecodable {
    public static func pgDecode(_ text: UnsafeBufferPointer<UInt8>?) throws(PGError) -> Wrapped? {
        guard let text else { return nil }
        return try Wrapped.pgDecode(text)
    }
}

extension Int64: PGDecodable {
    public static func pgDecode(_ text: UnsafeBufferPointer<UInt8>?) throws(PGError) -> Int64 {
        guard let text else { throw nullError(Int64.self) }
        guard let value = parseInteger(text) else { throw typeError(Int64.self, text) }
        return value
    }

    /// Decimal digits with an optional sign, without allocating.
    static func parseInteger(_ text: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        var negative = false
        if text.count > 0, text[0] == UInt8(ascii: "-") || text[0] == UInt8(ascii: "+") {
            negative = text[0] == UInt8(ascii: "-")
            i = 1
        }
        guard i < text.count else { return nil }
        var value: Int64 = 0
        while i < text.count {
            let d = text[i] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(Int64(d)) : m.addingReportingOverflow(Int64(d))
            guard !o1, !o2 else { return nil }
            value = s
            i += 1
        }
        return value
    }
}

extension Int: PGDecodable {
    public static func pgDecode(_ text: UnsafeBufferPointer<UInt8>?) throws(PGError) -> Int {
        Int(try Int64.pgDecode(text))
    }
}

extension Int32: PGDecodable {
    public static func pgDecode(_ text: UnsafeBufferPointer<UInt8>?) throws(PGError) -> Int32 {
        let wide = try Int64.pgDecode(text)
        guard let value = Int32(exactly: wide) else { throw PGError(kind: .decoding, message: "\(wide) does not fit an Int32") }
        return value
    }
}

extension Double: PGDecodable {
    public static func pgDecode(_ text: UnsafeBufferPointer<UInt8>?) throws(PGError) -> Double {
        guard let text else { throw nullError(Double.self) }
        // Integers (a bigint column read as a double) take the fast path.
        if let whole = Int64.parseInteger(text), abs(whole) < (1 << 53), whole != 0 || text[0] != UInt8(ascii: "-") {
            return Double(whole)
        }
        let string = String(decoding: text, as: UTF8.self)
        switch string {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default:
            guard let value = Double(string) else { throw typeError(Double.self, text) }
            return value
        }
    }
}

extension String: PGDecodable {
    public static func pgDecode(_ text: UnsafeBufferPointer<UInt8>?) throws(PGError) -> String {
        guard let text else { throw nullError(String.self) }
        return String(decoding: text, as: UTF8.self)
    }
}

extension Bool: PGDecodable {
    public static func pgDecode(_ text: UnsafeBufferPointer<UInt8>?) throws(PGError) -> Bool {
        guard let text else { throw nullError(Bool.self) }
        switch text.first {
        case UInt8(ascii: "t"): return true
        case UInt8(ascii: "f"): return false
        default: throw typeError(Bool.self, text)
        }
    }
}

extension Data: PGDecodable {
    /// `bytea` in hex output form (the server default since 9.0).
    public static func pgDecode(_ text: UnsafeBufferPointer<UInt8>?) throws(PGError) -> Data {
        guard let text else { throw nullError(Data.self) }
        guard text.count >= 2, text[0] == UInt8(ascii: "\\"), text[1] == UInt8(ascii: "x"), text.count % 2 == 0 else {
            throw typeError(Data.self, text)
        }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity((text.count - 2) / 2)
        var i = 2
        while i < text.count {
            guard let hi = nibble(text[i]), let lo = nibble(text[i + 1]) else { throw typeError(Data.self, text) }
            bytes.append(hi << 4 | lo)
            i += 2
        }
        return Data(bytes)
    }
}

/// An array parameter (`$1::text[]`, `$1::bigint[]` …) in PostgreSQL's array
/// literal form, for statements over many rows at once (`= ANY($1)`, `unnest($1, $2)`).
public struct PGArray: PGEncodable {
    public let pgText: String

    /// Text elements, quoted; nil is NULL.
    public init(_ strings: [String?]) {
        // Built as UTF-8 bytes (a registry write sends thousands of elements):
        // a quote or backslash is escaped, every other byte is copied as is.
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(strings.reduce(2) { $0 + ($1?.utf8.count ?? 4) + 3 })
        for (i, s) in strings.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            guard var s else { bytes += "NULL".utf8; continue }
            bytes.append(UInt8(ascii: "\""))
            s.withUTF8 { utf8 in
                for b in utf8 {
                    if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                    bytes.append(b)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        pgText = String(decoding: bytes, as: UTF8.self)
    }

    public init(_ strings: [String]) { self.init(strings.map(Optional.some)) }

    /// Integer elements; nil is NULL.
    public init(_ numbers: [Int64?]) {
        pgText = "{" + numbers.map { $0.map(String.init) ?? "NULL" }.joined(separator: ",") + "}"
    }

    public init(_ numbers: [Int64]) { self.init(numbers.map(Optional.some)) }

    /// Double elements (NaN and the infinities spelled as PostgreSQL reads them); nil is NULL.
    public init(_ numbers: [Double?]) {
        pgText = "{" + numbers.map { $0.map { "\"\($0.pgText)\"" } ?? "NULL" }.joined(separator: ",") + "}"
    }

    public init(_ flags: [Bool?]) {
        pgText = "{" + flags.map { $0.map { $0 ? "t" : "f" } ?? "NULL" }.joined(separator: ",") + "}"
    }
}
