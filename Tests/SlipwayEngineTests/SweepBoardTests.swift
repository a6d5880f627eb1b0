import Foundation
import Testing
@testable import SlipwayStore
@testable import SlipwayEngine

/// The newest sweep: the newest run and the sweep members started with it,
/// ended by another trigger, other swept params or a long pause; the chart's
/// axis is the param that varies most.
@Suite struct SweepBoardTests {
    static func run(_ id: Int64, trigger: String = "sweep", pipeline: String = "main", start: Millis, end: Millis?) -> RunRecord {
        RunRecord(id: id, pipeline: pipeline, trigger: trigger, status: end == nil ? .running : .succeeded, startedAt: start,
                  endedAt: end, pid: 1, host: "h", heartbeatAt: start, user: "u", gitCommit: nil, gitDirty: nil,
                  slipwayVersion: "t", message: nil)
    }

    static let minute: Millis = 60_000

    @Test func theNewestSweepIsTheMembersStartedTogether() {
        // Newest first: 9 (running), 8, 7 a sweep of train.lr; 6 another pipeline's
        // run between them is skipped; 5 a sweep of another param; 4, 3 earlier.
        let m = Self.minute
        let runs = [Self.run(9, start: 90 * m, end: nil), Self.run(8, start: 80 * m, end: 89 * m),
                    Self.run(6, trigger: "manual", pipeline: "other", start: 75 * m, end: 76 * m), Self.run(7, start: 70 * m, end: 79 * m),
                    Self.run(5, start: 60 * m, end: 69 * m), Self.run(4, start: 50 * m, end: 59 * m)]
        let overrides: [Int64: [String: String]] = [9: ["train.lr": "0.01"], 8: ["train.lr": "0.03"], 7: ["train.lr": "0.1"],
                                                    5: ["arch": "small"], 4: ["arch": "large"]]
        let members = SweepBoard.newestSweep(runs, pipeline: "main") { overrides[$0] ?? [:] }
        #expect(members.map(\.id) == [9, 8, 7])
        // Not a sweep when the newest run of the pipeline is not a member.
        let manual = [Self.run(10, trigger: "manual", start: 100 * m, end: 101 * m)] + runs
        #expect(SweepBoard.newestSweep(manual, pipeline: "main") { overrides[$0] ?? [:] }.isEmpty)
        // The other pipeline's newest run is not this pipeline's sweep.
        #expect(SweepBoard.newestSweep(runs, pipeline: "other") { overrides[$0] ?? [:] }.isEmpty)
    }

    @Test func aLongPauseOrAnotherTriggerStartsAnotherSweep() {
        let m = Self.minute
        let o: (Int64) -> [String: String] = { ["train.lr": "\($0)"] }
        // Run 2 started an hour after run 1 ended: two sweeps of the same param.
        let paused = [Self.run(3, start: 130 * m, end: 139 * m), Self.run(2, start: 120 * m, end: 129 * m), Self.run(1, start: 10 * m, end: 19 * m)]
        #expect(SweepBoard.newestSweep(paused, pipeline: "main", overrides: o).map(\.id) == [3, 2])
        let interrupted = [Self.run(3, start: 30 * m, end: 39 * m), Self.run(2, trigger: "commit", start: 20 * m, end: 29 * m),
                           Self.run(1, start: 10 * m, end: 19 * m)]
        #expect(SweepBoard.newestSweep(interrupted, pipeline: "main", overrides: o).map(\.id) == [3])
    }

    @Test func theAxisIsTheParamThatVariesMost() {
        let overrides = [["train.lr": "0.1", "arch": "s", "seed": "1"], ["train.lr": "0.03", "arch": "s", "seed": "1"],
                         ["train.lr": "0.01", "arch": "l", "seed": "1"], ["train.lr": "0.1", "arch": "l", "seed": "1"]]
        #expect(SweepBoard.sweptKeys(overrides) == ["train.lr", "arch"])
        #expect(SweepBoard.sweptKeys([["a": "1"], ["a": "1"]]) == ["a"])
        #expect(SweepBoard.number("1e-4") == 0.0001 && SweepBoard.number("64") == 64)
        #expect(SweepBoard.number("small") == nil && SweepBoard.number("nan") == nil && SweepBoard.number("") == nil)
    }
}
