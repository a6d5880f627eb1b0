import Foundation
import SlipwayCore
import SlipwayPostgres

// Rows → the plain records, by column name (names fold to lower case on
// both sides, so `startedAt` finds `startedat`). The column lists the
// queries select are kept next to each decoder.

extension PGRow {
    /// A column holding an enum's raw value; an unknown value is a decoding error.
    func decodeEnum<E: RawRepresentable>(_ name: String, as type: E.Type = E.self) throws -> E where E.RawValue == String {
        let raw: String = try decode(name)
        guard let value = E(rawValue: raw) else {
            throw PGError(kind: .decoding, message: "column \(name): '\(raw)' is not a \(E.self)")
        }
        return value
    }

    /// A column holding a JSON object of strings (tags, cache outputs).
    func decodeJSONMap(_ name: String) throws -> [String: String] {
        let text: String = try decode(name)
        do {
            return try FlatJSON.decodeStrings(Data(text.utf8))
        } catch {
            throw PGError(kind: .decoding, message: "column \(name): not a JSON object of strings")
        }
    }
}

extension PGRow {
    /// A nullable column holding a job's status (read by ``JobStatus/decode(_:)``).
    func decodeJobStatus(_ name: String) throws -> JobStatus? {
        guard let text: String = try decode(name) else { return nil }
        do {
            return try JobStatus.decode(Data(text.utf8))
        } catch {
            throw PGError(kind: .decoding, message: "column \(name): not a JSON JobStatus")
        }
    }
}

func jsonMap(_ map: [String: String]) throws -> String {
    String(decoding: try JSONEncoder.sorted.encode(map), as: UTF8.self)
}

extension RunRecord {
    static let pgColumns = "id, pipeline, trigger, status, startedAt, endedAt, pid, host, heartbeatAt, \"user\", gitCommit, gitDirty, slipwayVersion, message, cancelRequestedAt"

    init(pg row: PGRow) throws {
        self.init(id: try row["id"], pipeline: try row["pipeline"], trigger: try row["trigger"],
                  status: RunStatus(rawValue: try row["status"]) ?? .interrupted, startedAt: try row["startedAt"],
                  endedAt: try row["endedAt"], pid: try row["pid"], host: try row["host"], heartbeatAt: try row["heartbeatAt"],
                  user: try row["user"], gitCommit: try row["gitCommit"], gitDirty: try row["gitDirty"],
                  slipwayVersion: try row["slipwayVersion"], message: try row["message"],
                  cancelRequestedAt: try row["cancelRequestedAt"])
    }
}

extension StageRunRecord {
    static let pgColumns = "id, runID, stage, status, startedAt, endedAt, exitCode, cacheKey, reason, inputs, logPath, message, pid, job, progressDone, progressTotal, jobStatus"

    init(pg row: PGRow) throws {
        self.init(id: try row["id"], runID: try row["runID"], stage: try row["stage"], status: try row.decodeEnum("status"),
                  startedAt: try row["startedAt"], endedAt: try row["endedAt"], exitCode: try row["exitCode"],
                  cacheKey: try row["cacheKey"], reason: try row["reason"], inputs: try row["inputs"], logPath: try row["logPath"],
                  message: try row["message"], pid: try row["pid"], job: try row["job"], progressDone: try row["progressDone"],
                  progressTotal: try row["progressTotal"], jobStatus: try row.decodeJobStatus("jobStatus"))
    }
}

extension DatasetRecord {
    static let pgColumns = "id, path, hash, size, addedBy, addedAt"

    init(pg row: PGRow) throws {
        self.init(id: try row["id"], path: try row["path"], hash: try row["hash"], size: try row["size"],
                  addedBy: try row["addedBy"], addedAt: try row["addedAt"])
    }
}

extension CacheEntry {
    static let pgColumns = "key, pipeline, stage, stageRunID, outputs, createdAt"

    init(pg row: PGRow) throws {
        self.init(key: try row["key"], pipeline: try row["pipeline"], stage: try row["stage"], stageRunID: try row["stageRunID"],
                  outputs: try row.decodeJSONMap("outputs"), createdAt: try row["createdAt"])
    }
}

