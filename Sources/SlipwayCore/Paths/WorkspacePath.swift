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
        // By byte: "\r\n" is one Character, equal to neither "\r" nor "\n".
        if raw.utf8.contains(where: { $0 == 0 || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
            return .failure(.invalidCharacter)
        }
        if raw.hasPrefix("/") || raw.hasPrefix("~") { return .failure(.absolute) }
        if isNormal(raw) { return .success(raw) }
        var parts: [Substring] = []
        for component in components(raw) {
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

    /// True when `raw` is already in normal form: non-empty components
    /// separated by single slashes, none of them `.` or `..` (most paths).
    static func isNormal(_ raw: String) -> Bool {
        var component = 0  // length of the component so far
        var dots = 0       // how many of its bytes are dots
        for b in raw.utf8 {
            if b == UInt8(ascii: "/") {
                if component == 0 || component == dots && dots <= 2 { return false }
                component = 0
                dots = 0
            } else {
                component += 1
                if b == UInt8(ascii: ".") { dots += 1 }
            }
        }
        return component > 0 && !(component == dots && dots <= 2)
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
        let parts = components(path)
        if parts.contains(where: { named($0, ".git") }) { return "names git's own files (.git)" }
        if parts.contains(where: { named($0, stateFolder) }) { return "names Slipway's own state (\(stateFolder))" }
        if writing, parts.count == 1 {
            if named(parts[0], specFile) { return "is the workspace's spec" }
            if named(parts[0], paramsFile) { return "is the workspace's params file" }
        }
        return nil
    }

    /// The non-empty components of `path`, split at each `/` byte. Not at
    /// each `/` Character: a slash followed by a combining mark is one
    /// Character to Swift, while the file system sees a slash and a name
    /// (`../\u{301}x` is `..` and then `\u{301}x`).
    public static func components(_ path: String) -> [Substring] {
        path.utf8.split(separator: UInt8(ascii: "/")).map { Substring($0) }
    }

    /// Whether `part` is `name` (lower-case ASCII) ignoring case. ASCII parts
    /// are compared byte by byte; others are lower-cased first, since a few
    /// letters (the Kelvin sign) lower-case to ASCII ones.
    static func named(_ part: Substring, _ name: String) -> Bool {
        let bytes = part.utf8
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return part.lowercased() == name }
        guard bytes.count == name.utf8.count else { return false }
        return zip(bytes, name.utf8).allSatisfy { b, n in
            (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? b + 32 : b) == n
        }
    }

    /// True when `inner` is `outer` or lies below it (both normalised).
    /// By byte, as ``components(_:)`` splits: `data/\u{301}x` is inside `data`.
    public static func contains(_ outer: String, _ inner: String) -> Bool {
        let o = outer.utf8, i = inner.utf8
        guard i.starts(with: o) else { return false }
        let rest = i.dropFirst(o.count)
        return rest.isEmpty || rest.first == UInt8(ascii: "/")
    }

    /// A normalised path and every folder above it, innermost first
    /// (`a/b/c` → `a/b/c`, `a/b`, `a`): the paths that `contains` it.
    public static func selfAndAncestors(_ path: String) -> [String] {
        var result = [path]
        var end = path.utf8.endIndex
        while let slash = path.utf8[..<end].lastIndex(of: UInt8(ascii: "/")) {
            if slash > path.startIndex { result.append(String(path[..<slash])) }
            end = slash
        }
        return result
    }

    /// True when one path is the other or lies inside it.
    public static func overlaps(_ a: String, _ b: String) -> Bool {
        contains(a, b) || contains(b, a)
    }
}
