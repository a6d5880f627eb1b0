/// The stages of one pipeline as a DAG.
///
/// Edges come from `needs:` and from data: a stage that reads (a path inside)
/// another stage's out, as a dep or an env file, depends on that stage, as in
/// DVC; so does one that reads a folder holding it.
///
/// Every query is linear in the size of the graph (stages plus edges), or
/// `n log n` where an order is chosen: the graph is built from an index of
/// outs by path, and kept as adjacency lists of stage positions both ways.
public struct StageGraph: Sendable {
    /// Stage names in declaration order.
    public let names: [String]
    /// For each stage, the stages it waits for (direct).
    public let upstream: [String: [String]]
    /// The position of each name in `names` (its first, should a name repeat).
    let position: [String: Int]
    /// For each position, the positions it waits for (known stages only).
    let upstreamPositions: [[Int]]
    /// For each position, the positions that wait for it, ascending (declaration order).
    let downstreamPositions: [[Int]]
    /// For each position, how many stages it waits for, unknown names included
    /// (a stage waiting for a stage that does not exist never becomes ready).
    let upstreamCounts: [Int]

    public init(pipeline: PipelineSpec) {
        let stages = pipeline.stages
        let names = stages.map(\.name)
        let position = Self.positions(of: names)
        // Who writes each path: a dep lies inside an out when the out is the
        // dep itself or one of its ancestors, so a dep costs one look-up per
        // path component instead of a scan of every stage. A dep that is a
        // folder holding outs (`deps: [models]`, `outs: [models/a.pkl]`)
        // waits for their stages too: one look-up in `writersBelow`.
        let (writers, writersBelow) = Self.writers(of: stages)
        var up: [String: [String]] = [:]
        up.reserveCapacity(stages.count)
        for (i, stage) in stages.enumerated() {
            var deps: [String] = []
            var seen: Set<String> = []
            for need in stage.needs where position[need.value] != nil && need.value != stage.name {
                if seen.insert(need.value).inserted { deps.append(need.value) }
            }
            var producers: [Int] = []
            for dep in stage.deps + stage.env {
                for path in WorkspacePath.selfAndAncestors(dep.value) {
                    if let w = writers[path] { producers += w }
                }
                if let w = writersBelow[dep.value] { producers += w }
            }
            // In declaration order, as a scan of the stages would find them.
            producers.sort()
            for p in producers where p != i && names[p] != stage.name {
                if seen.insert(names[p]).inserted { deps.append(names[p]) }
            }
            up[stage.name] = deps
        }
        self.init(names: names, upstream: up, position: position)
    }

    /// The stages (positions) writing each out path, and those writing
    /// inside each folder that holds outs.
    public static func writers(of stages: [StageSpec]) -> (at: [String: [Int]], below: [String: [Int]]) {
        var at: [String: [Int]] = [:]
        var below: [String: [Int]] = [:]
        for (i, stage) in stages.enumerated() {
            for out in stage.cachedOutputs {
                at[out, default: []].append(i)
                for folder in WorkspacePath.selfAndAncestors(out).dropFirst() { below[folder, default: []].append(i) }
            }
        }
        return (at, below)
    }

    /// Why `reader` waits for `writer`, for a message: the `needs:`, or the
    /// path it reads that the writer writes (or a folder holding it). Nil when
    /// it does not.
    public static func reason(_ reader: StageSpec, waitsFor writer: StageSpec) -> String? {
        if reader.needs.contains(where: { $0.value == writer.name }) { return "\(reader.name) needs \(writer.name)" }
        for dep in reader.deps + reader.env {
            for out in writer.cachedOutputs {
                if WorkspacePath.selfAndAncestors(dep.value).contains(out) {
                    return "\(reader.name) reads \(dep.value)" + (dep.value == out ? "" : ", inside \(out)") + ", which \(writer.name) writes"
                }
                if WorkspacePath.selfAndAncestors(out).dropFirst().contains(dep.value) {
                    return "\(reader.name) reads \(dep.value), which holds \(writer.name)'s \(out)"
                }
            }
        }
        return nil
    }

    public init(names: [String], upstream: [String: [String]]) {
        self.init(names: names, upstream: upstream, position: Self.positions(of: names))
    }

