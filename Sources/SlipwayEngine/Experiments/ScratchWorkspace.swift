import Foundation

/// A copy of a workspace's files in which one sweep member runs beside the
/// others (`.slipway/sweeps/ID/POSITION/`), so that members writing the same
/// outs do not overwrite each other.
///
/// What is shared with the workspace: the registry (the caller passes the
/// workspace's), the content store and the package images (so every member
/// takes cached stages from the same store and registers packages where
/// `verify` looks), and the stage logs (`.slipway/logs` in the copy is a link
/// to the workspace's, so `slipway logs RUN` works for every member). What is
/// the copy's own: its files (copied, reflinked where the file system can;
/// never hard-linked, so a stage that writes in place cannot change the
/// workspace's file), its run lock and its work areas.
public struct ScratchWorkspace: Sendable {
    public let workspace: Workspace
    public let parent: Workspace

    public static func sweepsDir(of parent: Workspace) -> String { parent.stateDir + "/sweeps" }

    /// Copies `parent`'s files (all but `.slipway` and `.git`) into a new folder `name` under the sweeps folder.
    public static func make(from parent: Workspace, name: String) throws -> ScratchWorkspace {
        let root = sweepsDir(of: parent) + "/" + name
        try FileSystem.remove(root)
        try FileSystem.makeDirectory(root)
        try copyTree(from: parent.root, to: root, top: true)
        let state = root + "/" + Workspace.stateDirName
        try FileSystem.makeDirectory(state, mode: 0o700)
        try FileSystem.makeDirectory(parent.logsDir)
        if symlink(parent.logsDir, state + "/logs") != 0 {
            throw FileSystem.Failure(path: state + "/logs", operation: "symlink", code: errno)
        }
        let copy = Workspace(root: root, sharedStore: parent.sharedStore ?? parent.stateDir)
        return ScratchWorkspace(workspace: copy, parent: parent)
    }

    /// Removes the copy (its logs stay in the workspace's `.slipway/logs`);
    /// a copy that cannot be removed is reported, and the next sweep tries
    /// again. The sweep's folder stays until the sweep ends (``removeFolder(of:in:)``):
    /// another member may be making its copy there.
    public func remove() throws {
        try FileSystem.remove(workspace.root)
    }

    /// Removes a sweep's folder once its members are done (if it is empty).
    /// The sweeps folder itself stays: removing it, empty, could pull it from
    /// under another sweep making its first copy.
    public static func removeFolder(of sweepID: String, in parent: Workspace) {
        rmdir(sweepsDir(of: parent) + "/" + sweepID)
    }

    /// Held by a running sweep for as long as it runs: an exclusive `flock`
    /// on `.slipway/locks/sweep-ID.lock`, taken before the sweep's folder
    /// exists. The kernel drops it when the process ends, however it ends,
    /// so a copy whose lock can be taken belongs to no running sweep, whatever
    /// became of its pid (reused, or a zombie).
    public final class Claim: @unchecked Sendable {
        public let id: String
        private var fd: Int32

        private init(id: String, fd: Int32) { self.id = id; self.fd = fd }

        static func lockPath(_ parent: Workspace, id: String) -> String { parent.stateDir + "/locks/sweep-\(id).lock" }

        /// A new sweep's claim on the id `TIME-PID-N`.
        public static func take(in parent: Workspace) throws -> Claim {
            let base = "\(Int(Date().timeIntervalSince1970))-\(getpid())"
            for n in 0..<1_000 {
                let id = n == 0 ? base : "\(base)-\(n)"
                guard !FileManager.default.fileExists(atPath: sweepsDir(of: parent) + "/" + id) else { continue }
                if let claim = try attempt(parent, id: id) { return claim }
            }
            throw FileSystem.Failure(path: lockPath(parent, id: base), operation: "lock", code: EWOULDBLOCK)
        }

