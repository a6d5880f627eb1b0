import Foundation
import SlipwayCore
import SlipwayPostgres

/// The batched reads and writes the runner uses for big pipelines: one
/// statement over arrays (`= ANY($1)`, `unnest`) for the lot, not a round
/// trip per item. A no-op re-run of 1,000 stages on a team registry took
/// 5.6–5.9 s with one round trip (or transaction) per item.
extension PostgresRegistry {
    public func stageRuns(ids: [Int64]) throws -> [Int64: StageRunRecord] {
        let unique = Array(Set(ids))
        guard !unique.isEmpty else { return [:] }
        return try pool.read { c in
            var found: [Int64: StageRunRecord] = [:]
            found.reserveCapacity(unique.count)
            for row in try c.execute("SELECT \(StageRunRecord.pgColumns) FROM stageRun WHERE id = ANY($1::bigint[])", [PGArray(unique)]) {
                let r = try StageRunRecord(pg: row)
                found[r.id] = r
            }
            return found
        }
    }

    public func stageRunOrigins(ids: [Int64]) throws -> [Int64: StageRunOrigin] {
        let unique = Array(Set(ids))
        guard !unique.isEmpty else { return [:] }
        return try pool.read { c in
            var found: [Int64: StageRunOrigin] = [:]
            found.reserveCapacity(unique.count)
            // Five columns: the planner reads one of these per cached stage.
            for row in try c.execute("SELECT id, runID, cacheKey, inputs, job FROM stageRun WHERE id = ANY($1::bigint[])",
                                     [PGArray(unique)]) {
                found[try row.decode(0)] = StageRunOrigin(runID: try row.decode(1), cacheKey: try row.decode(2),
                                                          inputs: try row.decode(3), job: try row.decode(4))
            }
            return found
        }
    }

    /// The newest completed stage run of each of `stages` in `pipeline`, as
    /// ``lastCompletedStageRun(pipeline:stage:)`` finds one, in one query.
    public func lastCompletedStageRuns(pipeline: String, stages: [String]) throws -> [String: StageRunRecord] {
        let unique = Array(Set(stages))
        guard !unique.isEmpty else { return [:] }
        let columns = StageRunRecord.pgColumns.split(separator: ",").map { "s." + $0.trimmingCharacters(in: .whitespaces) }
            .joined(separator: ", ")
        return try pool.read { c in
            var found: [String: StageRunRecord] = [:]
            found.reserveCapacity(unique.count)
            // Each stage's newest row first through stageRun(stage, id), as the
            // one-stage query reads it: history does not add to the cost.
            for row in try c.execute("""
                SELECT \(columns) FROM unnest($2::text[]) AS q(stage) CROSS JOIN LATERAL (
                    SELECT s.* FROM stageRun s JOIN run r ON r.id = s.runID
                    WHERE s.stage = q.stage AND r.pipeline = $1 AND s.status IN ('succeeded', 'cached') AND s.inputs IS NOT NULL
                    ORDER BY s.id DESC LIMIT 1
                ) AS s
                """, [pipeline, PGArray(unique)]) {
                let r = try StageRunRecord(pg: row)
                found[r.stage] = r
            }
            return found
        }
    }

    public func cacheEntries(keys: [String]) throws -> [String: CacheEntry] {
        let unique = Array(Set(keys))
        guard !unique.isEmpty else { return [:] }
        return try pool.read { c in
            var found: [String: CacheEntry] = [:]
            found.reserveCapacity(unique.count)
            for row in try c.execute("SELECT \(CacheEntry.pgColumns) FROM cacheEntry WHERE key = ANY($1::text[])", [PGArray(unique)]) {
                let e = try CacheEntry(pg: row)
                found[e.key] = e
            }
            return found
        }
    }

    /// One transaction for the batch, with the audit lock: the stage runs are
    /// locked and checked first (a batch naming a stage run that does not
    /// exist writes nothing), then each kind of row is written for all of
    /// them at once. The result is what ``recordRunDatasets``, the copies,
    /// ``recordArtifacts`` and ``updateStageRun`` leave, stage after stage.
    public func recordRestoredStages(_ stages: [RestoredStage], audit compose: @escaping @Sendable (_ ended: StageRunRecord, _ runUser: String?) -> AuditDraft) throws {
        guard !stages.isEmpty else { return }
        let ids = stages.map(\.stageRun.id)
        try audited { c, audit in
            var old: [Int64: (status: String, user: String?)] = [:]
            for row in try c.execute("""
                SELECT s.id, s.status, r."user" FROM stageRun s LEFT JOIN run r ON r.id = s.runID
                WHERE s.id = ANY($1::bigint[]) ORDER BY s.id FOR UPDATE OF s
                """, [PGArray(Array(Set(ids)))]) {
                old[try row.decode(0)] = (try row.decode(1), try row.decode(2))
            }
            if let missing = stages.first(where: { old[$0.stageRun.id] == nil }) {
                throw NotFound(what: "stage run \(missing.stageRun.id)")
            }
            try recordDatasets(c, of: stages)
            try copyResults(c, of: stages)
            try replaceArtifacts(c, of: stages)
            try updateStageRuns(c, stages.map(\.stageRun))
            // Audited as each update would be: a stage whose status changes to an end.
            var drafts: [AuditDraft] = []
            for restored in stages {
                let r = restored.stageRun
                guard let before = old[r.id] else { continue }
                old[r.id]?.status = r.status.rawValue
                if r.status.isFinished, before.status != r.status.rawValue { drafts.append(compose(r, before.user)) }
            }
            try audit.append(drafts, at: clock.now())
        }
    }

