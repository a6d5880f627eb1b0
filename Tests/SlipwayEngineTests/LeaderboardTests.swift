import Foundation
import Testing
@testable import SlipwayStore
@testable import SlipwayEngine

/// Ranking runs: the order follows the gate, a run without the metric is
/// never first, and run lists parse with ranges.
@Suite struct LeaderboardTests {
    static func entry(_ id: Int64, _ value: Double?) -> Leaderboard.Entry {
        let run = RunRecord(id: id, pipeline: "main", trigger: "sweep", status: .succeeded, startedAt: 0, endedAt: 1, pid: 1,
                            host: "h", heartbeatAt: 0, user: "u", gitCommit: nil, gitDirty: nil, slipwayVersion: "t", message: nil)
        return Leaderboard.Entry(run: run, version: nil, overrides: [:], value: value, gatesPassed: 1, gateCount: 1, failedGates: [])
    }

    @Test func ranksByTheGatesDirectionWithMissingValuesLast() throws {
        let entries = [Self.entry(1, 0.8), Self.entry(2, nil), Self.entry(3, .nan), Self.entry(4, 0.9), Self.entry(5, 0.8)]
        #expect(Leaderboard.rank(entries, order: .highFirst).map(\.run.id) == [4, 1, 5, 2, 3])
        #expect(Leaderboard.rank(entries, order: .lowFirst).map(\.run.id) == [1, 5, 4, 2, 3])
        let loss = GateSpec(metric: "loss", condition: try GateCondition(parsing: "<= 0.3"))
        let auc = GateSpec(metric: "auc", condition: try GateCondition(parsing: ">= production"))
        let gates = [(stage: "e", gate: loss, policy: NoBaselinePolicy.pass), (stage: "e", gate: auc, policy: NoBaselinePolicy.pass)]
        #expect(Leaderboard.defaultOrder(metric: "loss", gates: gates) == .lowFirst)
        #expect(Leaderboard.defaultOrder(metric: "auc", gates: gates) == .highFirst)
        #expect(Leaderboard.defaultOrder(metric: "f1", gates: gates) == .highFirst)
    }

    @Test func runListsParse() throws {
        #expect(try Leaderboard.runIDs(parsing: "12, 14,20-23,14") == [12, 14, 20, 21, 22, 23])
        for bad in ["", "a", "3-1", "0", "1-", "1-20000"] {
            #expect(throws: Leaderboard.Problem.self, "\(bad)") { try Leaderboard.runIDs(parsing: bad) }
        }
    }
}
