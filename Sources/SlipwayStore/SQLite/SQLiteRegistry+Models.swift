import Foundation
import GRDB
import SlipwayCore

extension SQLiteRegistry: ModelStore {
    public func registerVersion(_ new: NewModelVersion, audit: AuditComposer<ModelVersionRecord>) throws -> ModelVersionRecord {
        // One immediate transaction: the next number is read and taken while no
        // other process can write, so two registrations never share a number.
        try pool.write { db in try registerVersion(db, new, audit: audit) }
    }

    /// Registers the next version of a model inside a write transaction.
    func registerVersion(_ db: Database, _ new: NewModelVersion, audit: AuditComposer<ModelVersionRecord>) throws -> ModelVersionRecord {
        let now = clock.now()
        try db.execute(sql: "INSERT OR IGNORE INTO model (name, createdAt) VALUES (?, ?)", arguments: [new.model, now])
        let next = (try Int.fetchOne(db, sql: "SELECT MAX(version) FROM modelVersion WHERE model = ?", arguments: [new.model]) ?? 0) + 1
        if let expected = new.expectedVersion, expected != next {
            throw RegistryConflict(reason: "the package was built as \(new.model):\(expected), but that number is taken "
                                   + "(the next is \(next)): another run registered a version meanwhile; run again")
        }
        var record = ModelVersionRecord(
            id: 0, model: new.model, version: next, runID: new.runID, pipeline: new.pipeline, gitCommit: new.gitCommit,
            artifactDigest: new.artifactDigest, createdAt: now, createdBy: new.createdBy, description: "", tags: [:],
            imageDigest: new.imageDigest)
        try db.execute(sql: """
            INSERT INTO modelVersion (model, version, runID, pipeline, gitCommit, artifactDigest, createdAt, createdBy, imageDigest)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [record.model, record.version, record.runID, record.pipeline, record.gitCommit,
                             record.artifactDigest, now, record.createdBy, record.imageDigest])
        record.id = db.lastInsertedRowID
        _ = try appendAudit(db, audit(record), at: now)
        return record
    }

    public func modelVersion(model: String, version: Int) throws -> ModelVersionRecord? {
        try pool.read { db in
            try ModelVersionRecord.fetchOne(db, sql: "SELECT * FROM modelVersion WHERE model = ? AND version = ?", arguments: [model, version])
        }
    }

    public func modelVersion(runID: Int64) throws -> ModelVersionRecord? {
        try pool.read { db in
            // Recorded when the run finished; a run finished before that was recorded registered it.
            try ModelVersionRecord.fetchOne(db, sql: """
                SELECT * FROM modelVersion WHERE id = coalesce((SELECT madeVersionID FROM run WHERE id = ?1),
                    (SELECT id FROM modelVersion WHERE runID = ?1 ORDER BY id DESC LIMIT 1))
                """, arguments: [runID])
        }
    }

    public func modelVersions(model: String, limit: Int) throws -> [ModelVersionRecord] {
        try pool.read { db in
            try ModelVersionRecord.fetchAll(db, sql: "SELECT * FROM modelVersion WHERE model = ? ORDER BY version DESC LIMIT ?",
                                            arguments: [model, limit])
        }
    }

    public func models() throws -> [ModelSummary] {
        try pool.read { db in
            var result: [ModelSummary] = []
            for row in try Row.fetchAll(db, sql: """
                SELECT model.name AS name, MAX(v.version) AS latest, COUNT(v.id) AS n
                FROM model LEFT JOIN modelVersion v ON v.model = model.name
                GROUP BY model.name ORDER BY model.name
                """) {
                let name: String = row["name"]
                let envs = try liveVersions(db, model: name)
                result.append(ModelSummary(name: name, latestVersion: row["latest"], versionCount: row["n"], environments: envs))
            }
            return result
        }
    }

    public func liveVersions(model: String) throws -> [String: Int] {
        try pool.read { try liveVersions($0, model: model) }
    }

    func liveVersions(_ db: Database, model: String) throws -> [String: Int] {
        var envs: [String: Int] = [:]
        for e in try Row.fetchAll(db, sql: """
            SELECT environment, version FROM aliasEvent
            WHERE id IN (SELECT MAX(id) FROM aliasEvent WHERE model = ? GROUP BY environment)
            """, arguments: [model]) {
            if let v: Int = e["version"] { envs[e["environment"]] = v }
        }
        return envs
    }

    public func setAlias(model: String, environment: String, version: Int?, actor: String, reason: String, cause: AliasCause,
                         beginning call: ((AliasEvent) -> DeployCallRecord)?, audit: AuditComposer<AliasEvent>) throws -> AliasEvent {
        try pool.write { db in
            try insertAlias(db, model: model, environment: environment, version: version, actor: actor, reason: reason, cause: cause, beginning: call,
                            audit: audit)
        }
    }

    func insertAlias(_ db: Database, model: String, environment: String, version: Int?, actor: String, reason: String, cause: AliasCause,
                     beginning call: ((AliasEvent) -> DeployCallRecord)?, audit: AuditComposer<AliasEvent>) throws -> AliasEvent {
        do {
            let now = clock.now()
            let previous = try Int.fetchOne(db, sql: """
                SELECT version FROM aliasEvent WHERE model = ? AND environment = ? ORDER BY id DESC LIMIT 1
                """, arguments: [model, environment])
            var event = AliasEvent(id: 0, model: model, environment: environment, version: version, previousVersion: previous,
                                   at: now, actor: actor, reason: reason, cause: cause)
            try db.execute(sql: """
                INSERT INTO aliasEvent (model, environment, version, previousVersion, at, actor, reason, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [model, environment, version, previous, now, actor, reason, cause.rawValue])
            event.id = db.lastInsertedRowID
            _ = try appendAudit(db, audit(event), at: now)
            if let call { _ = try insertDeployCall(db, call(event)) }
            return event
        }
    }

