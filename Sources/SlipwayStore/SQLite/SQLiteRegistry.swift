import Foundation
import GRDB
import GRDBSQLite
import SlipwayCore
import Synchronization

/// SQLite's "copy the bytes now" destructor, which Swift cannot import as a macro.
let SQLITE_TRANSIENT_ = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// The embedded registry: one SQLite file in WAL mode, shared by every
/// `slipway` process of a workspace (a console, a CI run, an approver).
///
/// Writes are immediate transactions with a busy timeout, so concurrent
/// processes queue rather than fail; every write that matters appends its
/// audit event in the same transaction, so the trail never misses a change.
public final class SQLiteRegistry: Sendable {
    let pool: DatabasePool
    public let path: String
    let head: AuditHeadFile
    /// The newest event of the write transaction in progress (writes are serialised).
    let pendingHead = Mutex<AuditHeadWitness?>(nil)

    public struct OpenError: SlipwayError {
        public var exitStatus: ExitStatus { .internalError }
        public var path: String
        public var reason: String
        public var description: String { "cannot open the registry \(path): \(reason)" }
    }

    /// Stamps records and audit events.
    let clock: any Clock

    /// Opens (creating if needed, with mode 0600) and migrates the registry.
    public init(path: String, readOnly: Bool = false, clock: any Clock = SystemClock()) throws {
        self.path = path
        self.clock = clock
        self.head = AuditHeadFile(path: path + ".head")
        if !readOnly, !FileManager.default.fileExists(atPath: path) {
            let fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            if fd < 0 { throw OpenError(path: path, reason: String(cString: strerror(errno))) }
            close(fd)
        }
        var config = Configuration()
        config.busyMode = .timeout(15)
        config.readonly = readOnly
        config.label = "slipway.registry"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        // An open that writes (a new registry: its journal mode and schema; a
        // registry no process has open: GRDB's first write to its WAL file) takes
        // turns with the others under the migration lock. Four `slipway run`s
        // started at once on a new workspace otherwise raced there, and one of
        // them could be refused with "database is locked" by a lock SQLite does
        // not wait for.
        let turn = readOnly || !Self.writesOnOpen(path: path) ? nil : OpenLock(path: path)
        defer { turn?.release() }
        do {
            try Self.checkIntegrity(path: path)
            pool = try DatabasePool(path: path, configuration: config)
            if !readOnly {
                let hadWitness = try pool.read { try RegistryMigrations.migrator.appliedIdentifiers($0) }
                    .contains(RegistryMigrations.auditWitness)
                try Self.migrate(pool, path: path, locked: turn != nil)
                // The head file is made once, with the registry (or when an older
                // registry is upgraded); a missing one is never re-created after.
                if !hadWitness, !head.exists {
                    let newest = try pool.read { db in
                        try Row.fetchOne(db, sql: "SELECT seq, hash FROM auditEvent ORDER BY seq DESC LIMIT 1")
                    }
                    try head.create(AuditHeadWitness(seq: newest?["seq"] ?? 0, hash: newest?["hash"] ?? AuditChain.genesis))
                }
            }
        } catch let error as DatabaseError {
            throw OpenError(path: path, reason: error.message ?? "\(error)")
        }
        for suffix in ["-wal", "-shm"] { chmod(path + suffix, 0o600) }
    }

    /// Registries up to this size are fully checked (`PRAGMA quick_check`,
    /// about 6 ms a MiB) every time they are opened. Larger ones have the
    /// tables that promotions and approvals decide on checked (models,
    /// versions, alias changes, gate results: small even in a long history);
    /// corruption elsewhere fails the read that meets it (exit 4).
    static let fullCheckLimit: Int64 = 2 << 20
    static let decisionTables = ["model", "modelVersion", "aliasEvent", "gateResult"]

    /// Refuses a corrupt registry before anything reads or writes it, so a
    /// command never acts on half-readable state.
    ///
    /// The check runs on its own read-only connection, opened before the pool:
    /// a read-only connection never checkpoints, so a corrupt file is left
    /// exactly as it was found.
    static func checkIntegrity(path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0, st.st_size > 0 else { return }
        let size = Int64(st.st_size)
        // SQLite's own API, not a GRDB queue: this runs on every command, and
        // setting up a whole GRDB connection for a few pragmas cost more than them.
        var handle: OpaquePointer?
        let opened = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
        defer { sqlite3_close_v2(handle) }
        guard opened == SQLITE_OK, let db = handle else {
            throw OpenError(path: path, reason: handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory")
        }
        sqlite3_busy_timeout(db, 15_000)
        // One read transaction: the checks see one state of the file.
        try Self.integrityRows(db, path: path, "BEGIN")
        defer { _ = sqlite3_exec(db, "COMMIT", nil, nil, nil) }
        var problem: String?
        if size <= fullCheckLimit {
            let rows = try Self.integrityRows(db, path: path, "PRAGMA quick_check(5)")
            problem = rows == ["ok"] ? nil : rows.joined(separator: "; ")
        } else {
            let tables = Set(try Self.integrityRows(db, path: path, "SELECT name FROM sqlite_master WHERE type = 'table'"))
            for table in decisionTables where tables.contains(table) {
                let rows = try Self.integrityRows(db, path: path, "PRAGMA quick_check(\(table))")
                if rows != ["ok"] { problem = rows.joined(separator: "; "); break }
            }
        }
        if let problem {
            let summary = problem.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("***") }.joined(separator: "; ")
            throw OpenError(path: path, reason: "the registry is corrupt (\(summary)); nothing was read or written. "
                                + "Restore it from a backup; `sqlite3 \(path) .recover` may save what is left")
        }
    }

