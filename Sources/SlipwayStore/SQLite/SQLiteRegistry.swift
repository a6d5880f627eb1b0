import Foundation
import GRDB
import GRDBSQLite
import SlipwayCore
import Synchronization

/// SQLite's "copy the bytes now" destructor, which Swift cannot import as a macro.
let SQLITE_TRANSIENT_ = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// The embedded registry: one SQLite file in WAL mode, shared by every
/// `slipway` process of a workspace (a console, a CI run, an approver).
///
/// Writes are immediate transactions with a busy timeout, so concurrent
/// processes queue rather than fail; every write that matters appends its
/// audit event in the same transaction, so the trail never misses a change.
public final class SQLiteRegistry: Sendable {
    let pool: DatabasePool
    public let path: String
    let head: AuditHeadFile
    /// The newest event of the write transaction in progress (writes are serialised).
    let pendingHead = Mutex<AuditHeadWitness?>(nil)

    public struct OpenError: SlipwayError {
        public var exitStatus: ExitStatus { .internalError }
        public var path: String
        public var reason: String
        public var description: String { "cannot open the registry \(path): \(reason)" }
    }

    /// Stamps records and audit events.
    let clock: any Clock

    /// Opens (creating if needed, with mode 0600) and migrates the registry.
    public init(path: String, readOnly: Bool = false, clock: any Clock = SystemClock()) throws {
        self.path = path
        self.clock = clock
        self.head = AuditHeadFile(path: path + ".head")
        if !readOnly, !FileManager.default.fileExists(atPath: path) {
            let fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            if fd < 0 { throw OpenError(path: path, reason: String(cString: strerror(errno))) }
            close(fd)
        }
        var config = Configuration()
        config.busyMode = .timeout(15)
        config.readonly = readOnly
        config.label = "slipway.registry"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            try Self.checkIntegrity(path: path)
            pool = try DatabasePool(path: path, configuration: config)
            if !readOnly {
                let hadWitness = try pool.read { try RegistryMigrations.migrator.appliedIdentifiers($0) }
                    .contains(RegistryMigrations.auditWitness)
                try Self.migrate(pool, path: path)
                // The head file is made once, with the registry (or when an older
                // registry is upgraded); a missing one is never re-created after.
                if !hadWitness, !head.exists {
                    let newest = try pool.read { db in
                        try Row.fetchOne(db, sql: "SELECT seq, hash FROM auditEvent ORDER BY seq DESC LIMIT 1")
                    }
                    try head.create(AuditHeadWitness(seq: newest?["seq"] ?? 0, hash: newest?["hash"] ?? AuditChain.genesis))
                }
            }
        } catch let error as DatabaseError {
            throw OpenError(path: path, reason: error.message ?? "\(error)")
        }
        for suffix in ["-wal", "-shm"] { chmod(path + suffix, 0o600) }
    }

    /// Registries up to this size are fully checked (`PRAGMA quick_check`,
    /// about 6 ms a MiB) every time they are opened. Larger ones have the
    /// tables that promotions and approvals decide on checked (models,
    /// versions, alias changes, gate results: small even in a long history);
    /// corruption elsewhere fails the read that meets it (exit 4).
    static let fullCheckLimit: Int64 = 2 << 20
    static let decisionTables = ["model", "modelVersion", "aliasEvent", "gateResult"]

    /// Refuses a corrupt registry before anything reads or writes it, so a
    /// command never acts on half-readable state.
    ///
    /// The check runs on its own read-only connection, opened before the pool:
    /// a read-only connection never checkpoints, so a corrupt file is left
    /// exactly as it was found.
    static func checkIntegrity(path: String) throws {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
        guard size > 0 else { return }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(15)
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        let problem: String? = try queue.read { db in
            if size <= fullCheckLimit {
                let rows = try String.fetchAll(db, sql: "PRAGMA quick_check(5)")
                return rows == ["ok"] ? nil : rows.joined(separator: "; ")
            }
            let tables = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
            for table in decisionTables where tables.contains(table) {
                let rows = try String.fetchAll(db, sql: "PRAGMA quick_check(\(table))")
                if rows != ["ok"] { return rows.joined(separator: "; ") }
            }
            return nil
        }
        if let problem {
            let summary = problem.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("***") }.joined(separator: "; ")
            throw OpenError(path: path, reason: "the registry is corrupt (\(summary)); nothing was read or written. "
                                + "Restore it from a backup; `sqlite3 \(path) .recover` may save what is left")
        }
    }

    /// Brings the schema up to date. Processes that open a new or old registry
    /// at the same moment take turns under a file lock, so each migration runs once.
    static func migrate(_ pool: DatabasePool, path: String) throws {
        let migrator = RegistryMigrations.migrator
        if try pool.read({ try migrator.hasCompletedMigrations($0) }) { return }
        let lockPath = path + ".migrate-lock"
        let fd = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        if fd >= 0 {
            while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        }
        defer {
            if fd >= 0 { flock(fd, LOCK_UN); close(fd) }
        }
        try migrator.migrate(pool)
    }

    /// Identifiers of the migrations applied to this database.
    public func appliedMigrations() throws -> [String] {
        try pool.read { try RegistryMigrations.migrator.appliedIdentifiers($0) }.sorted()
    }

    /// Every migration this build knows, oldest first.
    public static var knownMigrations: [String] { RegistryMigrations.identifiers }

    /// Applies migrations up to `identifier` only (for tests of upgrades).
    public static func create(path: String, upTo identifier: String) throws {
        let pool = try DatabasePool(path: path)
        try RegistryMigrations.migrator.migrate(pool, upTo: identifier)
    }

    func appendAudit(_ db: Database, _ draft: AuditDraft, at stamp: Millis? = nil) throws -> AuditEvent {
        let time = stamp ?? clock.now()
        let last = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM auditEvent ORDER BY seq DESC LIMIT 1"))
        let seq: Int64 = (last?["seq"] ?? 0) + 1
        let prev: String = last?["hash"] ?? AuditChain.genesis
        let event = AuditEvent(
            seq: seq, timestamp: time, actor: draft.actor, kind: draft.kind.rawValue, subject: draft.subject,
            payload: draft.payload, prevHash: prev,
            hash: AuditChain.hash(seq: seq, timestamp: time, actor: draft.actor, kind: draft.kind.rawValue,
                                  subject: draft.subject, payload: draft.payload, prevHash: prev))
        try db.cachedStatement(sql: """
            INSERT INTO auditEvent (seq, timestamp, actor, kind, subject, payload, prevHash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [event.seq, event.timestamp, event.actor, event.kind, event.subject, event.payload,
                                     event.prevHash, event.hash])
        // The head file moves once per transaction, to its newest event.
        let firstInTransaction = pendingHead.withLock { pending in
            defer { pending = AuditHeadWitness(seq: seq, hash: event.hash) }
            return pending == nil
        }
        if firstInTransaction {
            db.afterNextTransaction(onCommit: { [self] _ in
                CrashPoint.reach("audit.before-head")
                if let witness = pendingHead.withLock({ p in defer { p = nil }; return p }) { head.advance(to: witness) }
            }, onRollback: { [self] _ in pendingHead.withLock { $0 = nil } })
        }
        return event
    }
}

/// Look-ups by many keys go in chunks: SQLite binds at most 32,766 values a statement.
extension SQLiteRegistry {
    static let keysPerQuery = 1_000
}

extension Array {
    func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}

// MARK: - Runs

extension SQLiteRegistry: RunStore {
    public func startRun(_ new: NewRun) throws -> RunRecord {
        try pool.write { db in
            let now = clock.now()
            var run = RunRecord(
                id: 0, pipeline: new.pipeline, trigger: new.trigger, status: .running,
                startedAt: now, endedAt: nil, pid: new.pid, host: new.provenance.host, heartbeatAt: now,
                user: new.provenance.user, gitCommit: new.provenance.gitCommit, gitDirty: new.provenance.gitDirty,
                slipwayVersion: new.provenance.slipwayVersion, message: nil)
            try db.execute(sql: """
                INSERT INTO run (pipeline, trigger, status, startedAt, pid, host, heartbeatAt, user, gitCommit, gitDirty, slipwayVersion)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [run.pipeline, run.trigger, run.status.rawValue, now, run.pid, run.host, now,
                                 run.user, run.gitCommit, run.gitDirty, run.slipwayVersion])
            run.id = db.lastInsertedRowID
            if !new.claiming.isEmpty {
                let ids = new.claiming.map(String.init).joined(separator: ",")
                try db.execute(sql: "UPDATE triggerEvent SET state = 'started', runID = ? WHERE state = 'queued' AND pipeline = ? AND id IN (\(ids))",
                               arguments: [run.id, new.pipeline])
                if db.changesCount == 0 {
                    throw RegistryConflict(reason: "trigger events \(ids) were already started by another run")
                }
            }
            for row in new.paramRows {
                try db.execute(sql: "INSERT INTO param (runID, key, value, overridden) VALUES (?, ?, ?, ?)",
                               arguments: [run.id, row.key, row.value, row.overridden])
            }
            _ = try appendAudit(db, RecordEvents.runStarted(run, overrides: new.overrides), at: now)
            return run
        }
    }

    public func finishRun(id: Int64, status: RunStatus, message: String?, registering: NewModelVersion?) throws -> Registration? {
        try pool.write { db in
            guard let run = try RunRecord.fetchOne(db, key: id) else { throw NotFound(what: "run \(id)") }
            guard run.status == .running else {
                throw RegistryConflict(reason: "run \(id) is already \(run.status.rawValue)")
            }
            var registration: Registration?
            if let registering {
                registration = try registerVersion(db, registering, unlessSameAsNewest: true)
            }
            let now = clock.now()
            try db.execute(sql: "UPDATE run SET status = ?, endedAt = ?, message = ? WHERE id = ?",
                           arguments: [status.rawValue, now, message, id])
            _ = try appendAudit(db, RecordEvents.runFinished(run, status: status, message: message), at: now)
            return registration
        }
    }

    public func heartbeat(runID: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE run SET heartbeatAt = ? WHERE id = ? AND status = 'running'",
                           arguments: [clock.now(), runID])
        }
    }

    public func run(id: Int64) throws -> RunRecord? {
        try pool.read { try RunRecord.fetchOne($0, key: id) }
    }

    public func runs(limit: Int, offset: Int) throws -> [RunRecord] {
        try pool.read { db in
            try RunRecord.fetchAll(db, sql: "SELECT * FROM run ORDER BY id DESC LIMIT ? OFFSET ?", arguments: [limit, offset])
        }
    }

    public func runs(pipeline: String, limit: Int) throws -> [RunRecord] {
        try pool.read { db in
            try RunRecord.fetchAll(db, sql: "SELECT * FROM run WHERE pipeline = ? ORDER BY id DESC LIMIT ?", arguments: [pipeline, limit])
        }
    }

    public func runCount() throws -> Int {
        try pool.read { try RunRecord.fetchCount($0) }
    }

    public func activeRuns() throws -> [RunRecord] {
        try pool.read { db in
            try RunRecord.fetchAll(db, sql: "SELECT * FROM run WHERE status = 'running' ORDER BY id")
        }
    }

    public func markInterrupted(runID: Int64, reason: String) throws {
        try pool.write { db in
            guard let run = try RunRecord.fetchOne(db, key: runID), run.status == .running else { return }
            let now = clock.now()
            try db.execute(sql: "UPDATE run SET status = 'interrupted', endedAt = ?, message = ? WHERE id = ?",
                           arguments: [now, reason, runID])
            try db.execute(sql: """
                UPDATE stageRun SET status = 'interrupted', endedAt = CASE WHEN startedAt IS NULL THEN NULL ELSE ? END,
                    message = COALESCE(message, ?)
                WHERE runID = ? AND status IN ('pending', 'running')
                """, arguments: [now, reason, runID])
            _ = try appendAudit(db, RecordEvents.runInterrupted(runID: runID, reason: reason), at: now)
        }
    }

    public func takeOverRun(id: Int64, from previous: RunOwner, to owner: RunOwner, reason: String) throws -> Bool {
        try pool.write { db in
            let now = clock.now()
            try db.execute(sql: "UPDATE run SET pid = ?, host = ?, heartbeatAt = ? WHERE id = ? AND status = 'running' AND pid = ? AND host = ?",
                           arguments: [owner.pid, owner.host, now, id, previous.pid, previous.host])
            guard db.changesCount == 1 else { return false }
            _ = try appendAudit(db, RecordEvents.runTakenOver(runID: id, from: previous, to: owner, reason: reason), at: now)
            return true
        }
    }

    public func requestCancel(runID: Int64, actor: String) throws -> RunRecord? {
        try pool.write { db in
            guard var run = try RunRecord.fetchOne(db, key: runID) else { return nil }
            guard run.status == .running, run.cancelRequestedAt == nil else { return run }
            let now = clock.now()
            try db.execute(sql: "UPDATE run SET cancelRequestedAt = ? WHERE id = ?", arguments: [now, runID])
            run.cancelRequestedAt = now
            _ = try appendAudit(db, RecordEvents.runCancelRequested(run, actor: actor), at: now)
            return run
        }
    }

    public func addStageRuns(runID: Int64, stages: [String]) throws -> [StageRunRecord] {
        try pool.write { db in
            var result: [StageRunRecord] = []
            result.reserveCapacity(stages.count)
            let insert = try db.cachedStatement(sql: "INSERT INTO stageRun (runID, stage, status, reason) VALUES (?, ?, 'pending', '')")
            for stage in stages {
                try insert.execute(arguments: [runID, stage])
                result.append(StageRunRecord(id: db.lastInsertedRowID, runID: runID, stage: stage, status: .pending,
                                             reason: ""))
            }
            return result
        }
    }

    public func updateStageRun(_ stageRun: StageRunRecord) throws {
        try pool.write { db in
            var actors: [Int64: String] = [:]
            try updateStageRun(db, stageRun, actors: &actors)
        }
    }

    /// Saves a stage run's state and audits the transition that ends it.
    /// `actors` remembers each run's user across calls in one transaction.
    func updateStageRun(_ db: Database, _ stageRun: StageRunRecord, actors: inout [Int64: String]) throws {
        let old = try String.fetchOne(db.cachedStatement(sql: "SELECT status FROM stageRun WHERE id = ?"), arguments: [stageRun.id])
        guard let old else {
            throw RecordError.recordNotFound(databaseTableName: StageRunRecord.databaseTableName, key: ["id": stageRun.id.databaseValue])
        }
        // The job handle and progress are written by the job's observer
        // (setStageJob, setStageProgress); the stage's own copy does not overwrite them.
        try db.cachedStatement(sql: """
            UPDATE stageRun SET status = ?, startedAt = ?, endedAt = ?, exitCode = ?, cacheKey = ?, reason = ?, inputs = ?,
                logPath = ?, message = ?, pid = ?
            WHERE id = ?
            """).execute(arguments: [stageRun.status.rawValue, stageRun.startedAt, stageRun.endedAt, stageRun.exitCode, stageRun.cacheKey,
                                     stageRun.reason, stageRun.inputs, stageRun.logPath, stageRun.message, stageRun.pid, stageRun.id])
        if stageRun.status.isFinished, old != stageRun.status.rawValue {
            if actors[stageRun.runID] == nil {
                actors[stageRun.runID] = try String.fetchOne(db.cachedStatement(sql: "SELECT user FROM run WHERE id = ?"),
                                                             arguments: [stageRun.runID]) ?? "slipway"
            }
            _ = try appendAudit(db, RecordEvents.stageFinished(stageRun, actor: actors[stageRun.runID]!))
        }
    }

    public func recordRestoredStages(_ stages: [RestoredStage]) throws {
        guard !stages.isEmpty else { return }
        try pool.write { db in
            var actors: [Int64: String] = [:]
            for restored in stages {
                let r = restored.stageRun
                try recordRunDatasets(db, runID: r.runID, stage: r.stage,
                                      versions: restored.datasets.sorted { $0.key < $1.key }.map { (path: $0.key, hash: $0.value) })
                try copyMetrics(db, fromStageRun: restored.source, to: r)
                try copyValidations(db, fromStageRun: restored.source, to: r)
                try recordArtifacts(db, runID: r.runID, stageRunID: r.id, outputs: restored.outputs)
                try updateStageRun(db, r, actors: &actors)
            }
        }
    }

    public func setStageJob(stageRunID: Int64, pid: Int32?, job: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE stageRun SET pid = ?, job = ? WHERE id = ?", arguments: [pid, job, stageRunID])
        }
    }

    public func setStageProgress(stageRunID: Int64, done: Int64, total: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE stageRun SET progressDone = ?, progressTotal = ? WHERE id = ? AND status = 'running'",
                           arguments: [done, total, stageRunID])
        }
    }

    public func setStageJobStatus(stageRunID: Int64, status: JobStatus) throws {
        let json = String(decoding: try JSONEncoder.sorted.encode(status), as: UTF8.self)
        try pool.write { db in
            try db.execute(sql: "UPDATE stageRun SET jobStatus = ? WHERE id = ?", arguments: [json, stageRunID])
        }
    }

    public func stageRuns(runID: Int64) throws -> [StageRunRecord] {
        try pool.read { db in
            try StageRunRecord.fetchAll(db, sql: "SELECT * FROM stageRun WHERE runID = ? ORDER BY id", arguments: [runID])
        }
    }

    public func stageRun(id: Int64) throws -> StageRunRecord? {
        try pool.read { try StageRunRecord.fetchOne($0, key: id) }
    }

    public func stageRuns(ids: [Int64]) throws -> [Int64: StageRunRecord] {
        guard !ids.isEmpty else { return [:] }
        return try pool.read { db in
            var result: [Int64: StageRunRecord] = [:]
            for chunk in Array(Set(ids)).chunks(of: Self.keysPerQuery) {
                for r in try StageRunRecord.fetchAll(db, keys: chunk) { result[r.id] = r }
            }
            return result
        }
    }

    public func lastCompletedStageRun(pipeline: String, stage: String) throws -> StageRunRecord? {
        try pool.read { try lastCompletedStageRun($0, pipeline: pipeline, stage: stage) }
    }

    private func lastCompletedStageRun(_ db: Database, pipeline: String, stage: String) throws -> StageRunRecord? {
        try StageRunRecord.fetchOne(db.cachedStatement(sql: """
            SELECT stageRun.* FROM stageRun JOIN run ON run.id = stageRun.runID
            WHERE run.pipeline = ? AND stageRun.stage = ? AND stageRun.status IN ('succeeded', 'cached')
              AND stageRun.inputs IS NOT NULL
            ORDER BY run.id DESC, stageRun.id DESC LIMIT 1
            """), arguments: [pipeline, stage])
    }

    public func lastCompletedStageRuns(pipeline: String, stages: [String]) throws -> [String: StageRunRecord] {
        var missing = Set(stages)
        guard !missing.isEmpty else { return [:] }
        return try pool.read { db in
            var result: [String: StageRunRecord] = [:]
            // Asked about many stages, most of which completed in one of the
            // newest runs: those runs are read whole, newest first. The stages
            // still missing (or a few asked about) are then read one by one.
            let recent = missing.count < 64 ? [] :
                try Int64.fetchAll(db, sql: "SELECT id FROM run WHERE pipeline = ? ORDER BY id DESC LIMIT 3", arguments: [pipeline])
            for runID in recent where !missing.isEmpty {
                let completed = try StageRunRecord.fetchAll(db, sql: """
                    SELECT * FROM stageRun WHERE runID = ? AND status IN ('succeeded', 'cached') AND inputs IS NOT NULL
                    ORDER BY id DESC
                    """, arguments: [runID])
                for r in completed where missing.remove(r.stage) != nil { result[r.stage] = r }
            }
            for stage in missing {
                if let r = try lastCompletedStageRun(db, pipeline: pipeline, stage: stage) { result[stage] = r }
            }
            return result
        }
    }

    public func params(runID: Int64) throws -> [String: String] {
        try pool.read { db in
            var result: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM param WHERE runID = ?", arguments: [runID]) {
                result[row["key"]] = row["value"]
            }
            return result
        }
    }

    public func paramOverrides(runID: Int64) throws -> [String: String] {
        try pool.read { db in
            var result: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM param WHERE runID = ? AND overridden", arguments: [runID]) {
                result[row["key"]] = row["value"]
            }
            return result
        }
    }
}