    public func alias(model: String, environment: String, at time: Millis?) throws -> Int? {
        try pool.read { db in
            try Int.fetchOne(db, sql: """
                SELECT version FROM aliasEvent WHERE model = ? AND environment = ? AND at <= ? ORDER BY at DESC, id DESC LIMIT 1
                """, arguments: [model, environment, time ?? Int64.max])
        }
    }

    public func aliasHistory(model: String, environment: String?, until time: Millis?) throws -> [AliasEvent] {
        try pool.read { db in
            if let environment {
                return try AliasEvent.fetchAll(db, sql: """
                    SELECT * FROM aliasEvent WHERE model = ? AND environment = ? AND at <= ? ORDER BY at, id
                    """, arguments: [model, environment, time ?? Int64.max])
            }
            return try AliasEvent.fetchAll(db, sql: "SELECT * FROM aliasEvent WHERE model = ? AND at <= ? ORDER BY at, id",
                                           arguments: [model, time ?? Int64.max])
        }
    }

    public func editVersion(model: String, version: Int, tags: [String: String?], description: String?, audit: AuditDraft) throws -> ModelVersionRecord {
        try pool.write { db in
            guard var record = try ModelVersionRecord.fetchOne(db, sql: "SELECT * FROM modelVersion WHERE model = ? AND version = ?",
                                                               arguments: [model, version]) else {
                throw NotFound(what: "\(model):\(version)")
            }
            for (k, v) in tags { record.tags[k] = v }
            if let description { record.description = description }
            try record.update(db)
            _ = try appendAudit(db, audit)
            return record
        }
    }

