import Crypto

/// Everything that decides whether a stage's result can be reused.
///
/// The key is the SHA-256 of a canonical text of these inputs, so it changes
/// exactly when the command, a dep's content, a param's value, an environment
/// file or a built-in stage's options change, and never otherwise.
public struct CacheInputs: Sendable, Hashable, Codable {
    public var command: String
    /// Dep path → content hash (`sha256:…`, a directory's manifest hash).
    public var deps: [String: String]
    /// Param key → value text.
    public var params: [String: String]
    /// Environment file path → content hash.
    public var envFiles: [String: String]
    /// The canonical text of a built-in stage's options (empty for commands).
    public var builtin: String
    /// Declared outputs: a stage that writes different paths is a different stage.
    public var outputs: [String]

    public init(command: String, deps: [String: String] = [:], params: [String: String] = [:],
                envFiles: [String: String] = [:], builtin: String = "", outputs: [String] = []) {
        self.command = command
        self.deps = deps
        self.params = params
        self.envFiles = envFiles
        self.builtin = builtin
        self.outputs = outputs
    }

    /// The canonical text hashed into the key. Fields are length-prefixed so no
    /// two different inputs share a text.
    public var canonicalText: String { String(decoding: canonicalBytes, as: UTF8.self) }

    /// The canonical text's bytes, built directly (a key is made per stage per run).
    private var canonicalBytes: [UInt8] {
        var text: [UInt8] = []
        text.reserveCapacity(256)
        text.append(contentsOf: "slipway-stage-key/1\n".utf8)
        func field(_ tag: String, _ value: String) {
            text.append(contentsOf: tag.utf8)
            text.append(UInt8(ascii: " "))
            text.append(contentsOf: String(value.utf8.count).utf8)
            text.append(UInt8(ascii: ":"))
            text.append(contentsOf: value.utf8)
            text.append(UInt8(ascii: "\n"))
        }
        field("cmd", command)
        field("builtin", builtin)
        for (k, v) in deps.sorted(by: { $0.key < $1.key }) { field("dep", k); field("hash", v) }
        for (k, v) in params.sorted(by: { $0.key < $1.key }) { field("param", k); field("value", v) }
        for (k, v) in envFiles.sorted(by: { $0.key < $1.key }) { field("env", k); field("hash", v) }
        for o in outputs.sorted() { field("out", o) }
        return text
    }

    public var key: String { Digests.sha256Hex(canonicalBytes) }

    /// Why a stage with these inputs must run, compared with the inputs of its
    /// previous run (nil when it never ran). Empty when nothing changed.
    public func changes(since previous: CacheInputs?) -> [String] {
        guard let previous else { return ["first run"] }
        var reasons: [String] = []
        if command != previous.command { reasons.append("command changed") }
        if builtin != previous.builtin { reasons.append("stage options changed") }
        for (path, hash) in deps.sorted(by: { $0.key < $1.key }) {
            if let old = previous.deps[path] {
                if old != hash { reasons.append("dep changed: \(path)") }
            } else {
                reasons.append("new dep: \(path)")
            }
        }
        for path in previous.deps.keys.sorted() where deps[path] == nil { reasons.append("dep removed: \(path)") }
        for (key, value) in params.sorted(by: { $0.key < $1.key }) {
            if let old = previous.params[key] {
                if old != value { reasons.append("param changed: \(key) (\(old) → \(value))") }
            } else {
                reasons.append("new param: \(key)")
            }
        }
        for key in previous.params.keys.sorted() where params[key] == nil { reasons.append("param removed: \(key)") }
        for (path, hash) in envFiles.sorted(by: { $0.key < $1.key }) where previous.envFiles[path] != hash {
            reasons.append("env file changed: \(path)")
        }
        for path in previous.envFiles.keys.sorted() where envFiles[path] == nil { reasons.append("env file removed: \(path)") }
        if outputs.sorted() != previous.outputs.sorted() { reasons.append("outs changed") }
        return reasons
    }
}

/// SHA-256 helpers with the `sha256:` prefix used across the registry.
public enum Digests {
    public static func sha256Hex(_ bytes: some Sequence<UInt8>) -> String {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return hex(hasher.finalize())
    }

    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        hex(SHA256.hash(data: bytes))
    }

    public static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
