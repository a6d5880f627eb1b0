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
        var bytes = Array("\(purpose) \(Slipway.version) \(Self.program)\n".utf8)
        for part in parts {
            if let part {
                bytes += Array("\(part.count)\n".utf8)
                bytes += part
            } else {
                bytes += Array("none\n".utf8)
            }
        }
        digest = Digests.sha256Hex(bytes)
    }

    /// The running program's file (size, change time, inode): another build,
    /// whose parser may read the same bytes differently, does not believe
    /// what this one kept. (The version number alone is not bumped per build.)
    static var program: String { DigestKeptFileProgram.identity }

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

/// Worked out once per process (a generic type cannot hold a stored static).
private enum DigestKeptFileProgram {
    static let identity: String = {
        var st = stat()
        guard stat("/proc/self/exe", &st) == 0 || stat(CommandLine.arguments[0], &st) == 0 else { return "unknown" }
        return "\(st.st_size)-\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)-\(st.st_ino)"
    }()
}
