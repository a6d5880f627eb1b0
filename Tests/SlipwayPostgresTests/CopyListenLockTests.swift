import Dispatch
import Foundation
import PostgresTestServer
import Synchronization
import Testing
@testable import SlipwayPostgres

@Suite struct CopyTests {
    @Test func copyStreamsManyRowsWithEveryTypeAndAwkwardText() throws {
        let c = try freshConnection()
        try c.executeScript("CREATE TABLE m (id bigint, v double precision, s text, b boolean, x bytea)")
        let awkward = ["tab\there", "new\nline", "back\\slash", "\\N", "cr\rhere", "plain", ""]
        let total = 100_000
        let copied = try c.copyIn("COPY m (id, v, s, b, x) FROM STDIN") { copy in
            for i in 0..<total {
                copy.add(Int64(i) - 50_000)
                copy.add(i % 1000 == 0 ? Double.nan : Double(i) / 7)
                copy.add(i % 10 == 9 ? nil : awkward[i % awkward.count])
                copy.add(i % 2 == 0)
                copy.add(i % 50_000 == 0 ? Data([0, 9, 10, 92, 255]) : nil)
                try copy.endRow()
            }
        }
        #expect(copied == total)
        #expect(try c.execute("SELECT count(*) FROM m").scalar(Int64.self) == Int64(total))
        // Rows 0, 1, 9 and 99,999.
        let rows = try c.execute("SELECT id, v, s, b, x FROM m WHERE id IN (-50000, -49999, -49991, 49999) ORDER BY id")
        #expect(try rows[0].decode("v", as: Double.self).isNaN)
        #expect(try rows[0]["x"] as Data == Data([0, 9, 10, 92, 255]))
        #expect(try rows[1]["s"] as String == awkward[1] && rows[1]["v"] as Double == 1.0 / 7 && rows[1]["x"] as Data? == nil)
        #expect(try rows[2]["s"] as String? == nil)
        #expect(try rows[3]["b"] as Bool == false)
        let texts = try c.execute("SELECT DISTINCT s FROM m WHERE s IS NOT NULL ORDER BY s").map { try $0.decode(0, as: String.self) }
        #expect(Set(texts) == Set(awkward))
    }

    @Test func aCopyAbandonedByItsWriterInsertsNothing() throws {
        let c = try freshConnection()
        try c.executeScript("CREATE TABLE m (id bigint)")
        struct Broken: Error {}
        #expect(throws: Broken.self) {
            try c.copyIn("COPY m (id) FROM STDIN") { copy in
                for i in 0..<100_000 {
                    copy.add(Int64(i))
                    try copy.endRow()
                }
                throw Broken()
            }
        }
        #expect(try c.execute("SELECT count(*) FROM m").scalar(Int64.self) == 0)
        // A row the server rejects fails the whole copy, with the server's error.
        let error = try #require(throws: PGError.self) {
            try c.copyIn("COPY m (id) FROM STDIN") { copy in
                copy.add("not a number")
                try copy.endRow()
            }
        }
        #expect(error.sqlState == "22P02")
        #expect(try c.execute("SELECT count(*) FROM m").scalar(Int64.self) == 0)
    }
}

@Suite struct ListenTests {
    @Test func aListenerWakesWhenANotificationArrivesAndReturnsOnTimeout() throws {
        let url = try PostgresTestServer.freshDatabase()
        let listener = try PGListener(url: url, channels: ["slipway:demo", "other"])
        defer { listener.close() }
        let sender = try PGConnection(url)
        // Nothing sent: the wait ends at its timeout, empty.
        #expect(try listener.wait(timeout: 0.05).notifications.isEmpty)
        // Sent inside a transaction: delivered at commit, once.
        try sender.transaction { c in
            try c.notify("slipway:demo", payload: "run")
            try c.notify("slipway:demo", payload: "run")
        }
        let wakeup = try listener.wait(timeout: 30)
        #expect(wakeup.notifications.map(\.payload) == ["run"])
        #expect(wakeup.notifications.first?.channel == "slipway:demo" && wakeup.notifications.first?.senderPID == sender.backendPID)
        #expect(!wakeup.resynchronise)
        // The socket is readable when a notification is waiting, for callers with their own poll loop.
        try sender.notify("other", payload: "x")
        var fds = pollfd(fd: listener.fileDescriptor, events: Int16(POLLIN), revents: 0)
        #expect(poll(&fds, 1, 30_000) == 1)
        #expect(try listener.poll().notifications.map(\.channel) == ["other"])
    }

    @Test func aListenerWhoseSessionIsKilledReconnectsAndSaysSo() throws {
        let url = try PostgresTestServer.freshDatabase()
        let listener = try PGListener(url: url, channels: ["c"], policy: PauseRecorder().policy())
        defer { listener.close() }
        let admin = try PGConnection(url)
        let pid = try admin.execute("SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()")
            .scalar(Int32.self)
        try admin.execute("SELECT pg_terminate_backend($1)", [pid])
        let first = try listener.wait(timeout: 30)
        #expect(first.resynchronise)
        try admin.notify("c", payload: "after")
        var payloads: [String] = []
        while payloads.isEmpty { payloads = try listener.wait(timeout: 30).notifications.map(\.payload) }
        #expect(payloads == ["after"])
    }
}

@Suite struct AdvisoryLockTests {
    @Test func aTransactionLockIsHeldUntilTheTransactionEnds() throws {
        let url = try PostgresTestServer.freshDatabase()
        let a = try PGConnection(url)
        let b = try PGConnection(url)
        let key = try a.advisoryKey("slipway.migrate:demo")
        let same = try b.advisoryKey("slipway.migrate:demo")
        let other = try b.advisoryKey("slipway.migrate:other")
        #expect(key == same && key != other)
        try a.executeScript("BEGIN")
        try a.advisoryTransactionLock(key)
        try b.executeScript("BEGIN")
        #expect(try !b.tryAdvisoryTransactionLock(key))
        try b.executeScript("ROLLBACK")
        try a.executeScript("COMMIT")
        let free = try b.transaction { c in try c.tryAdvisoryTransactionLock(key) }
        #expect(free)
    }

    @Test func aWaitingLockerProceedsWhenTheHolderCommits() throws {
        let url = try PostgresTestServer.freshDatabase()
        let pool = PGPool(url: url, maxConnections: 4)
        try pool.write { c in try c.executeScript("CREATE TABLE seq (n int)") }
        // Each writer reads the max and inserts max+1 under the lock: no duplicates.
        onThreads(4) { _ in
            for _ in 0..<20 {
                try! pool.write { c in
                    try c.advisoryTransactionLock(42)
                    let next = try c.execute("SELECT coalesce(max(n), 0) + 1 FROM seq").scalar(Int64.self)
                    try c.execute("INSERT INTO seq VALUES ($1)", [next])
                }
            }
        }
        let numbers = try pool.read { c in try c.execute("SELECT n FROM seq ORDER BY n").map { try $0.decode(0, as: Int64.self) } }
        #expect(numbers == Array(1...80))
    }
}
