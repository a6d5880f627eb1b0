import Foundation
import SlipwayStore

/// What planning needs to know about a pipeline's stages as the workspace is
/// now: content hashes of deps, the cache, the previous run's inputs. The
/// decisions themselves are ``RunPlanner``'s, in the core.
///
/// The registry is asked about all stages at once (``prefetchCache(keys:)``,
/// ``prefetchPrevious(stages:)``), not once per stage; what was read is kept
/// in ``known`` for the rest of the run.
struct StageFacts: @unchecked Sendable {
    let pipeline: PipelineSpec
    let params: Params
    let registry: any Registry
    let workspace: Workspace
    let store: ContentStore
    let hasher: FileHasher
    let known = Known()

    /// Registry answers read in bulk. A key (or stage) that was looked up is
    /// in the `…Asked` set whether or not anything was found.
    final class Known: @unchecked Sendable {
        let lock = NSLock()
        var entries: [String: CacheEntry] = [:]
        var entriesAsked: Set<String> = []
        /// Stage run id → the run it belongs to.
        var producers: [Int64: Int64] = [:]
        /// Stage run id → its cache key, inputs (JSON) and job handle, for the stage runs that made entries.
        var producerFacts: [Int64: (key: String?, inputs: String?, job: String?)] = [:]
        var producersAsked: Set<Int64> = []
        var previous: [String: StageRunRecord] = [:]
        var previousAsked: Set<String> = []
        /// Keys whose outputs were all found in the store: planning and
        /// restoring ask about the same entries, and the store only grows.
        var stored: Set<String> = []

        func forget() {
            lock.withLock {
                entries = [:]; entriesAsked = []; stored = []
                producers = [:]; producerFacts = [:]; producersAsked = []
                previous = [:]; previousAsked = []
            }
        }
    }

    init(pipeline: PipelineSpec, params: Params, registry: any Registry, workspace: Workspace) {
        self.pipeline = pipeline
        self.params = params
        self.registry = registry
        self.workspace = workspace
        self.store = ContentStore(workspace: workspace)
        self.hasher = FileHasher(root: workspace.root, cache: registry)
    }

    /// The stage's inputs now (its deps and env files hashed). `containment`
    /// answers for symlinks in a pass over many stages before any command runs.
    func inputs(of stage: StageSpec, containment: FileSystem.Containment? = nil) -> RunPlanner.StageInputs {
        var hashes: [String: String] = [:]
        for path in (stage.deps + stage.env).map(\.value) {
            do {
                hashes[path] = try hasher.hash(path, containment: containment)
            } catch let missing as FileHasher.Missing {
                return .missing(path: missing.path)
            } catch {
                return .missing(path: "\(path) (\(error))")
            }
        }
        return RunPlanner.inputs(of: stage, hashes: hashes, params: params)
    }

    /// Reads the cache entries of these keys and the runs that made them:
    /// two registry reads however many keys. A read that fails is left to
    /// the per-stage look-ups (which count a failure as a miss).
    func prefetchCache(keys: [String]) {
        let asked = known.lock.withLock { known.entriesAsked }
        let todo = keys.filter { !asked.contains($0) }
        guard !todo.isEmpty, let found = try? registry.cacheEntries(keys: todo) else { return }
        let ids = found.values.map(\.stageRunID)
        let runs = try? registry.stageRunOrigins(ids: ids)
        known.lock.withLock {
            known.entries.merge(found) { _, new in new }
            known.entriesAsked.formUnion(todo)
            if let runs {
                for (id, r) in runs {
                    known.producers[id] = r.runID
                    known.producerFacts[id] = (r.cacheKey, r.inputs, r.job)
                }
                known.producersAsked.formUnion(ids)
            }
        }
    }

    /// Reads the last completed stage run of these stages in one registry call.
    func prefetchPrevious(stages: [String]) {
        let asked = known.lock.withLock { known.previousAsked }
        let todo = stages.filter { !asked.contains($0) }
        guard !todo.isEmpty, let found = try? registry.lastCompletedStageRuns(pipeline: pipeline.name, stages: todo) else { return }
        known.lock.withLock {
            known.previous.merge(found) { _, new in new }
            known.previousAsked.formUnion(todo)
        }
    }

