/// Planning a run, with no I/O: the whole cache key of a stage is built here,
/// and the decision of which stages run (and why) is made here, from facts
/// the engine gathered (content hashes, the cache, the previous run).
public enum RunPlanner {
    /// A stage's inputs as the workspace is now.
    public enum StageInputs: Sendable, Hashable {
        case ready(CacheInputs)
        /// A dep (or env file) does not exist.
        case missing(path: String)
    }

    /// The cache inputs of `stage`: its command, the content hash of each dep
    /// and env file (from `hashes`), the value of each param it declares
    /// (absent params read as empty), its built-in options and gates, and its outs.
    public static func inputs(of stage: StageSpec, hashes: [String: String], params: Params) -> StageInputs {
        var deps: [String: String] = [:]
        var env: [String: String] = [:]
        for d in stage.deps {
            guard let h = hashes[d.value] else { return .missing(path: d.value) }
            deps[d.value] = h
        }
        for e in stage.env {
            guard let h = hashes[e.value] else { return .missing(path: e.value) }
            env[e.value] = h
        }
        var values: [String: String] = [:]
        for p in stage.params { values[p.value] = params[p.value] ?? "" }
        // A matrix member's values are its own params (`matrix.lr`).
        if let m = stage.matrix { for (a, v) in zip(m.axes, m.values) { values["matrix." + a] = v } }
        var builtin = ""
        if let b = stage.builtin {
            builtin = "uses=" + b.rawValue + " " + SpecValue.map(stage.options.map { .init(key: $0.key, value: $0.value) }).canonical
        }
        let gates = stage.gates.map { "\($0.metric)\u{1F}\($0.condition.text)" }.sorted().joined(separator: "\u{1E}")
        if !gates.isEmpty { builtin += " gates=" + gates }
        return .ready(CacheInputs(command: stage.command?.value ?? "", deps: deps, params: values,
                                  envFiles: env, builtin: builtin, outputs: stage.cachedOutputs))
    }

    /// Why a stage with `inputs` must run.
    public static func reasons(inputs: CacheInputs, previous: CacheInputs?, forced: Bool) -> [String] {
        if forced { return ["forced (--force)"] }
        let changes = inputs.changes(since: previous)
        return changes.isEmpty ? ["outputs of the last run are not in the store"] : changes
    }

    /// What a run would do now, stage by stage in DAG order.
    ///
    /// - Parameters:
    ///   - inputs: each stage's inputs as the workspace is now.
    ///   - cachedRun: for a cache key with a usable stored result, the run that
    ///     produced it (`.some(nil)` when that run is unknown); nil for a miss.
    ///   - previous: each stage's inputs in its last completed run.
    ///   - keys: the cache keys of `inputs`, by stage, when the caller has
    ///     them already (the others are computed).
    public static func plan(pipeline: PipelineSpec, graph: StageGraph, inputs: [String: StageInputs],
                            cachedRun: (String) -> Int64??, previous: (String) -> CacheInputs?,
                            force: Bool, keys: [String: String] = [:]) -> [StagePlan] {
        var willRun: Set<String> = []
        var plans: [StagePlan] = []
        let stages = Set(pipeline.stages.map(\.name))
        var written: Set<String> = []
        for s in pipeline.stages { written.formUnion(s.cachedOutputs) }
        plans.reserveCapacity(pipeline.stages.count)
        for name in graph.topologicalOrder() ?? graph.names {
            guard stages.contains(name) else { continue }
            let runningUps = graph.upstream[name, default: []].filter(willRun.contains)
            if !runningUps.isEmpty {
                willRun.insert(name)
                plans.append(StagePlan(stage: name, decision: .afterUpstream(runningUps)))
                continue
            }
            switch inputs[name] ?? .missing(path: "?") {
            case .missing(let path):
                // Some stage writes it when one of its outs is the path or a folder above it.
                if WorkspacePath.selfAndAncestors(path).contains(where: written.contains) {
                    willRun.insert(name)
                    plans.append(StagePlan(stage: name, decision: .run(reasons: ["dep \(path) will be restored or rebuilt"])))
                } else {
                    plans.append(StagePlan(stage: name, decision: .blocked("dep \(path) does not exist")))
                }
            case .ready(let i):
                if !force, let run = cachedRun(keys[name] ?? i.key) {
                    plans.append(StagePlan(stage: name, decision: .cached(fromRun: run)))
                } else {
                    willRun.insert(name)
                    plans.append(StagePlan(stage: name, decision: .run(reasons: reasons(inputs: i, previous: previous(name), forced: force))))
                }
            }
        }
        return plans
    }
}
