import GRDB

// Table mappings for the plain records. They live here so the records
// themselves stay free of GRDB and can serve another store.

extension RunRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "run" }
}

extension StageRunRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "stageRun" }
}

extension MetricRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "metric" }
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
