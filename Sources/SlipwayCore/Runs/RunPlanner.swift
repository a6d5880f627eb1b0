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

    /// A stored result a stage can be given: the run that made it (nil when
    /// unknown) and the content hash of each of its outs.
    public struct StoredResult: Sendable, Hashable {
        public var run: Int64?
        public var outputs: [String: String]
        public init(run: Int64?, outputs: [String: String]) {
            self.run = run
            self.outputs = outputs
        }
    }

    /// A run's plan, with the inputs and cache keys it was decided by: a
    /// stage downstream of a cached one is planned with what the restore
    /// will put in place, not with what the workspace holds now.
    public struct Plan: Sendable {
        public var stages: [StagePlan]
        public var inputs: [String: StageInputs]
        public var keys: [String: String]
    }

    /// What a run would do now, stage by stage in DAG order.
    ///
    /// A cached stage's outs are restored before what follows it is decided.
    /// So a dep that is one of those outs is planned with the stored result's
    /// hash: after a param is set back to an earlier value, `a` restores its
    /// old out, and `b`, which reads it, must be planned (and restored) with
    /// that out, not with the one the workspace holds now. A dep that holds
    /// such an out, or lies inside one, cannot be hashed before the restore
    /// when the restore changes it: its stage is decided then
    /// (``StagePlan/Decision/afterRestore(_:)``).
    ///
    /// - Parameters:
    ///   - inputs: each stage's inputs as the workspace is now.
    ///   - stored: for a cache key with a usable stored result, that result; nil for a miss.
    ///   - previous: each stage's inputs in its last completed run.
    ///   - keys: the cache keys of `inputs`, by stage, when the caller has
    ///     them already (the others are computed).
    ///   - differsNow: whether the workspace's content at a path differs from
    ///     a hash (asked only of restored outs that overlap a dep without being
    ///     it, once per path).
    public static func plan(pipeline: PipelineSpec, graph: StageGraph, inputs: [String: StageInputs],
                            stored: (String) -> StoredResult?, previous: (String) -> CacheInputs?,
                            force: Bool, keys: [String: String] = [:],
                            differsNow: (_ path: String, _ hash: String) -> Bool = { _, _ in true }) -> Plan {
        var willRun: Set<String> = []
        var plans: [StagePlan] = []
        var inputs = inputs
        var keys = keys
        let stages = Set(pipeline.stages.map(\.name))
        // What the stages write, and the folders that hold some of it.
        let writers = StageGraph.writers(of: pipeline.stages)
        var restoring = RestoredOuts()
        var differs: [String: Bool] = [:]
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
                // Some stage writes it when one of its outs is the path, a folder above it or a path inside it.
                if writers.below[path] != nil || WorkspacePath.selfAndAncestors(path).contains(where: { writers.at[$0] != nil }) {
                    willRun.insert(name)
                    plans.append(StagePlan(stage: name, decision: .run(reasons: ["dep \(path) will be restored or rebuilt"])))
                } else {
                    plans.append(StagePlan(stage: name, decision: .blocked("dep \(path) does not exist")))
                }
            case .ready(var i):
                if !restoring.isEmpty {
                    switch restoring.apply(to: &i, differsNow: { path, hash in
                        // Nothing changes the workspace while it plans: a folder is
                        // hashed once however many stages read inside it (a matrix over its shards).
                        if let known = differs[path] { return known }
                        let answer = differsNow(path, hash)
                        differs[path] = answer
                        return answer
                    }) {
                    case .unchanged: break
                    case .changed:
                        inputs[name] = .ready(i)
                        keys[name] = i.key
                    case .unknown(let by):
                        willRun.insert(name)
                        inputs[name] = nil
                        keys[name] = nil
                        plans.append(StagePlan(stage: name, decision: .afterRestore(by)))
                        continue
                    }
                }
                let key = keys[name] ?? i.key
                if !force, let result = stored(key) {
                    restoring.add(result.outputs, by: name)
                    plans.append(StagePlan(stage: name, decision: .cached(fromRun: result.run)))
                } else {
                    willRun.insert(name)
                    plans.append(StagePlan(stage: name, decision: .run(reasons: reasons(inputs: i, previous: previous(name), forced: force))))
                }
            }
        }
        return Plan(stages: plans, inputs: inputs, keys: keys)
    }

    /// ``plan(pipeline:graph:inputs:stored:previous:force:keys:differsNow:)``
    /// with the stored results read in bulk. A stage after a cached one may be
    /// planned with another key than the workspace gives it; the plan is made
    /// again with such keys read together, up to `rounds` times (each round
    /// reaches one level further down), and only then are the keys still
    /// unread looked up one by one. After a param is set back, a matrix of
    /// 1,000 members below the restored stage costs one more read, not 1,000.
    ///
    /// - Parameters:
    ///   - read: the result for a key the store has been asked about
    ///     (`.some(nil)`: a miss), nil for a key not asked yet.
    ///   - readAll: asks the store about these keys at once.
    ///   - lookUp: asks the store about one key.
    public static func plan(pipeline: PipelineSpec, graph: StageGraph, inputs: [String: StageInputs],
                            read: (String) -> StoredResult??, readAll: ([String]) -> Void, lookUp: (String) -> StoredResult?,
                            previous: (String) -> CacheInputs?, force: Bool, keys: [String: String] = [:],
                            rounds: Int = 4, differsNow: (_ path: String, _ hash: String) -> Bool = { _, _ in true }) -> Plan {
        if !force {
            for _ in 0..<rounds {
                var unread: [String] = []
                var runs = false
                // A trial: no stage's previous run is read for reasons it may not keep.
                let attempt = plan(pipeline: pipeline, graph: graph, inputs: inputs, stored: { key in
                    guard let known = read(key) else { unread.append(key); return nil }
                    return known
                }, previous: { _ in runs = true; return nil }, force: false, keys: keys, differsNow: differsNow)
                if unread.isEmpty {
                    // Every key was read: the plan stands (a stage that runs is told why).
                    if !runs { return attempt }
                    return plan(pipeline: pipeline, graph: graph, inputs: inputs, stored: { read($0) ?? nil },
                                previous: previous, force: false, keys: keys, differsNow: differsNow)
                }
                readAll(unread)
                // A read that failed answers nothing: looking again would too.
                if unread.allSatisfy({ read($0) == nil }) { break }
            }
        }
        return plan(pipeline: pipeline, graph: graph, inputs: inputs, stored: { read($0) ?? lookUp($0) },
                    previous: previous, force: force, keys: keys, differsNow: differsNow)
    }
}

