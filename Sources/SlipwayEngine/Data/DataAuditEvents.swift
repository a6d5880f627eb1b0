import SlipwayCore
import SlipwayStore

/// What the audit trail says about data: `dataset.added` and
/// `data.validated` (attributed to the run's user, or slipway when the run
/// is not found), composed here once for every store.
enum DataEvents {
    static func added(_ record: DatasetRecord) -> AuditDraft {
        AuditDraft(actor: record.addedBy, kind: .datasetAdded, subject: "dataset/\(record.path)",
                   payload: AuditChain.payload(["hash": record.hash, "size": String(record.size)]))
    }

    /// For a report that belongs to a run (`runID`), with the digest of its row.
    static func validated(_ record: ValidationRecord, id: Int64, runID: Int64, actor: String) -> AuditDraft {
        AuditDraft(actor: actor, kind: .dataValidated, subject: "run/\(runID)/\(record.dataset)",
                   payload: AuditChain.payload(["passed": record.passed ? "true" : "false",
                                                "report_sha256": Digests.sha256Hex(Array(record.report.utf8)),
                                                "record": RecordDigest.key(validation: id), "record_sha256": RecordDigest.of(record)]))
    }

    static func validated(_ record: ValidationRecord, id: Int64, runUser: String?) -> AuditDraft {
        validated(record, id: id, runID: record.runID ?? 0, actor: runUser ?? "slipway")
    }
}

extension DatasetStore {
    /// Records a dataset version; a new one is audited as `dataset.added`.
    public func addDataset(path: String, hash: String, size: Int64, addedBy: String) throws -> (record: DatasetRecord, isNew: Bool) {
        try addDataset(path: path, hash: hash, size: size, addedBy: addedBy, audit: DataEvents.added)
    }
}

extension ValidationStore {
    /// Records a validation report, audited as `data.validated` when it belongs to a run.
    public func recordValidation(_ record: ValidationRecord) throws {
        try recordValidation(record, audit: { DataEvents.validated($0, id: $1, runUser: $2) })
    }
}
