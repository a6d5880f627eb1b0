import Foundation

/// The commit checked out and whether tracked files differ from it, read
/// from `.git` directly so provenance costs about a millisecond on every run
/// (spawning `git status` costs tens, and hashes changed files).
///
/// - The commit: `HEAD`, following a symbolic ref through loose refs and
///   `packed-refs` (worktrees' `commondir` included).
/// - Unstaged changes: every index entry's size and mtime against `lstat` of
///   the file; any difference, a missing file, an unmerged entry, or a
///   "racily clean" entry (modified in the same instant the index was
///   written) sends the question to `git status`, which also refreshes the index.
/// - Staged changes: the index only changes when something is staged or
///   committed, so `git status`'s verdict is kept in `.slipway/git-state`
///   keyed by HEAD and the index file's identity, and asked again only
///   when either moves.
public struct GitState: Sendable {
    public var commit: String
    public var dirty: Bool?

    /// Finds the repository holding `dir`; nil outside one (or when HEAD names no commit).
    public static func read(workspace: Workspace) -> GitState? {
        guard let repo = Repository.find(from: workspace.root), let commit = repo.headCommit() else { return nil }
        let cachePath = workspace.stateDir + "/git-state"
        if let dirty = repo.fastDirty(commit: commit, cachePath: cachePath) { return GitState(commit: commit, dirty: dirty) }
        return GitState(commit: commit, dirty: repo.slowDirty(commit: commit, cachePath: cachePath))
    }

    /// The checked-out branch (nil when detached) and HEAD's commit, without
    /// asking whether the tree is dirty (cheap enough for every agent pass).
    public static func head(workspace: Workspace) -> (branch: String?, commit: String)? {
        guard let repo = Repository.find(from: workspace.root), let commit = repo.headCommit() else { return nil }
        let head = Repository.read(repo.gitDir + "/HEAD") ?? ""
        let branch = head.hasPrefix("ref: refs/heads/") ? String(head.dropFirst("ref: refs/heads/".count)) : nil
        return (branch, commit)
    }

    struct Repository {
        /// The work tree root, the git dir (per worktree) and the common dir (refs, objects).
        let workTree: String
        let gitDir: String
        let commonDir: String

        static func find(from dir: String) -> Repository? {
            var d = dir
            while true {
                let dotGit = d + "/.git"
                if FileSystem.isDirectory(dotGit) {
                    return Repository(workTree: d, gitDir: dotGit, commonDir: dotGit)
                }
                if FileSystem.isFile(dotGit), let text = read(dotGit), text.hasPrefix("gitdir: ") {
                    var gitDir = String(text.dropFirst("gitdir: ".count))
                    if !gitDir.hasPrefix("/") { gitDir = d + "/" + gitDir }
                    var common = gitDir
                    if let c = read(gitDir + "/commondir") { common = c.hasPrefix("/") ? c : gitDir + "/" + c }
                    return Repository(workTree: d, gitDir: gitDir, commonDir: common)
                }
                let parent = (d as NSString).deletingLastPathComponent
                if parent == d || parent.isEmpty { return nil }
                d = parent
            }
        }

