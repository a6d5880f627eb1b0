import Foundation
import SlipwayStore

/// The stages a run takes from the cache without running anything: those
/// the plan finds cached, without gates, whose upstream stages all come from
/// the cache too. Their outs are put in place in DAG order and they are
/// recorded together (``Registry/recordRestoredStages(_:)``): a registry
/// transaction per thousand stages, instead of a thread and eight registry
/// calls each. A stage whose restore fails is left waiting: the scheduler
/// then runs it, and what follows it, the usual way (``StageExecution``).
/// A dep that leads out of the workspace through a symlink is not an input
/// (``FileHasher/hash(_:)`` refuses it), so its stage is never a candidate.
struct CachedStages {
    let workspace: Workspace
    let facts: StageFacts
    let registry: any Registry
    let reporter: (any RunReporter)?

    /// Stages recorded per transaction: no other process waits longer than that for the registry.
    static let perTransaction = 1_000

    /// The stages that can be taken from the cache before anything runs, in plan (DAG) order.
    static func candidates(plans: [StagePlan], graph: StageGraph, stages: StagesByName) -> [String] {
        var chosen: Set<String> = []
        var result: [String] = []
        for plan in plans {
            guard case .cached = plan.decision, let stage = stages[plan.stage], stage.gates.isEmpty,
                  graph.upstream[plan.stage, default: []].allSatisfy(chosen.contains) else { continue }
            chosen.insert(plan.stage)
            result.append(plan.stage)
        }
        return result
    }

    /// Restores `names` (in DAG order) and records them as `cached` in `run`,
    /// handing each transaction's records to `recorded` once committed.
    /// Throws when the registry fails.
    func restore(_ names: [String], stages: StagesByName, graph: StageGraph, inputs: [String: RunPlanner.StageInputs], keys: [String: String],
                 records: [String: StageRunRecord], run: RunRecord, recorded: ([StageRunRecord]) -> Void) throws {
        let encoder = JSONEncoder.sorted
        // No command runs meanwhile: each folder is resolved once for the lot.
        let containment = FileSystem.Containment(root: workspace.root, expecting: stages.stages.reduce(0) { $0 + $1.outs.count })
        var restored: Set<String> = []
        var batch: [RestoredStage] = []
        batch.reserveCapacity(min(names.count, Self.perTransaction))
        restored.reserveCapacity(names.count)
        func flush() throws {
            guard !batch.isEmpty else { return }
            try registry.recordRestoredStages(batch)
            for b in batch {
                var started = b.stageRun
                started.status = .running
                reporter?.stageStarted(started)
                reporter?.stageFinished(b.stageRun)
            }
            recorded(batch.map(\.stageRun))
            batch.removeAll(keepingCapacity: true)
        }
        for name in names {
            // A stage whose upstream had to be left to the scheduler waits for it there.
            guard graph.upstream[name, default: []].allSatisfy(restored.contains),
                  let stage = stages[name], case .ready(let i) = inputs[name], let key = keys[name], var r = records[name] else { continue }
            guard let entry = facts.usableCacheEntry(key), (try? facts.restoreOutputs(of: entry, containment: containment)) != nil else { continue }
            let now = SystemClock.nowMillis()
            r.status = .cached
            r.startedAt = now
            r.endedAt = now
            r.cacheKey = key
            // The stage run that made the entry had these very inputs (the key is their digest).
            r.inputs = try facts.recordedInputs(of: entry) ?? String(decoding: encoder.encode(i), as: UTF8.self)
            r.reason = facts.restoredReason(entry, stage: stage)
            // No log file: the reason is the whole story (``StageLogLines/withoutLog(_:)``).
            r.logPath = nil
            batch.append(RestoredStage(stageRun: r, source: entry.stageRunID, datasets: i.deps, outputs: entry.outputs))
            restored.insert(name)
            if batch.count >= Self.perTransaction { try flush() }
        }
        try flush()
    }
}