    /// The datasets each stage read; the last hash given for a path wins, as
    /// with ``recordRunDatasets(runID:stage:versions:)``.
    private func recordDatasets(_ c: PGConnection, of stages: [RestoredStage]) throws {
        struct Key: Hashable { var runID: Int64; var stage: String; var path: String }
        var order: [Key] = []
        var hashes: [Key: String] = [:]
        for restored in stages {
            for (path, hash) in restored.datasets.sorted(by: { $0.key < $1.key }) {
                let key = Key(runID: restored.stageRun.runID, stage: restored.stageRun.stage, path: path)
                if hashes.updateValue(hash, forKey: key) == nil { order.append(key) }
            }
        }
        guard !order.isEmpty else { return }
        try c.execute("""
            INSERT INTO runDataset (runID, stage, path, hash)
            SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])
            ON CONFLICT (runID, stage, path) DO UPDATE SET hash = excluded.hash
            """, [PGArray(order.map(\.runID)), PGArray(order.map(\.stage)), PGArray(order.map(\.path)),
                  PGArray(order.map { hashes[$0]! })])
    }

    /// Metrics, validation reports and tracked values of the stage runs that
    /// made the entries: most have none, so which do is asked once.
    private func copyResults(_ c: PGConnection, of stages: [RestoredStage]) throws {
        let sources = PGArray(Array(Set(stages.map(\.source))))
        func having(_ table: String) throws -> Set<Int64> {
            Set(try c.execute("SELECT DISTINCT stageRunID FROM \(table) WHERE stageRunID = ANY($1::bigint[])", [sources])
                .map { try $0.decode(0, as: Int64.self) })
        }
        let metrics = try having("metricSeries"), reports = try having("validationReport"), tracked = try having("trackedValue")
        for restored in stages {
            let r = restored.stageRun
            if metrics.contains(restored.source) { try copyMetrics(c, fromStageRun: restored.source, to: r) }
            if reports.contains(restored.source) { try copyValidations(c, fromStageRun: restored.source, to: r) }
            if tracked.contains(restored.source) { try copyTracked(c, fromStageRun: restored.source, to: r) }
        }
    }

    /// Each stage run's artifacts become its outputs (those it had are
    /// replaced; given twice, the last outputs given win).
    private func replaceArtifacts(_ c: PGConnection, of stages: [RestoredStage]) throws {
        var last: [Int64: Int] = [:]
        for (i, restored) in stages.enumerated() where !restored.outputs.isEmpty { last[restored.stageRun.id] = i }
        let written = stages.indices.filter { last[stages[$0].stageRun.id] == $0 }.map { stages[$0] }
        guard !written.isEmpty else { return }
        try c.execute("DELETE FROM artifact WHERE stageRunID = ANY($1::bigint[])", [PGArray(written.map(\.stageRun.id))])
        var runIDs: [Int64] = [], stageRunIDs: [Int64] = [], paths: [String] = [], hashes: [String] = []
        for restored in written {
            for (path, hash) in restored.outputs.sorted(by: { $0.key < $1.key }) {
                runIDs.append(restored.stageRun.runID)
                stageRunIDs.append(restored.stageRun.id)
                paths.append(path)
                hashes.append(hash)
            }
        }
        try c.execute("""
            INSERT INTO artifact (runID, stageRunID, path, hash)
            SELECT r, s, p, h FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) WITH ORDINALITY AS a(r, s, p, h, n) ORDER BY n
            """, [PGArray(runIDs), PGArray(stageRunIDs), PGArray(paths), PGArray(hashes)])
    }

    /// Saves each stage run's state as ``updateStageRun(_:audit:)`` does (the
    /// job handle and progress stay the observer's), the last given winning.
    private func updateStageRuns(_ c: PGConnection, _ records: [StageRunRecord]) throws {
        var latest: [Int64: StageRunRecord] = [:]
        for r in records { latest[r.id] = r }
        let rows = latest.values.sorted { $0.id < $1.id }
        try c.execute("""
            UPDATE stageRun AS s SET status = u.status, startedAt = u.startedAt, endedAt = u.endedAt, exitCode = u.exitCode,
                cacheKey = u.cacheKey, reason = u.reason, inputs = u.inputs, logPath = u.logPath, message = u.message, pid = u.pid
            FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[],
                        $9::text[], $10::text[], $11::bigint[])
                AS u(id, status, startedAt, endedAt, exitCode, cacheKey, reason, inputs, logPath, message, pid)
            WHERE s.id = u.id
            """, [PGArray(rows.map(\.id)), PGArray(rows.map(\.status.rawValue)), PGArray(rows.map(\.startedAt)),
                  PGArray(rows.map(\.endedAt)), PGArray(rows.map { $0.exitCode.map(Int64.init) }), PGArray(rows.map(\.cacheKey)),
                  PGArray(rows.map(\.reason)), PGArray(rows.map(\.inputs)), PGArray(rows.map(\.logPath)),
                  PGArray(rows.map(\.message)), PGArray(rows.map { $0.pid.map(Int64.init) })])
    }
}
