import Foundation
import GRDB
import Testing
import SlipwayEngine
@testable import SlipwayStore

func temporaryDirectory() -> String {
    let dir = NSTemporaryDirectory() + "slipway-store-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

let provenance = Provenance(gitCommit: "abc123", gitDirty: false, user: "ana", host: "test-host", slipwayVersion: "0.1.0")

@Suite struct MigrationTests {
    @Test func fromEmptyDatabase() throws {
        let dir = temporaryDirectory()
        let registry = try SQLiteRegistry(path: dir + "/r.sqlite")
        #expect(try registry.appliedMigrations() == SQLiteRegistry.knownMigrations.sorted())
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/r.sqlite")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    /// Opens that write (a new registry, or one whose WAL file is gone) take
    /// turns under the migration lock; the others do not wait for it.
    @Test func opensThatWriteTakeTurnsAndAllSucceed() throws {
        let path = temporaryDirectory() + "/r.sqlite"
        #expect(SQLiteRegistry.writesOnOpen(path: path))
        let opened = Mutex(0)
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            do {
                let registry = try SQLiteRegistry(path: path)
                _ = try registry.appliedMigrations()
                opened.withLock { $0 += 1 }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        #expect(opened.withLock { $0 } == 8)
        let registry = try SQLiteRegistry(path: path)
        // While a connection has the WAL file, an open writes nothing and takes no lock.
        #expect(!SQLiteRegistry.writesOnOpen(path: path))
        #expect(try registry.appliedMigrations() == SQLiteRegistry.knownMigrations.sorted())
    }

    @Test func fromEveryEarlierSchema() throws {
        for (i, migration) in SQLiteRegistry.knownMigrations.enumerated() {
            let path = temporaryDirectory() + "/r.sqlite"
            try SQLiteRegistry.create(path: path, upTo: migration)
            // Data written by that schema survives the upgrade.
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO run (pipeline, trigger, status, startedAt, pid, host, heartbeatAt, user, slipwayVersion)
                    VALUES ('p', 'manual', 'succeeded', 1, 1, 'h', 1, 'u', 'old')
                    """)
            }
            try queue.close()
            let registry = try SQLiteRegistry(path: path)
            #expect(try registry.appliedMigrations().count == SQLiteRegistry.knownMigrations.count, "from migration \(i)")
            #expect(try registry.run(id: 1)?.slipwayVersion == "old")
        }
    }
    /// A version registered before runs recorded the version they made is
    /// still its run's; a run that made one again then is not known to have.
    @Test func runsFinishedBeforeMadeVersionsWereRecordedKeepTheirRegisteredVersion() throws {
        let path = temporaryDirectory() + "/r.sqlite"
        try SQLiteRegistry.create(path: path, upTo: "v19-stage-run-index")
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            for _ in 0..<2 {
                try db.execute(sql: """
                    INSERT INTO run (pipeline, trigger, status, startedAt, pid, host, heartbeatAt, user, slipwayVersion)
                    VALUES ('p', 'manual', 'succeeded', 1, 1, 'h', 1, 'u', 'old')
                    """)
            }
            try db.execute(sql: "INSERT INTO model (name, createdAt) VALUES ('clf', 1)")
            try db.execute(sql: """
                INSERT INTO modelVersion (model, version, runID, pipeline, artifactDigest, createdAt, createdBy)
                VALUES ('clf', 1, 1, 'p', 'd1', 1, 'u')
                """)
        }
        try queue.close()
        let registry = try SQLiteRegistry(path: path)
        #expect(try registry.modelVersion(runID: 1)?.version == 1)
        #expect(try registry.modelVersion(runID: 2) == nil)
    }

    /// Alias changes recorded before causes were get theirs once, in the
    /// migration, from their message; nothing reads a message afterwards.
    @Test func aliasChangesFromBeforeCausesGetTheirCause() throws {
        let path = temporaryDirectory() + "/r.sqlite"
        try SQLiteRegistry.create(path: path, upTo: "v16-param-overrides")
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            for (version, previous, reason) in [(1, nil, "first"), (2, 1, "ship"), (1, 2, "rollback: errors")] as [(Int, Int?, String)] {
                try db.execute(sql: """
                    INSERT INTO aliasEvent (model, environment, version, previousVersion, at, actor, reason) VALUES ('clf', 'production', ?, ?, 1, 'dana', ?)
                    """, arguments: [version, previous, reason])
            }
        }
        try queue.close()
        let registry = try SQLiteRegistry(path: path)
        let history = try registry.aliasHistory(model: "clf", environment: "production", until: nil)
        #expect(history.map(\.cause) == [.promotion, .promotion, .rollback])
    }
}

@Suite struct RunRecordTests {
    @Test func runLifecycleIsRecordedAndAudited() throws {
        let registry = try SQLiteRegistry(path: temporaryDirectory() + "/r.sqlite")
        let run = try registry.startRun(NewRun(pipeline: "weather", trigger: "manual", provenance: provenance, pid: 42,
                                               params: ["train.lr": "0.1"]))
        #expect(run.id == 1)
        #expect(try registry.params(runID: run.id) == ["train.lr": "0.1"])
        var stages = try registry.addStageRuns(runID: run.id, stages: ["prepare", "train"])
        stages[0].status = .succeeded
        stages[0].inputs = "{}"
        stages[0].reason = "first run"
        try registry.updateStageRun(stages[0])
        try registry.appendMetrics([
            MetricRecord(runID: run.id, stageRunID: stages[1].id, stage: "train", key: "loss", step: 1, value: 0.5, timestamp: 1),
            MetricRecord(runID: run.id, stageRunID: stages[1].id, stage: "train", key: "loss", step: 2, value: 0.4, timestamp: 2),
        ])
        try registry.markInterrupted(runID: run.id, reason: "died")
        let after = try #require(try registry.run(id: run.id))
        #expect(after.status == .interrupted)
        let stageRuns = try registry.stageRuns(runID: run.id)
        #expect(stageRuns.map(\.status) == [.succeeded, .interrupted])
        #expect(try registry.metrics(runID: run.id).map(\.value) == [0.5, 0.4])
        #expect(try registry.lastCompletedStageRun(pipeline: "weather", stage: "prepare")?.id == stages[0].id)
        let kinds = try registry.auditEvents(after: 0, limit: 100).map(\.kind)
        #expect(kinds == ["run.started", "stage.finished", "run.interrupted"])
    }

    @Test func datasetsDeduplicateByContent() throws {
        let registry = try SQLiteRegistry(path: temporaryDirectory() + "/r.sqlite")
        let a = try registry.addDataset(path: "data.csv", hash: "h1", size: 10, addedBy: "ana")
        let b = try registry.addDataset(path: "data.csv", hash: "h1", size: 10, addedBy: "bo")
        let c = try registry.addDataset(path: "data.csv", hash: "h2", size: 11, addedBy: "bo")
        #expect(a.isNew && !b.isNew && c.isNew)
        #expect(a.record.id == b.record.id)
        #expect(try registry.datasets().count == 2)
    }
}

@Suite struct AuditChainTests {
    func filled(_ n: Int) throws -> (SQLiteRegistry, String) {
        let path = temporaryDirectory() + "/r.sqlite"
        let registry = try SQLiteRegistry(path: path)
        for i in 0..<n {
            try registry.appendAudit(AuditDraft(actor: "ana", kind: .datasetAdded, subject: "thing/\(i)", payload: AuditChain.payload(["i": "\(i)"])))
        }
        return (registry, path)
    }

    @Test func chainVerifies() throws {
        let (registry, _) = try filled(20)
        let events = try registry.auditEvents(after: 0, limit: 1000)
        #expect(events.count == 20)
        #expect(events[0].prevHash == AuditChain.genesis)
        #expect(events[1].prevHash == events[0].hash)
        #expect(AuditChain.verify(events) == nil)
        // Verifying in pages gives the same answer.
        #expect(AuditChain.verify(Array(events[10...]), after: events[9]) == nil)
    }

    @Test func theLogRefusesUpdatesAndDeletes() throws {
        let (_, path) = try filled(3)
        let queue = try DatabaseQueue(path: path)
        #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "UPDATE auditEvent SET actor = 'eve'") } }
        #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "DELETE FROM auditEvent WHERE seq = 2") } }
    }

    @Test func alteredEventIsFound() throws {
        let (registry, path) = try filled(5)
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "DROP TRIGGER auditEvent_no_update")
            try db.execute(sql: "UPDATE auditEvent SET actor = 'eve' WHERE seq = 3")
        }
        #expect(AuditChain.verify(try registry.auditEvents(after: 0, limit: 100)) == .altered(seq: 3))
    }

    @Test func removedEventIsFound() throws {
        let (registry, path) = try filled(5)
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "DROP TRIGGER auditEvent_no_delete")
            try db.execute(sql: "DELETE FROM auditEvent WHERE seq = 4")
        }
        #expect(AuditChain.verify(try registry.auditEvents(after: 0, limit: 100)) == .missing(afterSeq: 3, foundSeq: 5))
    }

    @Test func rewrittenTailIsFound() throws {
        // Someone deletes event 4 and renumbers event 5 as 4: the link breaks.
        let (registry, path) = try filled(5)
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "DROP TRIGGER auditEvent_no_delete")
            try db.execute(sql: "DROP TRIGGER auditEvent_no_update")
            try db.execute(sql: "DELETE FROM auditEvent WHERE seq = 4")
            try db.execute(sql: "UPDATE auditEvent SET seq = 4 WHERE seq = 5")
        }
        #expect(AuditChain.verify(try registry.auditEvents(after: 0, limit: 100)) == .brokenLink(seq: 4))
    }
}

@Suite struct RestoredBatchTests {
    /// The events of a batch of restored stages are hashed on a second thread
    /// while the rows are written: a write that fails there keeps nothing of
    /// the batch, events included, and the same batch goes through afterwards.
    @Test func aFailedWriteKeepsNoneOfTheBatchAndItsEvents() throws {
        let path = temporaryDirectory() + "/r.sqlite"
        let registry = try SQLiteRegistry(path: path)
        let run = try startRun(registry)
        let batch = try registry.addStageRuns(runID: run.id, stages: (0..<300).map { "s\($0)" }).map { pending in
            var r = pending
            r.status = .cached
            r.startedAt = 10
            r.endedAt = 10
            r.cacheKey = "key-\(r.stage)"
            r.reason = "same inputs as run 1: outs restored from the store"
            return RestoredStage(stageRun: r, source: r.id, datasets: ["in/\(r.stage)": "d"], outputs: ["out/\(r.stage)": "o"])
        }
        let before = try registry.latestAuditSeq()
        let head = try registry.auditHeadWitness()
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse_artifacts BEFORE INSERT ON artifact BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
        }
        #expect(throws: DatabaseError.self) { try registry.recordRestoredStages(batch) }
        #expect(try registry.latestAuditSeq() == before)
        #expect(try registry.auditHeadWitness() == head)
        #expect(try registry.stageRuns(runID: run.id).allSatisfy { $0.status == .pending })
        #expect(try registry.runDatasets(runID: run.id).isEmpty)

        try queue.write { try $0.execute(sql: "DROP TRIGGER refuse_artifacts") }
        try registry.recordRestoredStages(batch)
        let events = try registry.auditEvents(after: before, limit: 1_000)
        #expect(events.map(\.subject) == batch.map { "run/\(run.id)/\($0.stageRun.stage)" })
        #expect(AuditChain.verify(try registry.auditEvents(after: 0, limit: 1_000)) == nil)
        #expect(try registry.auditHeadWitness()?.seq == registry.latestAuditSeq())
        #expect(try registry.stageRuns(runID: run.id) == batch.map(\.stageRun))
    }
}

@Suite struct ConcurrencyTests {
    /// Two registries on one file are two connections, locking exactly as two
    /// processes do; the end-to-end tests repeat this with two real processes.
    @Test func twoWritersLoseNothing() throws {
        let path = temporaryDirectory() + "/r.sqlite"
        _ = try SQLiteRegistry(path: path)
        let writers = try (0..<2).map { _ in try SQLiteRegistry(path: path) }
        let perWriter = 150
        let errors = Mutex([String]())
        DispatchQueue.concurrentPerform(iterations: 2) { w in
            let registry = writers[w]
            do {
                for i in 0..<perWriter {
                    let run = try registry.startRun(NewRun(pipeline: "p\(w)", trigger: "manual", provenance: provenance, pid: Int32(w), params: [:]))
                    try registry.appendMetrics((0..<10).map {
                        MetricRecord(runID: run.id, stageRunID: nil, stage: "s", key: "k", step: Int64($0), value: Double(i), timestamp: 0)
                    })
                    try registry.finishRun(id: run.id, status: .succeeded, message: nil)
                }
            } catch {
                errors.withLock { $0.append("\(error)") }
            }
        }
        #expect(errors.withLock { $0 } == [])
        let check = try SQLiteRegistry(path: path)
        #expect(try check.runCount() == 2 * perWriter)
        let events = try check.auditEvents(after: 0, limit: 10_000)
        #expect(events.count == 4 * perWriter)
        #expect(AuditChain.verify(events) == nil)
        var total = 0
        for id in 1...(2 * perWriter) { total += try check.metrics(runID: Int64(id)).count }
        #expect(total == 2 * perWriter * 10)
    }
}

import Synchronization
import SlipwayStore
import SlipwayCore
