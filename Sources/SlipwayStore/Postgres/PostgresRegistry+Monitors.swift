import Foundation
import SlipwayCore
import SlipwayPostgres

extension PostgresRegistry: MonitorStore {
    public func recordBatch(_ new: NewBatch, audit events: BatchEvents) throws -> RecordedBatch {
        try audited { c, audit in
            // Under the audit lock: a batch recorded at the same moment by another process has committed or not started.
            if let existing = try c.execute("SELECT \(MonitorBatchRecord.pgColumns) FROM monitorBatch WHERE monitor = $1 AND contentHash = $2",
                                            [new.batch.monitor, new.batch.contentHash]).first.map(MonitorBatchRecord.init(pg:)) {
                return RecordedBatch(batch: existing, isNew: false)
            }
            var b = new.batch
            b.id = try c.execute("""
                INSERT INTO monitorBatch (monitor, contentHash, source, rows, receivedAt, status, driftedFeatures, features, driftShare,
                                          reason, performance)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id
                """, [b.monitor, b.contentHash, b.source, b.rows, b.receivedAt, b.status.rawValue, b.driftedFeatures, b.features,
                      b.driftShare, b.reason, b.performance]).scalar(Int64.self)
            if !new.scores.isEmpty {
                // Scores are stored as SQLite stores them: NaN as 0, clamped to ±1e300.
                let s = new.scores
                try c.execute("""
                    INSERT INTO monitorScore (batchID, monitor, feature, method, score, threshold, drifted, histogram)
                    SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::float8[], $6::float8[], $7::boolean[], $8::text[])
                    """, [b.id, b.monitor, PGArray(s.map(\.feature)), PGArray(s.map(\.method)),
                          PGArray(s.map { $0.score.isNaN ? 0 : max(-1e300, min(1e300, $0.score)) }), PGArray(s.map(\.threshold)),
                          PGArray(s.map(\.drifted)), PGArray(s.map(\.histogram))])
            }
            _ = try audit.append(events.recorded(b), at: b.receivedAt)
            guard let a = new.alert else { return RecordedBatch(batch: b, isNew: true) }
            let now = clock.now()
            var alert = MonitorAlertRecord(id: 0, monitor: b.monitor, batchID: b.id, kind: a.kind, detail: a.detail, at: now, triggerID: nil,
                                           suppressed: a.suppressed)
            alert.id = try c.execute("""
                INSERT INTO monitorAlert (monitor, batchID, kind, detail, at, suppressed) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
                """, [alert.monitor, alert.batchID, alert.kind, alert.detail, now, alert.suppressed]).scalar(Int64.self)
            _ = try audit.append(events.alerted(alert), at: now)
            var fired: [TriggerEventRecord] = []
            for t in events.triggers(alert) {
                if let e = try fire(c, &audit, t, at: now, compose: events.fired) { fired.append(e) }
            }
            if let first = fired.first {
                try c.execute("UPDATE monitorAlert SET triggerID = $1 WHERE id = $2", [first.id, alert.id])
                alert.triggerID = first.id
            }
            return RecordedBatch(batch: b, isNew: true, alert: alert, events: fired)
        }
    }

    public func batch(id: Int64) throws -> MonitorBatchRecord? {
        try pool.read { c in
            try c.execute("SELECT \(MonitorBatchRecord.pgColumns) FROM monitorBatch WHERE id = $1", [id]).first.map(MonitorBatchRecord.init(pg:))
        }
    }

    public func batch(monitor: String, contentHash: String) throws -> MonitorBatchRecord? {
        try pool.read { c in
            try c.execute("SELECT \(MonitorBatchRecord.pgColumns) FROM monitorBatch WHERE monitor = $1 AND contentHash = $2", [monitor, contentHash])
                .first.map(MonitorBatchRecord.init(pg:))
        }
    }

    public func batches(monitor: String, limit: Int) throws -> [MonitorBatchRecord] {
        try pool.read { c in
            try c.execute("SELECT \(MonitorBatchRecord.pgColumns) FROM monitorBatch WHERE monitor = $1 ORDER BY id DESC LIMIT $2",
                          [monitor, max(0, limit)]).map(MonitorBatchRecord.init(pg:))
        }
    }

    public func batchCount(monitor: String) throws -> Int {
        try pool.read { try $0.execute("SELECT count(*) FROM monitorBatch WHERE monitor = $1", [monitor]).scalar(Int.self) }
    }

    public func scores(batchID: Int64) throws -> [MonitorScoreRecord] {
        try pool.read { c in
            try c.execute("SELECT \(MonitorScoreRecord.pgColumns) FROM monitorScore WHERE batchID = $1 ORDER BY feature", [batchID])
                .map(MonitorScoreRecord.init(pg:))
        }
    }

