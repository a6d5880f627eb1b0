import Foundation
import GRDB
import GRDBSQLite
import Testing
@testable import SlipwayStore

/// Rows written and read through bound statements: a value SQLite refuses to
/// bind stops the write instead of storing NULL (or looking up nothing).
@Suite struct RowBatchTests {
    func database() throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (n INTEGER NOT NULL, s TEXT)")
            // Texts over 16 bytes are too big for this connection.
            _ = sqlite3_limit(db.sqliteConnection, SQLITE_LIMIT_LENGTH, 16)
        }
        return queue
    }

    @Test func aRefusedBindThrowsAndWritesNothingOfThatRow() throws {
        let queue = try database()
        let texts = ["short", String(repeating: "x", count: 100)]
        #expect(throws: DatabaseError.self) {
            try queue.write { db in
                try RowBatch.execute(db, "INSERT INTO t (n, s) VALUES (?, ?)", count: texts.count) { i, row in
                    row.bind(Int64(i))
                    row.bind(texts[i])
                }
            }
        }
        // The transaction rolled back: not row 0, and never row 1 with a NULL text (the column allows one).
        #expect(try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } == 0)
        // Reading binds the same way: a refused key is an error, not a look-up of the last one.
        try queue.write { db in
            try RowBatch.execute(db, "INSERT INTO t (n, s) VALUES (?, ?)", count: 1) { _, row in row.bind(Int64(7)); row.bind("short") }
        }
        var seen: [Int64] = []
        try queue.read { db in
            let statement = try db.makeStatement(sql: "SELECT n FROM t WHERE s = ?")
            try RowRead.forEach(db, statement, bind: { $0.bind("short") }) { seen.append($0.int64(0)) }
            #expect(throws: DatabaseError.self) {
                try RowRead.forEach(db, statement, bind: { $0.bind(texts[1]) }) { seen.append($0.int64(0)) }
            }
        }
        #expect(seen == [7])
    }

    /// A text is bound by its length: a NUL inside it is kept, not the end of it.
    @Test func textsKeepANulInsideAndTheEmptyTextIsNotNull() throws {
        let queue = try DatabaseQueue()
        let texts = ["a\u{0}b", "", "é"]
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (n INTEGER NOT NULL, s TEXT)")
            try RowBatch.execute(db, "INSERT INTO t (n, s) VALUES (?, ?)", count: texts.count) { i, row in
                row.bind(Int64(i))
                row.bind(texts[i])
            }
        }
        let stored = try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT length(CAST(s AS BLOB)) AS bytes, s IS NULL AS missing FROM t ORDER BY n")
        }
        #expect(stored.map { $0["bytes"] as Int? } == [3, 0, 2])
        #expect(stored.map { $0["missing"] as Bool } == [false, false, false])
    }
}
