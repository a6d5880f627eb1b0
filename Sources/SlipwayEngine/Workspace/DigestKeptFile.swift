import Crypto
import Foundation
import SlipwayCore

/// A value worked out from some files' bytes, kept in `.slipway/` as JSON
/// under a digest of those bytes and of the program that made it, keyed by
/// the user's own secret (``KeptDigest``).
///
/// It depends on nothing but those bytes, so a copy whose digest matches is
/// never stale. Anything else found in the file (garbage, a copy made from
/// other bytes or by another build) is not believed: the caller works the
/// value out again and keeps it. Keeping is best effort: a workspace that
/// cannot be written to only loses the shortcut.
struct DigestKeptFile<Value: Codable> {
    let kept: DigestKeptBytes

    var path: String { kept.path }

    /// `purpose` names what is kept (with a layout number); `parts` are the
    /// bytes it is made from, in order (nil: a file that is not there).
    init(path: String, purpose: String, parts: [Data?]) {
        kept = DigestKeptBytes(path: path, purpose: purpose, parts: parts)
    }

    /// The kept value, when it was made from the same bytes.
    func read() -> Value? {
        kept.read().flatMap { try? JSONDecoder().decode(Value.self, from: Data($0)) }
    }

    /// Keeps `value` for the next command, when the folder is there.
    func keep(_ value: Value) {
        guard let data = try? JSONEncoder.sorted.encode(value) else { return }
        kept.keep(Array(data))
    }
}

/// Bytes kept under the digest of what they were made from (a value's JSON
/// for ``DigestKeptFile``, ``SpecArchive``'s binary form). The file is that
/// digest, a MAC of the bytes under the same key (a copy edited or damaged
/// on disk is not believed), then the bytes.
struct DigestKeptBytes {
    let path: String
    let digest: String?

    init(path: String, purpose: String, parts: [Data?]) {
        self.path = path
        digest = KeptDigest.of(purpose: purpose, parts: parts)
    }

    /// The MAC covers the digest with the bytes: a body the user's program
    /// once kept cannot be moved under another digest (another kind of kept
    /// file, or the same file after the spec changed).
    private func header(_ body: some Collection<UInt8>) -> [UInt8]? {
        guard let digest, let mac = KeptDigest.of(purpose: "body", parts: [Data(digest.utf8), Data(body)]) else { return nil }
        return Array("\(digest)\n\(mac)\n".utf8)
    }

    /// The kept bytes, when they were made from the same bytes by this
    /// program, for this user, and are whole.
    func read() -> [UInt8]? {
        guard let digest, let data = FileSystem.readRegularFile(path, limit: KeptDigest.maxFileBytes) else { return nil }
        // Two lines of 64 hex digits each.
        let headerLength = 2 * 65
        guard data.count >= headerLength, data.prefix(65).elementsEqual(Array((digest + "\n").utf8)) else { return nil }
        let body = data.dropFirst(headerLength)
        guard let expected = header(body), data.prefix(headerLength).elementsEqual(expected) else { return nil }
        return Array(body)
    }

    /// Keeps `bytes` for the next command, when the folder is there
    /// (written whole under a temporary name, then renamed over the old).
    func keep(_ bytes: [UInt8]) {
        let folder = (path as NSString).deletingLastPathComponent
        guard FileSystem.isDirectory(folder), bytes.count + 2 * 65 <= KeptDigest.maxFileBytes, let header = header(bytes) else { return }
        try? FileSystem.writeFile(path, Data(header + bytes), mode: 0o600)
    }
}

/// The digest a kept value is filed under: HMAC-SHA256, under the user's
/// ``KeptSecret``, of what is kept, the program and the bytes it is made
/// from. Someone who can write `.slipway/` but cannot read the user's key
/// cannot make a copy that is believed.
enum KeptDigest {
    /// `purpose` names what is kept (with a layout number); `parts` are the
    /// bytes, in order (nil: a file that is not there). Nil without a key.
    static func of(purpose: String, parts: [Data?]) -> String? {
        guard let secret else { return nil }
        var mac = HMAC<SHA256>(key: SymmetricKey(data: secret))
        mac.update(data: Array("\(purpose) \(Slipway.version) \(program)\n".utf8))
        for part in parts {
            if let part {
                mac.update(data: Array("\(part.count)\n".utf8))
                mac.update(data: part)
            } else {
                mac.update(data: Array("none\n".utf8))
            }
        }
        return Digests.hex(mac.finalize())
    }

    /// The largest kept file read back (a 10,000-stage spec's archive is about 1.5 MB).
    static let maxFileBytes = 64 << 20

    /// This user's key, read (or made) once per process.
    static let secret: [UInt8]? = KeptSecret.folder(environment: ProcessInfo.processInfo.environment).flatMap(KeptSecret.load)

    /// The running program's file (size, change time, inode): another build,
    /// whose parser may read the same bytes differently, does not believe
    /// what this one kept. (The version number alone is not bumped per build.)
    /// Worked out once per process.
    static let program: String = {
        var st = stat()
        guard stat("/proc/self/exe", &st) == 0 || stat(CommandLine.arguments[0], &st) == 0 else { return "unknown" }
        return "\(st.st_size)-\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)-\(st.st_ino)"
    }()
}