    private init(names: [String], upstream: [String: [String]], position: [String: Int]) {
        self.names = names
        self.upstream = upstream
        self.position = position
        var ups = [[Int]](repeating: [], count: names.count)
        var downs = [[Int]](repeating: [], count: names.count)
        var counts = [Int](repeating: 0, count: names.count)
        for (i, name) in names.enumerated() {
            let list = upstream[name] ?? []
            counts[i] = list.count
            for u in list {
                guard let p = position[u] else { continue }
                ups[i].append(p)
                // `i` only grows, so a repeated upstream name shows as the last entry.
                if downs[p].last != i { downs[p].append(i) }
            }
        }
        upstreamPositions = ups
        downstreamPositions = downs
        upstreamCounts = counts
    }

    /// Each name's position, its first should it repeat (also ``StagesByName``'s).
    static func positions(of names: [String]) -> [String: Int] {
        var position: [String: Int] = [:]
        position.reserveCapacity(names.count)
        for (i, n) in names.enumerated() where position[n] == nil { position[n] = i }
        return position
    }

    /// Stages that wait for `name` directly, in declaration order.
    public func downstream(of name: String) -> [String] {
        guard let p = position[name] else { return [] }
        return downstreamPositions[p].map { names[$0] }
    }

    /// Every stage that (transitively) waits for `name`.
    public func dependents(of name: String) -> Set<String> {
        guard let start = position[name] else { return [] }
        var seen = [Bool](repeating: false, count: names.count)
        var stack = [start]
        var result: Set<String> = []
        while let n = stack.popLast() {
            for d in downstreamPositions[n] where !seen[d] {
                seen[d] = true
                result.insert(names[d])
                stack.append(d)
            }
        }
        return result
    }

    /// A cycle, as the stage names along it with the first repeated at the end
    /// (`a → b → a`), or nil when the graph is acyclic.
    ///
    /// A depth-first search along "waits for" edges from each stage in
    /// declaration order, with its own stack (a 100,000-stage chain does not
    /// overflow the thread's).
    public func findCycle() -> [String]? {
        enum Mark: UInt8 { case unvisited, visiting, done }
        var marks = [Mark](repeating: .unvisited, count: names.count)
        // The path being walked: each stage with the index of its next upstream edge.
        var path: [(node: Int, next: Int)] = []
        for root in names.indices where marks[root] == .unvisited {
            marks[root] = .visiting
            path.append((root, 0))
            while let (node, next) = path.last {
                let ups = upstreamPositions[node]
                guard next < ups.count else {
                    marks[node] = .done
                    path.removeLast()
                    continue
                }
                path[path.count - 1].next += 1
                let u = ups[next]
                switch marks[u] {
                case .visiting:
                    let start = path.lastIndex { $0.node == u }!
                    // The path runs along "waits for" edges; report it in the
                    // order work would flow and close the loop.
                    let loop = path[start...].reversed().map { names[$0.node] }
                    return loop + [loop[0]]
                case .done:
                    continue
                case .unvisited:
                    marks[u] = .visiting
                    path.append((u, 0))
                }
            }
        }
        return nil
    }

    /// Stages in an order where each comes after everything it waits for;
    /// ties keep declaration order (of the stages ready at once, the one
    /// declared first comes first). Nil when there is a cycle.
    public func topologicalOrder() -> [String]? {
        var remaining = upstreamCounts
        var ready = PositionHeap()
        for i in names.indices where remaining[i] == 0 { ready.insert(i) }
        var order: [String] = []
        order.reserveCapacity(names.count)
        while let n = ready.popMin() {
            order.append(names[n])
            for d in downstreamPositions[n] {
                remaining[d] -= 1
                if remaining[d] == 0 { ready.insert(d) }
            }
        }
        return order.count == names.count ? order : nil
    }
}

/// A binary min-heap of positions (stage indices): the ready stage declared
/// (or ordered) first comes out first, in `log n`.
struct PositionHeap: Sendable, Hashable {
    private var items: [Int] = []

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }

    mutating func insert(_ value: Int) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popMin() -> Int? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, items[left] < items[smallest] { smallest = left }
            if right < items.count, items[right] < items[smallest] { smallest = right }
            guard smallest != parent else { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