// MARK: - Metrics

extension SQLiteRegistry: MetricStore {
    public func appendMetrics(_ points: [MetricRecord]) throws {
        guard !points.isEmpty else { return }
        try pool.write { db in
            let series = try db.cachedStatement(sql: """
                INSERT INTO metricSeries (runID, stageRunID, stage, key) VALUES (?, ?, ?, ?)
                ON CONFLICT (runID, stageRunID, stage, key) DO UPDATE SET key = excluded.key RETURNING id
                """)
            let insert = try db.cachedStatement(sql: "INSERT INTO metricPoint (seriesID, step, value, timestamp) VALUES (?, ?, ?, ?)")
            // Bound directly: this is the registry's hottest write (a stage may
            // report millions of points), and building argument arrays per row
            // costs more than SQLite's own insert.
            let stmt = insert.sqliteStatement
            var ids: [SeriesKey: Int64] = [:]
            for p in points {
                let key = SeriesKey(runID: p.runID, stageRunID: p.stageRunID ?? 0, stage: p.stage, key: p.key)
                let seriesID: Int64
                if let id = ids[key] {
                    seriesID = id
                } else {
                    seriesID = try Int64.fetchOne(series, arguments: [key.runID, key.stageRunID, key.stage, key.key])!
                    ids[key] = seriesID
                }
                sqlite3_reset(stmt)
                sqlite3_bind_int64(stmt, 1, seriesID)
                if let step = p.step { sqlite3_bind_int64(stmt, 2, step) } else { sqlite3_bind_null(stmt, 2) }
                if p.value.isNaN { sqlite3_bind_null(stmt, 3) } else { sqlite3_bind_double(stmt, 3, p.value) }
                sqlite3_bind_int64(stmt, 4, p.timestamp)
                let rc = sqlite3_step(stmt)
                guard rc == SQLITE_DONE else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
                }
            }
            sqlite3_reset(stmt)
        }
    }

    public func metrics(runID: Int64) throws -> [MetricRecord] {
        try pool.read { db in
            try MetricRecord.fetchAll(db, sql: """
                SELECT s.runID, NULLIF(s.stageRunID, 0) AS stageRunID, s.stage, s.key, p.step, p.value, p.timestamp
                FROM metricSeries s JOIN metricPoint p ON p.seriesID = s.id
                WHERE s.runID = ? ORDER BY p.rowid
                """, arguments: [runID])
        }
    }

    public func copyMetrics(fromStageRun source: Int64, to target: StageRunRecord) throws {
        try pool.write { try copyMetrics($0, fromStageRun: source, to: target) }
    }

    func copyMetrics(_ db: Database, fromStageRun source: Int64, to target: StageRunRecord) throws {
        let rows = try Row.fetchAll(db.cachedStatement(sql: "SELECT id, stage, key FROM metricSeries WHERE stageRunID = ? AND stageRunID != 0"),
                                    arguments: [source])
        for row in rows {
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO metricSeries (runID, stageRunID, stage, key) VALUES (?, ?, ?, ?)")
                .execute(arguments: [target.runID, target.id, row["stage"] as String, row["key"] as String])
            let newID = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM metricSeries WHERE runID = ? AND stageRunID = ? AND stage = ? AND key = ?"),
                                           arguments: [target.runID, target.id, row["stage"] as String, row["key"] as String])!
            try db.cachedStatement(sql: """
                INSERT INTO metricPoint (seriesID, step, value, timestamp)
                SELECT ?, step, value, timestamp FROM metricPoint WHERE seriesID = ? ORDER BY rowid
                """).execute(arguments: [newID, row["id"] as Int64])
        }
    }
}

