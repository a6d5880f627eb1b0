import Foundation
import Testing
@testable import SlipwayConsole
@testable import SlipwayStore
@testable import SlipwayEngine

/// The Evals tab when the pipeline's newest runs are a sweep: the runs ranked
/// with their gates and the winner marked, a chart of the metric against the
/// swept param, `s` back to candidate vs production, Enter opening a run.
@Suite(.serialized) struct SweepViewTests {
    /// The console's seeded workspace, then a sweep of train.lr (runs 4–8):
    /// 0.3 fails the accuracy gate, 0.03 wins, 0.003 is still running.
    static let seeded: (Workspace, RegistryConnection) = try! {
        let (ws, registry) = try seededWorkspace()
        let prov = Provenance(gitCommit: "a1c9e03f00", gitDirty: false, user: "ana", host: "ci-1", slipwayVersion: "0.1.0")
        let members: [(String, Double?)] = [("0.3", 0.88), ("0.1", 0.912), ("0.03", 0.921), ("0.01", 0.903), ("0.003", nil)]
        for (lr, accuracy) in members {
            let r = try registry.startRun(NewRun(pipeline: "weather", trigger: "sweep", provenance: prov, pid: 999_999,
                                                 params: ["train.lr": lr], overrides: ["train.lr": lr]))
            let stages = try registry.addStageRuns(runID: r.id, stages: ["validate", "train", "evaluate"])
            for var st in stages {
                st.status = accuracy == nil && st.stage != "validate" ? (st.stage == "train" ? .running : .pending) : .succeeded
                if st.status != .pending { st.startedAt = SystemClock.nowMillis() }
                if st.status == .succeeded { st.endedAt = SystemClock.nowMillis() }
                try registry.updateStageRun(st)
            }
            guard let accuracy else { continue }
            let evaluate = stages.last!
            try registry.appendMetrics([
                MetricRecord(runID: r.id, stageRunID: evaluate.id, stage: "evaluate", key: "accuracy", step: 0, value: accuracy, timestamp: 0),
                MetricRecord(runID: r.id, stageRunID: evaluate.id, stage: "evaluate", key: "latency_p95_ms", step: 0, value: 11.0, timestamp: 0),
            ])
            let passed = accuracy >= 0.895
            try registry.finishRun(id: r.id, status: passed ? .succeeded : .failed, message: passed ? nil : "gate failed")
            if passed {
                _ = try registry.registerVersion(NewModelVersion(model: "weather-clf", runID: r.id, pipeline: "weather", gitCommit: "a1c9e03f00",
                                                                 artifactDigest: String(repeating: "cd", count: 32), createdBy: "ana"))
            }
        }
        return (ws, registry)
    }()

    func state(width: Int, height: Int, ascii: Bool = false) -> ConsoleState {
        let (ws, registry) = Self.seeded
        var s = ConsoleState()
        s.width = width
        s.height = height
        s.ascii = ascii
        let loader = ConsoleLoader(workspace: ws, registry: registry)
        while !loader.verifyMore(slice: 4) {}
        _ = s.update(.data(normalized(loader.load(selectedRun: nil, selectedModel: nil))))
        _ = s.update(.event(.key(.char("2"))))
        return s
    }

    @Test func theLoaderFindsTheNewestSweep() throws {
        let s = state(width: 120, height: 40)
        let sweep = try #require(s.snapshot.sweep)
        #expect(sweep.runIDs == [4, 5, 6, 7, 8])
        #expect(sweep.axis == "train.lr" && sweep.numericAxis)
        #expect(sweep.leaderboard.metric == "accuracy")
        #expect(sweep.leaderboard.entries.map(\.run.id) == [6, 5, 7, 4, 8])
        #expect(sweep.leaderboard.winner?.run.id == 6)
        #expect(s.showingSweep)
    }

    @Test(arguments: [(80, 24), (120, 40)])
    func sweepView(size: (Int, Int)) {
        let s = state(width: size.0, height: size.1)
        let frame = styled(ConsoleView.render(s))
        assertSnapshot(frame, named: "evals-sweep-\(size.0)x\(size.1)")
        #expect(frame.contains("1★") && frame.contains("run 6") && frame.contains("train.lr=0.03"))
        #expect(frame.contains("accuracy against train.lr"))
    }

    @Test func asciiSweepView() {
        var s = state(width: 120, height: 40, ascii: true)
        _ = s.update(.event(.key(.char("j"))))
        let text = ConsoleView.render(s).text
        #expect(text.unicodeScalars.allSatisfy { $0.isASCII })
        #expect(text.contains("@"), "the selected run's point is marked")
        assertSnapshot(text, named: "evals-sweep-ascii")
    }

    @Test func sSwitchesToCandidateVsProductionAndBack() {
        var s = state(width: 120, height: 40)
        _ = s.update(.event(.key(.char("s"))))
        #expect(!s.showingSweep)
        let frame = ConsoleView.render(s).text
        #expect(frame.contains("(candidate) vs") && !frame.contains("sweep of"))
        _ = s.update(.event(.key(.char("s"))))
        #expect(s.showingSweep)
        #expect(ConsoleView.render(s).text.contains("sweep of train.lr"))
    }

    @Test func enterOpensTheSelectedRun() {
        var s = state(width: 120, height: 40)
        _ = s.update(.event(.key(.char("j"))))  // rank 2: run 5
        let effects = s.update(.event(.key(.enter)))
        #expect(effects == [.select(run: 5, model: nil)])
        #expect(s.tab == .runs && s.runView?.runID == 5 && s.selectedRun?.id == 5)
    }

    @Test func withoutASweepTheKeySaysWhy() {
        var s = ConsoleState()
        _ = s.update(.data(ConsoleSnapshot()))
        _ = s.update(.event(.key(.char("2"))))
        _ = s.update(.event(.key(.char("s"))))
        #expect(s.notice?.isError == true && s.notice?.text.contains("no sweep") == true)
    }

    @Test func numbersGoOnANumberAxisAndNamesInOrder() throws {
        let s = state(width: 120, height: 40)
        let sweep = try #require(s.snapshot.sweep)
        let axis = SweepScreen.axis(sweep)
        #expect(axis.logScale)  // 0.003 … 0.3: two decades
        #expect(axis.position["0.003"]! < axis.position["0.01"]! && axis.position["0.1"]! < axis.position["0.3"]!)
        var named = sweep
        for i in named.leaderboard.entries.indices { named.leaderboard.entries[i].overrides = ["arch": ["s", "m", "l", "xl", "s"][i]] }
        named.axis = "arch"
        named.numericAxis = false
        let cats = SweepScreen.axis(named)
        #expect(!cats.logScale && cats.position.count == 4)
    }
}
