import Foundation
import Testing
@testable import SlipwayConsole
@testable import SlipwayStore
@testable import SlipwayEngine

/// A run with a big matrix stage: its members show under their matrix stage,
/// one row in the Runs detail, and a scrolling picker in the opened run.
@Suite struct MatrixRunViewTests {
    /// prepare (done), train[shard=0…members-1] (the first `done` done, the next two running, the rest waiting), report (waiting).
    func matrixRun(members: Int, done: Int, width: Int = 120, height: Int = 30) -> ConsoleState {
        var s = ConsoleState()
        s.width = width
        s.height = height
        var snap = ConsoleSnapshot()
        snap.pipelines = ["sweep"]
        let run = RunRecord(id: 7, pipeline: "sweep", trigger: "manual", status: .running, startedAt: 0, endedAt: nil, pid: 1,
                            host: Provenance.hostName(), heartbeatAt: 0, user: "ana", gitCommit: nil, gitDirty: nil, slipwayVersion: "0", message: nil)
        snap.runs = [run]
        snap.now = 90_000
        func stage(_ id: Int, _ name: String, _ status: StageStatus) -> StageRunRecord {
            StageRunRecord(id: Int64(id), runID: 7, stage: name, status: status, startedAt: status == .pending ? nil : 1_000,
                           endedAt: status.isFinished ? 2_000 : nil, reason: "")
        }
        var stages = [stage(0, "prepare", .succeeded)]
        for i in 0..<members {
            stages.append(stage(i + 1, "train[shard=\(i)]", i < done ? .succeeded : (i < done + 2 ? .running : .pending)))
        }
        stages.append(stage(members + 1, "report", .pending))
        snap.detail = .init(run: run, stages: stages, series: [:], logTail: [], logStage: nil)
        _ = s.update(.data(snap))
        return s
    }

    @Test func theRunsDetailShowsAMatrixStageAsOneRow() {
        let text = ConsoleView.render(matrixRun(members: 1_000, done: 400)).text
        #expect(text.contains("400/1000 done · 2 running"))
        #expect(StageGroups.summary(StageGroups.make(matrixRun(members: 1_000, done: 400).snapshot.detail!.stages)[1],
                                    matrixRun(members: 1_000, done: 400).snapshot.detail!.stages) == "400/1000 done · 2 running · 598 waiting")
        #expect(!text.contains("train[shard=0]"))
        #expect(text.contains("report"))
    }

    @Test func groupsKeepOtherStagesInOrderAndMembersTogether() {
        func st(_ name: String) -> StageRunRecord { StageRunRecord(id: 0, runID: 1, stage: name, status: .pending, reason: "") }
        let groups = StageGroups.make(["a", "t[x=1]", "b", "t[x=2]", "u[y=1]"].map(st))
        #expect(groups.map(\.name) == ["a", "t", "b", "u"])
        #expect(groups[1].members == [1, 3] && groups[1].isMatrix && !groups[0].isMatrix)
        #expect(StageGroups.order(groups) == [0, 1, 3, 2, 4])
        #expect(StageGroups.matrixBase("plain") == nil && StageGroups.matrixBase("[x]") == nil)
    }

    @Test func theOpenedRunListsMembersUnderTheirMatrixStageAndScrolls() {
        var s = matrixRun(members: 1_000, done: 400)
        _ = s.update(.event(.key(.enter)))
        // It opens on the last running member.
        #expect(s.runView?.stage == 402)
        var text = ConsoleView.render(s).text
        #expect(text.contains("train (1000)"))
        #expect(text.contains("shard=401"))
        // Down past the end of what fits: the picker follows.
        for _ in 0..<100 { _ = s.update(.event(.key(.char("j")))) }
        #expect(s.runView?.stage == 502)
        text = ConsoleView.render(s).text
        #expect(text.contains("shard=501"))
        #expect(!text.contains("shard=401 "))
        // Its matrix stage's row stays on top.
        #expect(text.contains("train (1000)"))
        // To the end: after the last member comes the stage after the matrix.
        for _ in 0..<600 { _ = s.update(.event(.key(.char("j")))) }
        #expect(s.runView?.stage == 1_001)
        #expect(ConsoleView.render(s).text.contains("report"))
        for _ in 0..<2_000 { _ = s.update(.event(.key(.char("k")))) }
        #expect(s.runView?.stage == 0)
    }

    @Test func theLoaderReadsOnlyTheLogsAroundTheStageInView() {
        let d = matrixRun(members: 1_000, done: 400).snapshot.detail!
        // Around the last running member (what the opened run starts on), not every member that started.
        let picked = ConsoleLoader.logStages(d.index, d.stages, shown: 402)
        #expect(picked.count == 2 * ConsoleLoader.logWindow + 1)
        #expect(picked.contains(402 - ConsoleLoader.logWindow) && picked.contains(402 + ConsoleLoader.logWindow))
        // At the ends of the run the window is cut, not shifted out of range.
        #expect(ConsoleLoader.logStages(d.index, d.stages, shown: 0).first == 0)
        #expect(ConsoleLoader.logStages(d.index, d.stages, shown: 1_001).last == 1_001)
    }

    @Test func movingThroughMembersTellsTheLoaderWhichStageIsInView() {
        var s = matrixRun(members: 1_000, done: 400)
        _ = s.update(.event(.key(.enter)))
        // These members have no log yet: nothing to read at once.
        #expect(s.update(.event(.key(.char("j")))) == [.showStage("train[shard=402]", reload: false)])
        #expect(s.update(.event(.key(.escape))) == [.showStage(nil, reload: false)])
        // A member that ran, whose log this snapshot did not read: read at once, said meanwhile.
        s.snapshot.detail!.stages[404].logPath = ".slipway/logs/run-7/train[shard=403].log"
        s.snapshot.detail!.stages[404].startedAt = 1_000
        _ = s.update(.event(.key(.enter)))
        _ = s.update(.event(.key(.char("j"))))
        #expect(s.update(.event(.key(.char("j")))) == [.showStage("train[shard=403]", reload: true)])
        #expect(ConsoleView.render(s).text.contains("(reading the log…)"))
    }

    @Test func theIndexAgreesWithTheGroupsWorkedOutEachTime() {
        let d = matrixRun(members: 300, done: 120).snapshot.detail!
        let groups = StageGroups.make(d.stages)
        #expect(d.index.groups == groups)
        #expect(d.index.order == StageGroups.order(groups))
        #expect(d.index.standings[1]?.summary == StageGroups.summary(groups[1], d.stages))
        #expect(d.index.standings[1]?.status == StageGroups.status(groups[1], d.stages))
        #expect(d.index.standings[1]?.duration(now: 90_000) == StageGroups.duration(groups[1], d.stages, now: 90_000))
    }
}
