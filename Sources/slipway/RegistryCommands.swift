import ArgumentParser
import Foundation
import SlipwayEngine

struct RegistryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "registry", abstract: "The registry's location: move it to a team's PostgreSQL.",
                                                    subcommands: [Migrate.self])

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate",
            abstract: "Copy this workspace's embedded registry into a PostgreSQL database (docs/team.md).",
            discussion: """
            Verifies the embedded audit trail, copies every record (same ids, same audit hashes) into the \
            project's schema in one transaction, verifies the copy ends at the same head, and leaves the \
            embedded registry as it was. Refused (nothing written) when the project's schema already holds \
            anything. The password comes from libpq (PGPASSWORD, ~/.pgpass, PGPASSFILE), never the URL. \
            Exit 0 copied, 2 refused, 3 the embedded trail does not verify.
            """)

        @OptionGroup var global: GlobalOptions
        @Option(help: ArgumentHelp("The database: postgres://user@host:port/db[?sslmode=…].", valueName: "URL")) var to: String
        @Flag(help: "Print the result as JSON.") var json = false

        struct ReportJSON: Encodable {
            var schema: String
            var tables: [String: Int]
            var events: Int64
            var headSeq: Int64
            var headHash: String
        }

        func run() throws {
            let ws = try global.workspace()
            let text = (try? String(contentsOfFile: ws.specPath, encoding: .utf8)) ?? ""
            guard let project = try RegistrySetting.read(text, file: Workspace.specFileName).project, !project.isEmpty else {
                throw Failure(status: .usage, message: "slipway.yaml needs `project:`: the project's name names its schema in the database")
            }
            let report = try RegistryMigration(workspace: ws).migrate(to: to, project: project)
            if json {
                try Output.json(ReportJSON(schema: report.schema, tables: Dictionary(report.tables.map { ($0.name, $0.rows) }) { a, _ in a },
                                           events: report.events, headSeq: report.headSeq, headHash: report.headHash))
                return
            }
            let rows = report.tables.reduce(0) { $0 + $1.rows }
            Output.say("copied \(rows) rows from \(report.tables.filter { $0.rows > 0 }.count) tables into schema \(report.schema)")
            Output.say("audit trail verified there: \(report.events) events, head \(report.headSeq) \(report.headHash.prefix(16))… (the same as here)")
            Output.say("to use it, add to slipway.yaml:  registry: \(Output.safe(report.url))")
            Output.say("(or set $SLIPWAY_REGISTRY_URL); .slipway/registry.sqlite is left as it was")
        }
    }
}
