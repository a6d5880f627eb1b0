import Foundation
import GRDB
import GRDBSQLite

/// Writes many rows through one prepared statement, bound directly: a batch
/// of restored stages is thousands of rows of each kind, and going through
/// argument arrays and GRDB's per-statement bookkeeping costs several times
/// SQLite's own insert (as ``SQLiteRegistry/appendMetrics(_:)`` found for
/// metric points). One statement per row, not one statement of many rows:
/// parsing a statement with thousands of placeholders costs more than the
/// steps it saves, and every command parses its statements afresh.
enum RowBatch {
    /// Runs `sql` once per row, `bind` giving row `i`'s values in order;
    /// `done` is called after each row is written (to read its rowid).
    static func execute(_ db: Database, _ sql: String, count: Int,
                        bind: (_ row: Int, _ values: inout RowBinder) throws -> Void,
                        done: (_ row: Int) throws -> Void = { _ in }) throws {
        guard count > 0 else { return }
        // A statement of its own, not the connection's cached one: GRDB keeps
        // state about the statements it steps, and this one it never sees.
        let statement = try db.makeStatement(sql: sql)
        let stmt = statement.sqliteStatement
        let columns = Int32(sqlite3_bind_parameter_count(stmt))
        defer { withExtendedLifetime(statement) { _ = sqlite3_reset(stmt) } }
        for i in 0..<count {
            sqlite3_reset(stmt)
            var binder = RowBinder(statement: stmt)
            try bind(i, &binder)
            precondition(binder.next == columns + 1, "RowBatch: row \(i) bound \(binder.next - 1) of \(columns) values")
            if let rc = binder.failed { throw failure(db, rc, sql: sql) }
            let rc = sqlite3_step(stmt)
            guard rc == SQLITE_DONE else { throw failure(db, rc, sql: sql) }
            try done(i)
        }
    }
}

extension RowBatch {
    /// The error of a step that failed with `rc`, with SQLite's message.
    static func failure(_ db: Database, _ rc: Int32, sql: String) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
    }
}

/// Binds one row's values, in order. A bind SQLite refuses (a text over its
/// length limit, memory) is remembered in ``failed`` and the caller throws it
/// before stepping: SQLite leaves a refused parameter NULL, which a nullable
/// column would store and a look-up would match nothing with, silently.
struct RowBinder {
    let statement: OpaquePointer
    fileprivate(set) var next: Int32 = 1
    /// The result code of the first bind SQLite refused, if any.
    private(set) var failed: Int32?

    init(statement: OpaquePointer) { self.statement = statement }

    private mutating func check(_ rc: Int32) {
        if rc != SQLITE_OK, failed == nil { failed = rc }
        next += 1
    }

    mutating func bind(_ value: Int64) {
        check(sqlite3_bind_int64(statement, next, value))
    }

    mutating func bind(_ value: Int64?) {
        check(value.map { sqlite3_bind_int64(statement, next, $0) } ?? sqlite3_bind_null(statement, next))
    }

    mutating func bind(_ value: Int32?) { bind(value.map(Int64.init)) }

    mutating func bind(_ value: String) {
        // By its byte count, not as a C string, which would end at a NUL
        // inside it; SQLITE_TRANSIENT: SQLite copies the text before the
        // Swift string goes. An empty text still needs a pointer (a null one binds NULL).
        var text = value
        let rc = text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                withUnsafePointer(to: CChar(0)) { empty in
                    sqlite3_bind_text(statement, next, chars.baseAddress ?? empty, Int32(clamping: chars.count),
                                      unsafeBitCast(-1, to: sqlite3_destructor_type.self))
                }
            }
        }
        check(rc)
    }

    mutating func bind(_ value: String?) {
        if let value { bind(value) } else { check(sqlite3_bind_null(statement, next)) }
    }
}