        /// The claim on `id` when no process holds it, else nil.
        static func attempt(_ parent: Workspace, id: String) throws -> Claim? {
            try FileSystem.makeDirectory(parent.stateDir + "/locks")
            let path = lockPath(parent, id: id)
            while true {
                let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw FileSystem.Failure(path: path, operation: "open", code: errno) }
                while flock(fd, LOCK_EX | LOCK_NB) != 0 {
                    let e = errno
                    if e == EINTR { continue }
                    close(fd)
                    if e == EWOULDBLOCK { return nil }
                    throw FileSystem.Failure(path: path, operation: "lock", code: e)
                }
                // Another process may have released and unlinked this file
                // between our open and our lock: then the lock is on nothing.
                var held = stat(), named = stat()
                if fstat(fd, &held) == 0, stat(path, &named) == 0, held.st_ino == named.st_ino, held.st_dev == named.st_dev {
                    return Claim(id: id, fd: fd)
                }
                close(fd)
            }
        }

        /// Lets go of the claim. Its lock file goes once the sweep's folder
        /// has (a copy that could not be removed keeps it, so the next sweep
        /// knows the folder for one whose claim it can take).
        public func release(_ parent: Workspace) {
            guard fd >= 0 else { return }
            if !FileManager.default.fileExists(atPath: ScratchWorkspace.sweepsDir(of: parent) + "/" + id) {
                unlink(Self.lockPath(parent, id: id))
            }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }

        deinit { if fd >= 0 { close(fd) } }
    }

    /// Removes the copies left by sweeps that no longer run (`kill -9`): each
    /// sweep folder whose claim (``Claim``) can be taken (one made by an
    /// earlier slipway, which took no claim: when its pid is gone). Returns
    /// what could not be removed, for the caller to report.
    public static func removeAbandoned(in parent: Workspace) -> [String] {
        let dir = sweepsDir(of: parent)
        var problems: [String] = []
        /// A folder's names; none when it does not exist, and a problem reported when it cannot be read.
        func names(in folder: String) -> [String] {
            guard FileSystem.linkStatus(folder) != nil else { return [] }
            do { return try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
                problems.append("\(folder) could not be read, so copies left by ended sweeps stay: \(error)")
                return []
            }
        }
        // Claims of sweeps killed before they made a copy: nothing to remove but
        // the lock file (one that cannot be taken now is tried again next time).
        for lock in names(in: parent.stateDir + "/locks") where lock.hasPrefix("sweep-") && lock.hasSuffix(".lock") {
            let id = String(lock.dropFirst("sweep-".count).dropLast(".lock".count))
            if !FileManager.default.fileExists(atPath: dir + "/" + id), let claim = try? Claim.attempt(parent, id: id) {
                claim.release(parent)
            }
        }
        let names = names(in: dir)
        for name in names.sorted() where !name.hasPrefix(".") && !name.contains("/") {
            // A folder without a lock file is an earlier slipway's (named TIME-PID,
            // no claim): left alone while a process with that pid lives.
            if !FileManager.default.fileExists(atPath: Claim.lockPath(parent, id: name)),
               let pid = name.split(separator: "-").last.flatMap({ Int32($0) }), pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH {
                continue
            }
            do {
                guard let claim = try Claim.attempt(parent, id: name) else { continue }  // its sweep runs
                defer { claim.release(parent) }
                try FileSystem.remove(dir + "/" + name)
            } catch {
                problems.append("the copies of an ended sweep in \(dir)/\(name) could not be removed: \(error)")
            }
        }
        return problems
    }

    static func copyTree(from source: String, to target: String, top: Bool) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: source).sorted() {
            if top && (name == Workspace.stateDirName || name == ".git") { continue }
            let from = source + "/" + name, to = target + "/" + name
            guard let st = FileSystem.linkStatus(from) else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                try FileSystem.makeDirectory(to, mode: st.st_mode & 0o7777)
                try copyTree(from: from, to: to, top: false)
            case S_IFREG:
                try FileSystem.copyFile(from: from, to: to, mode: st.st_mode & 0o7777, followSymlinks: false)
            case S_IFLNK:
                // The same link: the copy's containment checks judge where it leads from there.
                if let dest = try? FileManager.default.destinationOfSymbolicLink(atPath: from) {
                    _ = symlink(dest, to)
                }
            default:
                continue  // sockets, fifos, devices: not workspace files
            }
        }
    }
}
