import Foundation
import SlipwayCore
import SlipwayPostgres

extension PostgresRegistry: AuditStore, ChangeSource {
    public func appendAudit(_ event: AuditDraft) throws -> AuditEvent {
        try audited { _, audit in try audit.append(event) }
    }

    public func appendAudit(_ events: [AuditDraft]) throws {
        guard !events.isEmpty else { return }
        try audited { _, audit in
            for e in events { _ = try audit.append(e) }
        }
    }

    public func auditEvents(after seq: Int64, limit: Int) throws -> [AuditEvent] {
        try pool.read { c in
            try c.execute("SELECT \(AuditEvent.pgColumns) FROM auditEvent WHERE seq > $1 ORDER BY seq LIMIT $2", [seq, max(0, limit)])
                .map(AuditEvent.init(pg:))
        }
    }

    /// Reads the log in pages by sequence number: memory stays bounded, and a
    /// page interrupted by a lost connection is read again from where the
    /// last one ended, so `body` never sees an event twice. Appends commit in
    /// sequence order (they hold the audit lock until they commit), so paging
    /// by sequence number never skips one.
    public func forEachAuditEvent(after seq: Int64, _ body: (AuditEvent) throws -> Bool) throws {
        var last = seq
        while true {
            let page = try auditEvents(after: last, limit: Self.auditPage)
            for event in page {
                if try !body(event) { return }
                last = event.seq
            }
            if page.count < Self.auditPage { return }
        }
    }

    static let auditPage = 5_000

    public func auditEvents(matching query: AuditQuery) throws -> [AuditEvent] {
        var clauses: [String] = []
        var parameters: PGParameters = []
        func parameter(_ value: any PGEncodable) -> String {
            parameters.append(value)
            return "$\(parameters.count)"
        }
        if let since = query.since { clauses.append("timestamp >= \(parameter(since))") }
        if let kinds = query.kinds { clauses.append("kind = ANY(\(parameter(PGArray(kinds.sorted())))::text[])") }
        if let subject = query.subject {
            clauses.append(subject.hasSuffix("/") ? "starts_with(subject, \(parameter(subject)))" : "subject = \(parameter(subject))")
        }
        let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let sql: String
        if let limit = query.limit {
            sql = """
                SELECT \(AuditEvent.pgColumns) FROM (SELECT * FROM auditEvent \(filter) ORDER BY seq DESC LIMIT \(parameter(max(0, limit)))) newest
                ORDER BY seq
                """
        } else {
            sql = "SELECT \(AuditEvent.pgColumns) FROM auditEvent \(filter) ORDER BY seq"
        }
        return try pool.read { c in try c.execute(sql, parameters).map(AuditEvent.init(pg:)) }
    }

    public func latestAuditSeq() throws -> Int64 {
        try pool.read { try $0.execute("SELECT coalesce(max(seq), 0) FROM auditEvent").scalar(Int64.self) }
    }

    /// The head as kept in the `auditHead` table (nil when the row is gone, which itself means tampering).
    public func auditHeadWitness() throws -> AuditHeadWitness? {
        try pool.read { c in
            try c.execute("SELECT seq, hash FROM auditHead WHERE id = 1").first.map {
                AuditHeadWitness(seq: try $0.decode(0), hash: try $0.decode(1))
            }
        }
    }

    public func auditedRecordDigests() throws -> [String: String] {
        try pool.snapshot { c in
            var digests: [String: String] = [:]
            for row in try c.execute("SELECT id, \(GateResultRecord.pgColumns) FROM gateResult") {
                digests[RecordDigest.key(gate: try row.decode("id"))] = RecordDigest.of(try GateResultRecord(pg: row))
            }
            for row in try c.execute("SELECT \(AliasEvent.pgColumns) FROM aliasEvent") {
                let alias = try AliasEvent(pg: row)
                digests[RecordDigest.key(alias: alias.id)] = RecordDigest.of(alias)
            }
            for row in try c.execute("SELECT \(ModelVersionRecord.pgColumns) FROM modelVersion") {
                let version = try ModelVersionRecord(pg: row)
                digests[RecordDigest.key(modelVersion: version.id)] = RecordDigest.of(version)
            }
            for row in try c.execute("SELECT * FROM approvalVote") {
                let vote = try ApprovalVoteRecord(pg: row)
                digests[RecordDigest.key(vote: vote.id)] = RecordDigest.of(vote)
            }
            for row in try c.execute("SELECT * FROM approvalRequest") {
                let request = try ApprovalRequestRecord(pg: row)
                digests[RecordDigest.key(request: request.id)] = RecordDigest.of(request)
            }
            for row in try c.execute("SELECT id, \(ValidationRecord.pgColumns) FROM validationReport") {
                digests[RecordDigest.key(validation: try row.decode("id"))] = RecordDigest.of(try ValidationRecord(pg: row))
            }
            return digests
        }
    }

    /// A counter moved once by every transaction that writes (a trigger on
    /// every table), so it changes whenever any machine commits a write;
    /// listeners on ``channel`` hear of the same commits without polling.
    public func changeToken() throws -> Int64 {
        try pool.read { try $0.execute("SELECT token FROM changeCounter WHERE id = 1").scalar(Int64.self) }
    }
}
