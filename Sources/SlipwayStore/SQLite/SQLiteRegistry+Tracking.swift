import Foundation
import GRDB
import SlipwayCore

extension TrackedValueRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "trackedValue" }
}

extension SQLiteRegistry: TrackingStore {
    public func recordTracked(_ values: [TrackedValueRecord]) throws {
        guard !values.isEmpty else { return }
        try pool.write { db in
            let upsert = try db.makeStatement(sql: """
                INSERT INTO trackedValue (runID, stageRunID, stage, kind, key, value, size, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (stageRunID, kind, key) DO UPDATE SET value = excluded.value, size = excluded.size, at = excluded.at
                """)
            for v in values {
                try upsert.execute(arguments: [v.runID, v.stageRunID, v.stage, v.kind.rawValue, v.key, v.value, v.size, v.at])
            }
        }
    }

    public func trackedValues(runID: Int64) throws -> [TrackedValueRecord] {
        try pool.read { db in
            try TrackedValueRecord.fetchAll(db, sql: "SELECT * FROM trackedValue WHERE runID = ? ORDER BY stageRunID, kind, key",
                                            arguments: [runID])
        }
    }

    public func copyTracked(fromStageRun source: Int64, to target: StageRunRecord) throws {
        try pool.write { try copyTracked($0, fromStageRun: source, to: target) }
    }

    func copyTracked(_ db: Database, fromStageRun source: Int64, to target: StageRunRecord) throws {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO trackedValue (runID, stageRunID, stage, kind, key, value, size, at)
            SELECT ?, ?, ?, kind, key, value, size, at FROM trackedValue WHERE stageRunID = ? AND stageRunID != ?
            """).execute(arguments: [target.runID, target.id, target.stage, source, target.id])
    }
}