    public func recordImagePush(_ push: ImagePushRecord, audit: AuditComposer<ImagePushRecord>) throws -> ImagePushRecord {
        try pool.write { db in
            var record = push
            record.pushedAt = clock.now()
            try db.execute(sql: """
                INSERT INTO imagePush (model, version, reference, digest, pushedAt, pushedBy) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [record.model, record.version, record.reference, record.digest, record.pushedAt, record.pushedBy])
            record.id = db.lastInsertedRowID
            _ = try appendAudit(db, audit(record), at: record.pushedAt)
            return record
        }
    }

    public func imagePushes(model: String, version: Int) throws -> [ImagePushRecord] {
        try pool.read { db in
            try ImagePushRecord.fetchAll(db, sql: "SELECT * FROM imagePush WHERE model = ? AND version = ? ORDER BY id",
                                         arguments: [model, version])
        }
    }

    public func recordGateResults(_ results: [GateResultRecord], audit: (_ result: GateResultRecord, _ id: Int64) -> AuditDraft) throws {
        guard !results.isEmpty else { return }
        try pool.write { db in
            for r in results {
                try r.insert(db)
                _ = try appendAudit(db, audit(r, db.lastInsertedRowID))
            }
        }
    }

    public func gateResults(runID: Int64) throws -> [GateResultRecord] {
        try pool.read { db in
            try GateResultRecord.fetchAll(db, sql: "SELECT * FROM gateResult WHERE runID = ? ORDER BY id", arguments: [runID])
        }
    }

    public func recordArtifacts(runID: Int64, stageRunID: Int64, outputs: [String: String]) throws {
        guard !outputs.isEmpty else { return }
        try pool.write { try recordArtifacts($0, runID: runID, stageRunID: stageRunID, outputs: outputs) }
    }

    func recordArtifacts(_ db: Database, runID: Int64, stageRunID: Int64, outputs: [String: String]) throws {
        guard !outputs.isEmpty else { return }
        try db.cachedStatement(sql: "DELETE FROM artifact WHERE stageRunID = ?").execute(arguments: [stageRunID])
        try insertArtifacts(db, runID: runID, stageRunID: stageRunID, outputs: outputs)
    }

    /// Adds the artifacts of a stage run that has none yet.
    func insertArtifacts(_ db: Database, runID: Int64, stageRunID: Int64, outputs: [String: String]) throws {
        for (path, hash) in outputs.sorted(by: { $0.key < $1.key }) {
            try db.cachedStatement(sql: "INSERT INTO artifact (runID, stageRunID, path, hash) VALUES (?, ?, ?, ?)")
                .execute(arguments: [runID, stageRunID, path, hash])
        }
    }

    public func artifacts(runID: Int64) throws -> [String: String] {
        try pool.read { db in
            var result: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT path, hash FROM artifact WHERE runID = ?", arguments: [runID]) {
                result[row["path"]] = row["hash"]
            }
            return result
        }
    }

    public func latestRun(pipeline: String) throws -> RunRecord? {
        try pool.read { db in
            try RunRecord.fetchOne(db, sql: "SELECT * FROM run WHERE pipeline = ? ORDER BY id DESC LIMIT 1", arguments: [pipeline])
        }
    }
}

extension SQLiteRegistry: ValidationStore {
    public func recordValidation(_ record: ValidationRecord,
                                 audit: (_ record: ValidationRecord, _ id: Int64, _ runUser: String?) -> AuditDraft) throws {
        try pool.write { db in
            try record.insert(db)
            let id = db.lastInsertedRowID
            if let runID = record.runID {
                let user = try String.fetchOne(db, sql: "SELECT user FROM run WHERE id = ?", arguments: [runID])
                _ = try appendAudit(db, audit(record, id, user))
            }
        }
    }

    public func validations(runID: Int64) throws -> [ValidationRecord] {
        try pool.read { try ValidationRecord.fetchAll($0, sql: "SELECT * FROM validationReport WHERE runID = ? ORDER BY id", arguments: [runID]) }
    }

    public func validations(runIDs: [Int64]) throws -> [ValidationRecord] {
        guard !runIDs.isEmpty else { return [] }
        let marks = Array(repeating: "?", count: runIDs.count).joined(separator: ", ")
        return try pool.read {
            try ValidationRecord.fetchAll($0, sql: "SELECT * FROM validationReport WHERE runID IN (\(marks)) ORDER BY id",
                                          arguments: StatementArguments(runIDs))
        }
    }

    public func copyValidations(fromStageRun source: Int64, to target: StageRunRecord) throws {
        try pool.write { try copyValidations($0, fromStageRun: source, to: target) }
    }

    func copyValidations(_ db: Database, fromStageRun source: Int64, to target: StageRunRecord) throws {
        try db.cachedStatement(sql: """
            INSERT INTO validationReport (runID, stageRunID, dataset, passed, report, createdAt)
            SELECT ?, ?, dataset, passed, report, createdAt FROM validationReport WHERE stageRunID = ? ORDER BY id
            """).execute(arguments: [target.runID, target.id, source])
    }
}

/// A write refused because the registry's state does not allow it (a run
/// finished twice, say).
public struct RegistryConflict: SlipwayError, Sendable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var exitStatus: ExitStatus { .internalError }
    public var description: String { reason }
}

/// A model version (or other record) that does not exist.
public struct NotFound: SlipwayError, Sendable {
    public var exitStatus: ExitStatus { .usage }
    public var what: String
    public var description: String { "no \(what)" }
}
