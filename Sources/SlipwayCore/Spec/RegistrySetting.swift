import Foundation
import Yams

/// `registry:` in `slipway.yaml` (or `$SLIPWAY_REGISTRY_URL`): where the
/// project's registry lives. Absent, it is the embedded SQLite file in
/// `.slipway/`; a `postgres://user@host:port/db?sslmode=…` URL names a
/// PostgreSQL database shared by a team (the project has a schema of its own
/// there). Passwords never come from here: libpq reads them from
/// `PGPASSWORD`, `~/.pgpass` or `PGPASSFILE`.
public enum RegistrySetting {
    /// The environment variable that overrides `registry:`.
    public static let environmentVariable = "SLIPWAY_REGISTRY_URL"

    /// Why `url` cannot name a registry (nil when it can). The message never
    /// repeats a password the URL carries.
    public static func problem(_ url: String) -> String? {
        let lower = url.lowercased()
        guard lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://") else {
            return "must be a postgres://user@host:port/database URL (leave `registry:` out for the embedded registry)"
        }
        let rest = url[url.index(url.firstIndex(of: ":")!, offsetBy: 3)...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        if let at = authority.lastIndex(of: "@"), authority[..<at].contains(":") {
            return "carries a password: remove it and give it to libpq instead (PGPASSWORD, ~/.pgpass or PGPASSFILE)"
        }
        if let query = rest.firstIndex(of: "?").map({ rest[rest.index(after: $0)...] }),
           query.split(separator: "&").contains(where: { $0.lowercased().hasPrefix("password=") }) {
            return "carries a password: remove it and give it to libpq instead (PGPASSWORD, ~/.pgpass or PGPASSFILE)"
        }
        return nil
    }

    /// Whether `text` can name a registry at all: a key spelled `registry`
    /// needs those letters in the text, unless a double-quoted key spells
    /// them with escapes (which needs a backslash). When it cannot, the
    /// registry is the embedded one and no YAML needs parsing (a spec of
    /// 10,000 stages takes most of `status`'s time to parse).
    public static func mayNameRegistry(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { mayNameRegistry(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// ``mayNameRegistry(_:)`` of the file's bytes, before any text is made of them.
    public static func mayNameRegistry(bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count > BoundedYAML.maxBytes || contains(bytes, "registry") || contains(bytes, "\\")
    }

    /// A byte search (`String.contains` goes through NSString here, ten times
    /// slower on a large spec).
    static func contains(_ text: String, _ needle: String) -> Bool {
        var text = text
        return text.withUTF8 { contains(UnsafeRawBufferPointer($0), needle) }
    }

    /// C's `memchr` finds each place the needle's first byte is, several times
    /// faster than looking at every byte from Swift.
    static func contains(_ text: UnsafeRawBufferPointer, _ needle: String) -> Bool {
        var needle = needle
        return needle.withUTF8 { n in
            guard let first = n.first else { return true }
            guard text.count >= n.count, let base = text.baseAddress, let nb = n.baseAddress else { return false }
            let last = base + (text.count - n.count)  // the last place the needle can start
            var from = base
            while from <= last, let hit = memchr(from, Int32(first), last - from + 1) {
                if memcmp(hit, nb, n.count) == 0 { return true }
                from = UnsafeRawPointer(hit) + 1
            }
            return false
        }
    }

    /// `project:` and `registry:` read from a spec's text alone, without the
    /// rest of the spec (a command that only reads the registry works while
    /// the pipelines are being edited). Throws, with the place, only for a
    /// `registry:` that is there but unusable, or a file that is not YAML.
    public static func read(_ text: String, file: String = "slipway.yaml") throws(SpecErrors) -> (project: String?, registry: String?) {
        guard let root = try BoundedYAML.compose(text, file: file, resolver: .basic), case .mapping(let top) = root else { return (nil, nil) }
        func scalar(_ key: String) -> (String, Node)? {
            for (k, v) in top where k.string == key {
                if case .scalar(let s) = v { return (s.string, v) }
                return ("", v)
            }
            return nil
        }
        let project = scalar("project")?.0
        guard let (url, node) = scalar("registry") else { return (project, nil) }
        if url.isEmpty || url == "~" || url == "null" {
            throw SpecErrors([SpecIssue(file: file, mark: node.mark, keyPath: "registry",
                                        message: "must be a postgres:// URL, found nothing (leave it out for the embedded registry)")])
        }
        if let problem = problem(url) {
            throw SpecErrors([SpecIssue(file: file, mark: node.mark, keyPath: "registry", message: problem)])
        }
        return (project, url)
    }
}

/// `store:` in `slipway.yaml`: the folder (on a file system the team shares)
/// that holds the content store and the package images, so `verify`,
/// `reproduce`, `push` and rollback work from every clone.
public enum StoreSetting {
    /// Why `path` cannot name a shared store (nil when it can).
    public static func problem(_ path: String) -> String? {
        if path.isEmpty || path == "~" || path == "null" { return "must be a folder's path, found nothing (leave it out for the store in .slipway/)" }
        if path.contains("://") { return "must be a folder's path (a shared file system); object stores are not supported yet" }
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return "holds a control character" }
        return nil
    }

    /// Whether `text` can name a store at all (as ``RegistrySetting/mayNameRegistry(_:)``
    /// for `registry:`): every command opens the workspace, so this is a byte
    /// search, not a YAML parse of a 10,000-stage spec.
    public static func mayNameStore(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { mayNameStore(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// ``mayNameStore(_:)`` of the file's bytes, before any text is made of them.
    public static func mayNameStore(bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count > BoundedYAML.maxBytes || RegistrySetting.contains(bytes, "store") || RegistrySetting.contains(bytes, "\\")
    }

    /// `store:` read from a spec's text alone (nil when absent). Cheap when
    /// the text cannot name one (``mayNameStore(_:)``): no YAML is parsed.
    public static func read(_ text: String, file: String = "slipway.yaml") throws(SpecErrors) -> String? {
        guard mayNameStore(text) else { return nil }
        guard let root = try BoundedYAML.compose(text, file: file, resolver: .basic), case .mapping(let top) = root else { return nil }
        for (k, v) in top where k.string == "store" {
            let path: String
            if case .scalar(let s) = v { path = s.string } else { path = "" }
            if let problem = problem(path) {
                throw SpecErrors([SpecIssue(file: file, mark: v.mark, keyPath: "store", message: problem)])
            }
            return path
        }
        return nil
    }
}
