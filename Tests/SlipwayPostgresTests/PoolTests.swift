import Dispatch
import Foundation
import PostgresTestServer
import Synchronization
import Testing
@testable import SlipwayPostgres

/// Counts the pauses a pool takes instead of waiting them out in full.
final class PauseRecorder: Sendable {
    let pauses = Mutex<[Double]>([])

    func policy(reconnectFor: Double = 30, realPauses: Bool = true) -> PGRetryPolicy {
        PGRetryPolicy(reconnectFor: reconnectFor, initialDelay: 0.02, maxDelay: 0.2) { [self] seconds in
            self.pauses.withLock { $0.append(seconds) }
            if realPauses { usleep(UInt32(seconds * 1_000_000)) }
        }
    }

    var count: Int { pauses.withLock { $0.count } }
}

@Suite struct PoolTests {
    @Test func conflictingSerializableTransactionsAreRunAgainUntilTheyCommit() throws {
        let url = try PostgresTestServer.freshDatabase()
        let pool = PGPool(url: url, maxConnections: 4, policy: PauseRecorder().policy())
        try pool.write { c in try c.executeScript("CREATE TABLE counter (n int); INSERT INTO counter VALUES (0)") }
        // Two transactions read the counter before either writes it: one of
        // them must fail to serialise, and is run again.
        let bothRead = DispatchGroup()
        bothRead.enter(); bothRead.enter()
        let runs = Mutex([0, 0])
        onThreads(2) { w in
            try! pool.write(.serializable) { c in
                let attempt = runs.withLock { r in r[w] += 1; return r[w] }
                let n = try c.execute("SELECT n FROM counter").scalar(Int64.self)
                if attempt == 1 { bothRead.leave(); bothRead.wait() }
                try c.execute("UPDATE counter SET n = $1", [n + 1])
            }
        }
        #expect(try pool.read { try $0.execute("SELECT n FROM counter").scalar(Int64.self) } == 2)
        #expect(runs.withLock { $0.reduce(0, +) } == 3)
        // And under load: no increment is lost.
        onThreads(4) { _ in
            for _ in 0..<25 {
                try! pool.write(.serializable) { c in
                    let n = try c.execute("SELECT n FROM counter").scalar(Int64.self)
                    try c.execute("UPDATE counter SET n = $1", [n + 1])
                }
            }
        }
        #expect(try pool.read { try $0.execute("SELECT n FROM counter").scalar(Int64.self) } == 102)
    }

    @Test func aDeadlockVictimIsRunAgain() throws {
        let url = try PostgresTestServer.freshDatabase()
        let pool = PGPool(url: url, maxConnections: 4)
        try pool.write { c in try c.executeScript("CREATE TABLE r (k int PRIMARY KEY, v int); INSERT INTO r VALUES (1, 0), (2, 0)") }
        let firstLocks = DispatchGroup()
        firstLocks.enter(); firstLocks.enter()
        let attempts = Mutex([0, 0])
        onThreads(2) { w in
            try! pool.write { c in
                let attempt = attempts.withLock { a in a[w] += 1; return a[w] }
                let (first, second) = w == 0 ? (1, 2) : (2, 1)
                try c.execute("UPDATE r SET v = v + 1 WHERE k = $1", [first])
                if attempt == 1 {
                    // Both hold their first row before either asks for its second.
                    firstLocks.leave()
                    firstLocks.wait()
                }
                try c.execute("UPDATE r SET v = v + 1 WHERE k = $1", [second])
            }
        }
        #expect(try pool.read { try $0.execute("SELECT sum(v) FROM r").scalar(Int64.self) } == 4)
        #expect(attempts.withLock { $0.reduce(0, +) } == 3, "one deadlock victim, run once more")
    }

