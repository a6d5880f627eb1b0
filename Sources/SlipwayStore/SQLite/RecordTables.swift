import Foundation
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

    /// Read by column name (a run can have 10,000 stage runs; `Decodable` costs ten times as much).
    public init(row: Row) throws {
        let raw: String = row["status"]
        guard let status = StageStatus(rawValue: raw) else {
            throw RegistryConflict(reason: "stage run \(row["id"] as Int64) has a status this build does not know: '\(raw)'")
        }
        self.init(id: row["id"], runID: row["runID"], stage: row["stage"], status: status,
                  startedAt: row["startedAt"], endedAt: row["endedAt"], exitCode: row["exitCode"], cacheKey: row["cacheKey"],
                  reason: row["reason"], inputs: row["inputs"], logPath: row["logPath"], message: row["message"], pid: row["pid"],
                  job: row["job"], progressDone: row["progressDone"], progressTotal: row["progressTotal"],
                  jobStatus: try (row["jobStatus"] as Data?).map(JobStatus.decode))
    }
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

    /// Read by column name; the outputs are JSON, as `Encodable` wrote them.
    public init(row: Row) throws {
        let outputs: Data = row["outputs"]
        self.init(key: row["key"], pipeline: row["pipeline"], stage: row["stage"], stageRunID: row["stageRunID"],
                  outputs: try FlatJSON.decodeStrings(outputs), createdAt: row["createdAt"])
    }
}

extension FileState: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "fileState" }

    public init(row: Row) {
        self.init(path: row["path"], size: row["size"], mtimeNanos: row["mtimeNanos"], inode: row["inode"], hash: row["hash"])
    }
}

extension AuditEvent: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "auditEvent" }
}

extension ModelVersionRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "modelVersion" }
}

extension ImagePushRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "imagePush" }
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