        static func read(_ path: String) -> String? {
            guard let data = FileManager.default.contents(atPath: path) else { return nil }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        static func isObjectID(_ s: Substring) -> Bool {
            (s.count == 40 || s.count == 64) && s.allSatisfy(\.isHexDigit)
        }

        func headCommit() -> String? {
            guard var head = Self.read(gitDir + "/HEAD") else { return nil }
            for _ in 0..<5 {
                guard head.hasPrefix("ref: ") else { return Self.isObjectID(Substring(head)) ? head : nil }
                let ref = String(head.dropFirst(5))
                if let loose = Self.read(gitDir + "/" + ref) ?? Self.read(commonDir + "/" + ref) {
                    head = loose
                    continue
                }
                guard let packed = Self.read(commonDir + "/packed-refs") else { return nil }
                for line in packed.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("^") {
                    let parts = line.split(separator: " ", maxSplits: 1)
                    if parts.count == 2, parts[1] == ref, Self.isObjectID(parts[0]) { return String(parts[0]) }
                }
                return nil
            }
            return nil
        }

        /// The index file's identity: its inode, size and mtime.
        func indexStamp() -> String? {
            guard let st = FileSystem.status(gitDir + "/index") else { return nil }
            return "\(st.st_ino) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        }

        /// The answer without spawning git, when the index vouches for every
        /// file and a cached verdict on staged changes is still valid.
        func fastDirty(commit: String, cachePath: String) -> Bool? {
            guard let stamp = indexStamp(), let cached = Self.read(cachePath) else { return nil }
            let parts = cached.split(separator: "\n")
            guard parts.count == 3, parts[0] == commit, parts[1] == stamp, let staged = Int(parts[2]) else { return nil }
            guard let clean = worktreeMatchesIndex() else { return nil }
            return clean ? staged == 1 : nil
        }

        /// Asks `git status`, and caches what it says of staged changes.
        func slowDirty(commit: String, cachePath: String) -> Bool? {
            guard let status = GitState.run(["status", "--porcelain", "--untracked-files=no"], in: workTree) else { return nil }
            let dirty = !status.isEmpty
            // Staged changes show in the first column of porcelain output.
            let staged = status.split(separator: "\n").contains { $0.first.map { $0 != " " && $0 != "?" } ?? false }
            if let stamp = indexStamp() {
                try? FileSystem.writeFile(cachePath, Data("\(commit)\n\(stamp)\n\(staged ? 1 : 0)\n".utf8), mode: 0o600)
            }
            return dirty
        }

        /// True when every tracked file has the size and mtime the index
        /// recorded; false when one differs; nil when the index cannot vouch
        /// (an unknown format, an unmerged or racily clean entry).
        func worktreeMatchesIndex() -> Bool? {
            guard let data = FileManager.default.contents(atPath: gitDir + "/index"),
                  let indexStat = FileSystem.status(gitDir + "/index") else { return nil }
            let bytes = [UInt8](data)
            guard bytes.count >= 12, bytes[0..<4] == [0x44, 0x49, 0x52, 0x43] else { return nil } // "DIRC"
            func u32(_ at: Int) -> UInt32 {
                UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
            }
            let version = u32(4), count = Int(u32(8))
            guard (2...4).contains(version) else { return nil }
            let hashSize = FileSystem.isFile(commonDir + "/objects/info/sha256") ? 32 : 20
            let indexMtime = (Int64(indexStat.st_mtim.tv_sec), Int64(indexStat.st_mtim.tv_nsec))
            var off = 12
            var previous: [UInt8] = []
            for _ in 0..<count {
                let start = off
                guard off + 40 + hashSize + 2 <= bytes.count else { return nil }
                let mtime = (Int64(u32(off + 8)), Int64(u32(off + 12)))
                let mode = u32(off + 24)
                let size = u32(off + 36)
                off += 40 + hashSize
                let flags = UInt16(bytes[off]) << 8 | UInt16(bytes[off + 1])
                off += 2
                var extended: UInt16 = 0
                if version >= 3, flags & 0x4000 != 0 {
                    guard off + 2 <= bytes.count else { return nil }
                    extended = UInt16(bytes[off]) << 8 | UInt16(bytes[off + 1])
                    off += 2
                }
                var path: [UInt8]
                if version == 4 {
                    // Prefix compression: a varint of bytes to drop from the previous path, then the rest.
                    var drop = 0
                    var b = bytes[off]; off += 1
                    drop = Int(b & 0x7F)
                    while b & 0x80 != 0 {
                        guard off < bytes.count else { return nil }
                        b = bytes[off]; off += 1
                        drop = ((drop + 1) << 7) | Int(b & 0x7F)
                    }
                    guard drop <= previous.count, let nul = bytes[off...].firstIndex(of: 0) else { return nil }
                    path = Array(previous.dropLast(drop)) + bytes[off..<nul]
                    off = nul + 1
                } else {
                    guard let nul = bytes[off...].firstIndex(of: 0) else { return nil }
                    path = Array(bytes[off..<nul])
                    let length = nul - start + 1
                    off = start + (length + 7) / 8 * 8
                }
                previous = path
                if flags & 0x3000 != 0 { return nil }                     // unmerged
                if flags & 0x8000 != 0 || extended & 0x4000 != 0 { continue } // assume-valid, skip-worktree
                if mode & 0o170000 == 0o160000 { continue }                // a submodule
                guard let st = FileSystem.linkStatus(workTree + "/" + String(decoding: path, as: UTF8.self)) else { return false }
                if UInt32(truncatingIfNeeded: st.st_size) != size { return false }
                if Int64(st.st_mtim.tv_sec) != mtime.0 || Int64(st.st_mtim.tv_nsec) != mtime.1 { return false }
                // Racily clean: written in the same instant as the index; git would read it.
                if mtime >= indexMtime { return nil }
            }
            return true
        }
    }

    /// `git -C dir ARGS`: its output, trimmed, or nil when it fails.
    static func run(_ args: [String], in dir: String) -> String? {
        guard let r = try? OutsideTool.run(["git", "-C", dir] + args), r.succeeded else { return nil }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Why there is no commit to name, in words: no repository, or one with
    /// no commits yet. Read from `.git` as ``read(workspace:)`` does: no git
    /// process (two spawns were most of `slipway show`'s time).
    public static func noCommitReason(in root: String) -> String {
        guard let repo = Repository.find(from: root) else { return "not a git repository" }
        return repo.headCommit() == nil ? "no commits yet" : "none recorded"
    }
}