    /// The inputs the stage last completed with (what "why did it run" compares with).
    func previousInputs(of stage: String) -> CacheInputs? {
        let cached: StageRunRecord?? = known.lock.withLock { known.previousAsked.contains(stage) ? .some(known.previous[stage]) : nil }
        let prev: StageRunRecord?
        if let cached { prev = cached } else { prev = try? registry.lastCompletedStageRun(pipeline: pipeline.name, stage: stage) }
        guard let json = prev?.inputs else { return nil }
        return try? JSONDecoder().decode(CacheInputs.self, from: Data(json.utf8))
    }

    /// The registry has been asked about this key (it has an entry or not).
    func hasAsked(_ key: String) -> Bool {
        known.lock.withLock { known.entriesAsked.contains(key) }
    }

    /// A cache entry for `key` whose outputs are all still in the store (a
    /// read that fails counts as a miss: the stage then runs).
    func usableCacheEntry(_ key: String) -> CacheEntry? {
        let cached: CacheEntry?? = known.lock.withLock { known.entriesAsked.contains(key) ? .some(known.entries[key]) : nil }
        let entry: CacheEntry?
        if let cached { entry = cached } else { entry = try? registry.cacheEntry(key: key) }
        guard let entry else { return nil }
        if known.lock.withLock({ known.stored.contains(key) }) { return entry }
        guard entry.outputs.values.allSatisfy(store.contains) else { return nil }
        known.lock.withLock { _ = known.stored.insert(key) }
        return entry
    }

    /// A stage run whose results a run reuses after one of its own stage runs
    /// saved them (it ran): later look-ups see it.
    func remember(_ entry: CacheEntry) {
        known.lock.withLock {
            known.entries[entry.key] = entry
            known.entriesAsked.insert(entry.key)
        }
    }

    /// The run that produced a cache entry, when known.
    func producingRun(of entry: CacheEntry) -> Int64? {
        let cached: Int64?? = known.lock.withLock { known.producersAsked.contains(entry.stageRunID) ? .some(known.producers[entry.stageRunID]) : nil }
        if let cached { return cached }
        return (try? registry.stageRun(id: entry.stageRunID))??.runID
    }

    /// The inputs (JSON) recorded by the stage run that made `entry`, when
    /// read with the entries: the same inputs as any stage with its key.
    func recordedInputs(of entry: CacheEntry) -> String? {
        guard let made = known.lock.withLock({ known.producerFacts[entry.stageRunID] }), made.key == entry.key else { return nil }
        return made.inputs
    }

    /// Puts a cache entry's outs in place: an out already there with the
    /// right content stays as it is, the others are restored from the store.
    /// `containment` answers for symlinks when many entries are restored at once.
    func restoreOutputs(of entry: CacheEntry, containment: FileSystem.Containment? = nil) throws {
        for (path, hash) in entry.outputs.sorted(by: { $0.key < $1.key }) {
            if containment.map({ $0.linkStatus(path) != nil }) ?? FileSystem.exists(workspace.absolute(path)),
               containment?.staysInside(path) ?? FileSystem.staysInside(root: workspace.root, relative: path),
               (try? hasher.hash(path, containment: containment)) == hash { continue }
            try store.restore(path, hash: hash)
        }
    }

    /// Why `stage`, restored from `entry`, did not run, in words.
    func restoredReason(_ entry: CacheEntry, stage: StageSpec) -> String {
        let id = entry.stageRunID
        var made: (run: Int64?, job: String?)? = known.lock.withLock {
            known.producersAsked.contains(id) ? (known.producers[id], known.producerFacts[id]?.job) : nil
        }
        if made == nil { made = (try? registry.stageRun(id: id)).map { ($0?.runID, $0?.job) } ?? (nil, nil) }
        var reason = "same inputs as " + (made?.run.map { "run \($0)" } ?? "an earlier run")
        // The executor is not an input: a result from the other kind counts, and says so.
        // (A handle that starts with the stage's own executor is not parsed: the common case, once per restored stage.)
        let kind = stage.executor.kind.rawValue
        if stage.builtin == nil, let job = made?.job, !job.hasPrefix(kind + ":"),
           let ranOn = JobHandle(job)?.executor, ranOn != kind {
            reason += " (which ran on \(ranOn); the executor is not part of the cache key)"
        }
        return reason + ": outs restored from the store"
    }

    func preload() {
        hasher.preload(pipeline.stages.flatMap { $0.deps.map(\.value) + $0.env.map(\.value) + $0.cachedOutputs })
    }
}
