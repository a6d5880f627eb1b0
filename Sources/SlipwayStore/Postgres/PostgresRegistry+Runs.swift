import Foundation
import SlipwayCore
import SlipwayPostgres

extension PostgresRegistry: RunStore {
    public func startRun(_ new: NewRun, audit compose: AuditComposer<RunRecord>) throws -> RunRecord {
        try audited { c, audit in
            let now = clock.now()
            var run = RunRecord(
                id: 0, pipeline: new.pipeline, trigger: new.trigger, status: .running,
                startedAt: now, endedAt: nil, pid: new.pid, host: new.provenance.host, heartbeatAt: now,
                user: new.provenance.user, gitCommit: new.provenance.gitCommit, gitDirty: new.provenance.gitDirty,
                slipwayVersion: new.provenance.slipwayVersion, message: nil)
            run.id = try c.execute("""
                INSERT INTO run (pipeline, trigger, status, startedAt, pid, host, heartbeatAt, "user", gitCommit, gitDirty, slipwayVersion)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id
                """, [run.pipeline, run.trigger, run.status.rawValue, now, run.pid, run.host, now, run.user, run.gitCommit,
                      run.gitDirty, run.slipwayVersion]).scalar(Int64.self)
            if !new.claiming.isEmpty {
                let claimed = try c.execute("""
                    UPDATE triggerEvent SET state = 'started', runID = $1 WHERE state = 'queued' AND pipeline = $2 AND id = ANY($3::bigint[])
                    """, [run.id, new.pipeline, PGArray(new.claiming)]).affectedRows
                if claimed == 0 {
                    throw RegistryConflict(reason: "trigger events \(new.claiming.map(String.init).joined(separator: ",")) "
                                           + "were already started by another run")
                }
            }
            let rows = new.paramRows
            if !rows.isEmpty {
                try c.execute("""
                    INSERT INTO param (runID, key, value, overridden)
                    SELECT $1, * FROM unnest($2::text[], $3::text[], $4::boolean[])
                    """, [run.id, PGArray(rows.map(\.key)), PGArray(rows.map(\.value)), PGArray(rows.map { $0.overridden ? "t" : "f" })])
            }
            _ = try audit.append(compose(run), at: now)
            return run
        }
    }

    public func finishRun(id: Int64, status: RunStatus, message: String?, registering: NewModelVersion?,
                          unchanged: (_ newest: ModelVersionRecord) -> Bool,
                          audit compose: AuditComposer<RunRecord>, registered: AuditComposer<ModelVersionRecord>) throws -> Registration? {
        try audited { c, audit in
            guard let row = try c.execute("SELECT \(RunRecord.pgColumns) FROM run WHERE id = $1 FOR UPDATE", [id]).first else {
                throw NotFound(what: "run \(id)")
            }
            let run = try RunRecord(pg: row)
            guard run.status == .running else {
                throw RegistryConflict(reason: "run \(id) is already \(run.status.rawValue)")
            }
            var registration: Registration?
            if let registering {
                let newest = try c.execute("""
                    SELECT \(ModelVersionRecord.pgColumns) FROM modelVersion WHERE model = $1 ORDER BY version DESC LIMIT 1
                    """, [registering.model]).first.map(ModelVersionRecord.init(pg:))
                if let newest, unchanged(newest) {
                    registration = .unchanged(newest)
                } else if let same = try c.execute("""
                    SELECT \(ModelVersionRecord.pgColumns) FROM modelVersion WHERE model = $1 AND artifactDigest = $2
                    ORDER BY version DESC LIMIT 1
                    """, [registering.model, registering.artifactDigest]).first.map(ModelVersionRecord.init(pg:)), unchanged(same) {
                    registration = .madeAgain(same)
                } else {
                    registration = .registered(try registerVersion(c, &audit, registering, compose: registered))
                }
            }
            let now = clock.now()
            try c.execute("UPDATE run SET status = $1, endedAt = $2, message = $3, madeVersionID = $4 WHERE id = $5",
                          [status.rawValue, now, message, registration?.version.id, id])
            _ = try audit.append(compose(run), at: now)
            return registration
        }
    }

    public func heartbeat(runID: Int64) throws {
        try pool.write { c in
            try c.execute("UPDATE run SET heartbeatAt = $1 WHERE id = $2 AND status = 'running'", [clock.now(), runID])
        }
    }

