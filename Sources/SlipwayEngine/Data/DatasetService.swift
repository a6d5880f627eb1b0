import Foundation
import SlipwayCore
import SlipwayStore

/// Dataset versions: a file or folder of the workspace recorded by content
/// hash (`slipway data add`), its bytes kept in the content store.
public struct DatasetService: Sendable {
    public let workspace: Workspace
    public let registry: any Registry

    public init(workspace: Workspace, registry: any Registry) {
        self.workspace = workspace
        self.registry = registry
    }

    /// Why a path cannot be added; nothing was recorded.
    public struct Refused: SlipwayError {
        public var message: String
        public var description: String { message }
        public var exitStatus: ExitStatus { .usage }
    }

    /// A path checked to be addable: inside the workspace (symlinks
    /// resolved), not Slipway's or git's own files, present.
    public struct Candidate: Sendable {
        public var path: String
        public var absolute: String
        /// Bytes to hash (a folder's regular files together).
        public var size: Int64
    }

    /// Checks `relative` (a normalised workspace-relative path) before anything is read.
    public func locate(_ relative: String) throws -> Candidate {
        if let reason = WorkspacePath.reserved(relative, writing: false) {
            throw Refused(message: "cannot add \(relative): it \(reason)")
        }
        let absolute: String
        do { absolute = try ContainedFiles(root: workspace.root).readable(relative) } catch {
            throw Refused(message: "cannot add \(error)")
        }
        guard FileSystem.exists(absolute) else { throw Refused(message: "\(relative) does not exist") }
        return Candidate(path: relative, absolute: absolute, size: Self.size(of: absolute))
    }

    /// Hashes the candidate into the content store and records it as a
    /// dataset version (audited), unless that content is recorded already.
    public func add(_ candidate: Candidate, actor: String) throws -> (record: DatasetRecord, isNew: Bool) {
        let hasher = FileHasher(root: workspace.root, cache: registry)
        let hash: String
        do {
            hash = try ContentStore(workspace: workspace).save(candidate.path, hasher: hasher)
        } catch {
            throw Refused(message: "cannot add \(candidate.path): \(error)")
        }
        hasher.flush()
        return try registry.addDataset(path: candidate.path, hash: hash, size: candidate.size, addedBy: actor)
    }

    /// Every dataset version, newest first, with whether each is the content its path has now.
    public func list() throws -> [(record: DatasetRecord, current: Bool)] {
        let all = try registry.datasets()
        let hasher = FileHasher(root: workspace.root, cache: registry)
        var current: [String: String] = [:]
        for path in Set(all.map(\.path)) { current[path] = try? hasher.hash(path) }  // a path gone now is simply not current
        hasher.flush()
        return all.map { ($0, current[$0.path] == $0.hash) }
    }

    /// The bytes a path holds (a folder's regular files, not following links).
    public static func size(of path: String) -> Int64 {
        guard let st = FileSystem.status(path) else { return 0 }
        if (st.st_mode & S_IFMT) != S_IFDIR { return Int64(st.st_size) }
        var total: Int64 = 0
        if let walker = FileManager.default.enumerator(atPath: path) {
            while let item = walker.nextObject() as? String {
                if let s = FileSystem.linkStatus(path + "/" + item), (s.st_mode & S_IFMT) == S_IFREG { total += Int64(s.st_size) }
            }
        }
        return total
    }
}
