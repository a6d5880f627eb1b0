import Foundation

/// Removing and creating workspace paths so that the operation itself stays
/// inside the workspace, whatever happened to the tree since `lint` checked
/// it: each folder on the way is opened with `O_NOFOLLOW` from the one above
/// (a symlink anywhere on the path is refused, not followed), and the last
/// step acts relative to the folder it opened. A stage that replaces a
/// folder of another stage's out with a symlink to `/etc` gets an error, and
/// nothing outside the workspace is touched. Paths that belong to git or to
/// Slipway itself (`.git`, `.slipway`, the spec and params files) are never
/// removed or created here, whatever the spec said.
///
/// Reading goes through ``readable(_:)``: a path whose symlinks lead out of
/// the workspace is refused when it is about to be read.
public struct ContainedFiles: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public struct Refused: SlipwayError {
        public var path: String
        public var reason: String
        public var exitStatus: ExitStatus { .stageFailed }
        public var description: String { "\(path): \(reason)" }
    }

    /// A folder opened on the way to a path; close it when done.
    public struct Parent {
        public let fd: Int32
        public let leaf: String
        /// A path naming the opened folder itself (`/proc/self/fd/N`), for calls that take paths.
        public var pinnedPath: String { "/proc/self/fd/\(fd)" }
        public var pinnedLeaf: String { pinnedPath + "/" + leaf }
        public func close() { _ = Glibc.close(fd) }
    }

    /// The absolute path of a workspace-relative path to read, refused when
    /// it resolves (through a symlink at its end or on the way) to a place
    /// outside the workspace. A symlink that stays inside is fine.
    public func readable(_ relative: String) throws -> String { try readable(relative, containment: nil) }

    /// ``readable(_:)``; `containment`, when given, answers for a pass in which
    /// nothing else writes to the workspace (planning, before any command runs).
    public func readable(_ relative: String, containment: FileSystem.Containment?) throws -> String {
        guard case .success(let normal) = WorkspacePath.normalize(relative) else {
            throw Refused(path: relative, reason: "not a path inside the workspace")
        }
        guard containment?.staysInside(normal) ?? FileSystem.staysInside(root: root, relative: normal) else {
            throw Refused(path: relative, reason: "resolves outside the workspace (through a symlink); refusing to read it")
        }
        return root + "/" + normal
    }

    /// Opens the folder that holds `relative`'s last component, creating the
    /// missing folders on the way when `create` is true. Refuses paths in
    /// git's or Slipway's own files, checked here, where they would be used.
    public func openParent(_ relative: String, create: Bool) throws -> Parent {
        // Split by byte, as the file system does (``WorkspacePath/components(_:)``).
        let parts = WorkspacePath.components(relative).map(String.init).filter { $0 != "." }
        guard let leaf = parts.last, !parts.contains(".."), !relative.hasPrefix("/") else {
            throw Refused(path: relative, reason: "not a path inside the workspace")
        }
        if let reason = WorkspacePath.reserved(parts.joined(separator: "/"), writing: true) {
            throw Refused(path: relative, reason: "\(reason): Slipway never writes or deletes it for a stage")
        }
        var fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileSystem.Failure(path: root, operation: "open", code: errno) }
        for part in parts.dropLast() {
            var next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0, errno == ENOENT, create {
                if mkdirat(fd, part, 0o755) != 0, errno != EEXIST {
                    let e = errno; Glibc.close(fd)
                    throw FileSystem.Failure(path: relative, operation: "mkdir", code: e)
                }
                next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            if next < 0 {
                let e = errno
                Glibc.close(fd)
                if e == ELOOP || e == ENOTDIR {
                    throw Refused(path: relative, reason: "'\(part)' on the way is a symlink or not a folder; refusing to follow it")
                }
                throw FileSystem.Failure(path: relative, operation: "open", code: e)
            }
            Glibc.close(fd)
            fd = next
        }
        return Parent(fd: fd, leaf: leaf)
    }

    /// Removes a file, symlink (not what it points to) or folder at
    /// `relative`; nothing when it is not there.
    public func remove(_ relative: String) throws {
        let parent: Parent
        do {
            parent = try openParent(relative, create: false)
        } catch let f as FileSystem.Failure where f.code == ENOENT {
            return
        }
        defer { parent.close() }
        try Self.removeTree(in: parent.fd, name: parent.leaf, display: relative)
    }

    /// Makes the folders that will hold `relative`.
    public func makeParent(_ relative: String) throws {
        try openParent(relative, create: true).close()
    }

    static func removeTree(in dirfd: Int32, name: String, display: String) throws {
        var st = Glibc.stat()
        guard fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw FileSystem.Failure(path: display, operation: "stat", code: errno)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            fchmodat(dirfd, name, 0o755, 0)
            let fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw FileSystem.Failure(path: display, operation: "open", code: errno) }
            guard let dir = fdopendir(fd) else {
                let e = errno; Glibc.close(fd)
                throw FileSystem.Failure(path: display, operation: "opendir", code: e)
            }
            var names: [String] = []
            while let entry = readdir(dir) {
                let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                if entryName != "." && entryName != ".." { names.append(entryName) }
            }
            var failure: (any Error)?
            for n in names {
                do { try removeTree(in: fd, name: n, display: display + "/" + n) } catch { failure = failure ?? error }
            }
            closedir(dir)
            if let failure { throw failure }
            if unlinkat(dirfd, name, AT_REMOVEDIR) != 0, errno != ENOENT {
                throw FileSystem.Failure(path: display, operation: "rmdir", code: errno)
            }
        } else if unlinkat(dirfd, name, 0) != 0, errno != ENOENT {
            throw FileSystem.Failure(path: display, operation: "unlink", code: errno)
        }
    }
}