    @Test func aKilledSessionIsReplacedAndTheWriteLandsOnce() throws {
        let url = try PostgresTestServer.freshDatabase()
        let recorder = PauseRecorder()
        let pool = PGPool(url: url, maxConnections: 2, policy: recorder.policy())
        try pool.write { c in try c.executeScript("CREATE TABLE w (k int)") }
        let admin = try PGConnection(url)
        let runs = Mutex(0)
        try pool.write { c in
            let run = runs.withLock { $0 += 1; return $0 }
            try c.execute("INSERT INTO w VALUES ($1)", [run])
            if run == 1 {
                // An administrator (or a failover) ends this session mid-transaction.
                try admin.execute("SELECT pg_terminate_backend($1)", [c.backendPID])
                try c.execute("INSERT INTO w VALUES (99)")
            }
        }
        #expect(runs.withLock { $0 } == 2)
        #expect(try pool.read { try $0.execute("SELECT array_agg(k)::text FROM w").scalar(String.self) } == "{2}")
        #expect(recorder.count >= 1)
    }

    @Test func aCommitWhoseAnswerWasLostIsLookedUp() throws {
        let url = try PostgresTestServer.freshDatabase()
        let pool = PGPool(url: url)
        let c = try PGConnection(url)
        try c.executeScript("CREATE TABLE z (k int)")
        let committedID = try c.executeScript("BEGIN; INSERT INTO z VALUES (1); SELECT pg_current_xact_id()::text").scalar(String.self)
        try c.executeScript("COMMIT")
        let abortedID = try c.executeScript("BEGIN; INSERT INTO z VALUES (2); SELECT pg_current_xact_id()::text").scalar(String.self)
        try c.executeScript("ROLLBACK")
        var outage = PGPool.Outage()
        let lost = PGError(kind: .connection, message: "lost")
        #expect(try pool.committed(committedID, after: lost, outage: &outage))
        #expect(try !pool.committed(abortedID, after: lost, outage: &outage))
    }

    @Test func aServerRestartIsRiddenOutAndAnOutageTooLongFailsClearly() throws {
        let server = try PostgresTestServer.dedicated()
        defer { server.stop() }
        let recorder = PauseRecorder()
        let pool = PGPool(url: server.url, maxConnections: 2, policy: recorder.policy(reconnectFor: 60))
        try pool.write { c in try c.executeScript("CREATE TABLE log (k int)") }
        try pool.write { c in try c.execute("INSERT INTO log VALUES (1)") }
        try server.pause()
        // Restart it while the next write is retrying.
        let restarted = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while recorder.count < 3 { usleep(10_000) }
            try! server.resume()
            restarted.signal()
        }
        try pool.write { c in try c.execute("INSERT INTO log VALUES (2)") }
        restarted.wait()
        #expect(try pool.read { try $0.execute("SELECT array_agg(k ORDER BY k)::text FROM log").scalar(String.self) } == "{1,2}")

        // Down for longer than the pool waits: a clear failure, nothing written.
        let impatient = PGPool(url: server.url, maxConnections: 1, policy: PauseRecorder().policy(reconnectFor: 0.5))
        try impatient.read { c in _ = try c.execute("SELECT 1") }
        try server.pause()
        let error = try #require(throws: PGError.self) {
            try impatient.write { c in try c.execute("INSERT INTO log VALUES (3)") }
        }
        #expect(error.isConnectionLoss)
        #expect(error.description.contains("could not re-establish it within") && error.description.contains(server.url.redacted))
        try server.resume()
        #expect(try pool.read { try $0.execute("SELECT count(*) FROM log").scalar(Int64.self) } == 2)
    }

    @Test func aFirstConnectionThatFailsIsNotRetried() throws {
        try requireLibpq()
        let recorder = PauseRecorder()
        let pool = PGPool(url: try PGURL("postgres://nobody@127.0.0.1:1/x"), policy: recorder.policy())
        #expect(throws: PGError.self) { try pool.read { c in try c.execute("SELECT 1") } }
        #expect(recorder.count == 0)
    }
}
