/// The stages of one pipeline as a DAG.
///
/// Edges come from `needs:` and from data: a stage that reads (a path inside)
/// another stage's out depends on that stage, as in DVC.
public struct StageGraph: Sendable {
    /// Stage names in declaration order.
    public let names: [String]
    /// For each stage, the stages it waits for (direct).
    public let upstream: [String: [String]]

    public init(pipeline: PipelineSpec) {
        names = pipeline.stages.map(\.name)
        var up: [String: [String]] = [:]
        let known = Set(names)
        for stage in pipeline.stages {
            var deps: [String] = []
            for need in stage.needs where known.contains(need.value) && need.value != stage.name {
                if !deps.contains(need.value) { deps.append(need.value) }
            }
            for other in pipeline.stages where other.name != stage.name {
                let producesInput = stage.deps.contains { dep in
                    other.cachedOutputs.contains { WorkspacePath.contains($0, dep.value) }
                }
                if producesInput, !deps.contains(other.name) { deps.append(other.name) }
            }
            up[stage.name] = deps
        }
        upstream = up
    }

    public init(names: [String], upstream: [String: [String]]) {
        self.names = names
        self.upstream = upstream
    }

    /// Stages that wait for `name` directly.
    public func downstream(of name: String) -> [String] {
        names.filter { upstream[$0, default: []].contains(name) }
    }

    /// Every stage that (transitively) waits for `name`.
    public func dependents(of name: String) -> Set<String> {
        var seen: Set<String> = []
        var stack = [name]
        while let n = stack.popLast() {
            for d in downstream(of: n) where !seen.contains(d) {
                seen.insert(d)
                stack.append(d)
            }
        }
        return seen
    }

    /// A cycle, as the stage names along it with the first repeated at the end
    /// (`a → b → a`), or nil when the graph is acyclic.
    public func findCycle() -> [String]? {
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var path: [String] = []
        func visit(_ n: String) -> [String]? {
            marks[n] = .visiting
            path.append(n)
            for u in upstream[n, default: []] {
                switch marks[u] {
                case .visiting:
                    let start = path.firstIndex(of: u)!
                    // path[start...] runs along "waits for" edges; report it in the
                    // order work would flow and close the loop.
                    let loop = Array(path[start...].reversed())
                    return loop + [loop[0]]
                case .done: continue
                case nil: if let c = visit(u) { return c }
                }
            }
            path.removeLast()
            marks[n] = .done
            return nil
        }
        for n in names where marks[n] == nil {
            if let c = visit(n) { return c }
        }
        return nil
    }

    /// Stages in an order where each comes after everything it waits for;
    /// ties keep declaration order. Nil when there is a cycle.
    public func topologicalOrder() -> [String]? {
        var remaining = Dictionary(uniqueKeysWithValues: names.map { ($0, upstream[$0, default: []].count) })
        var order: [String] = []
        var ready = names.filter { remaining[$0] == 0 }
        while !ready.isEmpty {
            let n = ready.removeFirst()
            order.append(n)
            for d in downstream(of: n) {
                remaining[d]! -= 1
                if remaining[d] == 0 { ready.append(d) }
            }
            ready.sort { names.firstIndex(of: $0)! < names.firstIndex(of: $1)! }
        }
        return order.count == names.count ? order : nil
    }
}
