import GRDB

// Table mappings for the plain records. They live here so the records
// themselves stay free of GRDB and can serve another store.

extension RunRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "run" }
}

extension StageRunRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "stageRun" }
}

extension MetricRecord: FetchableRecord {

    /// SQLite stores NaN as NULL; read it back as NaN.
    public init(row: Row) {
        self.init(runID: row["runID"], stageRunID: row["stageRunID"], stage: row["stage"], key: row["key"],
                  step: row["step"], value: row["value"] ?? .nan, timestamp: row["timestamp"])
    }
}

extension DatasetRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "dataset" }
}

extension RunDatasetRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "runDataset" }
}

extension CacheEntry: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "cacheEntry" }
}

extension FileState: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "fileState" }
}

extension AuditEvent: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "auditEvent" }
}

extension ModelVersionRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "modelVersion" }
}

extension AliasEvent: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "aliasEvent" }
}

extension GateResultRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "gateResult" }
}

extension ValidationRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "validationReport" }
}
