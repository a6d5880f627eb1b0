import Foundation

/// What planning needs to know about a pipeline's stages as the workspace is
/// now: content hashes of deps, the cache, the previous run's inputs. The
/// decisions themselves are ``RunPlanner``'s, in the core.
struct StageFacts: @unchecked Sendable {
    let pipeline: PipelineSpec
    let params: Params
    let registry: any Registry
    let store: ContentStore
    let hasher: FileHasher

    /// The stage's inputs now (its deps and env files hashed).
    func inputs(of stage: StageSpec) -> RunPlanner.StageInputs {
        var hashes: [String: String] = [:]
        for path in (stage.deps + stage.env).map(\.value) {
            do {
                hashes[path] = try hasher.hash(path)
            } catch let missing as FileHasher.Missing {
                return .missing(path: missing.path)
            } catch {
                return .missing(path: "\(path) (\(error))")
            }
        }
        return RunPlanner.inputs(of: stage, hashes: hashes, params: params)
    }

    /// The inputs the stage last completed with (what "why did it run" compares with).
    func previousInputs(of stage: String) -> CacheInputs? {
        guard let prev = try? registry.lastCompletedStageRun(pipeline: pipeline.name, stage: stage),
              let json = prev.inputs else { return nil }
        return try? JSONDecoder().decode(CacheInputs.self, from: Data(json.utf8))
    }

    /// A cache entry for `key` whose outputs are all still in the store (a
    /// read that fails counts as a miss: the stage then runs).
    func usableCacheEntry(_ key: String) -> CacheEntry? {
        guard let entry = try? registry.cacheEntry(key: key) else { return nil }
        return entry.outputs.values.allSatisfy(store.contains) ? entry : nil
    }

    /// The run that produced a cache entry, when known.
    func producingRun(of entry: CacheEntry) -> Int64? {
        (try? registry.stageRun(id: entry.stageRunID))??.runID
    }

    func preload() {
        hasher.preload(pipeline.stages.flatMap { $0.deps.map(\.value) + $0.env.map(\.value) + $0.cachedOutputs })
    }
}
