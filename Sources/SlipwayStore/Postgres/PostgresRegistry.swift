import Foundation
import SlipwayCore
import SlipwayPostgres
import Synchronization

/// The registry on a PostgreSQL server, for a team sharing one registry from
/// several machines.
///
/// Each project lives in a schema of its own (see docs/postgres-store.md for
/// why, rather than a project column): the same tables as the embedded
/// registry, with ids of its own, so one database holds many projects and a
/// project copied from SQLite keeps every id and every audit hash.
///
/// Every write is a transaction, retried by the pool after a conflict or a
/// lost connection (see ``PGRetryPolicy``). Writes that append audit events
/// take the project's audit lock (a transaction-scoped advisory lock) before
/// anything else, so appends from every machine are serialised in the
/// database and the chain has one order; the chain head is kept in a table
/// of its own, moved in the same transaction.
public final class PostgresRegistry: Sendable {
    public let url: PGURL
    public let schema: String
    let pool: PGPool
    /// The key of the project's audit append lock, asked of the server on the
    /// first write (a read-only command never needs it: one round trip fewer).
    let auditLockKey = Mutex<Int64?>(nil)
    /// Stamps records and audit events.
    let clock: any Clock

    public struct OpenError: SlipwayError {
        public var exitStatus: ExitStatus { .usage }
        public var reason: String
        public var description: String { reason }
    }

    /// The channel on which every committed write is announced (payload: the table's name).
    public var channel: String { Self.channel(schema: schema) }
    static func channel(schema: String) -> String { "slipway:" + schema }

    /// Opens the project's schema on the server at `url`, creating it and
    /// applying migrations as needed.
    public init(url: PGURL, schema: String, maxConnections: Int = 8, policy: PGRetryPolicy = .standard,
                clock: any Clock = SystemClock()) throws {
        try Self.check(schema: schema)
        self.clock = clock
        self.url = url
        self.schema = schema
        // search_path is set as each connection starts (libpq options), not by a SET after.
        pool = PGPool(url: url.with(searchPath: schema), maxConnections: maxConnections, policy: policy)
        try PostgresMigrations.migrate(pool, schema: schema, clock: clock)
    }

    /// Opens a project's registry from a `postgres://` URL and the project's name.
    public convenience init(url: String, project: String, clock: any Clock = SystemClock()) throws {
        try self.init(url: try PGURL(url), schema: try Self.schemaName(project: project), clock: clock)
    }

    /// The schema of a project: `slipway_` and the project's name in lower
    /// case, every character outside `a-z0-9_` replaced by `_`.
    public static func schemaName(project: String) throws -> String {
        let folded = project.lowercased().unicodeScalars.map { c -> Character in
            ("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "_" ? Character(c) : "_"
        }
        let name = "slipway_" + String(folded)
        try check(schema: name)
        return name
    }

    static func check(schema: String) throws {
        let allowed = schema.utf8.allSatisfy { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "_")
        }
        guard allowed, let first = schema.utf8.first, first < UInt8(ascii: "0") || first > UInt8(ascii: "9"),
              (1...48).contains(schema.utf8.count), !schema.hasPrefix("pg_") else {
            throw OpenError(reason: "'\(schema)' cannot name a project's schema: use 1 to 48 characters a-z, 0-9 and _, "
                            + "not starting with a digit or pg_")
        }
    }

    /// Applies migrations up to `identifier` only (for tests of upgrades).
    public static func create(url: PGURL, schema: String, upTo identifier: String) throws {
        try check(schema: schema)
        let pool = PGPool(url: url, maxConnections: 1) { c in
            try c.executeScript("SET search_path TO \(try c.quoteIdentifier(schema))")
        }
        try PostgresMigrations.migrate(pool, schema: schema, upTo: identifier, clock: SystemClock())
    }

    /// Identifiers of the migrations applied to this schema.
    public func appliedMigrations() throws -> [String] {
        try pool.read { try PostgresMigrations.appliedIdentifiers($0) }.sorted()
    }

    /// Every migration this build knows, oldest first (the same as the SQLite store's).
    public static var knownMigrations: [String] { PostgresMigrations.identifiers }

    /// A listener for this project's change notifications (see ``channel``),
    /// for live views; polling ``changeToken()`` is the fallback.
    public func changeListener() throws -> PGListener {
        try PGListener(url: url, channels: [channel], policy: pool.policy)
    }

    public func changeFeed() throws -> (any ChangeFeed)? {
        let pool = self.pool
        return PostgresChangeFeed(try changeListener(), isOwn: { pool.isOwnBackend($0) })
    }

