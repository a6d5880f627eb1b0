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
        func m(_ key: String) -> Leaderboard.RankedMetric { .init(stage: nil, key: key, name: key) }
        #expect(Leaderboard.defaultOrder(metric: m("loss"), gates: gates) == .lowFirst)
        #expect(Leaderboard.defaultOrder(metric: m("auc"), gates: gates) == .highFirst)
        #expect(Leaderboard.defaultOrder(metric: m("f1"), gates: gates) == .highFirst)
    }

    @Test func runListsParse() throws {
        #expect(try Leaderboard.runIDs(parsing: "12, 14,20-23,14") == [12, 14, 20, 21, 22, 23])
        for bad in ["", "a", "3-1", "0", "1-", "1-20000"] {
            #expect(throws: Leaderboard.Problem.self, "\(bad)") { try Leaderboard.runIDs(parsing: bad) }
        }
    }

    static let yaml = """
    project: lb
    pipelines:
      main:
        model: clf
        stages:
          train:
            cmd: train
            matrix: {lr: [0.1, 0.2]}
          evaluate: {cmd: evaluate, needs: [train], gates: {auc: ">= 0.5"}}
    """

    /// A finished run of `main` reporting `metrics` (stage → auc), its outputs digest `digest`.
    static func run(_ f: ServiceFixture, _ metrics: [String: Double], digest: String) throws -> (RunRecord, Registration?) {
        let run = try f.registry.startRun(NewRun(pipeline: "main", trigger: "sweep",
                                                 provenance: Provenance(user: "ana", host: Provenance.hostName(), slipwayVersion: "t"),
                                                 pid: getpid(), params: [:]))
        try f.registry.appendMetrics(metrics.map {
            MetricRecord(runID: run.id, stageRunID: nil, stage: $0.key, key: "auc", step: nil, value: $0.value, timestamp: 0)
        })
        let registration = try f.registry.finishRun(id: run.id, status: .succeeded, message: nil, registering: NewModelVersion(
            model: "clf", runID: run.id, pipeline: "main", gitCommit: nil, artifactDigest: digest, createdBy: "ana"))
        return (run, registration)
    }

    /// The gated stage's value ranks, not whichever stage reported the key
    /// last; `--by stage.key` picks another; a bare key that several stages
    /// report is refused, naming them.
    @Test func aMetricSeveralStagesReportRanksByTheGatedStage() throws {
        let f = try ServiceFixture(Self.yaml)
        let pipeline = try #require(f.spec.pipeline(named: "main"))
        let (a, _) = try Self.run(f, ["evaluate": 0.7, "train[lr=0.1]": 0.99, "train[lr=0.2]": 0.1], digest: "sha256:a")
        let (b, _) = try Self.run(f, ["evaluate": 0.8, "train[lr=0.1]": 0.2, "train[lr=0.2]": 0.3], digest: "sha256:b")
        let board = try Leaderboard.build(runIDs: [a.id, b.id], pipeline: pipeline, metric: nil, order: nil, registry: f.registry, spec: f.spec)
        #expect(board.metric == "auc" && board.stage == "evaluate")
        #expect(board.entries.map(\.run.id) == [b.id, a.id])
        #expect(board.entries.map(\.value) == [0.8, 0.7])

        let byMember = try Leaderboard.build(runIDs: [a.id, b.id], pipeline: pipeline, metric: "train[lr=0.1].auc", order: nil,
                                             registry: f.registry, spec: f.spec)
        #expect(byMember.stage == "train[lr=0.1]" && byMember.entries.map(\.run.id) == [a.id, b.id])
        #expect(byMember.entries.map(\.value) == [0.99, 0.2])

        let ungated = Leaderboard.RankedMetric(stage: nil, key: "auc", name: "auc")
        #expect(throws: Leaderboard.Problem.self) {
            try ungated.value(in: try f.registry.metrics(runID: a.id), runID: a.id)
        }
        #expect(throws: Leaderboard.Problem.self) { try Leaderboard.RankedMetric.choose("bad\u{9B}name", pipeline: pipeline) }
        // The matrix's name is not a stage; a name no run reports is a typo.
        #expect {
            try Leaderboard.RankedMetric.choose("train.auc", pipeline: pipeline)
        } throws: { "\($0)" == "--by 'train.auc': 'train' is a matrix; name one member, as in --by 'train[lr=0.1].auc'" }
        #expect(throws: Leaderboard.Problem.self) { try Leaderboard.RankedMetric.choose("train[lr=0.1].", pipeline: pipeline) }
        #expect {
            try Leaderboard.build(runIDs: [a.id, b.id], pipeline: pipeline, metric: "nope", order: nil, registry: f.registry, spec: f.spec)
        } throws: {
            "\($0)" == "none of the 2 runs reports 'nope'; --by takes one of: evaluate.auc, train[lr=0.1].auc, train[lr=0.2].auc"
        }
        #expect(try Leaderboard.RankedMetric.choose("loss", pipeline: pipeline) == .init(stage: nil, key: "loss", name: "loss"))
        // Runs that reported nothing yet (failed early, still running) rank with blanks by the default metric.
        let (quiet, _) = try Self.run(f, [:], digest: "sha256:q")
        let blank = try Leaderboard.build(runIDs: [quiet.id], pipeline: pipeline, metric: nil, order: nil, registry: f.registry, spec: f.spec)
        #expect(blank.entries.map(\.value) == [nil])
    }

    /// A run whose outputs are an existing version's (a param set back) ranks
    /// as that version: it is eligible, and wins when it is best.
    @Test func aRunThatMadeAnEarlierVersionAgainRanksAsThatVersion() throws {
        let f = try ServiceFixture(Self.yaml)
        let pipeline = try #require(f.spec.pipeline(named: "main"))
        let (first, r1) = try Self.run(f, ["evaluate": 0.9], digest: "sha256:first")
        let (second, _) = try Self.run(f, ["evaluate": 0.6], digest: "sha256:second")
        let (again, r3) = try Self.run(f, ["evaluate": 0.9], digest: "sha256:first")
        #expect(r3 == .madeAgain(try #require(r1?.version)))
        #expect(try f.registry.modelVersion(runID: again.id)?.version == 1)
        #expect(try f.registry.modelVersion(runID: first.id)?.version == 1)
        let board = try Leaderboard.build(runIDs: [second.id, again.id], pipeline: pipeline, metric: nil, order: nil,
                                          registry: f.registry, spec: f.spec)
        #expect(board.winner?.run.id == again.id)
        #expect(board.winner?.version?.version == 1)
    }

    /// `models show` and the console name a metric several stages report by stage.
    @Test func metricsSeveralStagesReportAreNamedByStage() {
        func m(_ stage: String, _ key: String, _ step: Int64?, _ value: Double) -> MetricRecord {
            MetricRecord(runID: 1, stageRunID: nil, stage: stage, key: key, step: step, value: value, timestamp: 0)
        }
        let named = GateEvaluator.namedValues([m("train[lr=0.1]", "auc", nil, 0.7), m("train[lr=0.2]", "auc", nil, 0.8),
                                               m("train[lr=0.1]", "loss", 1, 0.5), m("train[lr=0.1]", "loss", 2, 0.4),
                                               m("evaluate", "f1", nil, 0.6)])
        #expect(named == ["train[lr=0.1].auc": 0.7, "train[lr=0.2].auc": 0.8, "loss": 0.4, "f1": 0.6])
    }
}
