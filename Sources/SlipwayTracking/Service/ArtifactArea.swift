import Crypto
import Foundation
import SlipwayEngine

/// A stage's artifact folder in the workspace (`mlflow-artifacts/STAGE`).
/// Every path from a request is checked component by component (no `..`,
/// no `.`, no empty or absolute path, no control characters) and every
/// file operation walks from the workspace with `O_NOFOLLOW`
/// (``ContainedFiles``), so neither a crafted path nor a symlink planted in
/// the folder leads outside it.
struct ArtifactArea: Sendable {
    /// Workspace-relative, e.g. `mlflow-artifacts/train`.
    let folder: String
    let files: ContainedFiles

    static let uploadPrefix = ".slipway-upload-"
    static let maxComponentBytes = 255
    static let maxPathBytes = 1024

    /// The checked path below the area for a request's path ("" for the area itself).
    static func check(_ path: String) throws -> String {
        if path.isEmpty { return "" }
        guard path.utf8.count <= maxPathBytes else { throw MLflowError.invalid("artifact path is longer than \(maxPathBytes) bytes") }
        guard !path.hasPrefix("/") else { throw MLflowError.invalid("Invalid path: '\(path)' is absolute") }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        for part in parts {
            guard !part.isEmpty, part != ".", part != ".." else {
                throw MLflowError.invalid("Invalid path: \(Names.quoted(path)) must be a relative path without '.', '..' or empty parts")
            }
            guard part.utf8.count <= maxComponentBytes, !part.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
                throw MLflowError.invalid("Invalid path: \(Names.quoted(path)) has a part that is too long or holds control characters")
            }
            guard !part.hasPrefix(uploadPrefix) else { throw MLflowError.invalid("Invalid path: \(Names.quoted(path)) is reserved") }
        }
        return path
    }

    func relative(_ inner: String) -> String { inner.isEmpty ? folder : folder + "/" + inner }

    /// Starts writing a file; its bytes land under its name only when complete.
    func upload(_ inner: String) throws -> ArtifactUpload {
        guard !inner.isEmpty else { throw MLflowError.invalid("an artifact needs a file name") }
        let path = relative(inner)
        let parent: ContainedFiles.Parent
        do { parent = try files.openParent(path, create: true) } catch { throw MLflowError.invalid("cannot write \(path): \(error)") }
        let temp = Self.uploadPrefix + String(UInt64.random(in: 1...UInt64.max), radix: 36)
        let fd = openat(parent.fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let e = errno
            parent.close()
            throw MLflowError(.internalError, "cannot write \(path): \(String(cString: strerror(e)))")
        }
        return ArtifactUpload(path: path, parent: parent, temp: temp, fd: fd)
    }

    /// Opens a file for reading: its descriptor and size.
    func openFile(_ inner: String) throws -> (fd: Int32, size: Int64) {
        let path = relative(inner)
        guard !inner.isEmpty, let parent = try? files.openParent(path, create: false) else {
            throw MLflowError.missing("Artifact '\(inner)' does not exist")
        }
        defer { parent.close() }
        // Non-blocking: opening a FIFO planted in the folder must not stall the event loop.
        let fd = openat(parent.fd, parent.leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw MLflowError.missing("Artifact '\(inner)' does not exist") }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw MLflowError.missing("Artifact '\(inner)' is not a file")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return (fd, Int64(st.st_size))
    }

    struct Entry: Equatable {
        var name: String
        var isDir: Bool
        var size: Int64?
    }

    /// The files and folders directly in `inner` (empty when it is not a folder).
    func list(_ inner: String) -> [Entry] {
        guard let parent = try? files.openParent(relative(inner), create: false) else { return [] }
        let dirfd = openat(parent.fd, parent.leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        parent.close()
        guard dirfd >= 0, let dir = fdopendir(dirfd) else {
            if dirfd >= 0 { close(dirfd) }
            return []
        }
        defer { closedir(dir) }
        var entries: [Entry] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name == "." || name == ".." || name.hasPrefix(Self.uploadPrefix) { continue }
            var st = stat()
            guard fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: entries.append(Entry(name: name, isDir: true, size: nil))
            case S_IFREG: entries.append(Entry(name: name, isDir: false, size: Int64(st.st_size)))
            default: continue  // symlinks and the rest are not artifacts
            }
        }
        return entries.sorted { $0.name < $1.name }
    }
}

/// A file being uploaded: written to a temporary name beside its place,
/// hashed as it arrives, renamed into place when complete.
///
/// When its stage ends first, the upload is cancelled (``cancel()``): its temporary
/// file leaves the workspace before the stage's outputs are read, and nothing more of
/// it is written there or renamed into place.
final class ArtifactUpload: @unchecked Sendable {
    let path: String
    private let parent: ContainedFiles.Parent
    private let temp: String
    private let lock = NSLock()
    private var fd: Int32
    private var cancelled = false
    private var hasher = SHA256()
    private(set) var size: Int64 = 0

    init(path: String, parent: ContainedFiles.Parent, temp: String, fd: Int32) {
        self.path = path
        self.parent = parent
        self.temp = temp
        self.fd = fd
    }

    deinit { abort() }

    static func stageEnded(_ path: String) -> MLflowError {
        MLflowError(.permissionDenied, "the stage ended before the upload of \(path) was complete; it was not kept")
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try lock.withLock {
            guard !cancelled else { throw Self.stageEnded(path) }
            hasher.update(bufferPointer: bytes)
            var off = 0
            while off < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw MLflowError(.internalError, "cannot write \(path): \(String(cString: strerror(errno)))")
                }
                off += n
            }
            size += Int64(bytes.count)
        }
    }

    /// Moves the file into place; its digest and size.
    func finish() throws -> TrackedArtifact {
        try lock.withLock {
            guard !cancelled else { throw Self.stageEnded(path) }
            guard fd >= 0 else { throw MLflowError(.internalError, "upload of \(path) already ended") }
            close(fd)
            fd = -1
            defer { parent.close() }
            var st = stat()
            if fstatat(parent.fd, parent.leaf, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
                unlinkat(parent.fd, temp, 0)
                throw MLflowError.invalid("cannot write \(path): a folder of that name exists")
            }
            guard renameat(parent.fd, temp, parent.fd, parent.leaf) == 0 else {
                let e = errno
                unlinkat(parent.fd, temp, 0)
                throw MLflowError(.internalError, "cannot write \(path): \(String(cString: strerror(e)))")
            }
            let digest = "sha256:" + hasher.finalize().map { String(format: "%02x", $0) }.joined()
            return TrackedArtifact(path: path, digest: digest, size: size)
        }
    }

    /// The stage ended: the partial file leaves the workspace now (a write in progress
    /// finishes first), and the upload refuses what still arrives.
    func cancel() {
        lock.withLock {
            guard !cancelled, fd >= 0 else { return }
            cancelled = true
            close(fd)
            fd = -1
            unlinkat(parent.fd, temp, 0)
            parent.close()
        }
    }

    /// Drops a partial upload.
    func abort() {
        lock.withLock {
            guard fd >= 0 else { return }
            close(fd)
            fd = -1
            unlinkat(parent.fd, temp, 0)
            parent.close()
        }
    }
}