extension FileState {
    init(pg row: PGRow) throws {
        self.init(path: try row["path"], size: try row["size"], mtimeNanos: try row["mtimeNanos"], inode: try row["inode"],
                  hash: try row["hash"])
    }
}

extension AuditEvent {
    static let pgColumns = "seq, timestamp, actor, kind, subject, payload, prevHash, hash"

    /// By position (the audit log is read a million rows at a time by `audit verify`).
    init(pg row: PGRow) throws {
        self.init(seq: try row[0], timestamp: try row[1], actor: try row[2], kind: try row[3], subject: try row[4],
                  payload: try row[5], prevHash: try row[6], hash: try row[7])
    }
}

extension ModelVersionRecord {
    static let pgColumns = "id, model, version, runID, pipeline, gitCommit, artifactDigest, createdAt, createdBy, description, tags, imageDigest"

    init(pg row: PGRow) throws {
        self.init(id: try row["id"], model: try row["model"], version: try row["version"], runID: try row["runID"],
                  pipeline: try row["pipeline"], gitCommit: try row["gitCommit"], artifactDigest: try row["artifactDigest"],
                  createdAt: try row["createdAt"], createdBy: try row["createdBy"], description: try row["description"],
                  tags: try row.decodeJSONMap("tags"), imageDigest: try row["imageDigest"])
    }
}

extension AliasEvent {
    static let pgColumns = "id, model, environment, version, previousVersion, at, actor, reason, cause"

    init(pg row: PGRow) throws {
        let cause: String? = try row["cause"]
        self.init(id: try row["id"], model: try row["model"], environment: try row["environment"], version: try row["version"],
                  previousVersion: try row["previousVersion"], at: try row["at"], actor: try row["actor"], reason: try row["reason"],
                  cause: try cause.map { raw in
                      guard let value = AliasCause(rawValue: raw) else {
                          throw PGError(kind: .decoding, message: "column cause: '\(raw)' is not an AliasCause")
                      }
                      return value
                  })
    }
}

extension GateResultRecord {
    static let pgColumns = "runID, stageRunID, stage, metric, condition, candidate, production, threshold, baselineModel, baselineVersion, passed, explanation"

    init(pg row: PGRow) throws {
        self.init(runID: try row["runID"], stageRunID: try row["stageRunID"], stage: try row["stage"], metric: try row["metric"],
                  condition: try row["condition"], candidate: try row["candidate"], production: try row["production"],
                  threshold: try row["threshold"], baselineModel: try row["baselineModel"], baselineVersion: try row["baselineVersion"],
                  passed: try row["passed"], explanation: try row["explanation"])
    }
}

extension ApprovalVoteRecord {
    init(pg row: PGRow) throws {
        self.init(id: try row["id"], requestID: try row["requestID"], approver: try row["approver"],
                  keyFingerprint: try row["keyFingerprint"], decision: try row.decodeEnum("decision"), comment: try row["comment"],
                  at: try row["at"], payload: try row["payload"], signature: try row["signature"])
    }
}

extension ApprovalRequestRecord {
    init(pg row: PGRow) throws {
        self.init(id: try row["id"], model: try row["model"], version: try row["version"], environment: try row["environment"],
                  packageDigest: try row["packageDigest"], reasons: try row["reasons"], evidence: try row["evidence"],
                  requester: try row["requester"], createdAt: try row["createdAt"], expiresAt: try row["expiresAt"],
                  requiredApprovals: try row["requiredApprovals"], status: try row.decodeEnum("status"),
                  resolvedAt: try row["resolvedAt"], deploymentID: try row["deploymentID"], reason: try row["reason"])
    }
}

extension ValidationRecord {
    static let pgColumns = "runID, stageRunID, dataset, passed, report, createdAt"

    init(pg row: PGRow) throws {
        self.init(runID: try row["runID"], stageRunID: try row["stageRunID"], dataset: try row["dataset"], passed: try row["passed"],
                  report: try row["report"], createdAt: try row["createdAt"])
    }
}

extension DeploymentRecord {
    static let pgColumns = """
        id, environment, model, version, stableVersion, steps, state, phase, step, traffic, dueAt, inconclusive, watchUntil, ending,
        startedAt, updatedAt, actor, reason, detail
        """