    public func run(id: Int64) throws -> RunRecord? {
        try pool.read { c in
            try c.execute("SELECT \(RunRecord.pgColumns) FROM run WHERE id = $1", [id]).first.map(RunRecord.init(pg:))
        }
    }

    public func runs(limit: Int, offset: Int) throws -> [RunRecord] {
        try pool.read { c in
            try c.execute("SELECT \(RunRecord.pgColumns) FROM run ORDER BY id DESC LIMIT $1 OFFSET $2", [max(0, limit), max(0, offset)])
                .map(RunRecord.init(pg:))
        }
    }

    public func runs(pipeline: String, limit: Int) throws -> [RunRecord] {
        try pool.read { c in
            try c.execute("SELECT \(RunRecord.pgColumns) FROM run WHERE pipeline = $1 ORDER BY id DESC LIMIT $2", [pipeline, max(0, limit)])
                .map(RunRecord.init(pg:))
        }
    }

    public func runCount() throws -> Int {
        try pool.read { try $0.execute("SELECT count(*) FROM run").scalar(Int.self) }
    }

    public func activeRuns() throws -> [RunRecord] {
        try pool.read { c in
            try c.execute("SELECT \(RunRecord.pgColumns) FROM run WHERE status = 'running' ORDER BY id").map(RunRecord.init(pg:))
        }
    }

    public func markInterrupted(runID: Int64, reason: String, audit draft: AuditDraft) throws {
        try audited { c, audit in
            guard let status = try c.execute("SELECT status FROM run WHERE id = $1 FOR UPDATE", [runID]).first,
                  try status.decode(0, as: String.self) == RunStatus.running.rawValue else { return }
            let now = clock.now()
            try c.execute("UPDATE run SET status = 'interrupted', endedAt = $1, message = $2 WHERE id = $3", [now, reason, runID])
            try c.execute("""
                UPDATE stageRun SET status = 'interrupted', endedAt = CASE WHEN startedAt IS NULL THEN NULL ELSE $1::bigint END,
                    message = COALESCE(message, $2)
                WHERE runID = $3 AND status IN ('pending', 'running')
                """, [now, reason, runID])
            _ = try audit.append(draft, at: now)
        }
    }

    public func takeOverRun(id: Int64, from previous: RunOwner, to owner: RunOwner, audit draft: AuditDraft) throws -> Bool {
        try audited { c, audit in
            let now = clock.now()
            let taken = try c.execute("""
                UPDATE run SET pid = $1, host = $2, heartbeatAt = $3 WHERE id = $4 AND status = 'running' AND pid = $5 AND host = $6
                """, [owner.pid, owner.host, now, id, previous.pid, previous.host]).affectedRows
            guard taken == 1 else { return false }
            _ = try audit.append(draft, at: now)
            return true
        }
    }

    public func requestCancel(runID: Int64, audit compose: AuditComposer<RunRecord>) throws -> RunRecord? {
        try audited { c, audit in
            guard var run = try c.execute("SELECT \(RunRecord.pgColumns) FROM run WHERE id = $1 FOR UPDATE", [runID]).first
                .map(RunRecord.init(pg:)) else { return nil }
            guard run.status == .running, run.cancelRequestedAt == nil else { return run }
            let now = clock.now()
            try c.execute("UPDATE run SET cancelRequestedAt = $1 WHERE id = $2", [now, runID])
            run.cancelRequestedAt = now
            _ = try audit.append(compose(run), at: now)
            return run
        }
    }

    public func addStageRuns(runID: Int64, stages: [String]) throws -> [StageRunRecord] {
        guard !stages.isEmpty else { return [] }
        return try pool.write { c in
            var ids: [String: Int64] = [:]
            for row in try c.execute("""
                INSERT INTO stageRun (runID, stage, status, reason)
                SELECT $1, s.stage, 'pending', '' FROM unnest($2::text[]) WITH ORDINALITY AS s(stage, n) ORDER BY s.n
                RETURNING id, stage
                """, [runID, PGArray(stages)]) {
                ids[try row.decode(1, as: String.self)] = try row.decode(0, as: Int64.self)
            }
            return try stages.map { stage in
                guard let id = ids[stage] else { throw RegistryConflict(reason: "stage \(stage) was not created") }
                return StageRunRecord(id: id, runID: runID, stage: stage, status: .pending, reason: "")
            }
        }
    }

