import Foundation
import SlipwayCore
import SlipwayPostgres

extension PostgresRegistry: ModelStore {
    public func registerVersion(_ new: NewModelVersion, audit compose: AuditComposer<ModelVersionRecord>) throws -> ModelVersionRecord {
        try audited { c, audit in try registerVersion(c, &audit, new, compose: compose) }
    }

    /// Registers the next version of a model, inside an audited transaction
    /// (whose audit lock also serialises the numbering: two registrations
    /// never read the same highest number).
    func registerVersion(_ c: PGConnection, _ audit: inout AuditAppender, _ new: NewModelVersion,
                         compose: AuditComposer<ModelVersionRecord>) throws -> ModelVersionRecord {
        let now = clock.now()
        try c.execute("INSERT INTO model (name, createdAt) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", [new.model, now])
        let next = try c.execute("SELECT coalesce(max(version), 0) + 1 FROM modelVersion WHERE model = $1", [new.model]).scalar(Int.self)
        if let expected = new.expectedVersion, expected != next {
            throw RegistryConflict(reason: "the package was built as \(new.model):\(expected), but that number is taken "
                                   + "(the next is \(next)): another run registered a version meanwhile; run again")
        }
        var record = ModelVersionRecord(
            id: 0, model: new.model, version: next, runID: new.runID, pipeline: new.pipeline, gitCommit: new.gitCommit,
            artifactDigest: new.artifactDigest, createdAt: now, createdBy: new.createdBy, description: "", tags: [:],
            imageDigest: new.imageDigest)
        record.id = try c.execute("""
            INSERT INTO modelVersion (model, version, runID, pipeline, gitCommit, artifactDigest, createdAt, createdBy, imageDigest)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id
            """, [record.model, record.version, record.runID, record.pipeline, record.gitCommit, record.artifactDigest, now,
                  record.createdBy, record.imageDigest]).scalar(Int64.self)
        _ = try audit.append(compose(record), at: now)
        return record
    }

    public func modelVersion(model: String, version: Int) throws -> ModelVersionRecord? {
        try pool.read { c in
            try c.execute("SELECT \(ModelVersionRecord.pgColumns) FROM modelVersion WHERE model = $1 AND version = $2", [model, version])
                .first.map(ModelVersionRecord.init(pg:))
        }
    }

    public func modelVersion(runID: Int64) throws -> ModelVersionRecord? {
        try pool.read { c in
            // Recorded when the run finished; a run finished before that was recorded registered it.
            try c.execute("""
                SELECT \(ModelVersionRecord.pgColumns) FROM modelVersion WHERE id = coalesce((SELECT madeVersionID FROM run WHERE id = $1),
                    (SELECT id FROM modelVersion WHERE runID = $1 ORDER BY id DESC LIMIT 1))
                """, [runID]).first.map(ModelVersionRecord.init(pg:))
        }
    }

    public func modelVersions(model: String, limit: Int) throws -> [ModelVersionRecord] {
        try pool.read { c in
            try c.execute("SELECT \(ModelVersionRecord.pgColumns) FROM modelVersion WHERE model = $1 ORDER BY version DESC LIMIT $2",
                          [model, max(0, limit)]).map(ModelVersionRecord.init(pg:))
        }
    }

    public func models() throws -> [ModelSummary] {
        // One statement (one snapshot, one round trip): each model's newest
        // version and count, joined with what is live in each environment.
        try pool.read { c in
            var summaries: [ModelSummary] = []
            for row in try c.execute("""
                WITH live AS (
                    SELECT DISTINCT ON (model, environment) model, environment, version FROM aliasEvent
                    ORDER BY model, environment, id DESC),
                counts AS (
                    SELECT m.name, max(v.version) AS latest, count(v.id) AS versions
                    FROM model m LEFT JOIN modelVersion v ON v.model = m.name GROUP BY m.name)
                SELECT c.name, c.latest, c.versions, l.environment, l.version
                FROM counts c LEFT JOIN live l ON l.model = c.name AND l.version IS NOT NULL
                ORDER BY c.name, l.environment
                """) {
                let name: String = try row.decode(0)
                if summaries.last?.name != name {
                    summaries.append(ModelSummary(name: name, latestVersion: try row.decode(1), versionCount: try row.decode(2), environments: [:]))
                }
                if let env: String = try row.decode(3), let v: Int = try row.decode(4) { summaries[summaries.count - 1].environments[env] = v }
            }
            return summaries
        }
    }

