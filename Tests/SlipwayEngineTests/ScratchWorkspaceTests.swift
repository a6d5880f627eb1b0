import Foundation
import Synchronization
import Testing
@testable import SlipwayEngine

/// Sweep copies belong to the sweep that holds their claim: a copy whose
/// claim no process holds is removed by the next sweep, whatever became of
/// the pid in its name.
@Suite struct ScratchWorkspaceTests {
    static func workspace() throws -> Workspace {
        let root = NSTemporaryDirectory() + "slipway-scratch-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/.slipway", withIntermediateDirectories: true)
        try "x".write(toFile: root + "/data.txt", atomically: true, encoding: .utf8)
        return Workspace(root: root)
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    @Test func aCopyIsRemovedOnceNoSweepHoldsItsClaim() throws {
        let ws = try Self.workspace()
        let sweeps = ScratchWorkspace.sweepsDir(of: ws)
        // A sweep killed with kill -9: its lock file stays, held by no one (the
        // kernel dropped the lock with the process; here, closed unreleased).
        var killed: ScratchWorkspace.Claim? = try ScratchWorkspace.Claim.take(in: ws)
        let killedID = killed!.id
        _ = try ScratchWorkspace.make(from: ws, name: killedID + "/2")
        killed = nil
        #expect(Self.exists(ws.stateDir + "/locks/sweep-\(killedID).lock"))
        // A running sweep's copy: its claim is held.
        let running = try ScratchWorkspace.Claim.take(in: ws)
        let copy = try ScratchWorkspace.make(from: ws, name: running.id + "/3")
        #expect(Self.exists(copy.workspace.root + "/data.txt"))
        // A claim left without a folder (killed before its first copy).
        close(open(ws.stateDir + "/locks/sweep-1700000001-1.lock", O_CREAT | O_RDWR, 0o600))
        // Copies of an earlier slipway (no lock file): one whose process is
        // gone, one whose pid lives (this process).
        _ = try ScratchWorkspace.make(from: ws, name: "1700000000-4194000/2")
        _ = try ScratchWorkspace.make(from: ws, name: "1700000000-\(getpid())/2")

        #expect(ScratchWorkspace.removeAbandoned(in: ws).isEmpty)
        #expect(!Self.exists(sweeps + "/" + killedID))
        #expect(!Self.exists(ws.stateDir + "/locks/sweep-\(killedID).lock"))
        #expect(Self.exists(copy.workspace.root + "/data.txt"))
        #expect(!Self.exists(ws.stateDir + "/locks/sweep-1700000001-1.lock"))
        #expect(!Self.exists(sweeps + "/1700000000-4194000"))
        #expect(Self.exists(sweeps + "/1700000000-\(getpid())"))

        // Its sweep gone, the next sweep removes the running one's copy too.
        running.release(ws)
        try FileManager.default.removeItem(atPath: sweeps + "/1700000000-\(getpid())")
        #expect(ScratchWorkspace.removeAbandoned(in: ws).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: sweeps).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.stateDir + "/locks").isEmpty)
    }

    /// Two sweeps claim at once: each gets its own id.
    @Test func twoSweepsStartedTogetherClaimDifferentFolders() throws {
        let ws = try Self.workspace()
        let a = try ScratchWorkspace.Claim.take(in: ws), b = try ScratchWorkspace.Claim.take(in: ws)
        #expect(a.id != b.id)
        a.release(ws); b.release(ws)
    }

    /// Sweeps start, make their copies, remove them and end while another
    /// sweep's end removes the sweeps folder whenever it is empty: every copy
    /// is still made.
    @Test func copiesAreMadeWhileAnotherSweepRemovesTheEmptySweepsFolder() throws {
        let ws = try Self.workspace()
        let claim = try ScratchWorkspace.Claim.take(in: ws)
        defer { claim.release(ws) }
        let failures = Mutex([String]())
        let done = Atomic(0)
        DispatchQueue.concurrentPerform(iterations: 5) { worker in
            if worker == 0 {
                // Another sweep ending, again and again, until the members are done.
                while done.load(ordering: .acquiring) < 4 { ScratchWorkspace.removeFolder(of: "ended", in: ws) }
                return
            }
            for i in 0..<40 {
                do {
                    let sweep = "\(claim.id)-\(worker)-\(i)"
                    let copy = try ScratchWorkspace.make(from: ws, name: sweep + "/2")
                    try copy.remove()
                    ScratchWorkspace.removeFolder(of: sweep, in: ws)
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            done.add(1, ordering: .releasing)
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
    }
}