    public func updateStageRun(_ stageRun: StageRunRecord, audit compose: (_ ended: StageRunRecord, _ runUser: String?) -> AuditDraft) throws {
        try audited { c, audit in
            let old = try c.execute("SELECT status FROM stageRun WHERE id = $1 FOR UPDATE", [stageRun.id]).first
                .map { try $0.decode(0, as: String.self) }
            // The job handle and progress are written by the job's observer
            // (setStageJob, setStageProgress); the stage's own copy does not overwrite them.
            try c.execute("""
                UPDATE stageRun SET status = $2, startedAt = $3, endedAt = $4, exitCode = $5, cacheKey = $6, reason = $7,
                    inputs = $8, logPath = $9, message = $10, pid = $11
                WHERE id = $1
                """, [stageRun.id, stageRun.status.rawValue, stageRun.startedAt, stageRun.endedAt, stageRun.exitCode,
                      stageRun.cacheKey, stageRun.reason, stageRun.inputs, stageRun.logPath, stageRun.message, stageRun.pid])
            if stageRun.status.isFinished, old != stageRun.status.rawValue {
                let user = try c.execute("SELECT \"user\" FROM run WHERE id = $1", [stageRun.runID]).first
                    .map { try $0.decode(0, as: String.self) }
                _ = try audit.append(compose(stageRun, user))
            }
        }
    }

    public func setStageJob(stageRunID: Int64, pid: Int32?, job: String) throws {
        try pool.write { c in
            try c.execute("UPDATE stageRun SET pid = $1, job = $2 WHERE id = $3", [pid, job, stageRunID])
        }
    }

    public func setStageProgress(stageRunID: Int64, done: Int64, total: Int64) throws {
        try pool.write { c in
            try c.execute("UPDATE stageRun SET progressDone = $1, progressTotal = $2 WHERE id = $3 AND status = 'running'",
                          [done, total, stageRunID])
        }
    }

    public func setStageJobStatus(stageRunID: Int64, status: JobStatus) throws {
        let json = String(decoding: try JSONEncoder.sorted.encode(status), as: UTF8.self)
        try pool.write { c in
            try c.execute("UPDATE stageRun SET jobStatus = $1 WHERE id = $2", [json, stageRunID])
        }
    }

    public func stageRuns(runID: Int64) throws -> [StageRunRecord] {
        try pool.read { c in
            try c.execute("SELECT \(StageRunRecord.pgColumns) FROM stageRun WHERE runID = $1 ORDER BY id", [runID])
                .map(StageRunRecord.init(pg:))
        }
    }

    public func stageRun(id: Int64) throws -> StageRunRecord? {
        try pool.read { c in
            try c.execute("SELECT \(StageRunRecord.pgColumns) FROM stageRun WHERE id = $1", [id]).first.map(StageRunRecord.init(pg:))
        }
    }

    public func lastCompletedStageRun(pipeline: String, stage: String) throws -> StageRunRecord? {
        try pool.read { c in
            try c.execute("""
                SELECT \(StageRunRecord.pgColumns.split(separator: ",").map { "s." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", "))
                FROM stageRun s JOIN run r ON r.id = s.runID
                WHERE r.pipeline = $1 AND s.stage = $2 AND s.status IN ('succeeded', 'cached') AND s.inputs IS NOT NULL
                ORDER BY s.id DESC LIMIT 1
                """, [pipeline, stage]).first.map(StageRunRecord.init(pg:))
        }
    }

    public func params(runID: Int64) throws -> [String: String] {
        try pool.read { c in
            var result: [String: String] = [:]
            for row in try c.execute("SELECT key, value FROM param WHERE runID = $1", [runID]) {
                result[try row.decode(0)] = try row.decode(1) as String
            }
            return result
        }
    }

    public func paramOverrides(runID: Int64) throws -> [String: String] {
        try pool.read { c in
            var result: [String: String] = [:]
            for row in try c.execute("SELECT key, value FROM param WHERE runID = $1 AND overridden", [runID]) {
                result[try row.decode(0)] = try row.decode(1) as String
            }
            return result
        }
    }
}