    public func liveVersions(model: String) throws -> [String: Int] {
        try pool.read { c in
            var envs: [String: Int] = [:]
            for row in try c.execute("""
                SELECT DISTINCT ON (environment) environment, version FROM aliasEvent WHERE model = $1 ORDER BY environment, id DESC
                """, [model]) {
                if let v: Int = try row.decode(1) { envs[try row.decode(0)] = v }
            }
            return envs
        }
    }

    @discardableResult
    public func setAlias(model: String, environment: String, version: Int?, actor: String, reason: String, cause: AliasCause,
                         beginning call: ((AliasEvent) -> DeployCallRecord)?, audit compose: AuditComposer<AliasEvent>) throws -> AliasEvent {
        try audited { c, audit in
            try insertAlias(c, &audit, model: model, environment: environment, version: version, actor: actor, reason: reason, cause: cause,
                            beginning: call, compose: compose)
        }
    }

    func insertAlias(_ c: PGConnection, _ audit: inout AuditAppender, model: String, environment: String, version: Int?, actor: String,
                     reason: String, cause: AliasCause, beginning call: ((AliasEvent) -> DeployCallRecord)?,
                     compose: AuditComposer<AliasEvent>) throws -> AliasEvent {
        do {
            let now = clock.now()
            // Under the audit lock: no other alias change of this model commits between this read and the insert.
            let previous: Int? = try c.execute("""
                SELECT version FROM aliasEvent WHERE model = $1 AND environment = $2 ORDER BY id DESC LIMIT 1
                """, [model, environment]).first.flatMap { try $0.decode(0, as: Int?.self) }
            var event = AliasEvent(id: 0, model: model, environment: environment, version: version, previousVersion: previous,
                                   at: now, actor: actor, reason: reason, cause: cause)
            event.id = try c.execute("""
                INSERT INTO aliasEvent (model, environment, version, previousVersion, at, actor, reason, cause)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id
                """, [model, environment, version, previous, now, actor, reason, cause.rawValue]).scalar(Int64.self)
            _ = try audit.append(compose(event), at: now)
            if let call {
                let d = call(event)
                try c.execute("""
                    INSERT INTO deployCall (callID, deploymentID, environment, model, version, stableVersion, traffic, startedAt, log, owner)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                    """, [d.callID, d.deploymentID, d.environment, d.model, d.version, d.stableVersion, d.traffic, d.startedAt, d.log, d.owner])
            }
            return event
        }
    }

    public func alias(model: String, environment: String, at time: Millis?) throws -> Int? {
        try pool.read { c in
            try c.execute("""
                SELECT version FROM aliasEvent WHERE model = $1 AND environment = $2 AND at <= $3 ORDER BY at DESC, id DESC LIMIT 1
                """, [model, environment, time ?? Int64.max]).first.flatMap { try $0.decode(0, as: Int?.self) }
        }
    }

    public func aliasHistory(model: String, environment: String?, until time: Millis?) throws -> [AliasEvent] {
        try pool.read { c in
            if let environment {
                return try c.execute("""
                    SELECT \(AliasEvent.pgColumns) FROM aliasEvent WHERE model = $1 AND environment = $2 AND at <= $3 ORDER BY at, id
                    """, [model, environment, time ?? Int64.max]).map(AliasEvent.init(pg:))
            }
            return try c.execute("SELECT \(AliasEvent.pgColumns) FROM aliasEvent WHERE model = $1 AND at <= $2 ORDER BY at, id",
                                 [model, time ?? Int64.max]).map(AliasEvent.init(pg:))
        }
    }

