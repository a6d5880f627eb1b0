import Foundation
import SlipwayCore

/// The batched reads and writes the runner uses for big pipelines, made of
/// the one-at-a-time statements. Correct, not yet fast: one round trip per
/// item. Restored stages are checked together first (a batch naming a stage
/// run that does not exist writes nothing), then written stage by stage,
/// each in its own transactions rather than all in one.
extension PostgresRegistry {
    public func stageRuns(ids: [Int64]) throws -> [Int64: StageRunRecord] {
        var found: [Int64: StageRunRecord] = [:]
        for id in Set(ids) { if let r = try stageRun(id: id) { found[id] = r } }
        return found
    }

    public func stageRunOrigins(ids: [Int64]) throws -> [Int64: StageRunOrigin] {
        try stageRuns(ids: ids).mapValues(StageRunOrigin.init)
    }

    public func lastCompletedStageRuns(pipeline: String, stages: [String]) throws -> [String: StageRunRecord] {
        var found: [String: StageRunRecord] = [:]
        for stage in Set(stages) { if let r = try lastCompletedStageRun(pipeline: pipeline, stage: stage) { found[stage] = r } }
        return found
    }

    public func cacheEntries(keys: [String]) throws -> [String: CacheEntry] {
        var found: [String: CacheEntry] = [:]
        for key in Set(keys) { if let e = try cacheEntry(key: key) { found[key] = e } }
        return found
    }

    public func recordRestoredStages(_ stages: [RestoredStage], audit: (_ ended: StageRunRecord, _ runUser: String?) -> AuditDraft) throws {
        let known = try stageRuns(ids: stages.map(\.stageRun.id))
        if let missing = stages.first(where: { known[$0.stageRun.id] == nil }) {
            throw NotFound(what: "stage run \(missing.stageRun.id)")
        }
        for restored in stages {
            let r = restored.stageRun
            try recordRunDatasets(runID: r.runID, stage: r.stage,
                                  versions: restored.datasets.sorted { $0.key < $1.key }.map { (path: $0.key, hash: $0.value) })
            try copyMetrics(fromStageRun: restored.source, to: r)
            try copyValidations(fromStageRun: restored.source, to: r)
            try copyTracked(fromStageRun: restored.source, to: r)
            try recordArtifacts(runID: r.runID, stageRunID: r.id, outputs: restored.outputs)
            try updateStageRun(r, audit: audit)
        }
    }
}
