import Foundation

/// Reads a `runs/log-batch` body straight from its bytes, as the MLflow
/// client writes it, without `JSONDecoder` (which spends most of a
/// 1,000-metric request building its generic tree and trying each value's
/// types in turn).
///
/// It only ever answers what ``LogBatchRequest``'s `Decodable` would: it
/// takes the common shape (the fields MLflow's protos name; strings without
/// escapes; numbers as JSON numbers or the strings protobuf writes) and gives
/// up (nil) on anything else: an unknown or repeated field, an escape, a
/// number it would have to round, malformed JSON. The caller then decodes with
/// `JSONDecoder`, which accepts or refuses with its own message.
struct LogBatchReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var i = 0

    static func read(_ body: [UInt8]) -> LogBatchRequest? {
        body.withUnsafeBufferPointer { buffer in
            var reader = LogBatchReader(bytes: buffer)
            return reader.request()
        }
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    // MARK: - the request's shape

    private mutating func request() -> LogBatchRequest? {
        var r = LogBatchRequest()
        var seen = Set<String>()
        guard object({ name, reader in
            guard seen.insert(name).inserted else { return false }
            switch name {
            case "run_id": return reader.optionalString(&r.run_id)
            case "metrics": return reader.optionalArray(&r.metrics) { $0.metric() }
            case "params": return reader.optionalArray(&r.params) { $0.keyValue() }
            case "tags": return reader.optionalArray(&r.tags) { $0.keyValue() }
            default: return false
            }
        }) else { return nil }
        skipSpace()
        return i == bytes.count ? r : nil
    }

    private mutating func metric() -> WireMetric? {
        var m = WireMetric()
        var seen: UInt8 = 0
        var runID: String?  // MLflow 3's `Metric.run_id`: the decoder ignores it, so does the request
        let ok = object { name, reader in
            let bit: UInt8
            switch name {
            case "run_id":
                guard runID == nil else { return false }
                runID = ""
                var ignored: String?
                return reader.optionalString(&ignored)
            case "key": bit = 1
            case "value": bit = 2
            case "timestamp": bit = 4
            case "step": bit = 8
            case "model_id": bit = 16
            case "dataset_name": bit = 32
            case "dataset_digest": bit = 64
            default: return false
            }
            guard seen & bit == 0 else { return false }
            seen |= bit
            switch bit {
            case 1: return reader.optionalString(&m.key)
            case 2: return reader.optionalDouble(&m.value)
            case 4: return reader.optionalInt64(&m.timestamp)
            case 8: return reader.optionalInt64(&m.step)
            case 16: return reader.optionalString(&m.model_id)
            case 32: return reader.optionalString(&m.dataset_name)
            default: return reader.optionalString(&m.dataset_digest)
            }
        }
        return ok ? m : nil
    }

    private mutating func keyValue() -> WireKeyValue? {
        var kv = WireKeyValue()
        var seen: UInt8 = 0
        let ok = object { name, reader in
            switch name {
            case "key" where seen & 1 == 0:
                seen |= 1
                return reader.optionalString(&kv.key)
            case "value" where seen & 2 == 0:
                seen |= 2
                return reader.optionalString(&kv.value)
            default: return false
            }
        }
        return ok ? kv : nil
    }

    // MARK: - JSON, the parts a batch uses

    private mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    private mutating func take(_ c: UInt8) -> Bool {
        skipSpace()
        guard i < bytes.count, bytes[i] == c else { return false }
        i += 1
        return true
    }

    private mutating func peek() -> UInt8? {
        skipSpace()
        return i < bytes.count ? bytes[i] : nil
    }

    private mutating func null() -> Bool {
        guard peek() == UInt8(ascii: "n"), i + 4 <= bytes.count,
              bytes[i + 1] == UInt8(ascii: "u"), bytes[i + 2] == UInt8(ascii: "l"), bytes[i + 3] == UInt8(ascii: "l") else { return false }
        i += 4
        return true
    }

    /// `{ "name": value, … }`; `field` reads the value of each name.
    private mutating func object(_ field: (String, inout LogBatchReader) -> Bool) -> Bool {
        guard take(UInt8(ascii: "{")) else { return false }
        if take(UInt8(ascii: "}")) { return true }
        while true {
            guard let name = string(), take(UInt8(ascii: ":")), field(name, &self) else { return false }
            if take(UInt8(ascii: ",")) { continue }
            return take(UInt8(ascii: "}"))
        }
    }

    private mutating func optionalArray<T>(_ out: inout [T]?, _ element: (inout LogBatchReader) -> T?) -> Bool {
        if null() { out = nil; return true }
        guard take(UInt8(ascii: "[")) else { return false }
        var items: [T] = []
        items.reserveCapacity(16)
        if !take(UInt8(ascii: "]")) {
            while true {
                guard let item = element(&self) else { return false }
                items.append(item)
                if take(UInt8(ascii: ",")) { continue }
                guard take(UInt8(ascii: "]")) else { return false }
                break
            }
        }
        out = items
        return true
    }

    /// A string without escapes or control characters, valid UTF-8.
    private mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = i
        var ascii = true
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let text = UnsafeBufferPointer(rebasing: bytes[start..<i])
                i += 1
                return ascii ? String(decoding: text, as: UTF8.self) : String(validating: text, as: UTF8.self)
            }
            if b == UInt8(ascii: "\\") || b < 0x20 { return nil }
            if b >= 0x80 { ascii = false }
            i += 1
        }
        return nil
    }

    private mutating func optionalString(_ out: inout String?) -> Bool {
        if null() { out = nil; return true }
        guard let s = string() else { return false }
        out = s
        return true
    }

    /// The text of a JSON number (`-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`)
    /// and whether it is an integer; nil when it is not one.
    private mutating func number() -> (text: UnsafeBufferPointer<UInt8>, integer: Bool)? {
        skipSpace()
        let start = i
        func digit(_ at: Int) -> Bool { at < bytes.count && bytes[at] >= UInt8(ascii: "0") && bytes[at] <= UInt8(ascii: "9") }
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard digit(i) else { return nil }
        if bytes[i] == UInt8(ascii: "0") { i += 1 } else { while digit(i) { i += 1 } }
        var integer = true
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            integer = false
            i += 1
            guard digit(i) else { return nil }
            while digit(i) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            integer = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digit(i) else { return nil }
            while digit(i) { i += 1 }
        }
        return (UnsafeBufferPointer(rebasing: bytes[start..<i]), integer)
    }

    /// Whether a number's digits before its exponent are not all zero.
    private static func hasNonZeroDigit(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        for b in text {
            if b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { return false }
            if b >= UInt8(ascii: "1") && b <= UInt8(ascii: "9") { return true }
        }
        return false
    }

    /// An int64 as a JSON integer or a numeric string (``WireInt64``); a
    /// number with a fraction or exponent is left to the decoder.
    private mutating func optionalInt64(_ out: inout WireInt64?) -> Bool {
        if null() { out = nil; return true }
        if peek() == UInt8(ascii: "\"") {
            guard let s = string(), let v = Int64(s) else { return false }
            out = WireInt64(v)
            return true
        }
        guard let (text, integer) = number(), integer, text.count <= 20 else { return false }
        var v: Int64 = 0
        var negative = false
        for b in text {
            if b == UInt8(ascii: "-") { negative = true; continue }
            let d = Int64(b - UInt8(ascii: "0"))
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            if o1 || o2 { return false }
            v = s
        }
        out = WireInt64(v)
        return true
    }

    /// A double as a JSON number, or the strings protobuf writes (``WireDouble``).
    private mutating func optionalDouble(_ out: inout WireDouble?) -> Bool {
        if null() { out = nil; return true }
        if peek() == UInt8(ascii: "\"") {
            guard let s = string(), let v = WireDouble.parse(s) else { return false }
            out = WireDouble(v)
            return true
        }
        guard let (text, _) = number(), text.count < 64,
              let v = Double(String(decoding: text, as: UTF8.self)),  // correctly rounded, in any locale
              v.isFinite, v.isNormal || (v == 0 && !Self.hasNonZeroDigit(text)) else {
            return false  // out of range, or under it: the decoder decides, with its own message
        }
        out = WireDouble(v)
        return true
    }
}