    /// Closes idle connections.
    public func close() { pool.closeIdle() }

    // MARK: - Audited writes

    /// Runs `body` in a write transaction that may append audit events: the
    /// project's audit lock is taken first, before any row is written, so
    /// transactions always take locks in one order (audit lock, then rows).
    /// The key of the project's audit append lock (hashed by the server, so
    /// every client of every version agrees on it).
    func auditLock(_ c: PGConnection) throws -> Int64 {
        if let key = auditLockKey.withLock({ $0 }) { return key }
        let key = try c.advisoryKey("slipway.audit:" + schema)
        auditLockKey.withLock { $0 = key }
        return key
    }

    func audited<T>(_ body: (PGConnection, inout AuditAppender) throws -> T) throws -> T {
        try pool.write { c in
            try c.advisoryTransactionLock(try auditLock(c))
            var appender = AuditAppender(connection: c, clock: clock)
            let value = try body(c, &appender)
            try appender.finish()
            return value
        }
    }
}

/// Appends events to the chain inside an audited transaction (the audit lock held).
struct AuditAppender {
    let connection: PGConnection
    let clock: any Clock
    /// The newest event, as read (once) in this transaction and moved by each append.
    private var newest: AuditHeadWitness?
    private var appended = false

    init(connection: PGConnection, clock: any Clock) {
        self.connection = connection
        self.clock = clock
    }

    mutating func append(_ draft: AuditDraft, at stamp: Millis? = nil) throws -> AuditEvent {
        let time = stamp ?? clock.now()
        let last = try head()
        let seq = last.seq + 1
        let kind = draft.kind.rawValue
        let event = AuditEvent(
            seq: seq, timestamp: time, actor: draft.actor, kind: kind, subject: draft.subject, payload: draft.payload,
            prevHash: last.hash,
            hash: AuditChain.hash(seq: seq, timestamp: time, actor: draft.actor, kind: kind, subject: draft.subject,
                                  payload: draft.payload, prevHash: last.hash))
        try connection.execute("""
            INSERT INTO auditEvent (seq, timestamp, actor, kind, subject, payload, prevHash, hash)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """, [event.seq, event.timestamp, event.actor, event.kind, event.subject, event.payload, event.prevHash, event.hash])
        newest = AuditHeadWitness(seq: seq, hash: event.hash)
        appended = true
        return event
    }

    /// Appends `drafts` in order with one statement (a batch of restored
    /// stages): the same events, chained the same way, as appending each.
    mutating func append(_ drafts: [AuditDraft], at time: Millis) throws {
        guard !drafts.isEmpty else { return }
        var last = try head()
        var events: [AuditEvent] = []
        events.reserveCapacity(drafts.count)
        for draft in drafts {
            let seq = last.seq + 1, kind = draft.kind.rawValue
            let hash = AuditChain.hash(seq: seq, timestamp: time, actor: draft.actor, kind: kind, subject: draft.subject,
                                       payload: draft.payload, prevHash: last.hash)
            events.append(AuditEvent(seq: seq, timestamp: time, actor: draft.actor, kind: kind, subject: draft.subject,
                                     payload: draft.payload, prevHash: last.hash, hash: hash))
            last = AuditHeadWitness(seq: seq, hash: hash)
        }
        try connection.execute("""
            INSERT INTO auditEvent (seq, timestamp, actor, kind, subject, payload, prevHash, hash)
            SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
            """, [PGArray(events.map(\.seq)), PGArray(events.map(\.timestamp)), PGArray(events.map(\.actor)), PGArray(events.map(\.kind)),
                  PGArray(events.map(\.subject)), PGArray(events.map(\.payload)), PGArray(events.map(\.prevHash)),
                  PGArray(events.map(\.hash))])
        newest = last
        appended = true
    }

    /// The newest event: as appended in this transaction, else read (once).
    private func head() throws -> AuditHeadWitness {
        if let newest { return newest }
        let row = try connection.execute("SELECT seq, hash FROM auditEvent ORDER BY seq DESC LIMIT 1").first
        return try row.map { AuditHeadWitness(seq: try $0.decode(0), hash: try $0.decode(1)) }
            ?? AuditHeadWitness(seq: 0, hash: AuditChain.genesis)
    }

    /// Moves the head witness to the newest event appended (forward only; a
    /// missing head row stays missing, which `audit verify` reports).
    func finish() throws {
        guard appended, let newest else { return }
        try connection.execute("UPDATE auditHead SET seq = $1, hash = $2 WHERE id = 1 AND seq < $1", [newest.seq, newest.hash])
    }
}
