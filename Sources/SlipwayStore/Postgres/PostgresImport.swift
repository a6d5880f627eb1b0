import Foundation
import SlipwayCore
import GRDB
import SlipwayPostgres

/// Copies an embedded (SQLite) registry into a PostgreSQL project schema,
/// row for row: the same ids, the same audit events with the same hashes, so
/// the chain verifies there with the same head.
///
/// Both stores are built by the same migrations, so every table and column of
/// one has its counterpart in the other; the copy is one transaction (a failure
/// leaves the target as it was) and refuses a target that holds anything.
extension PostgresRegistry {
    public struct ImportReport: Sendable {
        /// Rows copied per table, in copy order.
        public var tables: [(name: String, rows: Int)]
        /// The chain head after the copy.
        public var head: AuditHeadWitness
    }

    public struct ImportRefused: SlipwayError {
        public var reason: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String { reason }
    }

    /// Tables that only one kind of store has: PostgreSQL's change counter,
    /// head row and migration list; SQLite's bookkeeping.
    static let storeOwnTables: Set<String> = ["changecounter", "audithead", "schemamigration", "grdb_migrations"]

    public func importEmbedded(_ source: SQLiteRegistry) throws -> ImportReport {
        let sourceMigrations = try source.appliedMigrations()
        let known = Self.knownMigrations
        guard Set(sourceMigrations) == Set(known) else {
            let missing = known.filter { !sourceMigrations.contains($0) }
            throw ImportRefused(reason: "the embedded registry is not at this version's schema (missing \(missing.joined(separator: ", "))); "
                                + "open it once with this slipway (any command) and migrate again")
        }
        return try pool.write { c in
            try c.advisoryTransactionLock(try auditLock(c))
            let targetTables = try Self.columns(c, schema: schema)
            for table in targetTables.keys.sorted() where !Self.storeOwnTables.contains(table) {
                if try c.execute("SELECT EXISTS (SELECT 1 FROM \(try c.quoteIdentifier(table)))").scalar(Bool.self) == true {
                    throw ImportRefused(reason: "the PostgreSQL project \(schema) is not empty (table \(table) has rows): "
                                        + "migrate into a project that has never been used")
                }
            }
            var report: [(String, Int)] = []
            try source.pool.read { db in
                let tables = try String.fetchAll(db, sql: """
                    SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name
                    """).filter { !Self.storeOwnTables.contains($0.lowercased()) }
                for table in try Self.parentsFirst(tables, references: try Self.references(c, schema: schema)) {
                    guard let target = targetTables[table.lowercased()] else {
                        throw ImportRefused(reason: "table \(table) of the embedded registry has no counterpart in PostgreSQL")
                    }
                    report.append((table, try Self.copy(table: table, from: db, to: c, targetColumns: target)))
                }
            }
            // Ids continue after the copied ones.
            for row in try c.execute("""
                SELECT table_name, column_name FROM information_schema.columns
                WHERE table_schema = $1 AND is_identity = 'YES'
                """, [schema]) {
                let table: String = try row.decode(0), column: String = try row.decode(1)
                let qualified = try c.quoteIdentifier(schema) + "." + (try c.quoteIdentifier(table))
                try c.execute("""
                    SELECT setval(pg_get_serial_sequence($1, $2), coalesce(max(\(try c.quoteIdentifier(column))), 0) + 1, false)
                    FROM \(qualified)
                    """, [qualified, column])
            }
            // The head moves to the newest copied event (it only moves forward).
            let newest = try c.execute("SELECT seq, hash FROM auditEvent ORDER BY seq DESC LIMIT 1").first
            let head = AuditHeadWitness(seq: try newest?.decode(0) ?? 0, hash: try newest?.decode(1) ?? AuditChain.genesis)
            if head.seq > 0 {
                try c.execute("UPDATE auditHead SET seq = $1, hash = $2 WHERE id = 1", [head.seq, head.hash])
            }
            return ImportReport(tables: report, head: head)
        }
    }

