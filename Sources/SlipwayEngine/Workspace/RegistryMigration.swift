import Foundation
import SlipwayStore

/// `slipway registry migrate --to postgres://…`: moves a workspace's embedded
/// registry to a team's PostgreSQL database.
///
/// The embedded chain is verified first (a broken trail is not carried over
/// as if it were sound); the copy keeps every id and every audit hash; the
/// copied chain is verified in PostgreSQL and must end at the same head. The
/// embedded registry is left as it was, and `slipway.yaml` is not edited: the
/// command says what to add.
public struct RegistryMigration: Sendable {
    public let workspace: Workspace

    public init(workspace: Workspace) { self.workspace = workspace }

    public struct Refused: SlipwayError {
        public var reason: String
        public var exitStatus: ExitStatus
        public var description: String { reason }
    }

    public struct Report: Sendable {
        public var url: String
        public var schema: String
        public var tables: [(name: String, rows: Int)]
        public var events: Int64
        public var headSeq: Int64
        public var headHash: String
    }

    public func migrate(to url: String, project: String) throws -> Report {
        if let problem = RegistrySetting.problem(url) {
            throw Refused(reason: "--to \(problem)", exitStatus: .usage)
        }
        guard FileSystem.exists(workspace.registryPath) else {
            throw Refused(reason: "this workspace has no embedded registry (\(Workspace.stateDirName)/registry.sqlite) to migrate",
                          exitStatus: .usage)
        }
        let source = try SQLiteRegistry(path: workspace.registryPath)
        let before = try AuditVerifier(registry: source, workspace: nil).verify()
        if let problem = before.problem {
            throw Refused(reason: "the embedded registry's audit trail does not verify (\(problem.message)): "
                          + "nothing was copied; see `slipway audit verify`", exitStatus: .checkFailed)
        }
        let target = try PostgresRegistry(url: url, project: project)
        defer { target.close() }
        let copied = try target.importEmbedded(source)
        let after = try AuditVerifier(registry: target, workspace: nil).verify()
        if let problem = after.problem {
            throw Refused(reason: "the copy in PostgreSQL does not verify: \(problem.message)", exitStatus: .internalError)
        }
        guard after.headSeq == before.headSeq, after.headHash == before.headHash, copied.head.hash == before.headHash else {
            throw Refused(reason: "the copy's audit head (\(after.headSeq), \(after.headHash.prefix(12))) is not the embedded one's "
                          + "(\(before.headSeq), \(before.headHash.prefix(12)))", exitStatus: .internalError)
        }
        return Report(url: url, schema: target.schema, tables: copied.tables, events: after.events,
                      headSeq: after.headSeq, headHash: after.headHash)
    }
}
