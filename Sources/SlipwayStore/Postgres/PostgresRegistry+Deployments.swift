import Foundation
import SlipwayCore
import SlipwayPostgres

private let active = "state IN ('progressing', 'paused', 'watching')"

extension PostgresRegistry: DeploymentStore {
    public func startDeployment(_ new: NewDeployment, audit events: DeploymentStartEvents) throws -> (deployment: DeploymentRecord, aborted: DeploymentRecord?) {
        try audited { c, audit in
            let now = clock.now()
            for draft in new.audit { _ = try audit.append(draft, at: now) }
            // Under the audit lock: two deployments started at once in one
            // environment end one another in the order they commit.
            var aborted = try c.execute("""
                SELECT \(DeploymentRecord.pgColumns) FROM deployment WHERE environment = $1 AND \(active) ORDER BY id DESC LIMIT 1 FOR UPDATE
                """, [new.environment]).first.map(DeploymentRecord.init(pg:))
            if let current = aborted {
                let old = current.aborted(by: new, at: now)
                try save(c, old)
                _ = try audit.append(events.ended(old), at: now)
                aborted = old
            }
            var record = DeploymentRecord.starting(new, at: now)
            record.id = try c.execute("""
                INSERT INTO deployment (environment, model, version, stableVersion, steps, state, phase, step, traffic, inconclusive,
                                        startedAt, updatedAt, actor, reason, detail)
                VALUES ($1, $2, $3, $4, $5, 'progressing', 'deploy', 0, 0, 0, $6, $6, $7, $8, $9) RETURNING id
                """, [record.environment, record.model, record.version, record.stableVersion, record.steps, now,
                      record.actor, record.reason, record.detail]).scalar(Int64.self)
            _ = try audit.append(events.started(record), at: now)
            if let use = new.approval { try useApproval(c, &audit, use, deploymentID: record.id, at: now, compose: events.approvalUsed) }
            return (record, aborted)
        }
    }

    /// Writes every field of a deployment's row.
    private func save(_ c: PGConnection, _ d: DeploymentRecord) throws {
        try c.execute("""
            UPDATE deployment SET environment = $2, model = $3, version = $4, stableVersion = $5, steps = $6, state = $7, phase = $8,
                step = $9, traffic = $10, dueAt = $11, inconclusive = $12, watchUntil = $13, ending = $14, startedAt = $15,
                updatedAt = $16, actor = $17, reason = $18, detail = $19
            WHERE id = $1
            """, [d.id, d.environment, d.model, d.version, d.stableVersion, d.steps, d.state.rawValue, d.phase.rawValue, d.step,
                  d.traffic, d.dueAt, d.inconclusive, d.watchUntil, d.ending?.rawValue, d.startedAt, d.updatedAt, d.actor, d.reason,
                  d.detail])
    }

    public func deployment(id: Int64) throws -> DeploymentRecord? {
        try pool.read { c in
            try c.execute("SELECT \(DeploymentRecord.pgColumns) FROM deployment WHERE id = $1", [id]).first.map(DeploymentRecord.init(pg:))
        }
    }

    public func activeDeployment(environment: String) throws -> DeploymentRecord? {
        try pool.read { c in
            try c.execute("SELECT \(DeploymentRecord.pgColumns) FROM deployment WHERE environment = $1 AND \(active) ORDER BY id DESC LIMIT 1",
                          [environment]).first.map(DeploymentRecord.init(pg:))
        }
    }

    public func activeDeployments() throws -> [DeploymentRecord] {
        try pool.read { c in
            try c.execute("SELECT \(DeploymentRecord.pgColumns) FROM deployment WHERE \(active) ORDER BY id").map(DeploymentRecord.init(pg:))
        }
    }

    public func deployments(environment: String?, limit: Int) throws -> [DeploymentRecord] {
        try pool.read { c in
            if let environment {
                return try c.execute("SELECT \(DeploymentRecord.pgColumns) FROM deployment WHERE environment = $1 ORDER BY id DESC LIMIT $2",
                                     [environment, max(0, limit)]).map(DeploymentRecord.init(pg:))
            }
            return try c.execute("SELECT \(DeploymentRecord.pgColumns) FROM deployment ORDER BY id DESC LIMIT $1", [max(0, limit)])
                .map(DeploymentRecord.init(pg:))
        }
    }

    public func setAlias(for deployment: DeploymentRecord, version: Int, actor: String, reason: String, cause: AliasCause,
                         audit compose: AuditComposer<AliasEvent>) throws -> AliasEvent {
        try audited { c, audit in
            guard let current = try c.execute("SELECT \(DeploymentRecord.pgColumns) FROM deployment WHERE id = $1 FOR UPDATE", [deployment.id])
                .first.map(DeploymentRecord.init(pg:)) else {
                throw NotFound(what: "deployment \(deployment.id)")
            }
            guard current.updatedAt == deployment.updatedAt else {
                throw RegistryConflict(reason: "deployment \(deployment.id) changed meanwhile (now \(current.state.rawValue): \(current.detail))")
            }
            return try insertAlias(c, &audit, model: deployment.model, environment: deployment.environment, version: version, actor: actor,
                                   reason: reason, cause: cause, beginning: nil, compose: compose)
        }
    }

    public func updateDeployment(_ deployment: DeploymentRecord, expectedUpdatedAt: Millis, audit drafts: [AuditDraft]) throws {
        try audited { c, audit in try saveDeployment(c, &audit, deployment, expectedUpdatedAt: expectedUpdatedAt, drafts: drafts) }
    }