private struct SeriesKey: Hashable {
    var runID: Int64
    var stageRunID: Int64
    var stage: String
    var key: String
}

// MARK: - Datasets

extension SQLiteRegistry: DatasetStore {
    public func addDataset(path: String, hash: String, size: Int64, addedBy: String) throws -> (record: DatasetRecord, isNew: Bool) {
        try pool.write { db in
            if let existing = try DatasetRecord.fetchOne(db, sql: "SELECT * FROM dataset WHERE path = ? AND hash = ?",
                                                          arguments: [path, hash]) {
                return (existing, false)
            }
            let now = clock.now()
            try db.execute(sql: "INSERT INTO dataset (path, hash, size, addedBy, addedAt) VALUES (?, ?, ?, ?, ?)",
                           arguments: [path, hash, size, addedBy, now])
            let record = DatasetRecord(id: db.lastInsertedRowID, path: path, hash: hash, size: size, addedBy: addedBy, addedAt: now)
            _ = try appendAudit(db, RecordEvents.datasetAdded(record), at: now)
            return (record, true)
        }
    }

    public func datasets() throws -> [DatasetRecord] {
        try pool.read { try DatasetRecord.fetchAll($0, sql: "SELECT * FROM dataset ORDER BY path, id") }
    }

    public func recordRunDatasets(runID: Int64, stage: String, versions: [(path: String, hash: String)]) throws {
        guard !versions.isEmpty else { return }
        try pool.write { try recordRunDatasets($0, runID: runID, stage: stage, versions: versions) }
    }

