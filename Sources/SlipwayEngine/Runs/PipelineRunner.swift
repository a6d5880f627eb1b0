import Foundation
import SlipwayStore

/// Runs one pipeline. The parts:
/// - planning is ``RunPlanner`` (core, pure) over ``StageFacts`` (hashes, cache);
/// - scheduling is ``SchedulerState`` (core, a value): what may start, what a
///   failure or cancel settles;
/// - each stage is a ``StageExecution`` on its own thread, on the ``Executor``;
/// - the model version is registered (``ModelRegistration``) in the same
///   transaction that finishes the run.
///
/// This type only drives them and records the run's life in the registry.
public final class PipelineRunner: @unchecked Sendable {
    public struct Options: Sendable {
        public var jobs: Int
        public var force: Bool
        public var trigger: String
        /// Build the package as this version (`slipway reproduce`), into a
        /// registry where that number means nothing: no version check.
        public var packageVersion: Int?
        /// Queued trigger events this run starts (claimed when the run is created).
        public var claiming: [Int64]
        /// The pipeline's deploy stage promotes the version the run makes.
        /// Off for a sweep's members: they are candidates, and the winner is
        /// promoted once the sweep is ranked.
        public var deploys: Bool

        public init(jobs: Int = ProcessInfo.processInfo.activeProcessorCount, force: Bool = false, trigger: String = "manual",
                    packageVersion: Int? = nil, claiming: [Int64] = [], deploys: Bool = true) {
            self.jobs = max(1, jobs)
            self.force = force
            self.trigger = trigger
            self.packageVersion = packageVersion
            self.claiming = claiming
            self.deploys = deploys
        }
    }

    public enum Failure: SlipwayError {
        public var exitStatus: ExitStatus { .usage }
        case unknownPipeline(String, available: [String])
        case noPipelineNamed

        public var description: String {
            switch self {
            case .unknownPipeline(let name, let available):
                let hint = Suggestions.closest(to: name, in: available).map { " (did you mean '\($0)'?)" } ?? ""
                return "no pipeline '\(name)' in slipway.yaml\(hint); pipelines: \(available.joined(separator: ", "))"
            case .noPipelineNamed:
                return "slipway.yaml has several pipelines: name the one to run"
            }
        }
    }

    /// The trigger events a triggered run was to start were started by another
    /// run meanwhile: nothing to do (not an error for whoever launched it).
    public struct TriggersAlreadyStarted: SlipwayError {
        public var reason: String
        public var exitStatus: ExitStatus { .success }
        public var description: String { reason }
    }

    /// The registry refused a write the run's record depends on. The run is
    /// stopped; what was recorded stays; the command exits 4.
    public struct RegistryWriteFailed: SlipwayError {
        public var runID: Int64
        public var underlying: String
        public var exitStatus: ExitStatus { .internalError }
        public var description: String { "run \(runID): the registry could not record the run: \(underlying)" }
    }

    let workspace: Workspace
    let loaded: LoadedSpec
    let pipeline: PipelineSpec
    let graph: StageGraph
    let registry: any Registry
    let executors: Executors
    let cancellation: CancellationFlag
    let reporter: (any RunReporter)?
    let builtins: [BuiltinStage: any BuiltinStageHandler]
    let facts: StageFacts
    let tracking: (any TrackingEndpointFactory)?
    /// Params given for this run only (`run --set`, a sweep member).
    let overrides: [ParamOverride]
    /// The pipeline's stages by name.
    let stages: StagesByName

    public init(workspace: Workspace, loaded: LoadedSpec, pipeline name: String?, registry: any Registry,
                executor: any Executor = ProcessExecutor(), cancellation: CancellationFlag = CancellationFlag(),
                reporter: (any RunReporter)? = nil,
                builtins: [BuiltinStage: any BuiltinStageHandler]? = nil, executors: Executors? = nil,
                tracking: (any TrackingEndpointFactory)? = nil, overrides: [ParamOverride] = []) throws {
        var loaded = loaded
        loaded.params = ParamOverrides.apply(overrides, to: loaded.params)
        self.overrides = overrides
        let names = loaded.spec.pipelines.map(\.name)
        let chosen: PipelineSpec
        if let name {
            guard let p = loaded.spec.pipeline(named: name) else { throw Failure.unknownPipeline(name, available: names) }
            chosen = p
        } else {
            guard loaded.spec.pipelines.count == 1 else { throw Failure.noPipelineNamed }
            chosen = loaded.spec.pipelines[0]
        }
        self.workspace = workspace
        self.loaded = loaded
        self.pipeline = chosen
        self.graph = StageGraph(pipeline: chosen)
        self.registry = registry
        self.executors = executors ?? Executors(local: executor)
        self.cancellation = cancellation
        self.reporter = reporter
        self.tracking = tracking
        self.builtins = builtins ?? [.validate: ValidateStage(), .package: PackageStage(),
                                     .deploy: DeployStage(environments: loaded.spec.environments.map(\.name))]
        self.facts = StageFacts(pipeline: chosen, params: loaded.params, registry: registry, workspace: workspace)
        self.stages = StagesByName(chosen.stages)
    }

