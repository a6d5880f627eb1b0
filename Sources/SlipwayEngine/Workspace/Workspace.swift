import Foundation

/// A folder with `slipway.yaml` and `.slipway/`.
public struct Workspace: Sendable {
    public static let specFileName = "slipway.yaml"
    public static let paramsFileName = "params.yaml"
    public static let stateDirName = ".slipway"

    /// The workspace folder, absolute and with symlinks resolved.
    public let root: String

    public init(root: String) {
        self.root = FileSystem.realPath(root) ?? root
    }

    public var specPath: String { root + "/" + Self.specFileName }
    public var paramsPath: String { root + "/" + Self.paramsFileName }
    public var stateDir: String { root + "/" + Self.stateDirName }
    public var registryPath: String { stateDir + "/registry.sqlite" }
    public var storeDir: String { stateDir + "/store" }
    public var logsDir: String { stateDir + "/logs" }
    /// What `slipway demo` is doing now (its status line in the console).
    public var demoStatusPath: String { stateDir + "/demo-status" }

    public func absolute(_ relative: String) -> String { root + "/" + relative }

    /// A stage log's path as the registry records it, as an absolute path;
    /// nil unless it lies in `.slipway/logs/` (a tampered row cannot make
    /// `logs` or the console read another file).
    public func logFile(_ relative: String) -> String? {
        guard case .success(let normal) = WorkspacePath.normalize(relative), normal.hasPrefix(Self.stateDirName + "/logs/") else { return nil }
        return root + "/" + normal
    }

    public struct NotFound: SlipwayError {
        public var exitStatus: ExitStatus { .usage }
        public var searchedFrom: String
        public var description: String {
            "no Slipway workspace at \(searchedFrom) or above it (no \(Workspace.specFileName)); run `slipway init` to make one, or pass -C DIR"
        }
    }

    /// Finds the workspace: `-C DIR` if given, else `SLIPWAY_WORKSPACE`, else
    /// the current folder and its parents.
    public static func discover(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                                currentDirectory: String = FileManager.default.currentDirectoryPath) throws -> Workspace {
        if let dir = explicit ?? environment["SLIPWAY_WORKSPACE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            let path = dir.hasPrefix("/") ? dir : currentDirectory + "/" + dir
            guard FileSystem.isFile(path + "/" + specFileName) else { throw NotFound(searchedFrom: path) }
            return Workspace(root: path)
        }
        var dir = FileSystem.realPath(currentDirectory) ?? currentDirectory
        while true {
            if FileSystem.isFile(dir + "/" + specFileName) { return Workspace(root: dir) }
            if dir == "/" || dir.isEmpty { break }
            dir = (dir as NSString).deletingLastPathComponent
        }
        throw NotFound(searchedFrom: currentDirectory)
    }

    /// Makes sure `.slipway/` exists with mode 0700 (the registry inside is 0600).
    public func prepareStateDirectory() throws {
        for dir in [stateDir, storeDir, logsDir] {
            try FileSystem.makeDirectory(dir, mode: dir == stateDir ? 0o700 : 0o755)
        }
        chmod(stateDir, 0o700)
    }
}
