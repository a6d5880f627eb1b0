import Foundation
import GRDB
import GRDBSQLite
import SlipwayCore

extension SQLiteRegistry {
    /// Appends an event to the chain inside a write transaction: the store's own
    /// part of every audited write (the payload comes composed from the caller).
    func appendAudit(_ db: Database, _ draft: AuditDraft, at stamp: Millis? = nil) throws -> AuditEvent {
        var newest: AuditHeadWitness?
        return try appendAudit(db, draft, at: stamp, head: &newest)
    }

    /// ``appendAudit(_:_:at:)`` after `newest`, the newest event when known (a
    /// batch in one transaction, where no one else appends); moves it on.
    func appendAudit(_ db: Database, _ draft: AuditDraft, at stamp: Millis? = nil, head newest: inout AuditHeadWitness?) throws -> AuditEvent {
        let event = try chain([draft], at: stamp ?? clock.now(), after: &newest, db)[0]
        try db.cachedStatement(sql: Self.insertAuditEvent)
            .execute(arguments: [event.seq, event.timestamp, event.actor, event.kind, event.subject, event.payload, event.prevHash, event.hash])
        headMoves(db, to: event)
        return event
    }

    private static let insertAuditEvent = """
        INSERT INTO auditEvent (seq, timestamp, actor, kind, subject, payload, prevHash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Appends `drafts` in order, all stamped `stamp`, through one statement
    /// (``RowBatch``); `newest` as in ``appendAudit(_:_:at:head:)``.
    func appendAudit(_ db: Database, _ drafts: [AuditDraft], at stamp: Millis, head newest: inout AuditHeadWitness?) throws {
        guard !drafts.isEmpty else { return }
        try insert(db, chain(drafts, at: stamp, after: &newest, db))
    }

    private func insert(_ db: Database, _ events: [AuditEvent]) throws {
        guard let last = events.last else { return }
        try RowBatch.execute(db, Self.insertAuditEvent, count: events.count) { i, values in
            let e = events[i]
            values.bind(e.seq); values.bind(e.timestamp); values.bind(e.actor); values.bind(e.kind)
            values.bind(e.subject); values.bind(e.payload); values.bind(e.prevHash); values.bind(e.hash)
        }
        headMoves(db, to: last)
    }

    /// The events `drafts` become after `newest` (read from the table when
    /// not known), each hashed over the one before; moves `newest` on.
    private func chain(_ drafts: [AuditDraft], at time: Millis, after newest: inout AuditHeadWitness?, _ db: Database) throws -> [AuditEvent] {
        if newest == nil { newest = try auditHead(db) }
        return Self.chained(drafts, at: time, after: &newest)
    }

    /// The newest event's place in the chain, nil when there is none yet.
    private func auditHead(_ db: Database) throws -> AuditHeadWitness? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM auditEvent ORDER BY seq DESC LIMIT 1"))
            .map { AuditHeadWitness(seq: $0["seq"], hash: $0["hash"]) }
    }

    private static func chained(_ drafts: [AuditDraft], at time: Millis, after newest: inout AuditHeadWitness?) -> [AuditEvent] {
        var events: [AuditEvent] = []
        events.reserveCapacity(drafts.count)
        for draft in drafts {
            let seq: Int64 = (newest?.seq ?? 0) + 1
            let prev: String = newest?.hash ?? AuditChain.genesis
            let event = AuditEvent(
                seq: seq, timestamp: time, actor: draft.actor, kind: draft.kind.rawValue, subject: draft.subject,
                payload: draft.payload, prevHash: prev,
                hash: AuditChain.hash(seq: seq, timestamp: time, actor: draft.actor, kind: draft.kind.rawValue,
                                      subject: draft.subject, payload: draft.payload, prevHash: prev))
            events.append(event)
            newest = AuditHeadWitness(seq: seq, hash: event.hash)
        }
        return events
    }

    /// Appends the events of a batch whose `drafts` are composed and hashed
    /// on a second thread while `meanwhile` writes, on this one, the rows they
    /// speak of: for a big batch of restored stages the hashing is a fifth of
    /// the write. The events follow the newest one at the start, as
    /// ``appendAudit(_:_:at:head:)``'s would, so `meanwhile` must append no
    /// event of its own; `drafts` must not touch `db` (nor the registry).
    func appendAudit(_ db: Database, at stamp: Millis, drafts: @escaping @Sendable () -> [AuditDraft], meanwhile: () throws -> Void) throws {
        let start = try auditHead(db)
        let made = AuditBatch()
        let group = DispatchGroup()
        DispatchQueue.global(qos: .userInitiated).async(group: group) {
            var newest = start
            made.events = Self.chained(drafts(), at: stamp, after: &newest)
        }
        do {
            try meanwhile()
        } catch {
            group.wait()
            throw error
        }
        group.wait()
        // The events were chained after the head read at the start: `meanwhile` appends none.
        assert((try? auditHead(db)) == start, "the audit head moved while a batch's events were hashed")
        try insert(db, made.events)
    }

    /// The head file moves once per transaction, to its newest event, after it commits.
    private func headMoves(_ db: Database, to event: AuditEvent) {
        let firstInTransaction = pendingHead.withLock { pending in
            defer { pending = AuditHeadWitness(seq: event.seq, hash: event.hash) }
            return pending == nil
        }
        if firstInTransaction {
            db.afterNextTransaction(onCommit: { [self] _ in
                CrashPoint.reach("audit.before-head")
                if let witness = pendingHead.withLock({ p in defer { p = nil }; return p }) { head.advance(to: witness) }
            }, onRollback: { [self] _ in pendingHead.withLock { $0 = nil } })
        }
    }
}

/// What the hashing thread of ``SQLiteRegistry/appendAudit(_:at:drafts:meanwhile:)``
/// hands back: written by that thread, read by the writer once it has waited for it.
private final class AuditBatch: @unchecked Sendable {
    var events: [AuditEvent] = []
}

extension SQLiteRegistry: AuditStore, ChangeSource {
    public func appendAudit(_ event: AuditDraft) throws -> AuditEvent {
        try pool.write { try appendAudit($0, event) }
    }

    public func appendAudit(_ events: [AuditDraft]) throws {
        guard !events.isEmpty else { return }
        try pool.write { db in
            for e in events { _ = try appendAudit(db, e) }
        }
    }

    public func auditEvents(after seq: Int64, limit: Int) throws -> [AuditEvent] {
        try pool.read { db in
            try AuditEvent.fetchAll(db, sql: "SELECT * FROM auditEvent WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
        }
    }

    public func forEachAuditEvent(after seq: Int64, _ body: (AuditEvent) throws -> Bool) throws {
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT seq, timestamp, actor, kind, subject, payload, prevHash, hash FROM auditEvent WHERE seq > ? ORDER BY seq
                """, arguments: [seq])
            while let row = try rows.next() {
                let event = AuditEvent(seq: row[0], timestamp: row[1], actor: row[2], kind: row[3], subject: row[4],
                                       payload: row[5], prevHash: row[6], hash: row[7])
                if try !body(event) { break }
            }
        }
    }

    public func auditEvents(matching query: AuditQuery) throws -> [AuditEvent] {
        var clauses: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        if let since = query.since { clauses.append("timestamp >= ?"); arguments.append(since) }
        if let kinds = query.kinds {
            clauses.append("kind IN (" + kinds.map { _ in "?" }.joined(separator: ",") + ")")
            for k in kinds.sorted() { arguments.append(k) }
        }
        if let subject = query.subject {
            if subject.hasSuffix("/") {
                clauses.append("substr(subject, 1, ?) = ?")
                arguments.append(subject.utf8.count); arguments.append(subject)
            } else {
                clauses.append("subject = ?"); arguments.append(subject)
            }
        }
        let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let sql: String
        if let limit = query.limit {
            sql = "SELECT * FROM (SELECT * FROM auditEvent \(filter) ORDER BY seq DESC LIMIT \(max(0, limit))) ORDER BY seq"
        } else {
            sql = "SELECT * FROM auditEvent \(filter) ORDER BY seq"
        }
        return try pool.read { try AuditEvent.fetchAll($0, sql: sql, arguments: StatementArguments(arguments)) }
    }

    public func auditHeadWitness() throws -> AuditHeadWitness? { head.read() }

    public func auditedRecordDigests() throws -> [String: String] {
        try pool.read { db in
            var digests: [String: String] = [:]
            let gates = try Row.fetchCursor(db, sql: "SELECT * FROM gateResult")
            while let r = try gates.next() {
                digests[RecordDigest.key(gate: r["id"])] = RecordDigest.of(try GateResultRecord(row: r))
            }
            let aliases = try AliasEvent.fetchCursor(db, sql: "SELECT * FROM aliasEvent")
            while let a = try aliases.next() { digests[RecordDigest.key(alias: a.id)] = RecordDigest.of(a) }
            let versions = try ModelVersionRecord.fetchCursor(db, sql: "SELECT * FROM modelVersion")
            while let v = try versions.next() { digests[RecordDigest.key(modelVersion: v.id)] = RecordDigest.of(v) }
            if try db.tableExists("approvalVote") {
                let votes = try ApprovalVoteRecord.fetchCursor(db, sql: "SELECT * FROM approvalVote")
                while let v = try votes.next() { digests[RecordDigest.key(vote: v.id)] = RecordDigest.of(v) }
                let requests = try ApprovalRequestRecord.fetchCursor(db, sql: "SELECT * FROM approvalRequest")
                while let r = try requests.next() { digests[RecordDigest.key(request: r.id)] = RecordDigest.of(r) }
            }
            let reports = try Row.fetchCursor(db, sql: "SELECT * FROM validationReport")
            while let r = try reports.next() {
                digests[RecordDigest.key(validation: r["id"])] = RecordDigest.of(try ValidationRecord(row: r))
            }
            return digests
        }
    }

    public func latestAuditSeq() throws -> Int64 {
        try pool.read { try Int64.fetchOne($0, sql: "SELECT COALESCE(MAX(seq), 0) FROM auditEvent") ?? 0 }
    }

    /// SQLite's `PRAGMA data_version` changes when another connection commits;
    /// combined with the last audit seq it changes on every write by anyone.
    public func changeToken() throws -> Int64 {
        try pool.read { db in
            let seq = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM auditEvent") ?? 0
            let hb = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(heartbeatAt), 0) FROM run WHERE status = 'running'") ?? 0
            let metrics = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(rowid), 0) FROM metricPoint") ?? 0
            return seq &* 1_000_003 &+ hb &+ metrics &* 7
        }
    }
}
