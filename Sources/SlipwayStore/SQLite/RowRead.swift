import Foundation
import GRDB
import GRDBSQLite

/// Reads the rows of a prepared statement column by column, straight from
/// SQLite: the read side of ``RowBatch``. A no-op re-run of 10,000 stages
/// reads 10,000 cache entries, file states and stage run origins, and GRDB's
/// `Row` and argument arrays cost more per row than SQLite's own step.
enum RowRead {
    /// Steps `statement` (bound through `bind`) to its end, calling `body` with each row.
    static func forEach(_ db: Database, _ statement: Statement, bind: (inout RowBinder) -> Void,
                        _ body: (Columns) throws -> Void) throws {
        let stmt = statement.sqliteStatement
        // Reset after the last row, thrown or not: a statement left mid-step
        // would keep its read transaction open, and the next use binds afresh.
        defer { withExtendedLifetime(statement) { _ = sqlite3_reset(stmt) } }
        var binder = RowBinder(statement: stmt)
        bind(&binder)
        precondition(binder.next == Int32(sqlite3_bind_parameter_count(stmt)) + 1, "RowRead: bound \(binder.next - 1) values")
        if let rc = binder.failed { throw RowBatch.failure(db, rc, sql: statement.sql) }
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw RowBatch.failure(db, rc, sql: statement.sql) }
            try body(Columns(statement: stmt))
        }
    }
}

/// The current row of a statement being stepped, by column index. Valid only
/// inside the call that gives it.
struct Columns {
    let statement: OpaquePointer

    func isNull(_ i: Int32) -> Bool { sqlite3_column_type(statement, i) == SQLITE_NULL }

    func int64(_ i: Int32) -> Int64 { sqlite3_column_int64(statement, i) }

    /// The column's text (SQLite converts a number); empty for NULL.
    func string(_ i: Int32) -> String {
        guard let text = sqlite3_column_text(statement, i) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, i))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    func stringOrNil(_ i: Int32) -> String? { isNull(i) ? nil : string(i) }

    /// The column's bytes, text or blob.
    func data(_ i: Int32) -> Data {
        guard let bytes = sqlite3_column_blob(statement, i) else { return Data() }
        return Data(bytes: bytes, count: Int(sqlite3_column_bytes(statement, i)))
    }
}

/// A key a look-up binds: a row's text or integer key.
protocol RowKey: Hashable {
    func bind(to values: inout RowBinder)
}

extension String: RowKey {
    func bind(to values: inout RowBinder) { values.bind(self) }
}

extension Int64: RowKey {
    func bind(to values: inout RowBinder) { values.bind(self) }
}
