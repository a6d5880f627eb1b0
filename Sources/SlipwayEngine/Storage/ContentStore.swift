import Foundation

/// The content-addressed store under `.slipway/store/`.
///
/// Objects live at `objects/ab/cdef…` named by their hash and are read-only.
/// A file is saved by hard link when the file system allows (no copy, no extra
/// space), else by copy. A folder is saved as its files plus its manifest
/// object (`….dir`). Restoring links (or copies) objects back into place.
public struct ContentStore: Sendable {
    public let root: String
    let workspaceRoot: String

    public init(workspace: Workspace) {
        root = workspace.storeDir
        workspaceRoot = workspace.root
    }

    /// The store of one workspace, restoring into another (`slipway reproduce`).
    public init(store: Workspace, restoringInto target: Workspace) {
        root = store.storeDir
        workspaceRoot = target.root
    }

    func objectPath(_ hash: String) -> String {
        let h = hash
        return root + "/objects/" + h.prefix(2) + "/" + h.dropFirst(2)
    }

    public func contains(_ hash: String) -> Bool {
        guard FileSystem.isFile(objectPath(hash)) else { return false }
        if hash.hasSuffix(".dir") {
            guard let manifest = try? manifest(hash) else { return false }
            return manifest.entries.allSatisfy { FileSystem.isFile(objectPath($0.hash)) }
        }
        return true
    }

    func manifest(_ hash: String) throws -> DirectoryManifest {
        DirectoryManifest.parse(String(decoding: try FileSystem.readFile(objectPath(hash)), as: UTF8.self))
    }

    /// Saves a workspace-relative file or folder; returns its hash. A path
    /// that leads out of the workspace through a symlink is refused.
    @discardableResult
    public func save(_ relative: String, hasher: FileHasher) throws -> String {
        let path = try ContainedFiles(root: workspaceRoot).readable(relative)
        guard let st = FileSystem.status(path) else { throw FileHasher.Missing(path: relative) }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            let manifest = try DirectoryManifest.build(root: workspaceRoot, relative: relative, hasher: hasher)
            for entry in manifest.entries {
                try saveObject(from: path + "/" + entry.path, hash: entry.hash)
            }
            let object = objectPath(manifest.hash)
            if !FileSystem.isFile(object) {
                try FileSystem.makeDirectory((object as NSString).deletingLastPathComponent)
                try FileSystem.writeFile(object, Data(manifest.text.utf8), mode: 0o444)
            }
            return manifest.hash
        }
        let hash = try hasher.hash(relative)
        try saveObject(from: path, hash: hash)
        return hash
    }

    private func saveObject(from path: String, hash: String) throws {
        let object = objectPath(hash)
        if FileSystem.isFile(object) { return }
        try FileSystem.makeDirectory((object as NSString).deletingLastPathComponent)
        let tmp = FileSystem.temporaryName(beside: object)
        // A symlink (one that stays inside) is stored as the file it names, never as a link.
        if linkat(AT_FDCWD, path, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0 {
            chmod(tmp, 0o444)
            if rename(tmp, object) != 0 { unlink(tmp) }
            return
        }
        try FileSystem.copyFile(from: path, to: object, mode: 0o444)
    }

    /// Puts the object `hash` at the workspace-relative path, replacing what is there.
    ///
    /// The folder that will hold it is opened without following symlinks
    /// (``ContainedFiles``), and everything is placed through that open folder,
    /// so a symlink planted on the way cannot send the restore outside the workspace.
    public func restore(_ relative: String, hash: String) throws {
        let files = ContainedFiles(root: workspaceRoot)
        try files.remove(relative)
        let parent = try files.openParent(relative, create: true)
        defer { parent.close() }
        let path = parent.pinnedLeaf
        if hash.hasSuffix(".dir") {
            let manifest = try manifest(hash)
            try FileSystem.makeDirectory(path)
            for entry in manifest.entries {
                let target = path + "/" + entry.path
                try FileSystem.makeDirectory((target as NSString).deletingLastPathComponent)
                try place(object: objectPath(entry.hash), at: target)
            }
        } else {
            try place(object: objectPath(hash), at: path)
        }
    }

    private func place(object: String, at path: String) throws {
        if link(object, path) == 0 { return }
        try FileSystem.copyFile(from: object, to: path, mode: 0o444)
    }
}
