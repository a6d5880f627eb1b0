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

@Suite struct TarWriterTests {
    @Test func longPathsAndModesSurviveAStockTar() throws {
        let dir = NSTemporaryDirectory() + "slipway-tar-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let long = String(repeating: "very-long-folder-name/", count: 6) + "weights.bin"
        try "w".write(toFile: dir + "/src.bin", atomically: true, encoding: .utf8)
        try "#!/bin/sh\n".write(toFile: dir + "/run.sh", atomically: true, encoding: .utf8)
        let fd = open(dir + "/out.tar", O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        var tar = TarWriter(fd: fd, mtime: 1_700_000_000)
        try tar.add(.directory(path: "model"))
        try tar.add(.file(path: "model/" + long, source: dir + "/src.bin", size: 1, executable: false))
        try tar.add(.file(path: "model/run.sh", source: dir + "/run.sh", size: 10, executable: true))
        let (digest, size) = try tar.finish()
        close(fd)
        #expect(size % 512 == 0)
        #expect(try OCILayoutDirectory.hashFile(dir + "/out.tar").digest == digest)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["tar", "-tvf", dir + "/out.tar"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let listing = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(listing.contains("model/" + long), "\(listing)")
        #expect(listing.contains("-rwxr-xr-x 0/0") && listing.contains("model/run.sh"))
        #expect(listing.contains("2023-11-14"))
    }
}
