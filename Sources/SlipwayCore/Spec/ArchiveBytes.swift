/// The bytes of ``SpecArchive``: unsigned and zig-zag varints, doubles by
/// their bit pattern, and every text once, in a table at the front (a spec's
/// file name is in every one of its thousands of source locations).
///
/// The reader trusts nothing it is given: every read is bounds-checked, a
/// count can never exceed the bytes left, and nesting is limited, so a
/// damaged file is refused (``ArchiveReader/Malformed``) rather than crashing
/// or allocating without end.
struct ArchiveWriter {
    private var body: [UInt8] = []
    private var table: [String] = []
    /// By bytes: two texts Swift holds equal (a precomposed `é` and `e` with
    /// a combining accent) are different paths to the file system.
    private var index: [[UInt8]: Int] = [:]

    init() {
        body.reserveCapacity(1 << 16)
    }

    mutating func uint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            body.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        body.append(UInt8(v))
    }

    mutating func int(_ value: Int) {
        let v = Int64(value)
        uint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    mutating func count(_ n: Int) { uint(UInt64(n)) }

    mutating func bool(_ b: Bool) { body.append(b ? 1 : 0) }

    mutating func double(_ d: Double) {
        var bits = d.bitPattern
        for _ in 0..<8 {
            body.append(UInt8(truncatingIfNeeded: bits))
            bits >>= 8
        }
    }

    mutating func string(_ s: String) {
        let bytes = Array(s.utf8)
        if let i = index[bytes] { return count(i) }
        index[bytes] = table.count
        count(table.count)
        table.append(s)
    }

    mutating func blob(_ b: [UInt8]) {
        count(b.count)
        body += b
    }

    mutating func optional<T>(_ value: T?, _ write: (inout ArchiveWriter, T) -> Void) {
        guard let value else { return bool(false) }
        bool(true)
        write(&self, value)
    }

    mutating func array<T>(_ values: [T], _ write: (inout ArchiveWriter, T) -> Void) {
        count(values.count)
        for v in values { write(&self, v) }
    }

    /// `magic`, the text table, then the body.
    func finished(magic: [UInt8]) -> [UInt8] {
        var out = ArchiveWriter()
        out.body = magic
        out.count(table.count)
        for s in table { out.blob(Array(s.utf8)) }
        return out.body + body
    }
}

struct ArchiveReader {
    /// The bytes are not an archive this build wrote.
    struct Malformed: Error {}

    private let buffer: [UInt8]
    private var at: Int
    private var table: [String] = []
    /// How deep nested values (``SpecValue`` lists and maps) may go.
    static let maxDepth = 256
    /// The most elements reserved ahead of reading them.
    static let maxReserve = 4096

    init(_ bytes: [UInt8], magic: [UInt8]) throws(Malformed) {
        buffer = bytes
        at = 0
        guard bytes.count >= magic.count, bytes[0..<magic.count].elementsEqual(magic) else { throw Malformed() }
        at = magic.count
        let n = try count()
        table.reserveCapacity(Swift.min(n, Self.maxReserve))
        for _ in 0..<n {
            let length = try count()
            table.append(String(decoding: buffer[at..<at + length], as: UTF8.self))
            at += length
        }
    }

    var atEnd: Bool { at == buffer.count }

    mutating func byte() throws(Malformed) -> UInt8 {
        guard at < buffer.count else { throw Malformed() }
        defer { at += 1 }
        return buffer[at]
    }

    mutating func uint() throws(Malformed) -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw Malformed() }
            v |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return v }
            shift += 7
        }
    }

    mutating func int() throws(Malformed) -> Int {
        let u = try uint()
        let v = Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
        guard let i = Int(exactly: v) else { throw Malformed() }
        return i
    }

    /// A count of things still to read: never more than the bytes left
    /// (each thing takes at least one), so a damaged count cannot make a
    /// reader reserve gigabytes.
    mutating func count() throws(Malformed) -> Int {
        let n = try uint()
        guard n <= UInt64(buffer.count - at) else { throw Malformed() }
        return Int(n)
    }

    mutating func bool() throws(Malformed) -> Bool {
        switch try byte() {
        case 0: return false
        case 1: return true
        default: throw Malformed()
        }
    }

    mutating func double() throws(Malformed) -> Double {
        guard buffer.count - at >= 8 else { throw Malformed() }
        var bits: UInt64 = 0
        for i in 0..<8 { bits |= UInt64(buffer[at + i]) << (8 * UInt64(i)) }
        at += 8
        return Double(bitPattern: bits)
    }

    mutating func string() throws(Malformed) -> String {
        let i = try uint()
        guard i < UInt64(table.count) else { throw Malformed() }
        return table[Int(i)]
    }

    mutating func blob() throws(Malformed) -> [UInt8] {
        let n = try count()
        defer { at += n }
        return Array(buffer[at..<at + n])
    }

    mutating func optional<T>(_ read: (inout ArchiveReader) throws(Malformed) -> T) throws(Malformed) -> T? {
        try bool() ? try read(&self) : nil
    }

    mutating func array<T>(_ read: (inout ArchiveReader) throws(Malformed) -> T) throws(Malformed) -> [T] {
        let n = try count()
        var result: [T] = []
        // A count is at most the bytes left, but an element takes more
        // memory than its bytes: reserve no more than a damaged count could cost.
        result.reserveCapacity(Swift.min(n, Self.maxReserve))
        for _ in 0..<n { result.append(try read(&self)) }
        return result
    }

    /// A value of a closed set named by its raw text.
    mutating func raw<T: RawRepresentable>(_: T.Type) throws(Malformed) -> T where T.RawValue == String {
        guard let v = T(rawValue: try string()) else { throw Malformed() }
        return v
    }
}