    /// The first column of each row `sql` returns, as text (for ``checkIntegrity(path:)``).
    @discardableResult
    private static func integrityRows(_ db: OpaquePointer, path: String, _ sql: String) throws -> [String] {
        var statement: OpaquePointer?
        var code = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        defer { sqlite3_finalize(statement) }
        var rows: [String] = []
        if code == SQLITE_OK, let statement {
            repeat {
                code = sqlite3_step(statement)
                if code == SQLITE_ROW, sqlite3_column_count(statement) > 0 {
                    rows.append(sqlite3_column_text(statement, 0).map { String(cString: $0) } ?? "")
                }
            } while code == SQLITE_ROW
        }
        guard code == SQLITE_OK || code == SQLITE_DONE else {
            throw OpenError(path: path, reason: String(cString: sqlite3_errmsg(db)))
        }
        return rows
    }

    /// Brings the schema up to date. Processes that open a new or old registry
    /// at the same moment take turns under a file lock, so each migration runs once.
    /// `locked`: the caller already holds the lock (an open that writes).
    static func migrate(_ pool: DatabasePool, path: String, locked: Bool = false) throws {
        let migrator = RegistryMigrations.migrator
        if try pool.read({ try migrator.hasCompletedMigrations($0) }) { return }
        let turn = locked ? nil : OpenLock(path: path)
        defer { turn?.release() }
        try migrator.migrate(pool)
    }

    /// Whether opening `path` writes to it: a new (empty) file, or one whose WAL
    /// file is missing or empty (GRDB then writes to create it).
    static func writesOnOpen(path: String) -> Bool {
        var info = stat()
        if stat(path, &info) != 0 || info.st_size == 0 { return true }
        return stat(path + "-wal", &info) != 0 || info.st_size == 0
    }

    /// The registry's migration lock (`registry.sqlite.migrate-lock`), held
    /// until released or the process ends. Without a lock file (a read-only
    /// folder) the open goes ahead unlocked, as it did before.
    struct OpenLock {
        let fd: Int32

        init(path: String) {
            fd = open(path + ".migrate-lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
            if fd >= 0 {
                while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
            }
        }

        func release() {
            if fd >= 0 { flock(fd, LOCK_UN); close(fd) }
        }
    }

    /// Identifiers of the migrations applied to this database.
    public func appliedMigrations() throws -> [String] {
        try pool.read { try RegistryMigrations.migrator.appliedIdentifiers($0) }.sorted()
    }

    /// Every migration this build knows, oldest first.
    public static var knownMigrations: [String] { RegistryMigrations.identifiers }

    /// Applies migrations up to `identifier` only (for tests of upgrades).
    public static func create(path: String, upTo identifier: String) throws {
        let pool = try DatabasePool(path: path)
        try RegistryMigrations.migrator.migrate(pool, upTo: identifier)
    }
}

/// Look-ups by many keys go in chunks: SQLite binds at most 32,766 values a statement.
extension SQLiteRegistry {
    static let keysPerQuery = 1_000

    /// Calls `body` with every row `select` (which ends with `IN`) finds for `keys`, asked
    /// without duplicates and a chunk at a time. Plain SQL read by column position
    /// (``RowRead``): a no-op re-run of 10,000 stages reads 10,000 rows of a kind, and the
    /// query builder, reads by column name and GRDB's rows cost more than SQLite does.
    /// Full chunks share one statement; the last chunk has a size of its own.
    func forEachRow<Key: RowKey>(_ db: Database, _ select: String, in keys: [Key], _ body: (Columns) throws -> Void) throws {
        var full: Statement?
        for chunk in Array(Set(keys)).chunks(of: Self.keysPerQuery) {
            let statement: Statement
            if chunk.count == Self.keysPerQuery, let full {
                statement = full
            } else {
                statement = try db.makeStatement(sql: select + " (" + Array(repeating: "?", count: chunk.count).joined(separator: ",") + ")")
                if chunk.count == Self.keysPerQuery { full = statement }
            }
            try RowRead.forEach(db, statement, bind: { values in for key in chunk { key.bind(to: &values) } }, body)
        }
    }

    /// Calls `body` with every row of `table` whose `key` (the first column
    /// `columns` names) is one of `keys`. When the keys are most of the table
    /// (a run asking for the file states or cache entries of all its stages),
    /// one pass over the table is cheaper than a thousand-parameter statement
    /// to parse and a probe of the key's index per key; otherwise as
    /// ``forEachRow(_:_:in:_:)``.
    func forEachRow(_ db: Database, _ columns: String, from table: String, key: String, in keys: [String], _ body: (Columns) throws -> Void) throws {
        // Counted no further than the bound: a table with a long history is not walked to say it is big.
        if keys.count >= Self.scanFrom,
           let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM (SELECT 1 FROM \(table) LIMIT ?)", arguments: [2 * keys.count + 1]),
           rows <= 2 * keys.count {
            // Byte for byte, as SQLite compares keys: not Swift's canonical equivalence,
            // which would take `cafe\u{301}` for `café`, two different files.
            let wanted = Set(keys.map(ExactKey.init))
            try RowRead.forEach(db, try db.makeStatement(sql: "SELECT \(columns) FROM \(table)"), bind: { _ in }) { row in
                if wanted.contains(ExactKey(row.string(0))) { try body(row) }
            }
            return
        }
        try forEachRow(db, "SELECT \(columns) FROM \(table) WHERE \(key) IN", in: keys, body)
    }

    /// From this many keys on, a look-up may read the whole table instead.
    static let scanFrom = 200
}

/// A key compared and hashed by its UTF-8 bytes.
private struct ExactKey: Hashable {
    let text: String
    init(_ text: String) { self.text = text }
    static func == (a: ExactKey, b: ExactKey) -> Bool { a.text.utf8.elementsEqual(b.text.utf8) }
    func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

extension Array {
    func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
