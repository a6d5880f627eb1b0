import Foundation
import Testing
import SlipwayStore
import SlipwayCore
import SlipwayEngine
@testable import SlipwayStore

/// What stages log through the tracking endpoint, on every kind of store.
@Suite struct TrackedValuesContractTests {
    @Test(arguments: StoreKind.allCases)
    func keptPerStageRunWithTheLastValueOfEachKey(_ kind: StoreKind) throws {
        let (r, connect) = try kind.makeStore()
        let run = try startRun(r)
        let stages = try r.addStageRuns(runID: run.id, stages: ["train", "eval"])
        func value(_ s: StageRunRecord, _ kind: TrackedValueRecord.Kind, _ key: String, _ value: String, size: Int64? = nil) -> TrackedValueRecord {
            TrackedValueRecord(runID: run.id, stageRunID: s.id, stage: s.stage, kind: kind, key: key, value: value, size: size, at: 1000)
        }
        try r.recordTracked([value(stages[0], .param, "lr", "0.01"), value(stages[0], .tag, "team", "a"),
                             value(stages[0], .artifact, "mlflow-artifacts/train/m.pkl", "sha256:ab", size: 12)])
        try r.recordTracked([value(stages[0], .tag, "team", "b"), value(stages[1], .param, "lr", "0.5"),
                             value(stages[0], .input, "train.csv", "d1 file:///x")])
        try r.recordTracked([])
        let all = try connect().trackedValues(runID: run.id)
        #expect(all.count == 5)
        let train = all.filter { $0.stageRunID == stages[0].id }
        #expect(train.first { $0.kind == .tag }?.value == "b")
        #expect(train.first { $0.kind == .artifact }?.size == 12)
        #expect(all.first { $0.stageRunID == stages[1].id }?.value == "0.5")

        // A cache hit carries them to the new stage run.
        let again = try startRun(r)
        let next = try r.addStageRuns(runID: again.id, stages: ["train"])[0]
        try r.copyTracked(fromStageRun: stages[0].id, to: next)
        let copied = try r.trackedValues(runID: again.id)
        #expect(copied.count == 4)
        #expect(copied.allSatisfy { $0.stageRunID == next.id && $0.runID == again.id && $0.stage == "train" })
        #expect(try r.trackedValues(runID: run.id).count == 5)

        // So does a no-op re-run that records its cached stages together.
        let third = try startRun(r)
        var restored = try r.addStageRuns(runID: third.id, stages: ["train"])[0]
        restored.status = .cached
        restored.reason = "same inputs"
        try r.recordRestoredStages([RestoredStage(stageRun: restored, source: stages[0].id, datasets: [:], outputs: [:])]) { ended, user in
            AuditDraft(actor: user ?? "test", kind: .stageFinished, subject: "run/\(ended.runID)/\(ended.stage)",
                       payload: AuditChain.payload(["status": ended.status.rawValue]))
        }
        let carried = try connect().trackedValues(runID: third.id)
        #expect(carried.count == 4)
        #expect(carried.allSatisfy { $0.stageRunID == restored.id && $0.stage == "train" })
    }
}
