import Foundation
import Testing
@testable import SlipwayEngine

/// What the engine refuses at the moment it reads, writes or removes a path,
/// whatever `lint` said earlier: Slipway's and git's own files are never
/// removed, and nothing is read through a symlink that leads out of the workspace.
@Suite struct WorkspaceBoundaryTests {
    func outsideFolder() throws -> String {
        let dir = NSTemporaryDirectory() + "slipway-outside-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/folder", withIntermediateDirectories: true)
        try "secret,value\n1,2\n".write(toFile: dir + "/secret.csv", atomically: true, encoding: .utf8)
        try "x,y\n1,2\n".write(toFile: dir + "/folder/inside.csv", atomically: true, encoding: .utf8)
        return dir
    }

    @Test func clearingAnOutNeverRemovesSlipwaysOrGitsOwnFiles() throws {
        let (ws, _, registry) = try makeWorkspace("project: p\npipelines: {main: {stages: {a: {cmd: a}}}}\n")
        _ = registry
        try FileManager.default.createDirectory(atPath: ws.root + "/.git/refs", withIntermediateDirectories: true)
        try "ref: refs/heads/main\n".write(toFile: ws.root + "/.git/HEAD", atomically: true, encoding: .utf8)
        try "lr: 1\n".write(toFile: ws.root + "/params.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: ws.root + "/sub/.git", withIntermediateDirectories: true)
        let files = ContainedFiles(root: ws.root)
        for path in [".git", ".git/HEAD", ".slipway", ".slipway/registry.sqlite", "./.slipway/registry.sqlite", "slipway.yaml",
                     "params.yaml", "sub/.git"] {
            #expect(throws: (any Error).self, "\(path)") { try files.remove(path) }
        }
        #expect(throws: (any Error).self) { try files.makeParent(".slipway/store/x") }
        #expect(FileSystem.isFile(ws.root + "/.git/HEAD"))
        #expect(FileSystem.isFile(ws.registryPath))
        #expect(FileSystem.isFile(ws.specPath) && FileSystem.isFile(ws.paramsPath))
        #expect(FileSystem.isDirectory(ws.root + "/sub/.git"))
        // Ordinary outs are still cleared.
        try "x".write(toFile: ws.root + "/model.bin", atomically: true, encoding: .utf8)
        try files.remove("model.bin")
        #expect(!FileSystem.exists(ws.root + "/model.bin"))
    }

    /// A slash followed by a combining mark is one Character to Swift but a
    /// slash to the file system: `../\u{301}x` is `..` then a name, and no
    /// write or removal may go through it.
    @Test func aSlashJoinedToACombiningMarkStillSeparatesFolders() throws {
        let (ws, _, registry) = try makeWorkspace("project: p\npipelines: {main: {stages: {a: {cmd: a}}}}\n")
        _ = registry
        let outside = (ws.root as NSString).deletingLastPathComponent
        let victim = outside + "/\u{301}x"
        try "keep".write(toFile: victim, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: victim) }
        let files = ContainedFiles(root: ws.root)
        for path in ["../\u{301}x", "sub/../../\u{301}x"] {
            #expect(throws: (any Error).self, "\(path)") { try files.remove(path) }
            #expect(throws: (any Error).self, "\(path)") { try files.makeParent(path) }
        }
        #expect(FileSystem.isFile(victim))
    }

    /// A pass over many paths of one folder reads the folder once; its answers
    /// are those of a path-by-path check, symlinks and missing paths included.
    @Test func aPassOverAFolderOfPathsAnswersAsThePathByPathCheck() throws {
        let outside = try outsideFolder()
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let (ws, _, registry) = try makeWorkspace("project: p\npipelines: {main: {stages: {a: {cmd: a}}}}\n")
        _ = registry
        let fm = FileManager.default
        try fm.createDirectory(atPath: ws.root + "/in/sub", withIntermediateDirectories: true)
        var paths: [String] = []
        for i in 0..<40 {
            try "\(i)".write(toFile: ws.root + "/in/\(i).txt", atomically: true, encoding: .utf8)
            paths.append("in/\(i).txt")
        }
        try fm.createSymbolicLink(atPath: ws.root + "/in/leak.csv", withDestinationPath: outside + "/secret.csv")
        try fm.createSymbolicLink(atPath: ws.root + "/in/leakdir", withDestinationPath: outside + "/folder")
        try fm.createSymbolicLink(atPath: ws.root + "/in/near.txt", withDestinationPath: ws.root + "/in/0.txt")
        try fm.createSymbolicLink(atPath: ws.root + "/in/dangling", withDestinationPath: outside + "/gone")
        try fm.createSymbolicLink(atPath: ws.root + "/outlink", withDestinationPath: outside + "/folder")
        paths += ["in/leak.csv", "in/leakdir", "in/leakdir/inside.csv", "in/near.txt", "in/dangling", "in/sub", "in/missing.txt",
                  "in/sub/new.txt", "outlink/inside.csv", "outlink/none.csv", "nothere/x.txt"]
        let containment = FileSystem.Containment(root: ws.root)
        for path in paths {
            #expect(containment.staysInside(path) == FileSystem.staysInside(root: ws.root, relative: path), "\(path)")
        }
        #expect(!containment.staysInside("in/leak.csv") && !containment.staysInside("in/leakdir") && !containment.staysInside("in/dangling"))
        #expect(containment.staysInside("in/near.txt") && containment.staysInside("in/39.txt") && containment.staysInside("in/missing.txt"))
    }

    /// Names that are equal as text but not as bytes are different files: a
    /// plain file with one spelling does not vouch for a symlink with the other.
    @Test func aPlainFileDoesNotVouchForASymlinkSpelledAlike() throws {
        let outside = try outsideFolder()
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let (ws, _, registry) = try makeWorkspace("project: p\npipelines: {main: {stages: {a: {cmd: a}}}}\n")
        _ = registry
        let fm = FileManager.default
        try fm.createDirectory(atPath: ws.root + "/data", withIntermediateDirectories: true)
        for i in 0..<20 { try "\(i)".write(toFile: ws.root + "/data/\(i).csv", atomically: true, encoding: .utf8) }
        // Decomposed é leads out; composed é is a plain file beside it.
        try fm.createSymbolicLink(atPath: ws.root + "/data/cafe\u{301}.csv", withDestinationPath: outside + "/secret.csv")
        try "x".write(toFile: ws.root + "/data/caf\u{e9}.csv", atomically: true, encoding: .utf8)
        // U+FFFD leads out; a name with the byte 0xFF (what U+FFFD replaces when read as text) is a plain file.
        try fm.createSymbolicLink(atPath: ws.root + "/data/x\u{FFFD}", withDestinationPath: outside + "/secret.csv")
        let raw = Array((ws.root + "/data/x").utf8) + [0xFF, 0]
        let fd = raw.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: raw.count) { open($0, O_CREAT | O_WRONLY, 0o644) }
        }
        #expect(fd >= 0)
        close(fd)
        for order in [["cafe\u{301}.csv", "x\u{FFFD}"], ["caf\u{e9}.csv", "cafe\u{301}.csv", "x\u{FFFD}"]] {
            let containment = FileSystem.Containment(root: ws.root)
            for i in 0..<20 { #expect(containment.staysInside("data/\(i).csv")) }
            for name in order {
                #expect(containment.staysInside("data/" + name) == FileSystem.staysInside(root: ws.root, relative: "data/" + name), "\(name)")
            }
            #expect(!containment.staysInside("data/cafe\u{301}.csv") && !containment.staysInside("data/x\u{FFFD}"))
        }
    }

    @Test func aPathLeadingOutOfTheWorkspaceIsNeitherHashedNorStored() throws {
        let outside = try outsideFolder()
        let (ws, _, registry) = try makeWorkspace("project: p\npipelines: {main: {stages: {a: {cmd: a}}}}\n")
        try FileManager.default.createDirectory(atPath: ws.root + "/data", withIntermediateDirectories: true)
        symlink(outside + "/secret.csv", ws.root + "/data/shadow.csv")
        symlink(outside + "/folder", ws.root + "/data/elsewhere")
        let hasher = FileHasher(root: ws.root, cache: registry)
        let store = ContentStore(workspace: ws)
        for path in ["data/shadow.csv", "data/elsewhere", "data/elsewhere/inside.csv"] {
            #expect(throws: (any Error).self, "\(path)") { try hasher.hash(path) }
            #expect(throws: (any Error).self, "\(path)") { try store.save(path, hasher: hasher) }
        }
        let objects = (try? FileManager.default.subpathsOfDirectory(atPath: ws.storeDir)) ?? []
        #expect(objects.filter { $0.hasPrefix("objects/") && $0.count > 11 }.isEmpty, "\(objects)")
        // A symlink that stays inside the workspace is read as before.
        try "a,b\n".write(toFile: ws.root + "/data/v2.csv", atomically: true, encoding: .utf8)
        symlink("v2.csv", ws.root + "/data/current.csv")
        #expect(try hasher.hash("data/current.csv") == (try hasher.hash("data/v2.csv")))
    }

    /// A stage that swaps a later stage's dep for a symlink out of the
    /// workspace, after `lint` passed: the dep is refused when it is read.
    @Test func aDepSwappedForASymlinkMidRunIsNotRead() throws {
        let outside = try outsideFolder()
        let spec = """
        project: p
        pipelines:
          main:
            stages:
              plant: {cmd: plant, outs: [planted.txt]}
              check: {uses: validate, data: data.csv, needs: [plant]}
        """
        let (ws, loaded, registry) = try makeWorkspace(spec)
        try "a,b\n1,2\n".write(toFile: ws.root + "/data.csv", atomically: true, encoding: .utf8)
        let root = ws.root
        let fake = FakeExecutor(["plant": .init(writes: ["planted.txt": "x"], during: {
            unlink(root + "/data.csv")
            symlink(outside + "/secret.csv", root + "/data.csv")
        })])
        let runner = try PipelineRunner(workspace: ws, loaded: loaded, pipeline: nil, registry: registry, executor: fake, cancellation: CancellationFlag())
        let r = try runner.run(options: .init(jobs: 1))
        let check = try #require(r.stages.first { $0.record.stage == "check" })
        #expect(check.record.status == .failed)
        #expect(check.failure?.description.contains("outside the workspace") == true, "\(String(describing: check.failure))")
        #expect(try registry.validations(runID: r.run.id).isEmpty)
    }
}
