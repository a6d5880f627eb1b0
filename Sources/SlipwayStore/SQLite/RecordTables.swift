import GRDB
import SlipwayCore

// Table mappings for the plain records. They live here so the records
// themselves stay free of GRDB and can serve another store.

extension RunRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "run" }

    /// Read by column name without the Decodable machinery: listings read
    /// 100,000 of these, and Decodable costs ten times more a row.
    public init(row: Row) {
        self.init(id: row["id"], pipeline: row["pipeline"], trigger: row["trigger"],
                  status: RunStatus(rawValue: row["status"]) ?? .interrupted, startedAt: row["startedAt"], endedAt: row["endedAt"],
                  pid: row["pid"], host: row["host"], heartbeatAt: row["heartbeatAt"], user: row["user"],
                  gitCommit: row["gitCommit"], gitDirty: row["gitDirty"], slipwayVersion: row["slipwayVersion"], message: row["message"],
                  cancelRequestedAt: row["cancelRequestedAt"])
    }
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

extension ApprovalRequestRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "approvalRequest" }
}

extension ApprovalVoteRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "approvalVote" }
}

extension ValidationRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "validationReport" }
}
