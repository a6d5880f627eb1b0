import Foundation

/// Thin, errno-reporting wrappers over the POSIX calls the engine needs.
public enum FileSystem {
    public struct Failure: SlipwayError {
        public var exitStatus: ExitStatus { .internalError }
        public var path: String
        public var operation: String
        public var code: Int32
        public var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
    }

    public static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// lstat(2): the entry itself, not what a symlink points to.
    public static func linkStatus(_ path: String) -> Glibc.stat? {
        var st = Glibc.stat()
        return Glibc.lstat(path, &st) == 0 ? st : nil
    }

    /// stat(2), following symlinks.
    public static func status(_ path: String) -> Glibc.stat? {
        var st = Glibc.stat()
        return fstatat(AT_FDCWD, path, &st, 0) == 0 ? st : nil
    }

    public static func exists(_ path: String) -> Bool { linkStatus(path) != nil }

    public static func isFile(_ path: String) -> Bool {
        guard let st = status(path) else { return false }
        return (st.st_mode & S_IFMT) == S_IFREG
    }

    public static func isDirectory(_ path: String) -> Bool {
        guard let st = status(path) else { return false }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws {
        if isDirectory(path) { return }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path, !isDirectory(parent) { try makeDirectory(parent) }
        if mkdir(path, mode) != 0, errno != EEXIST { throw Failure(path: path, operation: "mkdir", code: errno) }
    }

    /// Removes a file, symlink or whole folder; nothing if it is not there.
    public static func remove(_ path: String) throws {
        guard let st = linkStatus(path) else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            chmod(path, 0o755)
            for name in try FileManager.default.contentsOfDirectory(atPath: path) {
                try remove(path + "/" + name)
            }
            if rmdir(path) != 0 { throw Failure(path: path, operation: "rmdir", code: errno) }
        } else if unlink(path) != 0, errno != ENOENT {
            throw Failure(path: path, operation: "unlink", code: errno)
        }
    }