/// The outs that restoring the plan's cached stages puts in place, and what
/// that does to a later stage's deps.
private struct RestoredOuts {
    /// Out path → (its stored hash, the stage restoring it).
    var outs: [String: (hash: String, by: String)] = [:]
    /// Folder → the restored outs below it.
    var under: [String: [String]] = [:]

    var isEmpty: Bool { outs.isEmpty }

    enum Effect { case unchanged, changed, unknown([String]) }

    mutating func add(_ outputs: [String: String], by stage: String) {
        for (path, hash) in outputs {
            outs[path] = (hash, stage)
            for folder in WorkspacePath.selfAndAncestors(path).dropFirst() { under[folder, default: []].append(path) }
        }
    }

    /// Gives `inputs` the stored hash of each dep (and env file) that is a
    /// restored out; `.unknown` names the stages whose restore changes a dep
    /// that is a folder around their outs, or a path inside one.
    func apply(to inputs: inout CacheInputs, differsNow: (String, String) -> Bool) -> Effect {
        var changed = false
        var by: Set<String> = []
        func look(_ path: String, _ current: String) -> String? {
            if let o = outs[path] {
                if o.hash != current { changed = true }
                return o.hash
            }
            for folder in WorkspacePath.selfAndAncestors(path).dropFirst() {
                if let o = outs[folder], differsNow(folder, o.hash) { by.insert(o.by) }
            }
            for inner in under[path] ?? [] {
                if let o = outs[inner], differsNow(inner, o.hash) { by.insert(o.by) }
            }
            return nil
        }
        for (path, hash) in inputs.deps { if let h = look(path, hash) { inputs.deps[path] = h } }
        for (path, hash) in inputs.envFiles { if let h = look(path, hash) { inputs.envFiles[path] = h } }
        if !by.isEmpty { return .unknown(by.sorted()) }
        return changed ? .changed : .unchanged
    }
}