    public var pipelineName: String { pipeline.name }

    /// What a run would do now, stage by stage (for `run --explain`).
    public func plan(force: Bool = false) -> [StagePlan] {
        facts.preload()
        defer { facts.hasher.flush() }
        let current = currentInputs()
        return plan(force: force, inputs: current.inputs, keys: current.keys).stages
    }

    /// Every stage's inputs as the workspace is now, and the cache key of each
    /// stage whose inputs are all there. Called before any command of the run
    /// starts: each folder is resolved once per pass. A big pipeline is done
    /// in two halves on two threads (a stat per dep and a digest per stage,
    /// each half with its own pass); a stage named twice keeps its last entry, as one pass would.
    func currentInputs() -> (inputs: [String: RunPlanner.StageInputs], keys: [String: String]) {
        let all = pipeline.stages
        let parts = all.count >= Self.stagesPerThread * 2 ? 2 : 1
        let found = InputsFound(parts: parts)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let mine = all[all.count * part / parts ..< all.count * (part + 1) / parts]
            let containment = FileSystem.Containment(root: workspace.root, expecting: mine.reduce(0) { $0 + $1.deps.count + $1.env.count })
            var inputs: [(String, RunPlanner.StageInputs, String?)] = []
            inputs.reserveCapacity(mine.count)
            for stage in mine {
                let input = facts.inputs(of: stage, containment: containment)
                if case .ready(let i) = input { inputs.append((stage.name, input, i.key)) } else { inputs.append((stage.name, input, nil)) }
            }
            found.set(part, inputs)
        }
        var inputs: [String: RunPlanner.StageInputs] = [:]
        var keys: [String: String] = [:]
        inputs.reserveCapacity(all.count)
        keys.reserveCapacity(all.count)
        for part in found.parts {
            for (name, input, key) in part {
                inputs[name] = input
                keys[name] = key
            }
        }
        return (inputs, keys)
    }

    /// Below twice this many stages, one thread works out the inputs (a second costs more than it saves).
    static let stagesPerThread = 200

    /// The plan for these inputs. The registry is read in bulk: the cache
    /// entries of every key at once (and of the keys a restore changes, a
    /// level at a time: ``RunPlanner/plan(pipeline:graph:inputs:read:readAll:lookUp:previous:force:keys:rounds:differsNow:)``),
    /// then the previous inputs of every stage that misses the cache at once.
    func plan(force: Bool, inputs: [String: RunPlanner.StageInputs], keys: [String: String]) -> RunPlanner.Plan {
        if !force { facts.prefetchCache(keys: Array(keys.values)) }
        var prefetched = false
        func result(_ entry: CacheEntry?) -> RunPlanner.StoredResult? {
            entry.map { .init(run: facts.producingRun(of: $0), outputs: $0.outputs) }
        }
        return RunPlanner.plan(pipeline: pipeline, graph: graph, inputs: inputs,
                               read: { key in facts.hasAsked(key) ? .some(result(facts.usableCacheEntry(key))) : nil },
                               readAll: { facts.prefetchCache(keys: $0) },
                               lookUp: { result(facts.usableCacheEntry($0)) },
                               previous: { name in
                                   if !prefetched {
                                       prefetched = true
                                       let known = facts.known.lock.withLock { facts.known.entries }
                                       facts.prefetchPrevious(stages: keys.filter { force || known[$0.value] == nil }.map(\.key).sorted())
                                   }
                                   return facts.previousInputs(of: name)
                               }, force: force, keys: keys,
                               differsNow: { path, hash in (try? facts.hasher.hash(path)) != hash })
    }
}

/// The halves ``PipelineRunner/currentInputs()`` works out, one slot per thread.
private final class InputsFound: @unchecked Sendable {
    private let lock = NSLock()
    private var found: [[(String, RunPlanner.StageInputs, String?)]]

    init(parts: Int) { found = Array(repeating: [], count: parts) }

    func set(_ part: Int, _ inputs: [(String, RunPlanner.StageInputs, String?)]) {
        lock.withLock { found[part] = inputs }
    }

    /// Read once every thread is done.
    var parts: [[(String, RunPlanner.StageInputs, String?)]] { lock.withLock { found } }
}
