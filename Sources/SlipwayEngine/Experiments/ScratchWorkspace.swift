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

    /// Removes the copy (its logs stay in the workspace's `.slipway/logs`).
    public func remove() {
        try? FileSystem.remove(workspace.root)
        let sweep = (workspace.root as NSString).deletingLastPathComponent
        rmdir(sweep)  // the sweep's folder, once its last member is gone
        rmdir(Self.sweepsDir(of: parent))
    }

    /// Removes the copies left by a sweep whose process died (`kill -9`): the
    /// sweep folders are named `TIME-PID`.
    public static func removeAbandoned(in parent: Workspace) {
        let dir = sweepsDir(of: parent)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names {
            guard let pid = name.split(separator: "-").last.flatMap({ Int32($0) }), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileSystem.remove(dir + "/" + name) }
        }
        rmdir(dir)
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