    /// Saves a deployment unless its row changed since `expectedUpdatedAt` (the row is locked while checked).
    private func saveDeployment(_ c: PGConnection, _ audit: inout AuditAppender, _ deployment: DeploymentRecord, expectedUpdatedAt: Millis,
                                drafts: [AuditDraft]) throws {
        guard let current = try c.execute("SELECT \(DeploymentRecord.pgColumns) FROM deployment WHERE id = $1 FOR UPDATE", [deployment.id])
            .first.map(DeploymentRecord.init(pg:)) else {
            throw NotFound(what: "deployment \(deployment.id)")
        }
        guard current.updatedAt == expectedUpdatedAt else {
            throw RegistryConflict(reason: "deployment \(deployment.id) changed meanwhile (now \(current.state.rawValue): \(current.detail))")
        }
        let now = clock.now()
        var d = deployment
        d.updatedAt = max(now, expectedUpdatedAt + 1)
        try save(c, d)
        for draft in drafts { _ = try audit.append(draft, at: now) }
    }

    public func deployCall(callID: String) throws -> DeployCallRecord? {
        try pool.read { c in
            try c.execute("SELECT \(DeployCallRecord.pgColumns) FROM deployCall WHERE callID = $1", [callID]).first.map(DeployCallRecord.init(pg:))
        }
    }

    public func beginDeployCall(_ call: DeployCallRecord, takeOver: (DeployCallRecord) -> Bool) throws -> (call: DeployCallRecord, mine: Bool) {
        try pool.write { c in
            // Two drivers beginning the same call: the second waits on the
            // first's row (or its insert) and then sees it.
            let inserted = try c.execute("""
                INSERT INTO deployCall (callID, deploymentID, environment, model, version, stableVersion, traffic, startedAt, log, owner)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (callID) DO NOTHING RETURNING id
                """, [call.callID, call.deploymentID, call.environment, call.model, call.version, call.stableVersion, call.traffic,
                      call.startedAt, call.log, call.owner])
            if let row = inserted.first {
                var mine = call
                mine.id = try row.decode(0)
                return (mine, true)
            }
            guard var existing = try c.execute("SELECT \(DeployCallRecord.pgColumns) FROM deployCall WHERE callID = $1 FOR UPDATE", [call.callID])
                .first.map(DeployCallRecord.init(pg:)) else {
                throw RegistryConflict(reason: "deploy call \(call.callID) vanished while it was begun")
            }
            guard existing.finishedAt == nil, takeOver(existing) else { return (existing, false) }
            try c.execute("UPDATE deployCall SET owner = $1, startedAt = $2 WHERE callID = $3", [call.owner, call.startedAt, call.callID])
            existing.owner = call.owner
            return (existing, true)
        }
    }

    public func finishDeployCall(callID: String, outcome: String, ok: Bool, then deployment: DeploymentRecord?, audit drafts: [AuditDraft]) throws {
        try audited { c, audit in
            let now = clock.now()
            try c.execute("UPDATE deployCall SET finishedAt = $1, outcome = $2, ok = $3 WHERE callID = $4", [now, outcome, ok, callID])
            if let deployment {
                try saveDeployment(c, &audit, deployment, expectedUpdatedAt: deployment.updatedAt, drafts: drafts)
            } else {
                for draft in drafts { _ = try audit.append(draft, at: now) }
            }
        }
    }

    public func deployCalls(environment: String?, limit: Int) throws -> [DeployCallRecord] {
        try pool.read { c in
            if let environment {
                return try c.execute("SELECT \(DeployCallRecord.pgColumns) FROM deployCall WHERE environment = $1 ORDER BY id DESC LIMIT $2",
                                     [environment, max(0, limit)]).map(DeployCallRecord.init(pg:))
            }
            return try c.execute("SELECT \(DeployCallRecord.pgColumns) FROM deployCall ORDER BY id DESC LIMIT $1", [max(0, limit)])
                .map(DeployCallRecord.init(pg:))
        }
    }

    public func unfinishedDeployCalls() throws -> [DeployCallRecord] {
        try pool.read { c in
            try c.execute("SELECT \(DeployCallRecord.pgColumns) FROM deployCall WHERE finishedAt IS NULL ORDER BY id").map(DeployCallRecord.init(pg:))
        }
    }

    public func recordAnalysis(_ samples: [AnalysisSampleRecord]) throws {
        guard !samples.isEmpty else { return }
        try pool.write { c in
            for s in samples {
                try c.execute("""
                    INSERT INTO analysisSample (deploymentID, step, metric, value, production, condition, verdict, explanation, at,
                                                round, measurement, source, query, answer)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                    """, [s.deploymentID, s.step, s.metric, s.value, s.production, s.condition, s.verdict, s.explanation, s.at,
                          s.round, s.measurement, s.source, s.query, s.answer])
            }
        }
    }

    public func analysisSamples(deploymentID: Int64) throws -> [AnalysisSampleRecord] {
        try pool.read { c in
            try c.execute("SELECT \(AnalysisSampleRecord.pgColumns) FROM analysisSample WHERE deploymentID = $1 ORDER BY id", [deploymentID])
                .map(AnalysisSampleRecord.init(pg:))
        }
    }

    public func analysisSamples(deploymentID: Int64, step: Int, round: Int) throws -> [AnalysisSampleRecord] {
        try pool.read { c in
            try c.execute("""
                SELECT \(AnalysisSampleRecord.pgColumns) FROM analysisSample
                WHERE deploymentID = $1 AND step = $2 AND round = $3 ORDER BY id
                """, [deploymentID, step, round]).map(AnalysisSampleRecord.init(pg:))
        }
    }
}
