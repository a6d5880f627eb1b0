import Foundation

/// What one column of a dataset holds, gathered in one streaming pass: the
/// numbers (for the statistics), category counts, missing and invalid values.
public struct ColumnProfile: Sendable {
    public var name: String
    public var type: DataSchema.ColumnType
    /// Finite numeric values (timestamps as epoch seconds), in file order until sorted.
    public var numbers: [Double] = []
    /// Category → count (strings and bools).
    public var counts: [String: Int] = [:]
    /// More distinct values than are tracked (counts then cover only the first ones).
    public var countsTruncated = false
    public var present = 0
    public var missing = 0
    public var invalid = 0
    public var firstInvalid: (line: Int, value: String)?
    public var sorted = false

    public var total: Int { present + missing + invalid }

    public mutating func sortNumbers() {
        if !sorted { FastNumbers.radixSort(&numbers); sorted = true }
    }
}

/// Builds column profiles from records. Column types come from the schema;
/// a column the schema does not type is typed from its first 1,000 values.
struct ColumnCollector: RecordSink {
    static let sniffRows = 1_000
    static let maxDistinct = 10_000
    static let missingTokens: Set<String> = ["", "NA", "N/A", "na", "n/a", "null", "NULL", "Null", "NaN", "nan", "NAN", "None"]

    let declared: [String: DataSchema.ColumnType]
    let expectedRows: Int
    var names: [String] = []
    var profiles: [ColumnProfile] = []
    var rows = 0
    /// Rows held back while the column types are decided.
    var pending: [(line: Int, fields: [[UInt8]])] = []
    var typed = false

    init(declared: [String: DataSchema.ColumnType], expectedRows: Int) {
        self.declared = declared
        self.expectedRows = expectedRows
    }

    mutating func header(_ names: [String], file: String) throws {
        var seen: [String: Int] = [:]
        for (i, n) in names.enumerated() {
            if n.isEmpty { throw DataFileError(file: file, line: 1, column: i + 1, message: "column \(i + 1) has no name") }
            if let first = seen[n] {
                throw DataFileError(file: file, line: 1, column: i + 1, message: "duplicate column name '\(n)' (also column \(first + 1))")
            }
            seen[n] = i
        }
        self.names = names
    }

    mutating func record(_ fields: UnsafeBufferPointer<Field>, line: Int) throws {
        rows += 1
        if typed {
            for i in 0..<fields.count { add(fields[i].bytes, column: i, line: line) }
            return
        }
        pending.append((line, fields.map { Array($0.bytes) }))
        if pending.count >= Self.sniffRows { decideTypes() }
    }

    /// Types each column, then replays the held-back rows.
    mutating func decideTypes() {
        profiles = names.enumerated().map { i, name in
            if let t = declared[name] { return ColumnProfile(name: name, type: t) }
            var numeric = true, integral = true, boolean = true, timestamp = true, any = false
            for row in pending {
                let raw = row.fields[i]
                let text = String(decoding: raw, as: UTF8.self).trimmingWhitespace()
                if Self.missingTokens.contains(text) { continue }
                any = true
                let v = raw.withUnsafeBytes { FastNumbers.parseDouble($0) }
                if let v, v.isFinite { if v != v.rounded() || text.contains(".") || text.contains("e") || text.contains("E") { integral = false } }
                else { numeric = false }
                if !["true", "false", "True", "False", "TRUE", "FALSE"].contains(text) { boolean = false }
                if Timestamps.parse(text) == nil { timestamp = false }
            }
            let type: DataSchema.ColumnType
            if !any { type = .string }
            else if boolean { type = .bool }
            else if numeric { type = integral ? .int : .float }
            else if timestamp { type = .timestamp }
            else { type = .string }
            var p = ColumnProfile(name: name, type: type)
            if type.isNumeric || type == .timestamp { p.numbers.reserveCapacity(expectedRows) }
            return p
        }
        typed = true
        let held = pending
        pending = []
        for row in held {
            for (i, f) in row.fields.enumerated() { f.withUnsafeBytes { add($0, column: i, line: row.line) } }
        }
    }

    mutating func finish() {
        if !typed { decideTypes() }
    }

    @inline(__always)
    mutating func add(_ bytes: UnsafeRawBufferPointer, column i: Int, line: Int) {
        switch profiles[i].type {
        case .int, .float:
            if let v = FastNumbers.parseDouble(bytes), v.isFinite {
                if profiles[i].type == .int && v != v.rounded() { invalid(i, bytes, line); return }
                profiles[i].numbers.append(v)
                profiles[i].present += 1
                return
            }
            if isMissing(bytes) { profiles[i].missing += 1 } else { invalid(i, bytes, line) }
        case .timestamp:
            if isMissing(bytes) { profiles[i].missing += 1; return }
            if let text = String(validating: bytes, as: UTF8.self), let t = Timestamps.parse(text.trimmingWhitespace()) {
                profiles[i].numbers.append(t)
                profiles[i].present += 1
            } else {
                invalid(i, bytes, line)
            }
        case .string, .bool:
            if isMissing(bytes) { profiles[i].missing += 1; return }
            guard var text = String(validating: bytes, as: UTF8.self) else { invalid(i, bytes, line); return }
            if profiles[i].type == .bool {
                switch text.trimmingWhitespace().lowercased() {
                case "true", "yes", "1": text = "true"
                case "false", "no", "0": text = "false"
                default: invalid(i, bytes, line); return
                }
            }
            profiles[i].present += 1
            if let c = profiles[i].counts[text] {
                profiles[i].counts[text] = c + 1
            } else if profiles[i].counts.count < Self.maxDistinct {
                profiles[i].counts[text] = 1
            } else {
                profiles[i].countsTruncated = true
            }
        }
    }

