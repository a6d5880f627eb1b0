import Foundation
import SlipwayStore

/// Where a workspace's registry lives: the embedded SQLite file in
/// `.slipway/`, or a project's schema in a PostgreSQL database shared by a
/// team (`registry:` in `slipway.yaml`, or `$SLIPWAY_REGISTRY_URL`, which wins).
public enum RegistryLocation: Sendable, Hashable {
    case embedded(path: String)
    /// `url` carries no password (libpq finds it in PGPASSWORD, ~/.pgpass or PGPASSFILE).
    case postgres(url: String, project: String)

    public struct Unusable: SlipwayError {
        public var exitStatus: ExitStatus { .usage }
        public var reason: String
        public var description: String { reason }
    }
}

extension Workspace {
    /// Reads where the registry is from the environment and `slipway.yaml`
    /// (its `project:` and `registry:` only, so a spec being edited does not
    /// stop commands that only read the registry). A spec that cannot name a
    /// registry (``RegistrySetting/mayNameRegistry(_:)``) is not parsed here
    /// at all, so an unparsable one is reported by the commands that read it.
    public func registryLocation(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RegistryLocation {
        let bytes = FileManager.default.contents(atPath: specPath) ?? Data()
        let fromEnvironment = environment[RegistrySetting.environmentVariable] ?? ""
        if fromEnvironment.isEmpty, !bytes.withUnsafeBytes({ RegistrySetting.mayNameRegistry(bytes: $0) }) { return .embedded(path: registryPath) }
        let text = Self.text(ofSpec: bytes) ?? ""
        let setting = try registrySetting(text)
        let url: String
        if !fromEnvironment.isEmpty {
            if let problem = RegistrySetting.problem(fromEnvironment) {
                throw RegistryLocation.Unusable(reason: "$\(RegistrySetting.environmentVariable) \(problem)")
            }
            url = fromEnvironment
        } else if let fromSpec = setting.registry {
            url = fromSpec
        } else {
            return .embedded(path: registryPath)
        }
        guard let project = setting.project, !project.isEmpty else {
            throw RegistryLocation.Unusable(reason: "\(Self.specFileName) needs `project:` to use a PostgreSQL registry: "
                                            + "the project's name names its schema in the database")
        }
        return .postgres(url: url, project: project)
    }

    /// Opens the workspace's registry (creating the embedded one, or the
    /// project's schema, on first use).
    /// The one place above the store that names the store implementations.
    public func openRegistry(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any Registry {
        try connect(environment: environment)
    }

    /// The registry this workspace names, opened for a face (see ``RegistryReading``).
    /// Typed by the concrete store: converting an `any Registry` to this
    /// composition at run time would look up each protocol's conformance.
    public func connect(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RegistryConnection {
        try prepareStateDirectory()
        switch try registryLocation(environment: environment) {
        case .embedded(let path):
            return try SQLiteRegistry(path: path)
        case .postgres(let url, let project):
            return try PostgresRegistry(url: url, project: project)
        }
    }

    /// The embedded registry in `.slipway/`, whatever `registry:` says: for a
    /// scratch copy of a workspace (`reproduce`), which must not write into
    /// the team's registry.
    public func openEmbeddedRegistry() throws -> any Registry {
        try prepareStateDirectory()
        return try SQLiteRegistry(path: registryPath)
    }
}
