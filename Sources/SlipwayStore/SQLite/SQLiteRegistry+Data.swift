import Foundation
import GRDB
import GRDBSQLite
import SlipwayCore

// MARK: - Datasets

extension SQLiteRegistry: DatasetStore {
    public func addDataset(path: String, hash: String, size: Int64, addedBy: String,
                           audit: AuditComposer<DatasetRecord>) throws -> (record: DatasetRecord, isNew: Bool) {
        try pool.write { db in
            if let existing = try DatasetRecord.fetchOne(db, sql: "SELECT * FROM dataset WHERE path = ? AND hash = ?",
                                                          arguments: [path, hash]) {
                return (existing, false)
            }
            let now = clock.now()
            try db.execute(sql: "INSERT INTO dataset (path, hash, size, addedBy, addedAt) VALUES (?, ?, ?, ?, ?)",
                           arguments: [path, hash, size, addedBy, now])
            let record = DatasetRecord(id: db.lastInsertedRowID, path: path, hash: hash, size: size, addedBy: addedBy, addedAt: now)
            _ = try appendAudit(db, audit(record), at: now)
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
            result.reserveCapacity(keys.count)
            try forEachRow(db, "key, pipeline, stage, stageRunID, outputs, createdAt", from: "cacheEntry", key: "key", in: keys) { row in
                let e = CacheEntry(key: row.string(0), pipeline: row.string(1), stage: row.string(2), stageRunID: row.int64(3),
                                   outputs: try FlatJSON.decodeStrings(row.data(4)), createdAt: row.int64(5))
                result[e.key] = e
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
            result.reserveCapacity(paths.count)
            try forEachRow(db, "path, size, mtimeNanos, inode, hash", from: "fileState", key: "path", in: paths) { row in
                let state = FileState(path: row.string(0), size: row.int64(1), mtimeNanos: row.int64(2), inode: row.int64(3), hash: row.string(4))
                result[state.path] = state
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
