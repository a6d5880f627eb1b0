import Foundation
import SlipwayCore

/// The SQLite store's second place for the audit chain head: a small file
/// beside the database (`registry.sqlite.head`), advanced after every commit
/// that appends events. A row edit or a `DELETE` in the database does not
/// reach it, so removing the newest events leaves the head pointing at an
/// event that is gone.
///
/// The file only moves forward (under `flock`, so concurrent writers never
/// move it back). It may lag behind the database by the events of a process
/// killed between its commit and this write: the verifier accepts a head
/// that is behind, never one that is ahead or that disagrees.
struct AuditHeadFile: Sendable {
    let path: String

    static let magic = "slipway-audit-head/1"

    func read() -> AuditHeadWitness? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let parts = String(decoding: data, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count == 3, parts[0] == Self.magic, let seq = Int64(parts[1]) else { return nil }
        return AuditHeadWitness(seq: seq, hash: String(parts[2]))
    }

    var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// Creates the file (only when it does not exist yet).
    func create(_ head: AuditHeadWitness) throws {
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if fd < 0 {
            if errno == EEXIST { return }
            throw SQLiteRegistry.OpenError(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        let text = Array("\(Self.magic) \(head.seq) \(head.hash)\n".utf8)
        _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Moves the head forward to `head` unless it is already there or beyond.
    /// A missing file stays missing: it is never silently re-created.
    func advance(to head: AuditHeadWitness) {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        defer { flock(fd, LOCK_UN) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 256, 0) }
        if n > 0 {
            let parts = String(decoding: buffer[0..<n], as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
            if parts.count == 3, let seq = Int64(parts[1]), seq >= head.seq { return }
        }
        let text = Array("\(Self.magic) \(head.seq) \(head.hash)\n".utf8)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        _ = ftruncate(fd, off_t(text.count))
    }
}
