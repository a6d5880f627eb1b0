import Foundation
import GRDB
import SlipwayCore

extension MonitorBatchRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "monitorBatch" }
}

extension MonitorScoreRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "monitorScore" }
}

extension MonitorAlertRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "monitorAlert" }
}

extension TriggerEventRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "triggerEvent" }
}

extension SQLiteRegistry: MonitorStore {
    public func recordBatch(_ new: NewBatch, audit events: BatchEvents) throws -> RecordedBatch {
        try pool.write { db in
            if let existing = try MonitorBatchRecord.fetchOne(db, sql: "SELECT * FROM monitorBatch WHERE monitor = ? AND contentHash = ?",
                                                             arguments: [new.batch.monitor, new.batch.contentHash]) {
                return RecordedBatch(batch: existing, isNew: false)
            }
            var b = new.batch
            try db.execute(sql: """
                INSERT INTO monitorBatch (monitor, contentHash, source, rows, receivedAt, status, driftedFeatures, features, driftShare,
                                          reason, performance)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [b.monitor, b.contentHash, b.source, b.rows, b.receivedAt, b.status.rawValue, b.driftedFeatures, b.features,
                                 b.driftShare, b.reason, b.performance])
            b.id = db.lastInsertedRowID
            let insert = try db.makeStatement(sql: """
                INSERT INTO monitorScore (batchID, monitor, feature, method, score, threshold, drifted, histogram) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for s in new.scores {
                try insert.execute(arguments: [b.id, b.monitor, s.feature, s.method, s.score.isNaN ? 0 : max(-1e300, min(1e300, s.score)), s.threshold, s.drifted, s.histogram])
            }
            _ = try appendAudit(db, events.recorded(b), at: b.receivedAt)
            guard let a = new.alert else { return RecordedBatch(batch: b, isNew: true) }
            let (alert, fired) = try recordAlert(db, monitor: b.monitor, batchID: b.id, a, events: events)
            return RecordedBatch(batch: b, isNew: true, alert: alert, events: fired)
        }
    }

    public func batch(id: Int64) throws -> MonitorBatchRecord? {
        try pool.read { try MonitorBatchRecord.fetchOne($0, key: id) }
    }

    public func batch(monitor: String, contentHash: String) throws -> MonitorBatchRecord? {
        try pool.read {
            try MonitorBatchRecord.fetchOne($0, sql: "SELECT * FROM monitorBatch WHERE monitor = ? AND contentHash = ?", arguments: [monitor, contentHash])
        }
    }

    public func batches(monitor: String, limit: Int) throws -> [MonitorBatchRecord] {
        try pool.read {
            try MonitorBatchRecord.fetchAll($0, sql: "SELECT * FROM monitorBatch WHERE monitor = ? ORDER BY id DESC LIMIT ?", arguments: [monitor, limit])
        }
    }

    public func batchCount(monitor: String) throws -> Int {
        try pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM monitorBatch WHERE monitor = ?", arguments: [monitor]) ?? 0 }
    }

    public func scores(batchID: Int64) throws -> [MonitorScoreRecord] {
        try pool.read { try MonitorScoreRecord.fetchAll($0, sql: "SELECT * FROM monitorScore WHERE batchID = ? ORDER BY feature", arguments: [batchID]) }
    }

    public func recentScores(monitor: String, batches: Int) throws -> [String: [MonitorScoreRecord]] {
        try pool.read { db in
            let since = try Int64.fetchOne(db, sql: """
                SELECT MIN(id) FROM (SELECT id FROM monitorBatch WHERE monitor = ? ORDER BY id DESC LIMIT ?)
                """, arguments: [monitor, batches]) ?? 0
            var out: [String: [MonitorScoreRecord]] = [:]
            let rows = try Row.fetchCursor(db, sql: """
                SELECT batchID, feature, method, score, threshold, drifted FROM monitorScore WHERE +monitor = ? AND batchID >= ? ORDER BY batchID
                """, arguments: [monitor, since])
            while let r = try rows.next() {
                let feature: String = r[1]
                out[feature, default: []].append(MonitorScoreRecord(batchID: r[0], monitor: monitor, feature: feature, method: r[2], score: r[3],
                                                                    threshold: r[4], drifted: r[5], histogram: ""))
            }
            return out
        }
    }

    public func scoreHistory(monitor: String, feature: String, limit: Int) throws -> [MonitorScoreRecord] {
        try pool.read { db in
            try MonitorScoreRecord.fetchAll(db, sql: """
                SELECT batchID, monitor, feature, method, score, threshold, drifted, '' AS histogram FROM monitorScore
                WHERE monitor = ? AND feature = ? ORDER BY batchID DESC LIMIT ?
                """, arguments: [monitor, feature, limit]).reversed()
        }
    }

    private func recordAlert(_ db: Database, monitor: String, batchID: Int64, _ new: NewAlert,
                             events: BatchEvents) throws -> (alert: MonitorAlertRecord, events: [TriggerEventRecord]) {
        let now = clock.now()
        var alert = MonitorAlertRecord(id: 0, monitor: monitor, batchID: batchID, kind: new.kind, detail: new.detail, at: now, triggerID: nil,
                                       suppressed: new.suppressed)
        try db.execute(sql: "INSERT INTO monitorAlert (monitor, batchID, kind, detail, at, suppressed) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [monitor, batchID, new.kind, new.detail, now, new.suppressed])
        alert.id = db.lastInsertedRowID
        _ = try appendAudit(db, events.alerted(alert), at: now)
        var fired: [TriggerEventRecord] = []
        for t in events.triggers(alert) {
            if let e = try fire(db, t, at: now, audit: events.fired) { fired.append(e) }
        }
        if let first = fired.first {
            try db.execute(sql: "UPDATE monitorAlert SET triggerID = ? WHERE id = ?", arguments: [first.id, alert.id])
            alert.triggerID = first.id
        }
        return (alert, fired)
    }

    public func alerts(monitor: String?, limit: Int) throws -> [MonitorAlertRecord] {
        try pool.read { db in
            if let monitor {
                return try MonitorAlertRecord.fetchAll(db, sql: "SELECT * FROM monitorAlert WHERE monitor = ? ORDER BY id DESC LIMIT ?", arguments: [monitor, limit])
            }
            return try MonitorAlertRecord.fetchAll(db, sql: "SELECT * FROM monitorAlert ORDER BY id DESC LIMIT ?", arguments: [limit])
        }
    }

    /// Records a trigger event unless its key is taken for the pipeline (then nil).
    private func fire(_ db: Database, _ t: NewTrigger, at now: Millis, audit: TriggerComposer) throws -> TriggerEventRecord? {
        let causeText = String(decoding: try JSONEncoder.sorted.encode(t.cause), as: UTF8.self)
        try db.execute(sql: """
            INSERT INTO triggerEvent (pipeline, kind, key, cause, firedAt, state) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(pipeline, key) DO NOTHING
            """, arguments: [t.pipeline, t.kind, t.key, causeText, now, t.state.rawValue])
        guard db.changesCount > 0 else { return nil }
        let id = db.lastInsertedRowID
        _ = try appendAudit(db, audit(t, id), at: now)
        return TriggerEventRecord(id: id, pipeline: t.pipeline, kind: t.kind, key: t.key, cause: causeText, firedAt: now, state: t.state, runID: nil)
    }

    public func fireTrigger(_ new: NewTrigger, audit: TriggerComposer) throws -> TriggerEventRecord? {
        try pool.write { db in try fire(db, new, at: clock.now(), audit: audit) }
    }

    public func triggerEvents(pipeline: String?, state: TriggerEventRecord.State?, limit: Int) throws -> [TriggerEventRecord] {
        try pool.read { db in
            var sql = "SELECT * FROM triggerEvent WHERE 1"
            var args: [any DatabaseValueConvertible] = []
            if let pipeline { sql += " AND pipeline = ?"; args.append(pipeline) }
            if let state { sql += " AND state = ?"; args.append(state.rawValue) }
            sql += " ORDER BY id DESC LIMIT ?"
            args.append(limit)
            return try TriggerEventRecord.fetchAll(db, sql: sql, arguments: StatementArguments(args))
        }
    }

    public func triggerEvents(runID: Int64) throws -> [TriggerEventRecord] {
        try pool.read { try TriggerEventRecord.fetchAll($0, sql: "SELECT * FROM triggerEvent WHERE runID = ? ORDER BY id", arguments: [runID]) }
    }

    public func latestTrigger(pipeline: String, keyPrefix: String) throws -> TriggerEventRecord? {
        try pool.read {
            try TriggerEventRecord.fetchOne($0, sql: "SELECT * FROM triggerEvent WHERE pipeline = ? AND substr(key, 1, ?) = ? ORDER BY id DESC LIMIT 1",
                                            arguments: [pipeline, keyPrefix.count, keyPrefix])
        }
    }
}
