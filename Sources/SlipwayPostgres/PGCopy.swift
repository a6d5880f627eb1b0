import CLibPQ
import Foundation

/// Rows for `COPY … FROM STDIN` in PostgreSQL's text format, written into a
/// buffer that is sent in large chunks as it fills.
public struct PGCopyWriter: ~Copyable {
    fileprivate var bytes: [UInt8] = []
    private var fieldsInRow = 0
    fileprivate let flush: (inout [UInt8]) throws -> Void
    /// Rows written so far.
    public private(set) var rows = 0

    static let chunk = 256 * 1024

    fileprivate init(flush: @escaping (inout [UInt8]) throws -> Void) {
        self.flush = flush
        bytes.reserveCapacity(Self.chunk + 4096)
    }

    private mutating func separate() {
        if fieldsInRow > 0 { bytes.append(9) }
        fieldsInRow += 1
    }

    public mutating func null() {
        separate()
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "N"))
    }

    public mutating func add(_ value: Int64?) {
        guard let value else { return null() }
        separate()
        appendDecimal(value)
    }

    public mutating func add(_ value: Int?) { add(value.map(Int64.init)) }

    public mutating func add(_ value: Double?) {
        guard let value else { return null() }
        separate()
        if value == value.rounded(.towardZero), abs(value) < 1e15, value != 0 || value.sign == .plus {
            appendDecimal(Int64(value))
        } else {
            bytes.append(contentsOf: value.pgText.utf8)
        }
    }

    public mutating func add(_ value: Bool?) {
        guard let value else { return null() }
        separate()
        bytes.append(value ? UInt8(ascii: "t") : UInt8(ascii: "f"))
    }

    public mutating func add(_ value: String?) {
        guard let value else { return null() }
        separate()
        appendEscaped(value.utf8)
    }

    public mutating func add(_ value: Data?) {
        guard let value else { return null() }
        separate()
        appendEscaped(value.pgText.utf8)
    }

    /// Ends the row; sends the buffer when it has grown past a chunk.
    public mutating func endRow() throws {
        bytes.append(10)
        fieldsInRow = 0
        rows += 1
        if bytes.count >= Self.chunk {
            try flush(&bytes)
        }
    }

    private mutating func appendDecimal(_ value: Int64) {
        if value == 0 { bytes.append(UInt8(ascii: "0")); return }
        var v = value.magnitude
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 {
                d[n] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                n += 1
            }
            for i in stride(from: n - 1, through: 0, by: -1) { bytes.append(d[i]) }
        }
    }

    /// Backslash, tab, newline and carriage return are the characters COPY's text format escapes.
    private mutating func appendEscaped(_ text: some Collection<UInt8>) {
        for b in text {
            switch b {
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "\\"))
            case 9: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case 10: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case 13: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            default: bytes.append(b)
            }
        }
    }
}

extension PGConnection {
    /// Runs `COPY table (columns) FROM STDIN` and streams the rows `body`
    /// writes. Returns the number of rows copied. If `body` throws, the copy
    /// is abandoned (nothing is inserted) and the error is rethrown.
    ///
    /// PostgreSQL's fastest way in: one statement for any number of rows.
    @discardableResult
    public func copyIn(_ sql: String, _ body: (inout PGCopyWriter) throws -> Void) throws -> Int {
        let conn = try live()
        let start = try check(pq.PQexec!(conn, sql))
        guard pq.PQresultStatus!(start.handle) == PGRES_COPY_IN else {
            throw PGError(kind: .usage, message: "not a COPY … FROM STDIN statement")
        }
        let send: (inout [UInt8]) throws -> Void = { [pq, self] bytes in
            guard !bytes.isEmpty else { return }
            let sent = bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { pq.PQputCopyData!(conn, $0.baseAddress, Int32($0.count)) }
            }
            bytes.removeAll(keepingCapacity: true)
            if sent != 1 { throw self.connectionError() }
        }
        var writer = PGCopyWriter(flush: send)
        do {
            try body(&writer)
            try send(&writer.bytes)
        } catch {
            _ = pq.PQputCopyEnd!(conn, "abandoned by the client")
            drainResults(conn)
            throw error
        }
        guard pq.PQputCopyEnd!(conn, nil) == 1 else { throw connectionError() }
        var copied = 0
        var failure: PGError?
        while let result = pq.PQgetResult!(conn) {
            let wrapped = PGResult(pq: pq, handle: result)
            if pq.PQresultStatus!(result) == PGRES_COMMAND_OK {
                copied = wrapped.affectedRows
            } else if failure == nil {
                failure = error(from: result)
            }
        }
        if let failure { throw failure }
        return copied
    }

    /// Reads and frees every pending result of the current command.
    func drainResults(_ conn: OpaquePointer) {
        while let result = pq.PQgetResult!(conn) { pq.PQclear!(result) }
    }
}
