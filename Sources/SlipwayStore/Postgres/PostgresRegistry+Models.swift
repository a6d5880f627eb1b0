import Foundation
import SlipwayCore
import SlipwayPostgres

// The part of the model registry that finishing a run needs (a run that
// finishes registers its version in the same transaction). The rest of
// ModelStore follows once the rules it holds today (numbering, "unchanged
// artifacts", audit payloads) move to the engine.

extension PostgresRegistry {
    /// Registers the next version of a model, inside an audited transaction
    /// (whose audit lock also serialises the numbering: two registrations
    /// never read the same highest number).
    func registerVersion(_ c: PGConnection, _ audit: inout AuditAppender, _ new: NewModelVersion,
                         unlessSameAsNewest: Bool) throws -> Registration {
        if unlessSameAsNewest, let row = try c.execute("""
            SELECT \(ModelVersionRecord.pgColumns) FROM modelVersion WHERE model = $1 ORDER BY version DESC LIMIT 1
            """, [new.model]).first {
            let newest = try ModelVersionRecord(pg: row)
            if newest.artifactDigest == new.artifactDigest { return .unchanged(newest) }
        }
        let now = Clock.nowMillis()
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
        _ = try audit.append(AuditDraft(actor: new.createdBy, kind: .modelRegistered, subject: "model/\(new.model)/\(next)",
                                        payload: AuditChain.payload(["run": String(new.runID), "digest": new.artifactDigest,
                                                                     "record": RecordDigest.key(modelVersion: record.id),
                                                                     "record_sha256": RecordDigest.of(record)])), at: now)
        return .registered(record)
    }

    /// The version registered from a run, if any.
    func registeredVersion(runID: Int64) throws -> ModelVersionRecord? {
        try pool.read { c in
            try c.execute("SELECT \(ModelVersionRecord.pgColumns) FROM modelVersion WHERE runID = $1 ORDER BY id DESC LIMIT 1", [runID])
                .first.map(ModelVersionRecord.init(pg:))
        }
    }
}