    /// Foreign keys in `schema`: lower-cased table → the tables it references.
    static func references(_ c: PGConnection, schema: String) throws -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        for row in try c.execute("""
            SELECT child.relname, parent.relname FROM pg_constraint k
            JOIN pg_class child ON child.oid = k.conrelid JOIN pg_class parent ON parent.oid = k.confrelid
            JOIN pg_namespace n ON n.oid = child.relnamespace
            WHERE k.contype = 'f' AND n.nspname = $1
            """, [schema]) {
            result[(try row.decode(0) as String).lowercased(), default: []].insert((try row.decode(1) as String).lowercased())
        }
        return result
    }

    /// `tables` ordered so that every table comes after those it references
    /// (foreign keys are checked row by row as COPY inserts).
    static func parentsFirst(_ tables: [String], references: [String: Set<String>]) throws -> [String] {
        let copied = Set(tables.map { $0.lowercased() })
        var done: Set<String> = [], ordered: [String] = [], left = tables
        while !left.isEmpty {
            let ready = left.filter { table in
                (references[table.lowercased()] ?? []).allSatisfy { parent in
                    parent == table.lowercased() || done.contains(parent) || !copied.contains(parent)
                }
            }
            guard !ready.isEmpty else { throw ImportRefused(reason: "the tables' foreign keys form a cycle: \(left.joined(separator: ", "))") }
            for t in ready { done.insert(t.lowercased()); ordered.append(t) }
            left.removeAll { done.contains($0.lowercased()) }
        }
        return ordered
    }

    /// The columns of every table in `schema`: lower-cased table → [(column, data type)].
    static func columns(_ c: PGConnection, schema: String) throws -> [String: [(name: String, type: String, generated: Bool)]] {
        var result: [String: [(name: String, type: String, generated: Bool)]] = [:]
        for row in try c.execute("""
            SELECT c.table_name, c.column_name, c.data_type, c.is_identity = 'YES' OR c.column_default IS NOT NULL
            FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE'
            ORDER BY c.table_name, c.ordinal_position
            """, [schema]) {
            result[(try row.decode(0) as String).lowercased(), default: []].append((try row.decode(1), try row.decode(2), try row.decode(3)))
        }
        return result
    }

    /// Streams one table's rows into PostgreSQL with COPY, converting each
    /// value to its column's type there (SQLite keeps booleans as integers).
    static func copy(table: String, from db: Database, to c: PGConnection,
                     targetColumns: [(name: String, type: String, generated: Bool)]) throws -> Int {
        let sourceColumns = try db.columns(in: table).map(\.name)
        var pairs: [(source: String, target: String, type: String)] = []
        for name in sourceColumns {
            guard let t = targetColumns.first(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw ImportRefused(reason: "column \(table).\(name) of the embedded registry has no counterpart in PostgreSQL")
            }
            pairs.append((name, t.name, t.type))
        }
        // A column only PostgreSQL has is filled by its default (an identity where SQLite uses the rowid).
        let missing = targetColumns.filter { t in !t.generated && !pairs.contains { $0.target == t.name } }
        if !missing.isEmpty {
            throw ImportRefused(reason: "PostgreSQL's \(table) has columns the embedded registry lacks: \(missing.map(\.name).joined(separator: ", "))")
        }
        let select = "SELECT " + pairs.map { "\"\($0.source)\"" }.joined(separator: ", ") + " FROM \"\(table)\""
        let copy = "COPY " + (try c.quoteIdentifier(table.lowercased())) + " ("
            + (try pairs.map { try c.quoteIdentifier($0.target) }.joined(separator: ", ")) + ") FROM STDIN"
        return try c.copyIn(copy) { w in
            let rows = try Row.fetchCursor(db, sql: select)
            while let row = try rows.next() {
                for (i, p) in pairs.enumerated() {
                    let value: DatabaseValue = row[i]
                    if value.isNull { w.null(); continue }
                    switch p.type {
                    case "boolean":
                        w.add((Int64.fromDatabaseValue(value) ?? 0) != 0)
                    case "bigint", "integer", "smallint":
                        w.add(Int64.fromDatabaseValue(value))
                    case "double precision", "real", "numeric":
                        w.add(Double.fromDatabaseValue(value))
                    case "bytea":
                        w.add(Data.fromDatabaseValue(value))
                    default:
                        switch value.storage {
                        case .string(let s): w.add(s)
                        case .int64(let n): w.add(String(n))
                        case .double(let d): w.add(String(d))
                        case .blob(let b): w.add(String(decoding: b, as: UTF8.self))
                        case .null: w.null()
                        }
                    }
                }
                try w.endRow()
            }
        }
    }
}