    public func recentScores(monitor: String, batches: Int) throws -> [String: [MonitorScoreRecord]] {
        try pool.read { c in
            var out: [String: [MonitorScoreRecord]] = [:]
            for r in try c.execute("""
                SELECT batchID, feature, method, score, threshold, drifted FROM monitorScore
                WHERE monitor = $1 AND batchID >= coalesce((SELECT min(id) FROM (SELECT id FROM monitorBatch WHERE monitor = $1
                                                                                  ORDER BY id DESC LIMIT $2) newest), 0)
                ORDER BY batchID
                """, [monitor, max(0, batches)]) {
                let feature: String = try r.decode(1)
                out[feature, default: []].append(MonitorScoreRecord(batchID: try r.decode(0), monitor: monitor, feature: feature,
                                                                    method: try r.decode(2), score: try r.decode(3), threshold: try r.decode(4),
                                                                    drifted: try r.decode(5), histogram: ""))
            }
            return out
        }
    }

    public func scoreHistory(monitor: String, feature: String, limit: Int) throws -> [MonitorScoreRecord] {
        try pool.read { c in
            try c.execute("""
                SELECT batchID, monitor, feature, method, score, threshold, drifted, '' AS histogram FROM monitorScore
                WHERE monitor = $1 AND feature = $2 ORDER BY batchID DESC LIMIT $3
                """, [monitor, feature, max(0, limit)]).map(MonitorScoreRecord.init(pg:)).reversed()
        }
    }

    public func alerts(monitor: String?, limit: Int) throws -> [MonitorAlertRecord] {
        try pool.read { c in
            if let monitor {
                return try c.execute("SELECT \(MonitorAlertRecord.pgColumns) FROM monitorAlert WHERE monitor = $1 ORDER BY id DESC LIMIT $2",
                                     [monitor, max(0, limit)]).map(MonitorAlertRecord.init(pg:))
            }
            return try c.execute("SELECT \(MonitorAlertRecord.pgColumns) FROM monitorAlert ORDER BY id DESC LIMIT $1", [max(0, limit)])
                .map(MonitorAlertRecord.init(pg:))
        }
    }

    /// Records a trigger event unless its key is taken for the pipeline (then nil).
    private func fire(_ c: PGConnection, _ audit: inout AuditAppender, _ t: NewTrigger, at now: Millis,
                      compose: TriggerComposer) throws -> TriggerEventRecord? {
        let causeText = try jsonMap(t.cause)
        guard let id = try c.execute("""
            INSERT INTO triggerEvent (pipeline, kind, key, cause, firedAt, state) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (pipeline, key) DO NOTHING RETURNING id
            """, [t.pipeline, t.kind, t.key, causeText, now, t.state.rawValue]).first.map({ try $0.decode(0, as: Int64.self) }) else { return nil }
        _ = try audit.append(compose(t, id), at: now)
        return TriggerEventRecord(id: id, pipeline: t.pipeline, kind: t.kind, key: t.key, cause: causeText, firedAt: now, state: t.state, runID: nil)
    }

    public func fireTrigger(_ new: NewTrigger, audit compose: TriggerComposer) throws -> TriggerEventRecord? {
        try audited { c, audit in
            try fire(c, &audit, new, at: clock.now(), compose: compose)
        }
    }

    public func triggerEvents(pipeline: String?, state: TriggerEventRecord.State?, limit: Int) throws -> [TriggerEventRecord] {
        var clauses: [String] = []
        var parameters: PGParameters = []
        if let pipeline { parameters.append(pipeline); clauses.append("pipeline = $\(parameters.count)") }
        if let state { parameters.append(state.rawValue); clauses.append("state = $\(parameters.count)") }
        parameters.append(max(0, limit))
        let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        return try pool.read { c in
            try c.execute("SELECT \(TriggerEventRecord.pgColumns) FROM triggerEvent \(filter) ORDER BY id DESC LIMIT $\(parameters.count)", parameters)
                .map(TriggerEventRecord.init(pg:))
        }
    }

    public func triggerEvents(runID: Int64) throws -> [TriggerEventRecord] {
        try pool.read { c in
            try c.execute("SELECT \(TriggerEventRecord.pgColumns) FROM triggerEvent WHERE runID = $1 ORDER BY id", [runID])
                .map(TriggerEventRecord.init(pg:))
        }
    }

    public func latestTrigger(pipeline: String, keyPrefix: String) throws -> TriggerEventRecord? {
        try pool.read { c in
            try c.execute("""
                SELECT \(TriggerEventRecord.pgColumns) FROM triggerEvent WHERE pipeline = $1 AND starts_with(key, $2) ORDER BY id DESC LIMIT 1
                """, [pipeline, keyPrefix]).first.map(TriggerEventRecord.init(pg:))
        }
    }
}