    @inline(__always)
    func isMissing(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if bytes.count > 4 { return bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 } }
        return Self.missingTokens.contains(String(decoding: bytes, as: UTF8.self).trimmingWhitespace())
    }

    mutating func invalid(_ i: Int, _ bytes: UnsafeRawBufferPointer, _ line: Int) {
        profiles[i].invalid += 1
        if profiles[i].firstInvalid == nil {
            let text = String(decoding: bytes.prefix(80), as: UTF8.self)
            profiles[i].firstInvalid = (line, text)
        }
    }
}

/// A dataset read from CSV or JSON Lines.
public struct DatasetProfile: Sendable {
    public var path: String
    public var rows: Int
    public var columns: [ColumnProfile]

    public func column(_ name: String) -> ColumnProfile? { columns.first { $0.name == name } }

    /// Reads a CSV (or, for `.jsonl`/`.ndjson`, JSON Lines) file into profiles.
    public static func read(path: String, displayName: String, types: [String: DataSchema.ColumnType]) throws -> DatasetProfile {
        let size = (FileSystem.status(path).map { Int($0.st_size) }) ?? 0
        let jsonLines = path.hasSuffix(".jsonl") || path.hasSuffix(".ndjson")
        // Numeric columns reserve room for the whole file, estimated from its first MiB.
        var collector = ColumnCollector(declared: types, expectedRows: jsonLines ? 0 : estimateRows(path: path, size: size))
        if jsonLines {
            try JSONLinesReader(path: path, displayName: displayName).read(into: &collector)
        } else {
            try CSVReader(path: path, displayName: displayName).read(into: &collector)
        }
        collector.finish()
        return DatasetProfile(path: displayName, rows: collector.rows, columns: collector.profiles)
    }

    static func estimateRows(path: String, size: Int) -> Int {
        guard size > 1 << 20, let handle = FileHandle(forReadingAtPath: path) else { return 0 }
        defer { try? handle.close() }
        let sample = handle.readData(ofLength: 1 << 20)
        let lines = sample.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        guard lines > 1 else { return 0 }
        return Int(Double(size) / (Double(sample.count) / Double(lines)) * 1.02) + 16
    }
}

/// JSON Lines: one object per line; keys of the first object are the columns.
struct JSONLinesReader {
    let path: String
    let displayName: String

    func read(into sink: inout ColumnCollector) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw DataFileError(file: displayName, message: "cannot be read") }
        defer { try? handle.close() }
        var names: [String]?
        var line = 0
        var carry = Data()
        func handleLine(_ data: Data) throws {
            line += 1
            if data.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
            let object: [String: JSONValue]
            do {
                guard case .object(let o) = try JSONDecoder().decode(JSONValue.self, from: data) else {
                    throw DataFileError(file: displayName, line: line, message: "is not a JSON object")
                }
                object = o
            } catch let e as DataFileError { throw e } catch {
                throw DataFileError(file: displayName, line: line, message: "is not valid JSON")
            }
            if names == nil {
                names = object.keys.sorted()
                try sink.header(names!, file: displayName)
            }
            var values: [[UInt8]] = []
            for n in names! {
                switch object[n] {
                case .number(let d)?: values.append(Array(String(d).utf8))
                case .string(let s)?: values.append(Array(s.utf8))
                case .bool(let b)?: values.append(Array((b ? "true" : "false").utf8))
                case .null?, nil: values.append([])
                default: values.append(Array("[structured]".utf8))
                }
            }
            let buffers = values.map { v -> UnsafeMutableRawBufferPointer in
                let p = UnsafeMutableRawBufferPointer.allocate(byteCount: v.count, alignment: 1)
                p.copyBytes(from: v)
                return p
            }
            defer { buffers.forEach { $0.deallocate() } }
            let fields = buffers.map { Field(bytes: UnsafeRawBufferPointer($0)) }
            try fields.withUnsafeBufferPointer { try sink.record($0, line: line) }
        }
        while true {
            let chunk = handle.readData(ofLength: 4 << 20)
            if chunk.isEmpty { break }
            carry.append(chunk)
            while let nl = carry.firstIndex(of: 0x0A) {
                try handleLine(carry[carry.startIndex..<nl])
                carry = carry[(nl + 1)...]
            }
            if carry.count > CSVReader.maxRecordBytes {
                throw DataFileError(file: displayName, line: line + 1, message: "a line is longer than \(CSVReader.maxRecordBytes >> 20) MiB")
            }
        }
        if !carry.isEmpty { try handleLine(Data(carry)) }
        if names == nil { throw DataFileError(file: displayName, message: "is empty (no JSON objects)") }
    }
}
