import Foundation
import GRDB
import GRDBSQLite
import SlipwayCore

extension SQLiteRegistry: RunStore {
    public func startRun(_ new: NewRun, audit: AuditComposer<RunRecord>) throws -> RunRecord {
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
            _ = try appendAudit(db, audit(run), at: now)
            return run
        }
    }

    public func finishRun(id: Int64, status: RunStatus, message: String?, registering: NewModelVersion?,
                          unchanged: (_ newest: ModelVersionRecord) -> Bool,
                          audit: AuditComposer<RunRecord>, registered: AuditComposer<ModelVersionRecord>) throws -> Registration? {
        try pool.write { db in
            guard let run = try RunRecord.fetchOne(db, key: id) else { throw NotFound(what: "run \(id)") }
            guard run.status == .running else {
                throw RegistryConflict(reason: "run \(id) is already \(run.status.rawValue)")
            }
            var registration: Registration?
            if let registering {
                if let newest = try ModelVersionRecord.fetchOne(db, sql: """
                    SELECT * FROM modelVersion WHERE model = ? ORDER BY version DESC LIMIT 1
                    """, arguments: [registering.model]), unchanged(newest) {
                    registration = .unchanged(newest)
                } else if let same = try ModelVersionRecord.fetchOne(db, sql: """
                    SELECT * FROM modelVersion WHERE model = ? AND artifactDigest = ? ORDER BY version DESC LIMIT 1
                    """, arguments: [registering.model, registering.artifactDigest]), unchanged(same) {
                    registration = .madeAgain(same)
                } else {
                    registration = .registered(try registerVersion(db, registering, audit: registered))
                }
            }
            let now = clock.now()
            try db.execute(sql: "UPDATE run SET status = ?, endedAt = ?, message = ?, madeVersionID = ? WHERE id = ?",
                           arguments: [status.rawValue, now, message, registration?.version.id, id])
            _ = try appendAudit(db, audit(run), at: now)
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

    public func markInterrupted(runID: Int64, reason: String, audit: AuditDraft) throws {
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
            _ = try appendAudit(db, audit, at: now)
        }
    }

    public func takeOverRun(id: Int64, from previous: RunOwner, to owner: RunOwner, audit: AuditDraft) throws -> Bool {
        try pool.write { db in
            let now = clock.now()
            try db.execute(sql: "UPDATE run SET pid = ?, host = ?, heartbeatAt = ? WHERE id = ? AND status = 'running' AND pid = ? AND host = ?",
                           arguments: [owner.pid, owner.host, now, id, previous.pid, previous.host])
            guard db.changesCount == 1 else { return false }
            _ = try appendAudit(db, audit, at: now)
            return true
        }
    }

    public func requestCancel(runID: Int64, audit: AuditComposer<RunRecord>) throws -> RunRecord? {
        try pool.write { db in
            guard var run = try RunRecord.fetchOne(db, key: runID) else { return nil }
            guard run.status == .running, run.cancelRequestedAt == nil else { return run }
            let now = clock.now()
            try db.execute(sql: "UPDATE run SET cancelRequestedAt = ? WHERE id = ?", arguments: [now, runID])
            run.cancelRequestedAt = now
            _ = try appendAudit(db, audit(run), at: now)
            return run
        }
    }

    public func addStageRuns(runID: Int64, stages: [String]) throws -> [StageRunRecord] {
        try pool.write { db in
            var result: [StageRunRecord] = []
            result.reserveCapacity(stages.count)
            try RowBatch.execute(db, "INSERT INTO stageRun (runID, stage, status, reason) VALUES (?, ?, 'pending', '')", count: stages.count,
                                 bind: { i, values in values.bind(runID); values.bind(stages[i]) },
                                 done: { i in
                result.append(StageRunRecord(id: db.lastInsertedRowID, runID: runID, stage: stages[i], status: .pending, reason: ""))
            })
            return result
        }
    }

    public func updateStageRun(_ stageRun: StageRunRecord, audit: (_ ended: StageRunRecord, _ runUser: String?) -> AuditDraft) throws {
        try pool.write { db in
            var users: [Int64: String?] = [:]
            try updateStageRun(db, stageRun, users: &users, audit: audit)
        }
    }

    /// Saves a stage run's state and audits the transition that ends it.
    /// `users` remembers each run's user across calls in one transaction.
    func updateStageRun(_ db: Database, _ stageRun: StageRunRecord, users: inout [Int64: String?], audit: (_ ended: StageRunRecord, _ runUser: String?) -> AuditDraft) throws {
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
            if users[stageRun.runID] == nil {
                users[stageRun.runID] = .some(try String.fetchOne(db.cachedStatement(sql: "SELECT user FROM run WHERE id = ?"),
                                                                  arguments: [stageRun.runID]))
            }
            _ = try appendAudit(db, audit(stageRun, users[stageRun.runID]!))
        }
    }

    /// One transaction for the batch. The usual batch is stages the run added
    /// pending moments ago: each kind of row is then written for all of them
    /// with a few statements (``RowBatch``). Any other batch (a stage not
    /// pending, or named twice) goes stage by stage; both leave what
    /// ``recordRunDatasets``, the copies, ``recordArtifacts`` and
    /// ``updateStageRun`` leave, stage after stage.
    public func recordRestoredStages(_ stages: [RestoredStage], audit: @escaping @Sendable (_ ended: StageRunRecord, _ runUser: String?) -> AuditDraft) throws {
        guard !stages.isEmpty else { return }
        try pool.write { db in
            // Most stages log no metrics, reports or tracked values: ask which
            // sources have any once, instead of three statements per stage.
            let sources = Array(Set(stages.map(\.source)))
            let withMetrics = try stageRunsHaving(db, table: "metricSeries", among: sources)
            let withReports = try stageRunsHaving(db, table: "validationReport", among: sources)
            let withTracked = try stageRunsHaving(db, table: "trackedValue", among: sources)
            for restored in stages {
                let r = restored.stageRun
                if withMetrics.contains(restored.source) { try copyMetrics(db, fromStageRun: restored.source, to: r) }
                if withReports.contains(restored.source) { try copyValidations(db, fromStageRun: restored.source, to: r) }
                if withTracked.contains(restored.source) { try copyTracked(db, fromStageRun: restored.source, to: r) }
            }
            if try allPendingOnce(db, stages) {
                try recordRestoredPending(db, stages, audit: audit)
                return
            }
            var users: [Int64: String?] = [:]
            for restored in stages {
                let r = restored.stageRun
                try recordRunDatasets(db, runID: r.runID, stage: r.stage,
                                      versions: restored.datasets.sorted { $0.key < $1.key }.map { (path: $0.key, hash: $0.value) })
                try recordArtifacts(db, runID: r.runID, stageRunID: r.id, outputs: restored.outputs)
                try updateStageRun(db, r, users: &users, audit: audit)
            }
        }
    }

    /// Whether the batch names each stage run once, each pending and each given finished.
    private func allPendingOnce(_ db: Database, _ stages: [RestoredStage]) throws -> Bool {
        let ids = stages.map(\.stageRun.id)
        guard stages.allSatisfy(\.stageRun.status.isFinished), Set(ids).count == ids.count else { return false }
        var pending = 0
        try forEachRow(db, "SELECT id FROM stageRun WHERE status = 'pending' AND id IN", in: ids) { _ in pending += 1 }
        return pending == ids.count
    }

    /// ``recordRestoredStages(_:audit:)`` for stages that are each pending,
    /// so without artifacts and with no audited end yet.
    private func recordRestoredPending(_ db: Database, _ stages: [RestoredStage], audit: @escaping @Sendable (_ ended: StageRunRecord, _ runUser: String?) -> AuditDraft) throws {
        var users: [Int64: String?] = [:]
        try forEachRow(db, "SELECT id, user FROM run WHERE id IN", in: stages.map(\.stageRun.runID)) { row in users[row.int64(0)] = .some(row.string(1)) }
        let runUsers = users
        try appendAudit(db, at: clock.now(), drafts: { stages.map { audit($0.stageRun, runUsers[$0.stageRun.runID] ?? nil) } }) {
            // Rows as plain values: each copy of a whole stage run record costs a retain per field.
            let datasets = stages.flatMap { s in
                s.datasets.sorted { $0.key < $1.key }.map { (runID: s.stageRun.runID, stage: s.stageRun.stage, path: $0.key, hash: $0.value) }
            }
            try RowBatch.execute(db, "INSERT OR REPLACE INTO runDataset (runID, stage, path, hash) VALUES (?, ?, ?, ?)", count: datasets.count) { i, values in
                values.bind(datasets[i].runID); values.bind(datasets[i].stage); values.bind(datasets[i].path); values.bind(datasets[i].hash)
            }
            let artifacts = stages.flatMap { s in
                s.outputs.sorted { $0.key < $1.key }.map { (runID: s.stageRun.runID, id: s.stageRun.id, path: $0.key, hash: $0.value) }
            }
            try RowBatch.execute(db, "INSERT INTO artifact (runID, stageRunID, path, hash) VALUES (?, ?, ?, ?)", count: artifacts.count) { i, values in
                values.bind(artifacts[i].runID); values.bind(artifacts[i].id); values.bind(artifacts[i].path); values.bind(artifacts[i].hash)
            }
            // The job handle and progress stay the observer's, as in updateStageRun.
            try RowBatch.execute(db, """
                UPDATE stageRun SET status = ?, startedAt = ?, endedAt = ?, exitCode = ?, cacheKey = ?, reason = ?, inputs = ?,
                    logPath = ?, message = ?, pid = ?
                WHERE id = ?
                """, count: stages.count) { i, values in
                let r = stages[i].stageRun
                values.bind(r.status.rawValue); values.bind(r.startedAt); values.bind(r.endedAt); values.bind(r.exitCode)
                values.bind(r.cacheKey); values.bind(r.reason); values.bind(r.inputs); values.bind(r.logPath)
                values.bind(r.message); values.bind(r.pid); values.bind(r.id)
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

    /// Which of `ids` have rows in `table` (a table with an indexed `stageRunID`).
    /// The ids are mostly one earlier run's stage runs, numbered together: then
    /// one read of their range answers, instead of a probe of the index per id.
    private func stageRunsHaving(_ db: Database, table: String, among ids: [Int64]) throws -> Set<Int64> {
        let wanted = Set(ids)
        guard let low = wanted.min(), let high = wanted.max() else { return [] }
        var found: Set<Int64> = []
        if high - low < 4 * Int64(wanted.count) {
            let statement = try db.makeStatement(sql: "SELECT DISTINCT stageRunID FROM \(table) WHERE stageRunID BETWEEN ? AND ?")
            try RowRead.forEach(db, statement, bind: { $0.bind(low); $0.bind(high) }) { row in
                let id = row.int64(0)
                if wanted.contains(id) { found.insert(id) }
            }
        } else {
            try forEachRow(db, "SELECT DISTINCT stageRunID FROM \(table) WHERE stageRunID IN", in: ids) { found.insert($0.int64(0)) }
        }
        return found
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

    public func stageRunOrigins(ids: [Int64]) throws -> [Int64: StageRunOrigin] {
        guard !ids.isEmpty else { return [:] }
        return try pool.read { db in
            var result: [Int64: StageRunOrigin] = [:]
            result.reserveCapacity(ids.count)
            // Five columns: the planner reads one of these per cached stage.
            try forEachRow(db, "SELECT id, runID, cacheKey, inputs, job FROM stageRun WHERE id IN", in: ids) { row in
                result[row.int64(0)] = StageRunOrigin(runID: row.int64(1), cacheKey: row.stringOrNil(2), inputs: row.stringOrNil(3),
                                                      job: row.stringOrNil(4))
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
