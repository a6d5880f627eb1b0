import CLibPQ

/// The rows (or the command status) a statement returned. Rows are read in
/// place from libpq's buffer; the result is freed when the last reference goes.
public final class PGResult: Sequence {
    let pq: slipway_libpq
    let handle: OpaquePointer

    init(pq: slipway_libpq, handle: OpaquePointer) {
        self.pq = pq
        self.handle = handle
    }

    deinit { pq.PQclear!(handle) }

    public var count: Int { Int(pq.PQntuples!(handle)) }
    public var isEmpty: Bool { count == 0 }
    public var columnCount: Int { Int(pq.PQnfields!(handle)) }

    public func columnName(_ column: Int) -> String {
        pq.PQfname!(handle, Int32(column)).map { String(cString: $0) } ?? ""
    }

    /// Rows inserted, updated, deleted, copied … by the command (0 when it says none).
    public var affectedRows: Int {
        guard let text = pq.PQcmdTuples!(handle) else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    public subscript(_ index: Int) -> PGRow { PGRow(result: self, index: Int32(index)) }

    public func makeIterator() -> AnyIterator<PGRow> {
        var next: Int32 = 0
        let total = Int32(count)
        return AnyIterator {
            guard next < total else { return nil }
            defer { next += 1 }
            return PGRow(result: self, index: next)
        }
    }

    /// The only row's only column: for `SELECT count(*)` and the like.
    public func scalar<T: PGDecodable>(_ type: T.Type = T.self) throws(PGError) -> T {
        guard count == 1, columnCount >= 1 else {
            throw PGError(kind: .usage, message: "expected one row, got \(count)")
        }
        return try self[0].decode(0)
    }

    /// The first row, if any.
    public var first: PGRow? { isEmpty ? nil : self[0] }

    func column(named name: String) throws(PGError) -> Int32 {
        let index = pq.PQfnumber!(handle, name)
        guard index >= 0 else { throw PGError(kind: .usage, message: "the result has no column \(name)") }
        return index
    }
}

/// One row of a result. Columns are read by position or by name (names
/// follow SQL's folding: `startedAt` finds the column `startedat`).
public struct PGRow {
    let result: PGResult
    let index: Int32

    public func isNull(_ column: Int) -> Bool {
        result.pq.PQgetisnull!(result.handle, index, Int32(column)) != 0
    }

    /// The column's text, or nil for NULL; valid while the result lives.
    func text(_ column: Int32) -> UnsafeBufferPointer<UInt8>? {
        let pq = result.pq
        if pq.PQgetisnull!(result.handle, index, column) != 0 { return nil }
        guard let start = pq.PQgetvalue!(result.handle, index, column) else { return nil }
        let length = Int(pq.PQgetlength!(result.handle, index, column))
        return UnsafeBufferPointer(start: UnsafeRawPointer(start).assumingMemoryBound(to: UInt8.self), count: length)
    }

    public func decode<T: PGDecodable>(_ column: Int, as type: T.Type = T.self) throws(PGError) -> T {
        guard column >= 0, column < result.columnCount else {
            throw PGError(kind: .usage, message: "column \(column) is out of range (the result has \(result.columnCount))")
        }
        do {
            return try T.pgDecode(text(Int32(column)))
        } catch {
            var e = error
            e.message = "column \(result.columnName(column)): \(e.message)"
            throw e
        }
    }

    public func decode<T: PGDecodable>(_ name: String, as type: T.Type = T.self) throws(PGError) -> T {
        try decode(Int(result.column(named: name)), as: type)
    }

    public subscript<T: PGDecodable>(_ column: Int) -> T {
        get throws(PGError) { try decode(column) }
    }

    public subscript<T: PGDecodable>(_ name: String) -> T {
        get throws(PGError) { try decode(name) }
    }
}