    public func editVersion(model: String, version: Int, tags: [String: String?], description: String?, audit draft: AuditDraft) throws -> ModelVersionRecord {
        try audited { c, audit in
            guard var record = try c.execute("""
                SELECT \(ModelVersionRecord.pgColumns) FROM modelVersion WHERE model = $1 AND version = $2 FOR UPDATE
                """, [model, version]).first.map(ModelVersionRecord.init(pg:)) else {
                throw NotFound(what: "\(model):\(version)")
            }
            for (k, v) in tags { record.tags[k] = v }
            if let description { record.description = description }
            try c.execute("UPDATE modelVersion SET tags = $1, description = $2 WHERE id = $3",
                          [try jsonMap(record.tags), record.description, record.id])
            _ = try audit.append(draft)
            return record
        }
    }

    public func recordImagePush(_ push: ImagePushRecord, audit compose: AuditComposer<ImagePushRecord>) throws -> ImagePushRecord {
        try audited { c, audit in
            var record = push
            record.pushedAt = clock.now()
            record.id = try c.execute("""
                INSERT INTO imagePush (model, version, reference, digest, pushedAt, pushedBy) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
                """, [record.model, record.version, record.reference, record.digest, record.pushedAt, record.pushedBy]).scalar(Int64.self)
            _ = try audit.append(compose(record))
            return record
        }
    }

    public func imagePushes(model: String, version: Int) throws -> [ImagePushRecord] {
        try pool.read { c in
            try c.execute("""
                SELECT id, model, version, reference, digest, pushedAt, pushedBy FROM imagePush WHERE model = $1 AND version = $2 ORDER BY id
                """, [model, version]).map { row in
                ImagePushRecord(id: try row["id"], model: try row["model"], version: try row["version"], reference: try row["reference"],
                                digest: try row["digest"], pushedAt: try row["pushedAt"], pushedBy: try row["pushedBy"])
            }
        }
    }

    public func recordGateResults(_ results: [GateResultRecord], audit compose: (_ result: GateResultRecord, _ id: Int64) -> AuditDraft) throws {
        guard !results.isEmpty else { return }
        try audited { c, audit in
            for r in results {
                let id = try c.execute("""
                    INSERT INTO gateResult (runID, stageRunID, stage, metric, condition, candidate, production, threshold,
                                            baselineModel, baselineVersion, passed, explanation)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id
                    """, [r.runID, r.stageRunID, r.stage, r.metric, r.condition, r.candidate, r.production, r.threshold,
                          r.baselineModel, r.baselineVersion, r.passed, r.explanation]).scalar(Int64.self)
                _ = try audit.append(compose(r, id))
            }
        }
    }

    public func gateResults(runID: Int64) throws -> [GateResultRecord] {
        try pool.read { c in
            try c.execute("SELECT \(GateResultRecord.pgColumns) FROM gateResult WHERE runID = $1 ORDER BY id", [runID])
                .map(GateResultRecord.init(pg:))
        }
    }

    public func recordArtifacts(runID: Int64, stageRunID: Int64, outputs: [String: String]) throws {
        guard !outputs.isEmpty else { return }
        let sorted = outputs.sorted { $0.key < $1.key }
        try pool.write { c in
            try c.execute("DELETE FROM artifact WHERE stageRunID = $1", [stageRunID])
            try c.execute("""
                INSERT INTO artifact (runID, stageRunID, path, hash)
                SELECT $1, $2, p, h FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS a(p, h, n) ORDER BY n
                """, [runID, stageRunID, PGArray(sorted.map(\.key)), PGArray(sorted.map(\.value))])
        }
    }

    public func artifacts(runID: Int64) throws -> [String: String] {
        try pool.read { c in
            var result: [String: String] = [:]
            for row in try c.execute("SELECT path, hash FROM artifact WHERE runID = $1 ORDER BY id", [runID]) {
                result[try row.decode(0)] = try row.decode(1) as String
            }
            return result
        }
    }

    public func latestRun(pipeline: String) throws -> RunRecord? {
        try pool.read { c in
            try c.execute("SELECT \(RunRecord.pgColumns) FROM run WHERE pipeline = $1 ORDER BY id DESC LIMIT 1", [pipeline])
                .first.map(RunRecord.init(pg:))
        }
    }
}
