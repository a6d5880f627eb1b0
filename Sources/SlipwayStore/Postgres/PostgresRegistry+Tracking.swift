import Foundation
import SlipwayCore
import SlipwayPostgres

extension TrackedValueRecord {
    static let pgColumns = "runID, stageRunID, stage, kind, key, value, size, at"

    init(pg row: PGRow) throws {
        self.init(runID: try row["runID"], stageRunID: try row["stageRunID"], stage: try row["stage"], kind: try row.decodeEnum("kind"),
                  key: try row["key"], value: try row["value"], size: try row["size"], at: try row["at"])
    }
}

/// What stages logged through the MLflow-compatible endpoint besides metrics.
extension PostgresRegistry: TrackingStore {
    public func recordTracked(_ values: [TrackedValueRecord]) throws {
        guard !values.isEmpty else { return }
        try pool.write { c in
            for v in values {
                try c.execute("""
                    INSERT INTO trackedValue (runID, stageRunID, stage, kind, key, value, size, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    ON CONFLICT (stageRunID, kind, key) DO UPDATE SET value = excluded.value, size = excluded.size, at = excluded.at
                    """, [v.runID, v.stageRunID, v.stage, v.kind.rawValue, v.key, v.value, v.size, v.at])
            }
        }
    }

    public func trackedValues(runID: Int64) throws -> [TrackedValueRecord] {
        try pool.read { c in
            try c.execute("SELECT \(TrackedValueRecord.pgColumns) FROM trackedValue WHERE runID = $1 ORDER BY stageRunID, kind, key",
                          [runID]).map(TrackedValueRecord.init(pg:))
        }
    }

    public func copyTracked(fromStageRun source: Int64, to target: StageRunRecord) throws {
        guard source != target.id else { return }
        try pool.write { try copyTracked($0, fromStageRun: source, to: target) }
    }

    func copyTracked(_ c: PGConnection, fromStageRun source: Int64, to target: StageRunRecord) throws {
        guard source != target.id else { return }
        try c.execute("""
            INSERT INTO trackedValue (runID, stageRunID, stage, kind, key, value, size, at)
            SELECT $1, $2, $3, kind, key, value, size, at FROM trackedValue WHERE stageRunID = $4
            ON CONFLICT (stageRunID, kind, key) DO UPDATE SET value = excluded.value, size = excluded.size, at = excluded.at
            """, [target.runID, target.id, target.stage, source])
    }
}
