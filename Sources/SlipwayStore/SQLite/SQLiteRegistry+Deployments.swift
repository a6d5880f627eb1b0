import Foundation
import GRDB
import SlipwayCore

extension DeploymentRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "deployment" }
}

extension DeployCallRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "deployCall" }
}

extension AnalysisSampleRecord: FetchableRecord, PersistableRecord {
    public static var databaseTableName: String { "analysisSample" }
}

private let active = "state IN ('progressing', 'paused', 'watching')"

extension SQLiteRegistry: DeploymentStore {
    public func startDeployment(_ new: NewDeployment, audit events: DeploymentStartEvents) throws -> (deployment: DeploymentRecord, aborted: DeploymentRecord?) {
        try pool.write { db in
            let now = clock.now()
            for draft in new.audit { _ = try appendAudit(db, draft, at: now) }
            var aborted = try DeploymentRecord.fetchOne(db, sql: "SELECT * FROM deployment WHERE environment = ? AND \(active) ORDER BY id DESC LIMIT 1",
                                                        arguments: [new.environment])
            if let current = aborted {
                let old = current.aborted(by: new, at: now)
                try old.update(db)
                _ = try appendAudit(db, events.ended(old), at: now)
                aborted = old
            }
            var record = DeploymentRecord.starting(new, at: now)
            try db.execute(sql: """
                INSERT INTO deployment (environment, model, version, stableVersion, steps, state, phase, step, traffic, inconclusive,
                                        startedAt, updatedAt, actor, reason, detail)
                VALUES (?, ?, ?, ?, ?, 'progressing', 'deploy', 0, 0, 0, ?, ?, ?, ?, ?)
                """, arguments: [record.environment, record.model, record.version, record.stableVersion, record.steps, now, now,
                                 record.actor, record.reason, record.detail])
            record.id = db.lastInsertedRowID
            _ = try appendAudit(db, events.started(record), at: now)
            if let use = new.approval { try useApproval(db, use, deploymentID: record.id, at: now, audit: events.approvalUsed) }
            return (record, aborted)
        }
    }

    public func deployment(id: Int64) throws -> DeploymentRecord? {
        try pool.read { try DeploymentRecord.fetchOne($0, key: id) }
    }

    public func activeDeployment(environment: String) throws -> DeploymentRecord? {
        try pool.read {
            try DeploymentRecord.fetchOne($0, sql: "SELECT * FROM deployment WHERE environment = ? AND \(active) ORDER BY id DESC LIMIT 1",
                                          arguments: [environment])
        }
    }

    public func activeDeployments() throws -> [DeploymentRecord] {
        try pool.read { try DeploymentRecord.fetchAll($0, sql: "SELECT * FROM deployment WHERE \(active) ORDER BY id") }
    }

    public func deployments(environment: String?, limit: Int) throws -> [DeploymentRecord] {
        try pool.read { db in
            if let environment {
                return try DeploymentRecord.fetchAll(db, sql: "SELECT * FROM deployment WHERE environment = ? ORDER BY id DESC LIMIT ?",
                                                     arguments: [environment, limit])
            }
            return try DeploymentRecord.fetchAll(db, sql: "SELECT * FROM deployment ORDER BY id DESC LIMIT ?", arguments: [limit])
        }
    }

    public func setAlias(for deployment: DeploymentRecord, version: Int, actor: String, reason: String, cause: AliasCause,
                         audit: AuditComposer<AliasEvent>) throws -> AliasEvent {
        try pool.write { db in
            guard let current = try DeploymentRecord.fetchOne(db, key: deployment.id) else { throw NotFound(what: "deployment \(deployment.id)") }
            guard current.updatedAt == deployment.updatedAt else {
                throw RegistryConflict(reason: "deployment \(deployment.id) changed meanwhile (now \(current.state.rawValue): \(current.detail))")
            }
            return try insertAlias(db, model: deployment.model, environment: deployment.environment, version: version, actor: actor,
                                   reason: reason, cause: cause, beginning: nil, audit: audit)
        }
    }

    public func updateDeployment(_ deployment: DeploymentRecord, expectedUpdatedAt: Millis, audit: [AuditDraft]) throws {
        try pool.write { db in try saveDeployment(db, deployment, expectedUpdatedAt: expectedUpdatedAt, audit: audit) }
    }

