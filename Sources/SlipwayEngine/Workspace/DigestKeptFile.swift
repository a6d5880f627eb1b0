import Foundation
import SlipwayCore

/// A value worked out from some files' bytes, kept in `.slipway/` as JSON
/// under the SHA-256 of those bytes and of the program that made it.
///
/// It depends on nothing but those bytes, so a copy whose digest matches is
/// never stale. Anything else found in the file (garbage, a copy made from
/// other bytes or by another build) is not believed: the caller works the
/// value out again and keeps it. Keeping is best effort: a workspace that
/// cannot be written to only loses the shortcut.
struct DigestKeptFile<Value: Codable> {
    let path: String
    let digest: String

    /// `purpose` names what is kept (with a layout number); `parts` are the
    /// bytes it is made from, in order (nil: a file that is not there).
    init(path: String, purpose: String, parts: [Data?]) {
        self.path = path
        digest = KeptDigest.of(purpose: purpose, parts: parts)
    }

    private struct Stored: Codable {
        var digest: String
        var value: Value
    }

    /// The kept value, when it was made from the same bytes.
    func read() -> Value? {
        guard let data = FileManager.default.contents(atPath: path),
              let stored = try? JSONDecoder().decode(Stored.self, from: data), stored.digest == digest else { return nil }
        return stored.value
    }

    /// Keeps `value` for the next command, when the folder is there.
    func keep(_ value: Value) {
        let folder = (path as NSString).deletingLastPathComponent
        guard FileSystem.isDirectory(folder), let data = try? JSONEncoder.sorted.encode(Stored(digest: digest, value: value)) else { return }
        try? FileSystem.writeFile(path, data, mode: 0o600)
    }
}

/// Bytes kept the same way as ``DigestKeptFile``'s JSON, for a value with a
/// binary form of its own (``SpecArchive``): the file is the digest's 64 hex
/// digits and a newline, then the bytes.
struct DigestKeptBytes {
    let path: String
    let digest: String

    init(path: String, purpose: String, parts: [Data?]) {
        self.path = path
        digest = KeptDigest.of(purpose: purpose, parts: parts)
    }

    /// The kept bytes, when they were made from the same bytes by this program.
    func read() -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let header = Array((digest + "\n").utf8)
        guard data.count >= header.count, data.prefix(header.count).elementsEqual(header) else { return nil }
        return Array(data.dropFirst(header.count))
    }

    /// Keeps `bytes` for the next command, when the folder is there
    /// (written whole under a temporary name, then renamed over the old).
    func keep(_ bytes: [UInt8]) {
        let folder = (path as NSString).deletingLastPathComponent
        guard FileSystem.isDirectory(folder) else { return }
        try? FileSystem.writeFile(path, Data(Array((digest + "\n").utf8) + bytes), mode: 0o600)
    }
}

/// The digest a kept value is filed under.
enum KeptDigest {
    /// SHA-256 of `purpose` (what is kept, with a layout number), the
    /// program, and `parts` in order (nil: a file that is not there).
    static func of(purpose: String, parts: [Data?]) -> String {
        var bytes = Array("\(purpose) \(Slipway.version) \(program)\n".utf8)
        for part in parts {
            if let part {
                bytes += Array("\(part.count)\n".utf8)
                bytes += part
            } else {
                bytes += Array("none\n".utf8)
            }
        }
        return Digests.sha256Hex(bytes)
    }

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
