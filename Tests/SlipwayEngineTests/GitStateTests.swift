import Foundation
import Testing
@testable import SlipwayEngine

@discardableResult
func git(_ args: String..., in dir: String) -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["git", "-C", dir, "-c", "user.email=t@example.org", "-c", "user.name=T"] + args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try! p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite struct GitStateTests {
    func repo() throws -> (Workspace, String) {
        let root = NSTemporaryDirectory() + "slipway-git-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/.slipway", withIntermediateDirectories: true)
        git("init", "-q", "-b", "main", in: root)
        try "a\n".write(toFile: root + "/a.txt", atomically: true, encoding: .utf8)
        try "b\n".write(toFile: root + "/b.txt", atomically: true, encoding: .utf8)
        try "*\n".write(toFile: root + "/.slipway/.gitignore", atomically: true, encoding: .utf8)
        git("add", "a.txt", "b.txt", in: root)
        git("commit", "-q", "-m", "one", in: root)
        // Let the index be older than any later edit (no "racily clean" entries).
        usleep(20_000)
        return (Workspace(root: root), root)
    }

    @Test func commitAndCleanlinessMatchGit() throws {
        let (ws, root) = try repo()
        let first = try #require(GitState.read(workspace: ws))
        #expect(first.commit == git("rev-parse", "HEAD", in: root))
        #expect(first.dirty == false)
        // The second look is answered from the index and the cache.
        #expect(GitState.read(workspace: ws)?.dirty == false)
        #expect(FileManager.default.fileExists(atPath: root + "/.slipway/git-state"))

        try "a changed\n".write(toFile: root + "/a.txt", atomically: true, encoding: .utf8)
        #expect(GitState.read(workspace: ws)?.dirty == true)
        git("add", "a.txt", in: root)
        #expect(GitState.read(workspace: ws)?.dirty == true, "staged")
        #expect(GitState.read(workspace: ws)?.dirty == true, "staged, from the cache")
        git("commit", "-q", "-m", "two", in: root)
        let after = try #require(GitState.read(workspace: ws))
        #expect(after.commit == git("rev-parse", "HEAD", in: root))
        #expect(after.dirty == false)
        try FileManager.default.removeItem(atPath: root + "/b.txt")
        #expect(GitState.read(workspace: ws)?.dirty == true, "deleted")
    }

    @Test func untrackedFilesDoNotCount() throws {
        let (ws, root) = try repo()
        try "new\n".write(toFile: root + "/untracked.txt", atomically: true, encoding: .utf8)
        #expect(GitState.read(workspace: ws)?.dirty == false)
    }

    @Test func packedRefsIndexVersionFourAndWorktrees() throws {
        let (ws, root) = try repo()
        git("pack-refs", "--all", in: root)
        git("update-index", "--index-version", "4", in: root)
        usleep(20_000)
        #expect(!FileManager.default.fileExists(atPath: root + "/.git/refs/heads/main"))
        let state = try #require(GitState.read(workspace: ws))
        #expect(state.commit == git("rev-parse", "HEAD", in: root))
        #expect(state.dirty == false)
        #expect(GitState.read(workspace: ws)?.dirty == false)

        let tree = NSTemporaryDirectory() + "slipway-wt-\(UUID().uuidString.prefix(8))"
        git("worktree", "add", "-q", "-b", "side", tree, in: root)
        try FileManager.default.createDirectory(atPath: tree + "/.slipway", withIntermediateDirectories: true)
        let side = try #require(GitState.read(workspace: Workspace(root: tree)))
        #expect(side.commit == git("rev-parse", "HEAD", in: tree))
        #expect(side.dirty == false)
    }

    @Test func outsideARepositoryThereIsNone() throws {
        let root = NSTemporaryDirectory() + "slipway-nogit-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        #expect(GitState.read(workspace: Workspace(root: root)) == nil)
    }
}
