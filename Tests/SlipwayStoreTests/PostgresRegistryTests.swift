import Foundation
import PostgresTestServer
import SlipwayPostgres
import Synchronization
import Testing
import SlipwayStore
import SlipwayCore
import SlipwayEngine
@testable import SlipwayStore

/// What only the PostgreSQL store has: schemas per project, migrations under
/// an advisory lock, the audit head and append-only rules in the database,
/// notifications, and riding out lost connections.
@Suite struct PostgresRegistryTests {
    func fresh() throws -> (url: PGURL, schema: String) {
        (try PostgresTestServer.require().url, PostgresTestServer.freshSchemaName())
    }

    /// Text arrays and parameters reach the server as written: quotes,
    /// backslashes, commas, braces, non-ASCII, empty text, NULL and the word NULL.
    @Test func textArraysRoundTripWhateverTheyHold() throws {
        let c = try PGConnection(try PostgresTestServer.require().url)
        let values: [String?] = ["a\"b", "c\\d", "e,f", "{g}", "héllo ✓", "", nil, "NULL", "line\nbreak", "train[lr=0.1]"]
        let rows = try c.execute("SELECT x, x IS NULL FROM unnest($1::text[]) WITH ORDINALITY AS t(x, n) ORDER BY n", [PGArray(values)])
        #expect(rows.count == values.count)
        for (i, v) in values.enumerated() {
            let isNull: Bool = try rows[i].decode(1)
            #expect(isNull == (v == nil), "\(i)")
            if let v { #expect(try rows[i].decode(0, as: String.self) == v, "\(i)") }
        }
        #expect(try c.execute("SELECT $1::text || $2::text", ["é", "✓"]).first?.decode(0, as: String.self) == "é✓")
    }

    @Test func openersRacingOnANewSchemaMigrateItOnce() throws {
        let (url, schema) = try fresh()
        let opened = Mutex([PostgresRegistry]())
        let failures = Mutex([String]())
        onThreads(4) { _ in
            do {
                let r = try PostgresRegistry(url: url, schema: schema)
                opened.withLock { $0.append(r) }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let r = try #require(opened.withLock { $0.first })
        #expect(try r.appliedMigrations() == PostgresRegistry.knownMigrations.sorted())
        #expect(PostgresRegistry.knownMigrations == SQLiteRegistry.knownMigrations)
        let c = try PGConnection(url)
        #expect(try c.execute("SELECT count(*) FROM \(schema).schemaMigration").scalar(Int.self) == SQLiteRegistry.knownMigrations.count)
    }

    @Test func everyEarlierSchemaIsUpgradedKeepingItsData() throws {
        let url = try PostgresTestServer.require().url
        for (i, migration) in PostgresRegistry.knownMigrations.enumerated() {
            let schema = PostgresTestServer.freshSchemaName("up\(i)")
            try PostgresRegistry.create(url: url, schema: schema, upTo: migration)
            let c = try PGConnection(url)
            try c.executeScript("""
                INSERT INTO \(schema).run (pipeline, trigger, status, startedAt, pid, host, heartbeatAt, "user", slipwayVersion)
                VALUES ('p', 'manual', 'succeeded', 1, 1, 'h', 1, 'u', 'old')
                """)
            let r = try PostgresRegistry(url: url, schema: schema)
            #expect(try r.appliedMigrations().count == PostgresRegistry.knownMigrations.count, "from \(migration)")
            #expect(try r.run(id: 1)?.slipwayVersion == "old")
        }
    }

    /// A version registered before runs recorded the version they made is
    /// still its run's; a run that made one again then is not known to have.
    @Test func runsFinishedBeforeMadeVersionsWereRecordedKeepTheirRegisteredVersion() throws {
        let url = try PostgresTestServer.require().url
        let schema = PostgresTestServer.freshSchemaName("made")
        try PostgresRegistry.create(url: url, schema: schema, upTo: "v19-stage-run-index")
        let c = try PGConnection(url)
        try c.executeScript("""
            INSERT INTO \(schema).run (pipeline, trigger, status, startedAt, pid, host, heartbeatAt, "user", slipwayVersion)
            VALUES ('p', 'manual', 'succeeded', 1, 1, 'h', 1, 'u', 'old'), ('p', 'manual', 'succeeded', 1, 1, 'h', 1, 'u', 'old');
            INSERT INTO \(schema).model (name, createdAt) VALUES ('clf', 1);
            INSERT INTO \(schema).modelVersion (model, version, runID, pipeline, artifactDigest, createdAt, createdBy)
            VALUES ('clf', 1, 1, 'p', 'd1', 1, 'u');
            """)
        let r = try PostgresRegistry(url: url, schema: schema)
        #expect(try r.modelVersion(runID: 1)?.version == 1)
        #expect(try r.modelVersion(runID: 2) == nil)
    }

    @Test func projectsSharingADatabaseSeeOnlyTheirOwnRecords() throws {
        let url = try PostgresTestServer.require().url
        let a = try PostgresRegistry(url: url, schema: PostgresTestServer.freshSchemaName("a"))
        let b = try PostgresRegistry(url: url, schema: PostgresTestServer.freshSchemaName("b"))
        let runA = try startRun(a, pipeline: "alpha")
        let runB = try startRun(b, pipeline: "beta")
        // Ids, sequence numbers and chains are per project, as in an embedded registry.
        #expect(runA.id == 1 && runB.id == 1)
        #expect(try a.runs(limit: 10, offset: 0).map(\.pipeline) == ["alpha"])
        #expect(try b.auditEvents(after: 0, limit: 10).map(\.subject) == ["run/1"])
        #expect(try a.auditEvents(after: 0, limit: 10)[0].hash != (try b.auditEvents(after: 0, limit: 10)[0].hash))
        #expect(try PostgresRegistry.schemaName(project: "Weather-Forecast v2") == "slipway_weather_forecast_v2")
        #expect(throws: PostgresRegistry.OpenError.self) { try PostgresRegistry(url: url, schema: "Robert'); DROP TABLE run;--") }
        #expect(throws: PostgresRegistry.OpenError.self) { try PostgresRegistry(url: url, schema: "pg_catalog") }
    }

    @Test func theAuditLogAndItsHeadCannotBeRewrittenThroughSQL() throws {
        let (url, schema) = try fresh()
        let r = try PostgresRegistry(url: url, schema: schema)
        _ = try startRun(r)
        _ = try r.appendAudit(AuditDraft(actor: "ana", kind: .datasetAdded, subject: "dataset/x"))
        #expect(try r.auditHeadWitness()?.seq == 2)
        let c = try PGConnection(url)
        try c.executeScript("SET search_path TO \(schema)")
        for sql in ["UPDATE auditEvent SET actor = 'mallory' WHERE seq = 1", "DELETE FROM auditEvent WHERE seq = 2",
                    "TRUNCATE auditEvent", "UPDATE auditHead SET seq = 1", "DELETE FROM auditHead", "TRUNCATE auditHead"] {
            let error = try #require(throws: PGError.self, "\(sql)") { try c.executeScript(sql) }
            #expect(error.sqlState == PGError.SQLState.raiseException, "\(sql)")
        }
        // An owner who disables the rules and deletes the newest event leaves the head behind.
        try c.executeScript("ALTER TABLE auditEvent DISABLE TRIGGER USER; DELETE FROM auditEvent WHERE seq = 2")
        let events = try r.auditEvents(after: 0, limit: 10)
        #expect(AuditChain.verify(events) == nil)
        #expect(try r.auditHeadWitness()?.seq == 2 && events.last?.seq == 1)
    }

    @Test func everyCommittedWriteMovesTheTokenAndIsAnnounced() throws {
        let (url, schema) = try fresh()
        let r = try PostgresRegistry(url: url, schema: schema)
        let other = try PostgresRegistry(url: url, schema: schema)
        let listener = try r.changeListener()
        defer { listener.close() }
        let before = try r.changeToken()
        let run = try startRun(other)
        let after = try r.changeToken()
        // One transaction touching three tables moves the token once.
        #expect(after == before + 1)
        var tables = Set<String>()
        while !tables.contains("auditevent") || !tables.contains("run") {
            let wakeup = try listener.wait(timeout: 30)
            #expect(!wakeup.notifications.isEmpty, "no notification within 30 s")
            if wakeup.notifications.isEmpty { break }
            #expect(wakeup.notifications.allSatisfy { $0.channel == r.channel })
            tables.formUnion(wakeup.notifications.map(\.payload))
        }
        try other.heartbeat(runID: run.id)
        #expect(try r.changeToken() == after + 1)
        // A rolled-back write moves nothing.
        #expect(throws: (any Error).self) { try other.finishRun(id: 999, status: .failed, message: nil) }
        #expect(try r.changeToken() == after + 1)
    }

    /// The change feed wakes a live view on another process's write and leaves
    /// out the announcements of its own registry's writes.
    @Test func theChangeFeedWakesOnOthersWritesOnly() throws {
        let (url, schema) = try fresh()
        let mine = try PostgresRegistry(url: url, schema: schema)
        let theirs = try PostgresRegistry(url: url, schema: schema)
        // Which writes are whose: the announcements carry the sender's backend.
        let listener = try mine.changeListener()
        defer { listener.close() }
        _ = try startRun(mine)
        var senders: [Int32] = []
        while senders.isEmpty {
            let wakeup = try listener.wait(timeout: 30)
            if wakeup.notifications.isEmpty { Issue.record("no notification within 30 s"); return }
            senders = wakeup.notifications.map(\.senderPID)
        }
        #expect(senders.allSatisfy { mine.pool.isOwnBackend($0) && !theirs.pool.isOwnBackend($0) })

        let feed = try #require(try mine.changeFeed())
        defer { feed.close() }
        _ = try startRun(theirs)
        #expect(try feed.wait(timeout: 30), "another registry's write did not wake the feed")
        // After close, a waiter returns at once.
        feed.close()
        #expect(try feed.wait(timeout: 30) == false)
    }

    @Test func aRunClaimsQueuedTriggerEventsOnce() throws {
        let (url, schema) = try fresh()
        let r = try PostgresRegistry(url: url, schema: schema)
        let c = try PGConnection(url)
        try c.executeScript("""
            INSERT INTO \(schema).triggerEvent (pipeline, kind, key, cause, firedAt, state)
            VALUES ('p', 'drift', 'k1', '{}', 1, 'queued'), ('p', 'drift', 'k2', '{}', 1, 'queued')
            """)
        let run = try r.startRun(NewRun(pipeline: "p", trigger: "drift", provenance: contractProvenance, pid: 1, params: [:], claiming: [1, 2]))
        #expect(try c.execute("SELECT count(*) FROM \(schema).triggerEvent WHERE runID = $1 AND state = 'started'", [run.id]).scalar(Int.self) == 2)
        #expect(throws: RegistryConflict.self) {
            try r.startRun(NewRun(pipeline: "p", trigger: "drift", provenance: contractProvenance, pid: 1, params: [:], claiming: [1, 2]))
        }
        #expect(try r.runCount() == 1)
    }

    @Test func aWriteWhoseSessionIsKilledLandsOnceOnANewOne() throws {
        let (url, schema) = try fresh()
        let r = try PostgresRegistry(url: url, schema: schema, maxConnections: 2)
        let run = try startRun(r)
        let admin = try PGConnection(url)
        // Every session of the registry is ended, as by a failover or an administrator.
        // Only this registry's: the other tests' sessions share the server and its application name.
        let sessions = try admin.execute("""
            SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'slipway'
            """).map { try $0.decode(0, as: Int32.self) }.filter { r.pool.isOwnBackend($0) }
        #expect(!sessions.isEmpty)
        for pid in sessions { try admin.execute("SELECT pg_terminate_backend($1)", [pid]) }
        try r.appendMetrics((0..<1_000).map { MetricRecord(runID: run.id, stageRunID: nil, stage: "s", key: "k", step: Int64($0), value: 1, timestamp: 0) })
        try r.finishRun(id: run.id, status: .succeeded, message: nil)
        #expect(try r.metrics(runID: run.id).count == 1_000)
        let events = try r.auditEvents(after: 0, limit: 10)
        #expect(events.map(\.kind) == ["run.started", "run.finished"])
        #expect(AuditChain.verify(events) == nil)
    }
}
