import Foundation

/// A problem in a data file, with its place.
public struct DataFileError: SlipwayError, Sendable {
    public var exitStatus: ExitStatus { .usage }
    public var file: String
    public var line: Int?
    public var column: Int?
    public var message: String

    public init(file: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        var place = file
        if let line { place += ":\(line)" }
        if let column { place += ":\(column)" }
        return "\(place): \(message)"
    }
}

/// One field of a record: raw bytes (quotes removed, `""` unescaped).
public struct Field {
    public var bytes: UnsafeRawBufferPointer
}

/// Receives records as they are read. Fields are valid only during the call.
public protocol RecordSink {
    /// The header row's names.
    mutating func header(_ names: [String], file: String) throws
    /// One data record; `line` is the physical line it starts on (1-based).
    mutating func record(_ fields: UnsafeBufferPointer<Field>, line: Int) throws
}

/// Streaming RFC 4180 reader: quoted fields with embedded commas, quotes and
/// newlines, CRLF or LF, an optional UTF-8 BOM, a header row. Reads 4 MiB at a
/// time; memory does not grow with the file. Works on bytes: no String per field.
public struct CSVReader {
    public static let maxRecordBytes = 16 << 20
    static let chunk = 4 << 20

    let path: String
    let name: String

    public init(path: String, displayName: String) {
        self.path = path
        self.name = displayName
    }

    private enum State { case fieldStart, unquoted, quoted, quoteInQuoted }

    public func read<S: RecordSink>(into sink: inout S) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DataFileError(file: name, message: "cannot be read: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: Self.chunk)
        defer { buffer.deallocate() }

        var rec = [UInt8]()          // the current record's field bytes, back to back
        rec.reserveCapacity(4096)
        var ends = [Int]()           // end offset of each finished field in `rec`
        var anyQuoted = false
        var state = State.fieldStart
        var line = 1                 // physical line of the byte being read
        var recordLine = 1           // physical line the current record started on
        var skipLF = false
        var headerNames: [String]?
        var expected = 0
        var firstChunk = true
        var total = 0
        var fields: [Field] = []

        func emit() throws {
            defer {
                rec.removeAll(keepingCapacity: true)
                ends.removeAll(keepingCapacity: true)
                anyQuoted = false
                state = .fieldStart
            }
            if ends.count == 1 && ends[0] == 0 && !anyQuoted { return } // blank line
            try rec.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
                fields.removeAll(keepingCapacity: true)
                var start = 0
                for e in ends {
                    fields.append(Field(bytes: UnsafeRawBufferPointer(rebasing: raw[start..<e])))
                    start = e
                }
                if headerNames == nil {
                    var names: [String] = []
                    for (idx, f) in fields.enumerated() {
                        guard let n = String(validating: f.bytes, as: UTF8.self) else {
                            throw DataFileError(file: name, line: recordLine, column: idx + 1, message: "the header is not valid UTF-8")
                        }
                        names.append(n.trimmingWhitespace())
                    }
                    headerNames = names
                    expected = names.count
                    try sink.header(names, file: name)
                    return
                }
                if fields.count != expected {
                    throw DataFileError(file: name, line: recordLine, column: min(fields.count, expected) + 1,
                                        message: "has \(fields.count) field\(fields.count == 1 ? "" : "s"), the header has \(expected) (ragged row)")
                }
                try fields.withUnsafeBufferPointer { (b: UnsafeBufferPointer<Field>) throws in
                    try sink.record(b, line: recordLine)
                }
            }
        }

        while true {
            let n = Glibc.read(fd, buffer, Self.chunk)
            if n < 0 {
                if errno == EINTR { continue }
                throw DataFileError(file: name, message: "read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            total += n
            var i = 0
            if firstChunk {
                firstChunk = false
                if n >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { i = 3 }
            }
            while i < n {
                let c = buffer[i]
                if skipLF {
                    skipLF = false
                    if c == 0x0A { i += 1; continue }
                }
                switch state {
                case .fieldStart, .unquoted:
                    if state == .fieldStart && c == 0x22 {
                        state = .quoted
                        anyQuoted = true
                        i += 1
                        continue
                    }
                    // Copy the run up to the next special byte in one go.
                    var j = i
                    while j < n {
                        let b = buffer[j]
                        if b == 0x2C || b == 0x0A || b == 0x0D || b == 0x22 { break }
                        j += 1
                    }
                    if j > i { rec.append(contentsOf: UnsafeBufferPointer(start: buffer + i, count: j - i)); state = .unquoted }
                    i = j
                    guard i < n else { break }
                    let b = buffer[i]
                    if b == 0x2C {
                        ends.append(rec.count); state = .fieldStart
                    } else if b == 0x0A || b == 0x0D {
                        ends.append(rec.count)
                        try emit()
                        line += 1
                        recordLine = line
                        skipLF = b == 0x0D
                    } else { // a quote inside an unquoted field: keep it as text
                        rec.append(b)
                    }
                    i += 1
                case .quoted:
                    var j = i
                    while j < n && buffer[j] != 0x22 {
                        if buffer[j] == 0x0A { line += 1 }
                        j += 1
                    }
                    if j > i { rec.append(contentsOf: UnsafeBufferPointer(start: buffer + i, count: j - i)) }
                    i = j
                    if i < n { state = .quoteInQuoted; i += 1 }
                case .quoteInQuoted:
                    if c == 0x22 {
                        rec.append(0x22); state = .quoted
                    } else if c == 0x2C {
                        ends.append(rec.count); state = .fieldStart
                    } else if c == 0x0A || c == 0x0D {
                        ends.append(rec.count)
                        try emit()
                        line += 1
                        recordLine = line
                        skipLF = c == 0x0D
                    } else {
                        throw DataFileError(file: name, line: line, column: ends.count + 1,
                                            message: "unexpected character after a closing quote (a quote inside a quoted field is written \"\")")
                    }
                    i += 1
                }
                if rec.count > Self.maxRecordBytes {
                    throw DataFileError(file: name, line: recordLine, message: "a record is longer than \(Self.maxRecordBytes >> 20) MiB")
                }
            }
        }
        if state == .quoted {
            throw DataFileError(file: name, line: recordLine, column: ends.count + 1, message: "a quoted field is never closed (unterminated quote)")
        }
        if !rec.isEmpty || !ends.isEmpty || state != .fieldStart {
            ends.append(rec.count)
            try emit()
        }
        if total == 0 { throw DataFileError(file: name, message: "is empty (no header row)") }
        if headerNames == nil { throw DataFileError(file: name, message: "has no header row") }
    }
}
