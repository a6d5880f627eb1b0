/// Lexical rules for paths written in `slipway.yaml`.
///
/// Every dep, out, metrics file and env file is a path relative to the
/// workspace. These rules run before anything touches the file system: an
/// absolute path, or one whose `..` steps leave the workspace, is refused.
/// (Symlinks that leave the workspace are caught by the engine, which can look.)
public enum WorkspacePath {
    public enum Problem: SlipwayError, Equatable, Sendable {
        public var exitStatus: ExitStatus { .usage }
        case empty
        case absolute
        case escapes
        case invalidCharacter

        public var description: String {
            switch self {
            case .empty: return "is empty"
            case .absolute: return "is absolute; paths must be relative to the workspace"
            case .escapes: return "leaves the workspace"
            case .invalidCharacter: return "contains a NUL or newline character"
            }
        }
    }

    /// The path in normal form (`a/./b/../c/` → `a/c`), or the reason it is refused.
    public static func normalize(_ raw: String) -> Result<String, Problem> {
        if raw.isEmpty { return .failure(.empty) }
        if raw.contains("\0") || raw.contains("\n") || raw.contains("\r") {
            return .failure(.invalidCharacter)
        }
        if raw.hasPrefix("/") || raw.hasPrefix("~") { return .failure(.absolute) }
        var parts: [Substring] = []
        for component in raw.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..":
                if parts.isEmpty { return .failure(.escapes) }
                parts.removeLast()
            default: parts.append(component)
            }
        }
        if parts.isEmpty { return .failure(.empty) }
        return .success(parts.joined(separator: "/"))
    }

    /// Why a path may not be used, in words (nil when it may).
    public static func problem(_ raw: String) -> String? {
        if case .failure(let p) = normalize(raw) { return p.description }
        return nil
    }

    /// The workspace's spec, params file and state folder, by name.
    public static let specFile = "slipway.yaml"
    public static let paramsFile = "params.yaml"
    public static let stateFolder = ".slipway"

    /// Why a normalised path belongs to git or to Slipway itself, in words;
    /// nil for an ordinary workspace path. `.git` and `.slipway` are theirs
    /// wherever they appear (a nested repository or workspace too); the spec
    /// and params files may be read but never written (`writing`). Names are
    /// compared ignoring case, as a case-insensitive file system would.
    public static func reserved(_ path: String, writing: Bool) -> String? {
        let parts = path.split(separator: "/").map { $0.lowercased() }
        if parts.contains(".git") { return "names git's own files (.git)" }
        if parts.contains(stateFolder) { return "names Slipway's own state (\(stateFolder))" }
        if writing, parts.count == 1 {
            if parts[0] == specFile { return "is the workspace's spec" }
            if parts[0] == paramsFile { return "is the workspace's params file" }
        }
        return nil
    }

    /// True when `inner` is `outer` or lies below it (both normalised).
    public static func contains(_ outer: String, _ inner: String) -> Bool {
        inner == outer || inner.hasPrefix(outer + "/")
    }

    /// True when one path is the other or lies inside it.
    public static func overlaps(_ a: String, _ b: String) -> Bool {
        contains(a, b) || contains(b, a)
    }
}