    func recordRunDatasets(_ db: Database, runID: Int64, stage: String, versions: [(path: String, hash: String)]) throws {
        for v in versions {
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO runDataset (runID, stage, path, hash) VALUES (?, ?, ?, ?)")
                .execute(arguments: [runID, stage, v.path, v.hash])
        }
    }

    public func runDatasets(runID: Int64) throws -> [RunDatasetRecord] {
        try pool.read { try RunDatasetRecord.fetchAll($0, sql: "SELECT * FROM runDataset WHERE runID = ? ORDER BY stage, path", arguments: [runID]) }
    }
}

// MARK: - Caches

extension SQLiteRegistry: CacheStore {
    public func cacheEntry(key: String) throws -> CacheEntry? {
        try pool.read { try CacheEntry.fetchOne($0, key: key) }
    }

    public func cacheEntries(keys: [String]) throws -> [String: CacheEntry] {
        guard !keys.isEmpty else { return [:] }
        return try pool.read { db in
            var result: [String: CacheEntry] = [:]
            for chunk in Array(Set(keys)).chunks(of: Self.keysPerQuery) {
                for e in try CacheEntry.fetchAll(db, keys: chunk) { result[e.key] = e }
            }
            return result
        }
    }

    public func saveCacheEntry(_ entry: CacheEntry) throws {
        try pool.write { try entry.save($0) }
    }

