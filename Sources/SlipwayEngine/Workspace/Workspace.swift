import Foundation

/// A folder with `slipway.yaml` and `.slipway/`.
public struct Workspace: Sendable {
    public static let specFileName = "slipway.yaml"
    public static let paramsFileName = "params.yaml"
    public static let stateDirName = ".slipway"

    /// The workspace folder, absolute and with symlinks resolved.
    public let root: String
    /// The shared store folder (`store:` in slipway.yaml), absolute; nil for
    /// the store in `.slipway/`.
    public let sharedStore: String?

    public init(root: String, sharedStore: String? = nil) {
        self.root = FileSystem.realPath(root) ?? root
        self.sharedStore = sharedStore
    }

    /// The workspace at `root` as its `slipway.yaml` sets it up: with the
    /// shared store its `store:` names. A `store:` folder that does not exist
    /// is an error (an unmounted share must not silently become an empty store).
    public static func opening(root: String) throws -> Workspace {
        let plain = Workspace(root: root)
        // Most specs cannot name a store: their bytes tell, without making text of them.
        let bytes = FileManager.default.contents(atPath: plain.specPath) ?? Data()
        guard bytes.withUnsafeBytes({ StoreSetting.mayNameStore(bytes: $0) }) else { return plain }
        let text = text(ofSpec: bytes) ?? ""
        guard let path = try StoreSetting.read(text, file: specFileName) else { return plain }
        let absolute = path.hasPrefix("/") ? path : plain.root + "/" + path
        guard FileSystem.isDirectory(absolute) else {
            throw SharedStoreMissing(path: absolute)
        }
        return Workspace(root: plain.root, sharedStore: FileSystem.realPath(absolute) ?? absolute)
    }

    /// A spec file's bytes as text: nil when they are not UTF-8. A byte order
    /// mark in front is dropped, as Foundation's file reading does (libyaml,
    /// told the encoding, would take it for part of the first key).
    static func text(ofSpec bytes: Data) -> String? {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        return String(validating: bytes.starts(with: bom) ? bytes.dropFirst(3) : bytes[...], as: UTF8.self)
    }

    public struct SharedStoreMissing: SlipwayError {
        public var path: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String {
            "store: \(TerminalText.oneLine(path)) (slipway.yaml) is not a folder: is the shared file system mounted? "
                + "Create the folder, or remove `store:` to use .slipway/store"
        }
    }

    public var specPath: String { root + "/" + Self.specFileName }
    public var paramsPath: String { root + "/" + Self.paramsFileName }
    public var stateDir: String { root + "/" + Self.stateDirName }
    public var registryPath: String { stateDir + "/registry.sqlite" }
    /// The content store: `.slipway/store`, or `store/` in the shared store folder.
    public var storeDir: String { (sharedStore ?? stateDir) + "/store" }
    /// Package images by model: `.slipway/images`, or `images/` in the shared store folder.
    public var imagesDir: String { (sharedStore ?? stateDir) + "/images" }
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
            return try opening(root: path)
        }
        var dir = FileSystem.realPath(currentDirectory) ?? currentDirectory
        while true {
            if FileSystem.isFile(dir + "/" + specFileName) { return try opening(root: dir) }
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