    private func saveDeployment(_ db: Database, _ deployment: DeploymentRecord, expectedUpdatedAt: Millis, audit: [AuditDraft]) throws {
        guard let current = try DeploymentRecord.fetchOne(db, key: deployment.id) else { throw NotFound(what: "deployment \(deployment.id)") }
        guard current.updatedAt == expectedUpdatedAt else {
            throw RegistryConflict(reason: "deployment \(deployment.id) changed meanwhile (now \(current.state.rawValue): \(current.detail))")
        }
        let now = clock.now()
        var d = deployment
        d.updatedAt = max(now, expectedUpdatedAt + 1)
        try d.update(db)
        for draft in audit { _ = try appendAudit(db, draft, at: now) }
    }

    public func deployCall(callID: String) throws -> DeployCallRecord? {
        try pool.read { try DeployCallRecord.fetchOne($0, sql: "SELECT * FROM deployCall WHERE callID = ?", arguments: [callID]) }
    }

    public func beginDeployCall(_ call: DeployCallRecord, takeOver: (DeployCallRecord) -> Bool) throws -> (call: DeployCallRecord, mine: Bool) {
        try pool.write { db in
            if var existing = try DeployCallRecord.fetchOne(db, sql: "SELECT * FROM deployCall WHERE callID = ?", arguments: [call.callID]) {
                guard existing.finishedAt == nil, takeOver(existing) else { return (existing, false) }
                try db.execute(sql: "UPDATE deployCall SET owner = ?, startedAt = ? WHERE callID = ?", arguments: [call.owner, call.startedAt, call.callID])
                existing.owner = call.owner
                return (existing, true)
            }
            return (try insertDeployCall(db, call), true)
        }
    }

    func insertDeployCall(_ db: Database, _ call: DeployCallRecord) throws -> DeployCallRecord {
        var c = call
        try db.execute(sql: """
            INSERT INTO deployCall (callID, deploymentID, environment, model, version, stableVersion, traffic, startedAt, log, owner)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [c.callID, c.deploymentID, c.environment, c.model, c.version, c.stableVersion, c.traffic, c.startedAt, c.log, c.owner])
        c.id = db.lastInsertedRowID
        return c
    }

    public func finishDeployCall(callID: String, outcome: String, ok: Bool, then deployment: DeploymentRecord?, audit: [AuditDraft]) throws {
        try pool.write { db in
            let now = clock.now()
            try db.execute(sql: "UPDATE deployCall SET finishedAt = ?, outcome = ?, ok = ? WHERE callID = ?", arguments: [now, outcome, ok, callID])
            if let deployment {
                try saveDeployment(db, deployment, expectedUpdatedAt: deployment.updatedAt, audit: audit)
            } else {
                for draft in audit { _ = try appendAudit(db, draft, at: now) }
            }
        }
    }

    public func deployCalls(environment: String?, limit: Int) throws -> [DeployCallRecord] {
        try pool.read { db in
            if let environment {
                return try DeployCallRecord.fetchAll(db, sql: "SELECT * FROM deployCall WHERE environment = ? ORDER BY id DESC LIMIT ?",
                                                     arguments: [environment, limit])
            }
            return try DeployCallRecord.fetchAll(db, sql: "SELECT * FROM deployCall ORDER BY id DESC LIMIT ?", arguments: [limit])
        }
    }

    public func unfinishedDeployCalls() throws -> [DeployCallRecord] {
        try pool.read { try DeployCallRecord.fetchAll($0, sql: "SELECT * FROM deployCall WHERE finishedAt IS NULL ORDER BY id") }
    }

    public func recordAnalysis(_ samples: [AnalysisSampleRecord]) throws {
        guard !samples.isEmpty else { return }
        try pool.write { db in
            for s in samples {
                try db.execute(sql: """
                    INSERT INTO analysisSample (deploymentID, step, metric, value, production, condition, verdict, explanation, at,
                                                round, measurement, source, query, answer)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [s.deploymentID, s.step, s.metric, s.value, s.production, s.condition, s.verdict, s.explanation, s.at,
                                     s.round, s.measurement, s.source, s.query, s.answer])
            }
        }
    }

    public func analysisSamples(deploymentID: Int64) throws -> [AnalysisSampleRecord] {
        try pool.read { try AnalysisSampleRecord.fetchAll($0, sql: "SELECT * FROM analysisSample WHERE deploymentID = ? ORDER BY id", arguments: [deploymentID]) }
    }

    public func analysisSamples(deploymentID: Int64, step: Int, round: Int) throws -> [AnalysisSampleRecord] {
        try pool.read {
            try AnalysisSampleRecord.fetchAll($0, sql: "SELECT * FROM analysisSample WHERE deploymentID = ? AND step = ? AND round = ? ORDER BY id",
                                              arguments: [deploymentID, step, round])
        }
    }
}
