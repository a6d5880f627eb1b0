import Foundation
import SlipwayCore
import SlipwayPostgres

extension PostgresRegistry: DatasetStore {
    public func addDataset(path: String, hash: String, size: Int64, addedBy: String,
                           audit compose: AuditComposer<DatasetRecord>) throws -> (record: DatasetRecord, isNew: Bool) {
        try audited { c, audit in
            // Under the audit lock: a concurrent add of the same version has committed or not started.
            if let row = try c.execute("SELECT \(DatasetRecord.pgColumns) FROM dataset WHERE path = $1 AND hash = $2", [path, hash]).first {
                return (try DatasetRecord(pg: row), false)
            }
            let now = clock.now()
            let id = try c.execute("""
                INSERT INTO dataset (path, hash, size, addedBy, addedAt) VALUES ($1, $2, $3, $4, $5) RETURNING id
                """, [path, hash, size, addedBy, now]).scalar(Int64.self)
            let record = DatasetRecord(id: id, path: path, hash: hash, size: size, addedBy: addedBy, addedAt: now)
            _ = try audit.append(compose(record), at: now)
            return (record, true)
        }
    }

    public func datasets() throws -> [DatasetRecord] {
        try pool.read { c in
            try c.execute("SELECT \(DatasetRecord.pgColumns) FROM dataset ORDER BY path, id").map(DatasetRecord.init(pg:))
        }
    }

    public func recordRunDatasets(runID: Int64, stage: String, versions: [(path: String, hash: String)]) throws {
        guard !versions.isEmpty else { return }
        // The last hash given for a path wins, as with SQLite's INSERT OR REPLACE.
        var latest: [String: String] = [:]
        for v in versions { latest[v.path] = v.hash }
        let paths = latest.keys.sorted()
        try pool.write { c in
            try c.execute("""
                INSERT INTO runDataset (runID, stage, path, hash)
                SELECT $1, $2, * FROM unnest($3::text[], $4::text[])
                ON CONFLICT (runID, stage, path) DO UPDATE SET hash = excluded.hash
                """, [runID, stage, PGArray(paths), PGArray(paths.map { latest[$0]! })])
        }
    }

    public func runDatasets(runID: Int64) throws -> [RunDatasetRecord] {
        try pool.read { c in
            try c.execute("SELECT runID, stage, path, hash FROM runDataset WHERE runID = $1 ORDER BY stage, path", [runID]).map { row in
                RunDatasetRecord(runID: try row.decode(0), stage: try row.decode(1), path: try row.decode(2), hash: try row.decode(3))
            }
        }
    }
}

extension PostgresRegistry: CacheStore {
    public func cacheEntry(key: String) throws -> CacheEntry? {
        try pool.read { c in
            try c.execute("SELECT \(CacheEntry.pgColumns) FROM cacheEntry WHERE key = $1", [key]).first.map(CacheEntry.init(pg:))
        }
    }

    public func saveCacheEntry(_ entry: CacheEntry) throws {
        let outputs = try jsonMap(entry.outputs)
        try pool.write { c in
            try c.execute("""
                INSERT INTO cacheEntry (key, pipeline, stage, stageRunID, outputs, createdAt) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (key) DO UPDATE SET pipeline = excluded.pipeline, stage = excluded.stage, stageRunID = excluded.stageRunID,
                    outputs = excluded.outputs, createdAt = excluded.createdAt
                """, [entry.key, entry.pipeline, entry.stage, entry.stageRunID, outputs, entry.createdAt])
        }
    }

    public func fileStates(paths: [String]) throws -> [String: FileState] {
        guard !paths.isEmpty else { return [:] }
        return try pool.read { c in
            var result: [String: FileState] = [:]
            for row in try c.execute("SELECT path, size, mtimeNanos, inode, hash FROM fileState WHERE path = ANY($1::text[])",
                                     [PGArray(paths)]) {
                let state = try FileState(pg: row)
                result[state.path] = state
            }
            return result
        }
    }

    public func saveFileStates(_ states: [FileState]) throws {
        guard !states.isEmpty else { return }
        // One row per path (the last given wins), as saving them one by one would leave it.
        var latest: [String: FileState] = [:]
        for s in states { latest[s.path] = s }
        let rows = latest.values.sorted { $0.path < $1.path }
        try pool.write { c in
            try c.execute("""
                INSERT INTO fileState (path, size, mtimeNanos, inode, hash)
                SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])
                ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtimeNanos = excluded.mtimeNanos, inode = excluded.inode,
                    hash = excluded.hash
                """, [PGArray(rows.map(\.path)), PGArray(rows.map(\.size)), PGArray(rows.map(\.mtimeNanos)),
                      PGArray(rows.map(\.inode)), PGArray(rows.map(\.hash))])
        }
    }
}

extension PostgresRegistry: ValidationStore {
    public func recordValidation(_ record: ValidationRecord,
                                 audit compose: (_ record: ValidationRecord, _ id: Int64, _ runUser: String?) -> AuditDraft) throws {
        try audited { c, audit in
            let id = try c.execute("""
                INSERT INTO validationReport (runID, stageRunID, dataset, passed, report, createdAt) VALUES ($1, $2, $3, $4, $5, $6)
                RETURNING id
                """, [record.runID, record.stageRunID, record.dataset, record.passed, record.report, record.createdAt]).scalar(Int64.self)
            if let runID = record.runID {
                let user = try c.execute("SELECT \"user\" FROM run WHERE id = $1", [runID]).first.map { try $0.decode(0, as: String.self) }
                _ = try audit.append(compose(record, id, user))
            }
        }
    }

    public func validations(runID: Int64) throws -> [ValidationRecord] {
        try pool.read { c in
            try c.execute("SELECT \(ValidationRecord.pgColumns) FROM validationReport WHERE runID = $1 ORDER BY id", [runID])
                .map(ValidationRecord.init(pg:))
        }
    }

    public func validations(runIDs: [Int64]) throws -> [ValidationRecord] {
        guard !runIDs.isEmpty else { return [] }
        return try pool.read { c in
            try c.execute("SELECT \(ValidationRecord.pgColumns) FROM validationReport WHERE runID = ANY($1::bigint[]) ORDER BY id",
                          [PGArray(runIDs)]).map(ValidationRecord.init(pg:))
        }
    }

    public func copyValidations(fromStageRun source: Int64, to target: StageRunRecord) throws {
        try pool.write { try copyValidations($0, fromStageRun: source, to: target) }
    }

    func copyValidations(_ c: PGConnection, fromStageRun source: Int64, to target: StageRunRecord) throws {
        try c.execute("""
            INSERT INTO validationReport (runID, stageRunID, dataset, passed, report, createdAt)
            SELECT $1, $2, dataset, passed, report, createdAt FROM validationReport WHERE stageRunID = $3 ORDER BY id
            """, [target.runID, target.id, source])
    }
}
