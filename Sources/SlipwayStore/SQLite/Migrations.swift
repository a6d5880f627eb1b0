import SlipwayCore
import GRDB

/// The registry's schema, one migration per released change, in groups
/// (`Migrations+Foundation.swift`: v1–v4, `Migrations+Decisions.swift`: v5
/// onwards) registered in the order they shipped. Migrations are never edited
/// once shipped: a change is a new migration appended to the newest group,
/// and to `PostgresMigrations` with the same identifier.
enum RegistryMigrations {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        // The groups in the order they shipped.
        registerFoundation(&m)
        registerDecisions(&m)
        return m
    }

    /// The migration after which the chain head is also kept outside the database.
    static let auditWitness = "v4-audit-witness-and-job-handles"

    /// The identifiers of every migration, oldest first.
    static var identifiers: [String] { migrator.migrations }
}
