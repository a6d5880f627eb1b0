import Foundation
import SlipwayCore
import SlipwayPostgres

extension PostgresRegistry: MetricStore {
    /// Points in one transaction: the series (one per run, stage run, stage
    /// and key) are found or created in two statements for the whole batch,
    /// then the points stream in with `COPY` (small batches take one
    /// multi-row INSERT, which costs one round trip fewer).
    public func appendMetrics(_ points: [MetricRecord]) throws {
        guard !points.isEmpty else { return }
        var keys: [MetricSeriesKey] = []
        var index: [MetricSeriesKey: Int] = [:]
        var seriesOfPoint: [Int] = []
        seriesOfPoint.reserveCapacity(points.count)
        for p in points {
            let key = MetricSeriesKey(runID: p.runID, stageRunID: p.stageRunID ?? 0, stage: p.stage, key: p.key)
            if let i = index[key] {
                seriesOfPoint.append(i)
            } else {
                index[key] = keys.count
                seriesOfPoint.append(keys.count)
                keys.append(key)
            }
        }
        try pool.write { c in
            let ids = try seriesIDs(c, keys)
            if points.count <= Self.insertBatchLimit {
                var sql = "INSERT INTO metricPoint (seriesID, step, value, timestamp) VALUES "
                var parameters: PGParameters = []
                parameters.reserveCapacity(points.count * 4)
                for (i, p) in points.enumerated() {
                    if i > 0 { sql += "," }
                    let n = i * 4
                    sql += "($\(n + 1)::bigint,$\(n + 2)::bigint,$\(n + 3)::float8,$\(n + 4)::bigint)"
                    parameters.append(ids[seriesOfPoint[i]])
                    parameters.append(p.step)
                    parameters.append(p.value)
                    parameters.append(p.timestamp)
                }
                try c.execute(sql, parameters)
            } else {
                try c.copyIn("COPY metricPoint (seriesID, step, value, timestamp) FROM STDIN") { copy in
                    for (i, p) in points.enumerated() {
                        copy.add(ids[seriesOfPoint[i]])
                        copy.add(p.step)
                        copy.add(p.value)
                        copy.add(p.timestamp)
                        try copy.endRow()
                    }
                }
            }
        }
    }

    /// Up to this many points go in as one INSERT; more go through COPY
    /// (see docs/benchmarks.md for the measurements behind it).
    static let insertBatchLimit = 16

    /// The series ids of `keys`, in order, creating the missing series.
    private func seriesIDs(_ c: PGConnection, _ keys: [MetricSeriesKey]) throws -> [Int64] {
        let arrays: PGParameters = [PGArray(keys.map(\.runID)), PGArray(keys.map(\.stageRunID)),
                                    PGArray(keys.map(\.stage)), PGArray(keys.map(\.key))]
        try c.execute("""
            INSERT INTO metricSeries (runID, stageRunID, stage, key)
            SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])
            ON CONFLICT (runID, stageRunID, stage, key) DO NOTHING
            """, arrays)
        var found: [MetricSeriesKey: Int64] = [:]
        for row in try c.execute("""
            SELECT s.id, s.runID, s.stageRunID, s.stage, s.key FROM metricSeries s
            JOIN unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS k(runID, stageRunID, stage, key)
              ON s.runID = k.runID AND s.stageRunID = k.stageRunID AND s.stage = k.stage AND s.key = k.key
            """, arrays) {
            found[MetricSeriesKey(runID: try row.decode(1), stageRunID: try row.decode(2), stage: try row.decode(3), key: try row.decode(4))]
                = try row.decode(0, as: Int64.self)
        }
        return try keys.map { key in
            guard let id = found[key] else { throw RegistryConflict(reason: "metric series \(key.stage)/\(key.key) was not created") }
            return id
        }
    }

    public func metrics(runID: Int64) throws -> [MetricRecord] {
        try pool.read { c in
            try c.execute("""
                SELECT s.runID, s.stageRunID, s.stage, s.key, p.step, p.value, p.timestamp
                FROM metricSeries s JOIN metricPoint p ON p.seriesID = s.id
                WHERE s.runID = $1 ORDER BY p.id
                """, [runID]).map { row in
                let stageRunID: Int64 = try row.decode(1)
                return MetricRecord(runID: try row.decode(0), stageRunID: stageRunID == 0 ? nil : stageRunID, stage: try row.decode(2),
                                    key: try row.decode(3), step: try row.decode(4), value: try row.decode(5, as: Double?.self) ?? .nan,
                                    timestamp: try row.decode(6))
            }
        }
    }

    public func copyMetrics(fromStageRun source: Int64, to target: StageRunRecord) throws {
        try pool.write { try copyMetrics($0, fromStageRun: source, to: target) }
    }

    func copyMetrics(_ c: PGConnection, fromStageRun source: Int64, to target: StageRunRecord) throws {
        try c.execute("""
            INSERT INTO metricSeries (runID, stageRunID, stage, key)
            SELECT $1, $2, stage, key FROM metricSeries WHERE stageRunID = $3 AND stageRunID <> 0 ORDER BY id
            ON CONFLICT (runID, stageRunID, stage, key) DO NOTHING
            """, [target.runID, target.id, source])
        try c.execute("""
            INSERT INTO metricPoint (seriesID, step, value, timestamp)
            SELECT t.id, p.step, p.value, p.timestamp
            FROM metricSeries s
            JOIN metricPoint p ON p.seriesID = s.id
            JOIN metricSeries t ON t.runID = $1 AND t.stageRunID = $2 AND t.stage = s.stage AND t.key = s.key
            WHERE s.stageRunID = $3 AND s.stageRunID <> 0
            ORDER BY s.id, p.id
            """, [target.runID, target.id, source])
    }
}

private struct MetricSeriesKey: Hashable {
    var runID: Int64
    var stageRunID: Int64
    var stage: String
    var key: String
}