    public func fileStates(paths: [String]) throws -> [String: FileState] {
        guard !paths.isEmpty else { return [:] }
        return try pool.read { db in
            var result: [String: FileState] = [:]
            for chunk in Array(Set(paths)).chunks(of: Self.keysPerQuery) {
                for state in try FileState.fetchAll(db, keys: chunk) { result[state.path] = state }
            }
            return result
        }
    }

    public func saveFileStates(_ states: [FileState]) throws {
        guard !states.isEmpty else { return }
        try pool.write { db in
            for s in states { try s.save(db) }
        }
    }
}

// MARK: - Audit and change detection

extension SQLiteRegistry: AuditStore, ChangeSource {
    public func appendAudit(_ event: AuditDraft) throws -> AuditEvent {
        try pool.write { try appendAudit($0, event) }
    }

    public func appendAudit(_ events: [AuditDraft]) throws {
        guard !events.isEmpty else { return }
        try pool.write { db in
            for e in events { _ = try appendAudit(db, e) }
        }
    }

    public func auditEvents(after seq: Int64, limit: Int) throws -> [AuditEvent] {
        try pool.read { db in
            try AuditEvent.fetchAll(db, sql: "SELECT * FROM auditEvent WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
        }
    }

    public func forEachAuditEvent(after seq: Int64, _ body: (AuditEvent) throws -> Bool) throws {
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT seq, timestamp, actor, kind, subject, payload, prevHash, hash FROM auditEvent WHERE seq > ? ORDER BY seq
                """, arguments: [seq])
            while let row = try rows.next() {
                let event = AuditEvent(seq: row[0], timestamp: row[1], actor: row[2], kind: row[3], subject: row[4],
                                       payload: row[5], prevHash: row[6], hash: row[7])
                if try !body(event) { break }
            }
        }
    }

    public func auditEvents(matching query: AuditQuery) throws -> [AuditEvent] {
        var clauses: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        if let since = query.since { clauses.append("timestamp >= ?"); arguments.append(since) }
        if let kinds = query.kinds {
            clauses.append("kind IN (" + kinds.map { _ in "?" }.joined(separator: ",") + ")")
            for k in kinds.sorted() { arguments.append(k) }
        }
        if let subject = query.subject {
            if subject.hasSuffix("/") {
                clauses.append("substr(subject, 1, ?) = ?")
                arguments.append(subject.utf8.count); arguments.append(subject)
            } else {
                clauses.append("subject = ?"); arguments.append(subject)
            }
        }
        let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let sql: String
        if let limit = query.limit {
            sql = "SELECT * FROM (SELECT * FROM auditEvent \(filter) ORDER BY seq DESC LIMIT \(max(0, limit))) ORDER BY seq"
        } else {
            sql = "SELECT * FROM auditEvent \(filter) ORDER BY seq"
        }
        return try pool.read { try AuditEvent.fetchAll($0, sql: sql, arguments: StatementArguments(arguments)) }
    }

    public func auditHeadWitness() throws -> AuditHeadWitness? { head.read() }

    public func auditedRecordDigests() throws -> [String: String] {
        try pool.read { db in
            var digests: [String: String] = [:]
            let gates = try Row.fetchCursor(db, sql: "SELECT * FROM gateResult")
            while let r = try gates.next() {
                digests[RecordDigest.key(gate: r["id"])] = RecordDigest.of(try GateResultRecord(row: r))
            }
            let aliases = try AliasEvent.fetchCursor(db, sql: "SELECT * FROM aliasEvent")
            while let a = try aliases.next() { digests[RecordDigest.key(alias: a.id)] = RecordDigest.of(a) }
            let versions = try ModelVersionRecord.fetchCursor(db, sql: "SELECT * FROM modelVersion")
            while let v = try versions.next() { digests[RecordDigest.key(modelVersion: v.id)] = RecordDigest.of(v) }
            if try db.tableExists("approvalVote") {
                let votes = try ApprovalVoteRecord.fetchCursor(db, sql: "SELECT * FROM approvalVote")
                while let v = try votes.next() { digests[RecordDigest.key(vote: v.id)] = RecordDigest.of(v) }
                let requests = try ApprovalRequestRecord.fetchCursor(db, sql: "SELECT * FROM approvalRequest")
                while let r = try requests.next() { digests[RecordDigest.key(request: r.id)] = RecordDigest.of(r) }
            }
            let reports = try Row.fetchCursor(db, sql: "SELECT * FROM validationReport")
            while let r = try reports.next() {
                digests[RecordDigest.key(validation: r["id"])] = RecordDigest.of(try ValidationRecord(row: r))
            }
            return digests
        }
    }

    public func latestAuditSeq() throws -> Int64 {
        try pool.read { try Int64.fetchOne($0, sql: "SELECT COALESCE(MAX(seq), 0) FROM auditEvent") ?? 0 }
    }

    /// SQLite's `PRAGMA data_version` changes when another connection commits;
    /// combined with the last audit seq it changes on every write by anyone.
    public func changeToken() throws -> Int64 {
        try pool.read { db in
            let seq = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM auditEvent") ?? 0
            let hb = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(heartbeatAt), 0) FROM run WHERE status = 'running'") ?? 0
            let metrics = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(rowid), 0) FROM metricPoint") ?? 0
            return seq &* 1_000_003 &+ hb &+ metrics &* 7
        }
    }
}
