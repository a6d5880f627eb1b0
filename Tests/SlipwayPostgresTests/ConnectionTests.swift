import Foundation
import PostgresTestServer
import Testing
@testable import SlipwayPostgres

/// A connection to a new database of the shared test server.
func freshConnection() throws -> PGConnection {
    try PGConnection(try PostgresTestServer.freshDatabase())
}

@Suite struct ConnectionTests {
    @Test func valuesRoundTripThroughParametersAndTypedColumns() throws {
        let c = try freshConnection()
        try c.executeScript("""
            CREATE TABLE v (i bigint, d double precision, s text, b boolean, x bytea, n bigint);
            """)
        let doubles: [Double] = [0.1, -0.0, 1e-310, .greatestFiniteMagnitude, .pi, .nan, .infinity, -.infinity, 123456789012345678, 3]
        let strings = ["", "héllo ✓", "it's \"quoted\"", "back\\slash\ttab\nnewline\r", "𝄞", "$1; DROP TABLE v;--"]
        let blob = Data((0...255).map { UInt8($0) })
        for (k, d) in doubles.enumerated() {
            try c.execute("INSERT INTO v VALUES ($1, $2, $3, $4, $5, $6)",
                          [Int64(k) - 5_000_000_000, d, strings[k % strings.count], k % 2 == 0, blob, nil])
        }
        let rows = try c.execute("SELECT i, d, s, b, x, n FROM v ORDER BY i")
        #expect(rows.count == doubles.count && rows.columnCount == 6)
        for (k, row) in rows.enumerated() {
            #expect(try row[0] as Int64 == Int64(k) - 5_000_000_000)
            let d: Double = try row["d"]
            #expect(d.bitPattern == doubles[k].bitPattern || (d.isNaN && doubles[k].isNaN), "\(doubles[k])")
            #expect(try row.decode("s", as: String.self) == strings[k % strings.count])
            #expect(try row[3] as Bool == (k % 2 == 0))
            #expect(try row[4] as Data == blob)
            #expect(try row[5] as Int64? == nil)
            #expect(row.isNull(5))
        }
        #expect(try c.execute("SELECT $1::bigint", [Int64.min]).scalar(Int64.self) == .min)
        #expect(try c.execute("SELECT $1::bigint", [Int64.max]).scalar(Int64.self) == .max)
        #expect(try c.execute("SELECT $1::int", [Int32.min]).scalar(Int32.self) == .min)
    }

    @Test func decodingTheWrongTypeNamesTheColumn() throws {
        let c = try freshConnection()
        let result = try c.execute("SELECT NULL::bigint AS missing, 'abc' AS word, 5000000000::bigint AS big")
        let null = try #require(throws: PGError.self) { try result[0].decode("missing", as: Int64.self) }
        #expect(null.kind == .decoding && null.message.contains("missing"))
        let word = try #require(throws: PGError.self) { try result[0].decode("word", as: Int64.self) }
        #expect(word.message.contains("word") && word.message.contains("abc"))
        #expect(throws: PGError.self) { try result[0].decode("big", as: Int32.self) }
        #expect(throws: PGError.self) { try result[0].decode("nope", as: Int64.self) }
        #expect(throws: PGError.self) { try result[0].decode(7, as: Int64.self) }
    }

    @Test func serverErrorsCarryTheirSQLState() throws {
        let c = try freshConnection()
        try c.executeScript("CREATE TABLE u (k text PRIMARY KEY)")
        try c.execute("INSERT INTO u VALUES ($1)", ["a"])
        let duplicate = try #require(throws: PGError.self) { try c.execute("INSERT INTO u VALUES ($1)", ["a"]) }
        #expect(duplicate.sqlState == PGError.SQLState.uniqueViolation && duplicate.constraint == "u_pkey")
        #expect(duplicate.kind == .server && !duplicate.isConnectionLoss && !duplicate.isTransactionConflict)
        let syntax = try #require(throws: PGError.self) { try c.execute("SELEKT 1") }
        #expect(syntax.sqlState == "42601" && syntax.description.contains("SQLSTATE 42601"))
        let missing = try #require(throws: PGError.self) { try c.execute("SELECT * FROM nowhere") }
        #expect(missing.sqlState == PGError.SQLState.undefinedTable)
        // The connection is still usable after each error.
        #expect(try c.execute("SELECT count(*) FROM u").scalar(Int64.self) == 1)
        #expect(throws: PGError.self) { try c.execute("SELECT $1::text", ["nul\u{0}byte"]) }
    }

    @Test func aTransactionThatThrowsLeavesNothing() throws {
        let c = try freshConnection()
        try c.executeScript("CREATE TABLE t (k int)")
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try c.transaction { c in
                try c.execute("INSERT INTO t VALUES (1)")
                throw Stop()
            }
        }
        #expect(!c.inTransaction)
        try c.transaction { c in try c.execute("INSERT INTO t VALUES (2)") }
        #expect(try c.execute("SELECT array_agg(k)::text FROM t").scalar(String.self) == "{2}")
    }

    @Test func connectingToNothingFailsAtOnceWithAConnectionError() throws {
        try requireLibpq()
        // A port nothing listens on: bind one, note it, close it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = bind(fd, $0, length); _ = getsockname(fd, $0, &length) }
        }
        let port = UInt16(bigEndian: address.sin_port)
        close(fd)
        let error = try #require(throws: PGError.self) { try PGConnection(try PGURL("postgres://ana@127.0.0.1:\(port)/x")) }
        #expect(error.kind == .connection && error.isConnectionLoss)
        #expect(error.description.contains("postgres://ana@127.0.0.1:\(port)/x"))
    }
}
