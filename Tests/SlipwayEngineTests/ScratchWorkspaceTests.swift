import Foundation
import Testing
@testable import SlipwayEngine

/// Sweep copies belong to the sweep that holds their claim: a copy whose
/// claim no process holds is removed by the next sweep, whatever its name's
/// pid now is (reused by a live process, here this one).
@Suite struct ScratchWorkspaceTests {
    static func workspace() throws -> Workspace {
        let root = NSTemporaryDirectory() + "slipway-scratch-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/.slipway", withIntermediateDirectories: true)
        try "x".write(toFile: root + "/data.txt", atomically: true, encoding: .utf8)
        return Workspace(root: root)
    }

    @Test func aCopyIsRemovedOnceNoSweepHoldsItsClaim() throws {
        let ws = try Self.workspace()
        let sweeps = ScratchWorkspace.sweepsDir(of: ws)
        // Left by a sweep killed with kill -9 whose pid is now a live process's (ours).
        let reused = "1700000000-\(getpid())"
        _ = try ScratchWorkspace.make(from: ws, name: reused + "/2")
        // A running sweep's copy: its claim is held.
        let running = try ScratchWorkspace.Claim.take(in: ws)
        let copy = try ScratchWorkspace.make(from: ws, name: running.id + "/3")
        #expect(FileManager.default.fileExists(atPath: copy.workspace.root + "/data.txt"))
        // A claim left without a folder (killed before its first copy).
        close(open(ws.stateDir + "/locks/sweep-1700000001-1.lock", O_CREAT | O_RDWR, 0o600))

        #expect(ScratchWorkspace.removeAbandoned(in: ws).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: sweeps + "/" + reused))
        #expect(FileManager.default.fileExists(atPath: copy.workspace.root + "/data.txt"))
        #expect(!FileManager.default.fileExists(atPath: ws.stateDir + "/locks/sweep-1700000001-1.lock"))

        // Its sweep gone (the kernel drops the lock however it ends), the next sweep removes it.
        running.release(ws)
        #expect(ScratchWorkspace.removeAbandoned(in: ws).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: sweeps))
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.stateDir + "/locks").isEmpty)
    }

    /// Two sweeps claim at once: each gets its own id.
    @Test func twoSweepsStartedTogetherClaimDifferentFolders() throws {
        let ws = try Self.workspace()
        let a = try ScratchWorkspace.Claim.take(in: ws), b = try ScratchWorkspace.Claim.take(in: ws)
        #expect(a.id != b.id)
        a.release(ws); b.release(ws)
    }
}
