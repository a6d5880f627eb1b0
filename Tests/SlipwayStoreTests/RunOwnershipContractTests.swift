import Foundation
import Testing
import SlipwayEngine
@testable import SlipwayStore
import SlipwayCore

/// Taking over an orphaned run, asking to cancel one, and the job status a
/// stage records: the contract every store keeps.
@Suite struct RunOwnershipContractTests {
    @Test(arguments: StoreKind.allCases)
    func onlyOneProcessTakesOverARun(_ kind: StoreKind) throws {
        let (r, connect) = try kind.makeStore()
        let run = try startRun(r)
        let dead = run.owner
        let a = RunOwner(pid: 100, host: "h1"), b = RunOwner(pid: 200, host: "h2")
        let other = try connect()
        #expect(try r.takeOverRun(id: run.id, from: dead, to: a, reason: "owner died"))
        // The second taker still believes the dead owner owns it: refused.
        #expect(try !other.takeOverRun(id: run.id, from: dead, to: b, reason: "owner died"))
        let now = try #require(try r.run(id: run.id))
        #expect(now.owner == a)
        #expect(now.heartbeatAt >= run.heartbeatAt)
        try r.finishRun(id: run.id, status: .cancelled, message: nil)
        // A finished run is nobody's to take.
        #expect(try !r.takeOverRun(id: run.id, from: a, to: b, reason: "late"))
        let kinds = try r.auditEvents(after: 0, limit: 100).map(\.kind)
        #expect(kinds.filter { $0 == "run.taken_over" }.count == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func aCancelRequestIsRecordedOnceAndOnlyForARunningRun(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run = try startRun(r)
        #expect(try r.run(id: run.id)?.cancelRequestedAt == nil)
        let asked = try #require(try r.requestCancel(runID: run.id, actor: "ana"))
        #expect(asked.cancelRequestedAt != nil && asked.status == .running)
        #expect(try r.run(id: run.id)?.cancelRequestedAt == asked.cancelRequestedAt)
        // Asking again changes nothing and audits nothing more.
        _ = try r.requestCancel(runID: run.id, actor: "bo")
        try r.finishRun(id: run.id, status: .cancelled, message: "cancelled")
        let done = try startRun(r)
        try r.finishRun(id: done.id, status: .succeeded, message: nil)
        #expect(try r.requestCancel(runID: done.id, actor: "ana")?.cancelRequestedAt == nil)
        #expect(try r.requestCancel(runID: 9_999, actor: "ana") == nil)
        let events = try r.auditEvents(after: 0, limit: 100).filter { $0.kind == "run.cancel_requested" }
        #expect(events.map(\.actor) == ["ana"])
    }

    @Test(arguments: StoreKind.allCases)
    func aStageKeepsWhatItsExecutorSaid(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run = try startRun(r)
        var stage = try #require(try r.addStageRuns(runID: run.id, stages: ["train"]).first)
        let pending = JobStatus(executor: "slurm", jobID: "12", state: "PENDING", reason: "Resources",
                                requested: "partition=gpu gres=gpu:1")
        try r.setStageJobStatus(stageRunID: stage.id, status: pending)
        #expect(try r.stageRun(id: stage.id)?.jobStatus == pending)
        let done = JobStatus(executor: "slurm", jobID: "12", state: "COMPLETED", node: "gpu-07", requested: "partition=gpu",
                             allocated: "cpu=8,mem=32G,node=1", elapsed: 42, queued: 3, timeLimit: "2:00:00", exitCode: "0:0")
        try r.setStageJobStatus(stageRunID: stage.id, status: done)
        // The stage's own updates leave it as the executor said.
        stage.status = .succeeded
        try r.updateStageRun(stage)
        #expect(try r.stageRuns(runID: run.id).first?.jobStatus == done)
    }
}
