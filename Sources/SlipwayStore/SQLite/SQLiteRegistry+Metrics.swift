import Foundation
import GRDB
import GRDBSQLite
import SlipwayCore

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