    init(pg row: PGRow) throws {
        let ending: String? = try row["ending"]
        self.init(id: try row["id"], environment: try row["environment"], model: try row["model"], version: try row["version"],
                  stableVersion: try row["stableVersion"], steps: try row["steps"], state: try row.decodeEnum("state"),
                  phase: try row.decodeEnum("phase"), step: try row["step"], traffic: try row["traffic"], dueAt: try row["dueAt"],
                  inconclusive: try row["inconclusive"], watchUntil: try row["watchUntil"],
                  ending: try ending.map { raw in
                      guard let state = DeploymentState(rawValue: raw) else {
                          throw PGError(kind: .decoding, message: "column ending: '\(raw)' is not a DeploymentState")
                      }
                      return state
                  },
                  startedAt: try row["startedAt"], updatedAt: try row["updatedAt"], actor: try row["actor"], reason: try row["reason"],
                  detail: try row["detail"])
    }
}

extension DeployCallRecord {
    static let pgColumns = "id, callID, deploymentID, environment, model, version, stableVersion, traffic, startedAt, finishedAt, outcome, ok, log, owner"

    init(pg row: PGRow) throws {
        self.init(id: try row["id"], callID: try row["callID"], deploymentID: try row["deploymentID"], environment: try row["environment"],
                  model: try row["model"], version: try row["version"], stableVersion: try row["stableVersion"], traffic: try row["traffic"],
                  startedAt: try row["startedAt"], finishedAt: try row["finishedAt"], outcome: try row["outcome"], ok: try row["ok"],
                  log: try row["log"], owner: try row["owner"])
    }
}

extension AnalysisSampleRecord {
    static let pgColumns = "id, deploymentID, step, metric, value, production, condition, verdict, explanation, at, round, measurement, source, query, answer"

    init(pg row: PGRow) throws {
        self.init(id: try row["id"], deploymentID: try row["deploymentID"], step: try row["step"], metric: try row["metric"],
                  value: try row["value"], production: try row["production"], condition: try row["condition"], verdict: try row["verdict"],
                  explanation: try row["explanation"], at: try row["at"], round: try row["round"], measurement: try row["measurement"],
                  source: try row["source"], query: try row["query"], answer: try row["answer"])
    }
}

extension MonitorBatchRecord {
    static let pgColumns = "id, monitor, contentHash, source, rows, receivedAt, status, driftedFeatures, features, driftShare, reason, performance"

    init(pg row: PGRow) throws {
        self.init(id: try row["id"], monitor: try row["monitor"], contentHash: try row["contentHash"], source: try row["source"],
                  rows: try row["rows"], receivedAt: try row["receivedAt"], status: try row.decodeEnum("status"),
                  driftedFeatures: try row["driftedFeatures"], features: try row["features"], driftShare: try row["driftShare"],
                  reason: try row["reason"], performance: try row["performance"])
    }
}

extension MonitorScoreRecord {
    static let pgColumns = "batchID, monitor, feature, method, score, threshold, drifted, histogram"

    init(pg row: PGRow) throws {
        self.init(batchID: try row["batchID"], monitor: try row["monitor"], feature: try row["feature"], method: try row["method"],
                  score: try row["score"], threshold: try row["threshold"], drifted: try row["drifted"], histogram: try row["histogram"])
    }
}

extension MonitorAlertRecord {
    static let pgColumns = "id, monitor, batchID, kind, detail, at, triggerID, suppressed"

    init(pg row: PGRow) throws {
        self.init(id: try row["id"], monitor: try row["monitor"], batchID: try row["batchID"], kind: try row["kind"],
                  detail: try row["detail"], at: try row["at"], triggerID: try row["triggerID"], suppressed: try row["suppressed"])
    }
}

extension TriggerEventRecord {
    static let pgColumns = "id, pipeline, kind, key, cause, firedAt, state, runID"

    init(pg row: PGRow) throws {
        self.init(id: try row["id"], pipeline: try row["pipeline"], kind: try row["kind"], key: try row["key"], cause: try row["cause"],
                  firedAt: try row["firedAt"], state: try row.decodeEnum("state"), runID: try row["runID"])
    }
}
