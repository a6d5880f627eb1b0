/// Writes JSON straight into bytes: the responses are small, their shapes
/// fixed by MLflow's protos, and the hot ones (`runs/get`, metric history)
/// are written for every request, so no intermediate dictionaries.
///
/// Numbers follow protobuf's JSON mapping, which the MLflow client parses
/// with: int64 as JSON numbers (as MLflow's server writes them), doubles in
/// their shortest round-tripping form, and NaN/±Infinity as the strings
/// `"NaN"`, `"Infinity"`, `"-Infinity"`.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func object(_ body: (inout ObjectWriter) -> Void) {
        // The buffer moves into the object's writer and back: never copied.
        var o = ObjectWriter(out: JSONWriter(capacity: 0))
        swap(&o.out.bytes, &bytes)
        o.out.bytes.append(UInt8(ascii: "{"))
        body(&o)
        o.out.bytes.append(UInt8(ascii: "}"))
        swap(&o.out.bytes, &bytes)
    }

    public struct ObjectWriter {
        var out: JSONWriter
        var first = true

        init(out: JSONWriter) { self.out = out }

        mutating func key(_ k: String) {
            if !first { out.bytes.append(UInt8(ascii: ",")) }
            first = false
            out.string(k)
            out.bytes.append(UInt8(ascii: ":"))
        }

        public mutating func field(_ k: String, _ v: String) { key(k); out.string(v) }
        public mutating func field(_ k: String, _ v: String?) { if let v { field(k, v) } }
        public mutating func field(_ k: String, _ v: Int64) { key(k); out.int(v) }
        public mutating func field(_ k: String, _ v: Int64?) { if let v { field(k, v) } }
        public mutating func field(_ k: String, _ v: Double) { key(k); out.double(v) }
        public mutating func field(_ k: String, _ v: Bool) { key(k); out.raw(v ? "true" : "false") }

        public mutating func object(_ k: String, _ body: (inout ObjectWriter) -> Void) {
            key(k)
            out.object(body)
        }

        public mutating func array<S: Sequence>(_ k: String, _ items: S, _ each: (inout JSONWriter, S.Element) -> Void) {
            key(k)
            out.array(items, each)
        }

        /// `[{"key": …, "value": …}, …]`, MLflow's shape for params and tags.
        public mutating func keyValues(_ k: String, _ pairs: [(key: String, value: String)]) {
            array(k, pairs) { w, p in
                w.object { o in
                    o.field("key", p.key)
                    o.field("value", p.value)
                }
            }
        }
    }

    public mutating func array<S: Sequence>(_ items: S, _ each: (inout JSONWriter, S.Element) -> Void) {
        bytes.append(UInt8(ascii: "["))
        var first = true
        for item in items {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            each(&self, item)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    public mutating func int(_ v: Int64) { raw(String(v)) }

    public mutating func double(_ v: Double) {
        if v.isNaN { raw("\"NaN\"") } else if v.isInfinite { raw(v > 0 ? "\"Infinity\"" : "\"-Infinity\"") } else if v == v.rounded(), abs(v) < 1e15 {
            // Integral values as integers with ".0" dropped: `1.0` reads back as 1.0 in Python.
            raw(String(Int64(v)))
        } else {
            raw(String(v))  // shortest form that reads back to the same double
        }
    }

    public mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          hex[Int(b >> 4)], hex[Int(b & 0xf)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
