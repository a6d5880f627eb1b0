import Crypto
import Foundation
import SlipwayStore

/// Content hashes of workspace files and folders, with a stat cache so an
/// unchanged file (same size, mtime and inode) is never read twice.
///
/// A file's hash is the hex SHA-256 of its bytes. A folder's hash is the
/// SHA-256 of its manifest (one line per file: mode, hash, relative path,
/// sorted by path) followed by `.dir`, so the two kinds never collide.
public final class FileHasher: @unchecked Sendable {
    private let root: String
    private let cache: (any CacheStore)?
    private let lock = NSLock()
    private var known: [String: FileState] = [:]
    private var pending: [FileState] = []

    public init(root: String, cache: (any CacheStore)?) {
        self.root = root
        self.cache = cache
    }

    public struct Missing: SlipwayError {
        public var exitStatus: ExitStatus { .usage }
        public var path: String
        public var description: String { "\(path) does not exist" }
    }

    /// Loads the stat cache rows for these workspace-relative paths in one query.
    public func preload(_ paths: [String]) {
        guard let cache, let states = try? cache.fileStates(paths: paths) else { return }
        lock.withLock {
            if known.isEmpty { known = states } else { known.merge(states) { _, read in read } }
        }
    }

    /// Hash of a workspace-relative file or folder; refused when the path
    /// leads out of the workspace through a symlink (deps, env files and
    /// datasets are read here, at the moment they are used).
    public func hash(_ relative: String) throws -> String { try hash(relative, containment: nil) }

    /// ``hash(_:)``, with `containment` answering for the symlink check in a pass
    /// where nothing else writes to the workspace (``ContainedFiles/readable(_:containment:)``).
    public func hash(_ relative: String, containment: FileSystem.Containment?) throws -> String {
        let path = try ContainedFiles(root: root).readable(relative, containment: containment)
        let status = containment.map { $0.status(String(Substring(path.utf8.dropFirst(root.utf8.count + 1)))) } ?? FileSystem.status(path)
        guard let st = status else { throw Missing(path: relative) }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            return try DirectoryManifest.build(root: root, relative: relative, hasher: self).hash
        }
        return try hashFile(relative, st)
    }

    /// The stat-cache row for a file with a known hash.
    public static func state(_ relative: String, _ st: stat, hash: String) -> FileState {
        FileState(path: relative, size: Int64(st.st_size), mtimeNanos: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                  inode: Int64(bitPattern: UInt64(st.st_ino)), hash: hash)
    }

    func hashFile(_ relative: String, _ st: stat) throws -> String {
        let probe = Self.state(relative, st, hash: "")
        let mtime = probe.mtimeNanos, size = probe.size, inode = probe.inode
        var cached = lock.withLock { known[relative] }
        if cached == nil, let cache, let row = try? cache.fileStates(paths: [relative])[relative] {
            cached = row
            lock.withLock { known[relative] = row }
        }
        // Nanosecond mtimes make a same-size rewrite within one tick unlikely;
        // size, mtime and inode together are what git and DVC trust too.
        if let c = cached, c.size == size, c.mtimeNanos == mtime, c.inode == inode {
            return c.hash
        }
        let digest = try Self.sha256(file: root + "/" + relative)
        let state = Self.state(relative, st, hash: digest)
        lock.withLock {
            known[relative] = state
            pending.append(state)
        }
        return digest
    }

    /// Writes newly learnt file states to the stat cache.
    public func flush() {
        let states = lock.withLock { () -> [FileState] in
            defer { pending.removeAll() }
            return pending
        }
        try? cache?.saveFileStates(states)
    }

    /// SHA-256 of a file, read in 1 MiB blocks.
    public static func sha256(file path: String, followSymlinks: Bool = true) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC | (followSymlinks ? 0 : O_NOFOLLOW))
        guard fd >= 0 else { throw FileSystem.Failure(path: path, operation: "open", code: errno) }
        defer { close(fd) }
        #if os(Linux)
        posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
        #endif
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        while true {
            let n = read(fd, buffer.baseAddress, size)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystem.Failure(path: path, operation: "read", code: errno)
            }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return Digests.hex(hasher.finalize())
    }
}

/// The listing that gives a folder its hash.
public struct DirectoryManifest: Sendable, Codable, Hashable {
    public struct Entry: Sendable, Codable, Hashable {
        public var path: String
        public var hash: String
        public var mode: UInt32
    }

    public var entries: [Entry]

    public var text: String {
        entries.map { String($0.mode, radix: 8) + " " + $0.hash + " " + $0.path + "\n" }.joined()
    }

    public var hash: String { Digests.sha256Hex(Array(text.utf8)) + ".dir" }

    static func build(root: String, relative: String, hasher: FileHasher) throws -> DirectoryManifest {
        var entries: [Entry] = []
        let base = root + "/" + relative
        guard let walker = FileManager.default.enumerator(atPath: base) else { throw FileHasher.Missing(path: relative) }
        var files: [String] = []
        while let item = walker.nextObject() as? String { files.append(item) }
        for item in files.sorted() {
            guard let st = FileSystem.linkStatus(base + "/" + item) else { continue }
            let kind = st.st_mode & S_IFMT
            if kind == S_IFREG {
                let hash = try hasher.hashFile(relative + "/" + item, st)
                entries.append(Entry(path: item, hash: hash, mode: UInt32(st.st_mode & 0o111 != 0 ? 0o755 : 0o644)))
            } else if kind == S_IFLNK {
                throw FileSystem.Failure(path: relative + "/" + item, operation: "store (symlinks inside outs are not supported)", code: EINVAL)
            }
        }
        return DirectoryManifest(entries: entries)
    }

    static func parse(_ text: String) -> DirectoryManifest {
        var entries: [Entry] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 2)
            guard parts.count == 3, let mode = UInt32(parts[0], radix: 8) else { continue }
            entries.append(Entry(path: String(parts[2]), hash: String(parts[1]), mode: mode))
        }
        return DirectoryManifest(entries: entries)
    }
}