    /// A name for a temporary file beside `path`, unique across processes and
    /// threads (two stages of one run may store the same content at once).
    public static func temporaryName(beside path: String) -> String {
        path + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)"
    }

    public static func readFile(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(path: path, operation: "read", code: errno == 0 ? ENOENT : errno)
        }
        return data
    }

    /// The bytes of a regular file of at most `limit` bytes, read without
    /// following a symlink in its last component or waiting on a FIFO; nil
    /// for anything else (gone, another kind of file, too big, unreadable).
    public static func readRegularFile(_ path: String, limit: Int) -> Data? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_size <= limit else { return nil }
        var data = Data(count: Int(st.st_size))
        var off = 0
        let ok = data.withUnsafeMutableBytes { buf -> Bool in
            while off < buf.count {
                let n = read(fd, buf.baseAddress! + off, buf.count - off)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                off += n
            }
            return true
        }
        return ok ? data : nil
    }

    /// Writes atomically: a temporary file beside it, then rename.
    public static func writeFile(_ path: String, _ data: Data, mode: mode_t = 0o644) throws {
        let tmp = temporaryName(beside: path)
        let fd = open(tmp, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(path: path, operation: "create", code: errno) }
        var ok = true
        data.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = write(fd, buf.baseAddress! + off, buf.count - off)
                if n <= 0 { if errno == EINTR { continue }; ok = false; break }
                off += n
            }
        }
        let err = errno
        close(fd)
        guard ok else { unlink(tmp); throw Failure(path: path, operation: "write", code: err) }
        guard rename(tmp, path) == 0 else { let e = errno; unlink(tmp); throw Failure(path: path, operation: "rename", code: e) }
    }

    /// Writes a file that no reader expects whole before its writer is done
    /// (a new file in a folder of this process's own, such as a cached stage's
    /// log): created or truncated and written in place, without the temporary
    /// name and rename of ``writeFile(_:_:mode:)``.
    public static func writeFileInPlace(_ path: String, _ data: Data, mode: mode_t = 0o644) throws {
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw Failure(path: path, operation: "create", code: errno) }
        defer { close(fd) }
        try data.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = write(fd, buf.baseAddress! + off, buf.count - off)
                if n <= 0 { if errno == EINTR { continue }; throw Failure(path: path, operation: "write", code: errno) }
                off += n
            }
        }
    }

    /// `FICLONE`: `_IOW(0x94, 9, int)` from `<linux/fs.h>`.
    static let ficlone: UInt = 0x4004_9409

    /// Copies a regular file's bytes into a new file (never a link to the
    /// same inode) with `mode`: a reflink (`FICLONE`) where the file system
    /// can share blocks copy-on-write (btrfs, XFS), else a byte copy. With
    /// `followSymlinks` false, a source that is a symlink is refused (ELOOP).
    public static func copyFile(from source: String, to destination: String, mode: mode_t, followSymlinks: Bool = true) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC | (followSymlinks ? 0 : O_NOFOLLOW))
        guard input >= 0 else { throw Failure(path: source, operation: "open", code: errno) }
        defer { close(input) }
        let tmp = temporaryName(beside: destination)
        let output = open(tmp, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw Failure(path: destination, operation: "create", code: errno) }
        if ioctl(output, ficlone, input) == 0 {
            fchmod(output, mode)
            close(output)
            guard rename(tmp, destination) == 0 else { let e = errno; unlink(tmp); throw Failure(path: destination, operation: "rename", code: e) }
            return
        }
        let size = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(input, buffer, size)
            if n < 0 { if errno == EINTR { continue }; let e = errno; close(output); unlink(tmp); throw Failure(path: source, operation: "read", code: e) }
            if n == 0 { break }
            var off = 0
            while off < n {
                let w = write(output, buffer + off, n - off)
                if w < 0 { if errno == EINTR { continue }; let e = errno; close(output); unlink(tmp); throw Failure(path: destination, operation: "write", code: e) }
                off += w
            }
        }
        fchmod(output, mode)
        close(output)
        guard rename(tmp, destination) == 0 else { let e = errno; unlink(tmp); throw Failure(path: destination, operation: "rename", code: e) }
    }

    /// ``staysInside(root:relative:)`` for many paths of one workspace, each
    /// folder resolved once: a path that exists and is not a symlink costs one
    /// `lstat`, or a share of its folder's listing when many paths of that
    /// folder are asked about. For one pass over paths (answers are kept).
    public final class Containment {
        let root: String
        // Every cache is keyed by a path's bytes: two spellings of one text
        // (composed and decomposed accents, a name that is not UTF-8) are equal
        // Strings but different files.
        private var folders: [[UInt8]: Bool] = [:]
        /// lstat(2) of the paths asked about: nothing writes them during the pass.
        private var leaves: [[UInt8]: Glibc.stat?] = [:]

        /// Entry kinds (`d_type`) of folders read whole: a pass that asks about
        /// many paths in one folder (a thousand deps in `data/`) reads it once
        /// instead of an lstat(2) per path. Nil when it could not be read.
        private var listings: [[UInt8]: [[UInt8]: UInt8]?] = [:]
        /// Paths asked about per folder, before it is read whole.
        private var asked: [[UInt8]: Int] = [:]
        /// A folder is read whole at its this-many-th path.
        static let listAfter = 16

        /// `paths`: about how many paths the pass asks about (room is made for them at once).
        public init(root: String, expecting paths: Int = 0) {
            self.root = root
            leaves.reserveCapacity(paths)
        }

        /// lstat(2) of a workspace-relative path, once per pass.
        public func linkStatus(_ relative: String) -> Glibc.stat? {
            let key = Array(relative.utf8)
            if let known = leaves[key] { return known }
            let st = FileSystem.linkStatus(root + "/" + relative)
            leaves[key] = .some(st)
            return st
        }

        /// stat(2) of a workspace-relative path: its lstat when it is not a symlink.
        public func status(_ relative: String) -> Glibc.stat? {
            guard let st = linkStatus(relative) else { return nil }
            return st.st_mode & S_IFMT == S_IFLNK ? FileSystem.status(root + "/" + relative) : st
        }

        public func staysInside(_ relative: String) -> Bool {
            // The listing answers only for an entry of exactly these bytes that is
            // a plain file or folder. A name it does not hold gets its lstat: a
            // case-insensitive file system finds `Data.csv` under `data.csv`.
            if leaves[Array(relative.utf8)] == nil, let kind = listedKind(relative) {
                switch kind {
                case UInt8(DT_REG): return folderStaysInside(Self.parent(relative))
                case UInt8(DT_DIR): return folderStaysInside(relative)
                default: break  // a symlink, or a kind the listing does not tell: look closer
                }
            }
            guard let st = linkStatus(relative) else {
                // Not there: the first folder above it that is decides.
                return folderStaysInside(Self.parent(relative))
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: return folderStaysInside(relative)
            // A file that is not a symlink resolves to its folder's real path plus its name.
            case S_IFREG: return folderStaysInside(Self.parent(relative))
            default: return FileSystem.staysInside(root: root, relative: relative)
            }
        }

        /// The kind (`d_type`) of `relative` by its folder's listing; nil when the
        /// folder is not (or cannot be) read whole, or holds no entry of exactly that name.
        private func listedKind(_ relative: String) -> UInt8? {
            let bytes = Array(relative.utf8)
            let slash = bytes.lastIndex(of: UInt8(ascii: "/"))
            let folder = slash.map { Array(bytes[..<$0]) } ?? []
            let name = slash.map { Array(bytes[($0 + 1)...]) } ?? bytes
            guard !name.isEmpty, name != [UInt8(ascii: ".")], name != [UInt8(ascii: "."), UInt8(ascii: ".")] else { return nil }
            if listings[folder] == nil {
                let count = asked[folder, default: 0] + 1
                asked[folder] = count
                guard count >= Self.listAfter else { return nil }
                let path = Self.parent(relative)
                listings[folder] = .some(Self.list(path.isEmpty ? root : root + "/" + path))
            }
            return listings[folder]!?[name]
        }

        /// Name (its bytes) → `d_type` of a folder's entries; nil when it cannot be read.
        static func list(_ path: String) -> [[UInt8]: UInt8]? {
            guard let dir = opendir(path) else { return nil }
            defer { closedir(dir) }
            var kinds: [[UInt8]: UInt8] = [:]
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
                kinds[name] = entry.pointee.d_type
            }
            return kinds
        }

        private func folderStaysInside(_ relative: String) -> Bool {
            if relative.isEmpty { return true }
            let key = Array(relative.utf8)
            if let known = folders[key] { return known }
            let inside = FileSystem.staysInside(root: root, relative: relative)
            folders[key] = inside
            return inside
        }

        static func parent(_ relative: String) -> String {
            relative.utf8.lastIndex(of: UInt8(ascii: "/")).map { String(relative[..<$0]) } ?? ""
        }
    }

    /// True when `relative` (inside `root`) resolves, through any symlinks on
    /// its existing part, to a place inside `root`.
    public static func staysInside(root: String, relative: String) -> Bool {
        let realRoot = realPath(root) ?? root
        var existing = root + "/" + relative
        // Resolve the longest existing prefix: a path not written yet can't hold a symlink.
        while !exists(existing) {
            let parent = (existing as NSString).deletingLastPathComponent
            if parent == existing || parent.count < root.count { return true }
            existing = parent
        }
        guard let resolved = realPath(existing) else {
            // A dangling symlink: judge by where it points.
            return false
        }
        return WorkspacePath.contains(realRoot, resolved)
    }
}
