import Testing
@testable import SlipwayCore

/// The graph algorithms on big generated pipelines, checked against plain
/// reference versions (quadratic, fine at these sizes) and against the rules
/// themselves. Nothing here is timed.
@Suite struct GraphScaleTests {
    /// SplitMix64: the same graphs on every machine.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    /// A random DAG: node k waits for up to `fanIn` nodes made before it;
    /// declared in a shuffled order, so declaration order is not the DAG order.
    static func randomDAG(nodes: Int, fanIn: Int, seed: UInt64) -> StageGraph {
        var rng = Random(state: seed)
        let made = (0..<nodes).map { "n\($0)" }
        var upstream: [String: [String]] = [:]
        for k in 1..<nodes {
            var ups: [String] = []
            for _ in 0..<rng.below(fanIn + 1) {
                let u = made[rng.below(k)]
                if !ups.contains(u) { ups.append(u) }
            }
            upstream[made[k]] = ups
        }
        var declared = made
        for i in stride(from: declared.count - 1, to: 0, by: -1) { declared.swapAt(i, rng.below(i + 1)) }
        return StageGraph(names: declared, upstream: upstream)
    }

    /// The rule itself: of the stages whose upstream all came before, the one
    /// declared first comes next.
    static func referenceOrder(_ g: StageGraph) -> [String]? {
        var placed: Set<String> = []
        var order: [String] = []
        var left = g.names
        while !left.isEmpty {
            guard let i = left.firstIndex(where: { n in g.upstream[n, default: []].allSatisfy(placed.contains) }) else { return nil }
            order.append(left[i])
            placed.insert(left[i])
            left.remove(at: i)
        }
        return order
    }

    static func referenceDownstream(_ g: StageGraph, _ name: String) -> [String] {
        g.names.filter { g.upstream[$0, default: []].contains(name) }
    }

    static func pipeline(_ stages: [StageSpec]) -> PipelineSpec { PipelineSpec(name: "main", stages: stages) }

    @Test func independentStagesKeepDeclarationOrderAtScale() {
        let names = (0..<10_000).map { "s\($0)" }
        let g = StageGraph(pipeline: Self.pipeline(names.enumerated().map { i, n in
            StageSpec(name: n, deps: [Located("in/\(i).txt")], outs: [Located("out/\(i).txt")])
        }))
        #expect(g.topologicalOrder() == names)
        #expect(g.findCycle() == nil)
        #expect(g.upstream.values.allSatisfy { $0.isEmpty })
        #expect(g.downstream(of: "s5000").isEmpty)
    }

    @Test func aLongDataChainDeclaredBackwardsRunsForwards() {
        // Stage i reads a file inside the folder stage i-1 writes; declared last stage first.
        let n = 10_000
        let stages = (0..<n).reversed().map { i in
            StageSpec(name: "s\(i)", deps: i == 0 ? [Located("raw.csv")] : [Located("work/\(i - 1)/part.csv")],
                      outs: [Located("work/\(i)")])
        }
        let g = StageGraph(pipeline: Self.pipeline(stages))
        let order = try! #require(g.topologicalOrder())
        #expect(order == (0..<n).map { "s\($0)" })
        #expect(g.upstream["s1"] == ["s0"])
        #expect(g.upstream["s0"] == [])
        #expect(g.downstream(of: "s9998") == ["s9999"])
        #expect(g.dependents(of: "s9990") == Set((9991..<n).map { "s\($0)" }))
        #expect(g.dependents(of: "s0").count == n - 1)
        #expect(g.findCycle() == nil)
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func randomGraphsMatchTheReference(seed: UInt64) {
        let g = Self.randomDAG(nodes: 600, fanIn: 4, seed: seed)
        let order = g.topologicalOrder()
        #expect(order != nil)
        #expect(order == Self.referenceOrder(g))
        if let order {
            let at = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
            for (n, ups) in g.upstream { for u in ups { #expect(at[u]! < at[n]!) } }
        }
        #expect(g.findCycle() == nil)
        let down = Dictionary(uniqueKeysWithValues: g.names.map { ($0, Self.referenceDownstream(g, $0)) })
        var rng = Random(state: seed &* 7)
        for _ in 0..<50 {
            let n = g.names[rng.below(g.names.count)]
            #expect(g.downstream(of: n) == down[n])
            var seen: Set<String> = []
            var stack = [n]
            while let x = stack.popLast() {
                for d in down[x]! where seen.insert(d).inserted { stack.append(d) }
            }
            #expect(g.dependents(of: n) == seen)
        }
    }

    @Test func dataEdgesMatchAScanOfEveryStage() {
        // Outs at several depths; deps equal to an out, inside one, or beside one.
        var rng = Random(state: 42)
        let n = 400
        var stages: [StageSpec] = []
        for i in 0..<n {
            let out = i % 3 == 0 ? "d\(i % 50)/o\(i)" : "o\(i).bin"
            var deps: [Located<String>] = []
            for _ in 0..<3 {
                let j = rng.below(n)
                switch rng.below(4) {
                case 0: deps.append(Located(j % 3 == 0 ? "d\(j % 50)/o\(j)/x.csv" : "o\(j).bin"))
                case 1: deps.append(Located(j % 3 == 0 ? "d\(j % 50)/o\(j)" : "o\(j).bin.old"))
                case 2: deps.append(Located("d\(j % 50)"))
                default: deps.append(Located("src/\(j).py"))
                }
            }
            let needs = i > 0 && rng.below(5) == 0 ? [Located("s\(rng.below(i))")] : []
            // An env file read is an edge like a dep.
            let k = rng.below(n)
            let env = rng.below(4) == 0 ? [Located(k % 3 == 0 ? "d\(k % 50)/o\(k)" : "o\(k).bin")] : []
            stages.append(StageSpec(name: "s\(i)", deps: deps, outs: [Located(out)], needs: needs, env: env))
        }
        let g = StageGraph(pipeline: Self.pipeline(stages))
        // The rule: needs first (known, not itself), then every other stage
        // with an out the dep lies in, or that lies in the dep, in declaration order, each once.
        for stage in stages {
            var expected: [String] = []
            for need in stage.needs where need.value != stage.name && !expected.contains(need.value) { expected.append(need.value) }
            for other in stages where other.name != stage.name {
                let makes = (stage.deps + stage.env).contains { d in other.cachedOutputs.contains { WorkspacePath.contains($0, d.value) || WorkspacePath.contains(d.value, $0) } }
                if makes, !expected.contains(other.name) { expected.append(other.name) }
            }
            #expect(g.upstream[stage.name] == expected)
        }
    }

    @Test func aCycleInABigGraphIsReportedAlongItsPath() throws {
        // A 10,000-stage chain; s7000 also waits for s7003, closing s7000 → s7001 → s7002 → s7003 → s7000.
        let n = 10_000
        var upstream: [String: [String]] = [:]
        for i in 1..<n { upstream["s\(i)"] = ["s\(i - 1)"] }
        upstream["s7000"]!.append("s7003")
        let g = StageGraph(names: (0..<n).map { "s\($0)" }, upstream: upstream)
        #expect(g.topologicalOrder() == nil)
        let cycle = try #require(g.findCycle())
        // Found from s7000, the first stage on it that is declared; each waits for the one before.
        #expect(cycle == ["s7001", "s7002", "s7003", "s7000", "s7001"])
    }

    @Test func aCycleThroughEveryStageDoesNotExhaustTheStack() throws {
        // One loop through 100,000 stages: a recursive search would need 100,000 frames.
        let n = 100_000
        var upstream: [String: [String]] = ["s0": ["s\(n - 1)"]]
        for i in 1..<n { upstream["s\(i)"] = ["s\(i - 1)"] }
        let g = StageGraph(names: (0..<n).map { "s\($0)" }, upstream: upstream)
        let cycle = try #require(g.findCycle())
        #expect(cycle.count == n + 1)
        #expect(cycle.first == cycle.last)
        // Each step flows along an edge: the next stage waits for the one before.
        for (a, b) in zip(cycle, cycle.dropFirst()) { #expect(upstream[b]!.contains(a)) }
        #expect(g.topologicalOrder() == nil)
    }

    @Test func aSpecCycleIsAClearLintError() {
        var yaml = "project: p\npipelines:\n  main:\n    stages:\n"
        for i in 0..<3_000 { yaml += "      s\(i): {cmd: x, needs: [s\(i == 0 ? 2_999 : i - 1)]}\n" }
        #expect {
            try SpecParser.parse(yaml)
        } throws: { error in
            let issues = (error as? SpecErrors)?.issues ?? []
            guard issues.count == 1, let message = issues.first?.message else { return false }
            // Found from s0, the first stage declared; told in the order work would flow.
            return message.hasPrefix("stages form a cycle: s1 → s2 → s3 → ")
                && message.hasSuffix(" → s2999 → s0 → s1 (s2 needs s1; s3 needs s2; s4 needs s3; …)")
        }
    }

    /// Two stages that read a folder and each write into it wait for each
    /// other, as do two that read each other's env file and out: the message
    /// says which paths tie them.
    @Test func aCycleThroughAFolderOrAnEnvFileNamesThePaths() {
        let yaml = """
        project: p
        pipelines:
          folder:
            stages:
              a: {cmd: x, deps: [data], outs: [data/a.csv]}
              b: {cmd: x, deps: [data], outs: [data/b.csv]}
          env:
            stages:
              c: {cmd: x, deps: [y.txt], outs: [x.env]}
              d: {cmd: x, env: [x.env], outs: [y.txt]}
        """
        var messages: [String] = []
        do { _ = try SpecParser.parse(yaml) } catch { messages = error.issues.map(\.message) }
        #expect(messages.contains("stages form a cycle: b → a → b (a reads data, which holds b's data/b.csv; b reads data, which holds a's data/a.csv)"),
                "\(messages)")
        #expect(messages.contains("stages form a cycle: d → c → d (c reads y.txt, which d writes; d reads x.env, which c writes)"), "\(messages)")
    }

    @Test func clashingOutsInABigSpecNameTheFirstWriter() throws {
        var yaml = "project: p\npipelines:\n  main:\n    stages:\n"
        for i in 0..<2_500 { yaml += "      s\(i): {cmd: x, outs: [out/\(i)]}\n" }
        yaml += "      late: {cmd: x, outs: [out/2000/model.bin, out]}\n"
        yaml += "      typo: {cmd: x, needs: [s24999]}\n"
        var issues: [SpecIssue] = []
        do { _ = try SpecParser.parse(yaml) } catch { issues = error.issues }
        let messages = issues.map(\.message)
        #expect(messages.contains("'out/2000/model.bin' overlaps 'out/2000' written by stage 's2000'; each path has one writer"))
        #expect(messages.contains("'out' overlaps 'out/0' written by stage 's0'; each path has one writer"))
        // A long list of stage names is cut short.
        #expect(messages.contains { $0.hasPrefix("unknown stage 's24999' (did you mean 's2499'?); stages here: s0, s1,") && $0.hasSuffix("s19 and 2482 more") })
    }
}

/// The scheduler at scale, driven side by side with the rules written out
/// plainly (a scan of every stage per step).
@Suite struct SchedulerScaleTests {
    /// The rules as the scheduler states them, one scan per question.
    struct Reference {
        let order: [String]
        let upstream: [String: [String]]
        let jobs: Int
        var phases: [String: SchedulerState.Phase]

        init(graph: StageGraph, jobs: Int) {
            order = graph.topologicalOrder() ?? graph.names
            upstream = graph.upstream
            self.jobs = jobs
            phases = Dictionary(uniqueKeysWithValues: order.map { ($0, .waiting) })
        }

        func status(_ s: String) -> StageStatus? {
            if case .finished(let x) = phases[s] { return x }
            return nil
        }

        mutating func startable() -> [String] {
            var started: [String] = []
            var running = phases.values.filter { $0 == .running }.count
            for n in order where phases[n] == .waiting && running < jobs {
                guard upstream[n, default: []].allSatisfy({ status($0)?.isSuccess == true }) else { continue }
                phases[n] = .running
                running += 1
                started.append(n)
            }
            return started
        }

        mutating func finish(_ stage: String, _ outcome: StageStatus) -> [(stage: String, reason: String)] {
            phases[stage] = .finished(outcome)
            guard !outcome.isSuccess else { return [] }
            var settled: [(stage: String, reason: String)] = []
            for n in order where phases[n] == .waiting {
                let failed = upstream[n, default: []].filter { status($0).map { !$0.isSuccess } ?? false }
                guard !failed.isEmpty else { continue }
                let reason = "upstream \(failed.joined(separator: ", ")) did not succeed"
                phases[n] = .finished(.cancelled)
                settled.append((n, reason))
            }
            return settled
        }
    }

    @Test(arguments: [(UInt64(11), 1), (12, 3), (13, 8)])
    func matchesTheRulesStepByStep(seed: UInt64, jobs: Int) {
        let g = GraphScaleTests.randomDAG(nodes: 600, fanIn: 3, seed: seed)
        var s = SchedulerState(graph: g, jobs: jobs)
        var ref = Reference(graph: g, jobs: jobs)
        var rng = GraphScaleTests.Random(state: seed)
        var running: [String] = []
        var steps = 0
        while !s.isDone {
            let started = s.startable()
            #expect(started == ref.startable())
            running += started
            #expect(s.runningCount == running.count && running.count <= jobs)
            guard !running.isEmpty else { break }
            let stage = running.remove(at: rng.below(running.count))
            // Mostly successes, some from the cache, a few failures.
            let roll = rng.below(100)
            let outcome: StageStatus = roll < 3 ? .failed : roll < 30 ? .cached : .succeeded
            let settled = s.finish(stage, outcome)
            let expected = ref.finish(stage, outcome)
            #expect(settled.map(\.stage) == expected.map(\.stage))
            #expect(settled.map(\.reason) == expected.map(\.reason))
            steps += 1
        }
        #expect(s.isDone)
        #expect(s.phases == ref.phases)
        #expect(steps > 100)
    }

    @Test func aFailureAtTheRootOfAWideGraphSettlesEveryDependentOnce() {
        // s0 feeds 5,000 stages, each feeding one more.
        let n = 5_000
        var upstream: [String: [String]] = [:]
        var names = ["s0"]
        for i in 1...n {
            names += ["a\(i)", "b\(i)"]
            upstream["a\(i)"] = ["s0"]
            upstream["b\(i)"] = ["a\(i)"]
        }
        let g = StageGraph(names: names, upstream: upstream)
        var s = SchedulerState(graph: g, jobs: 4)
        #expect(s.startable() == ["s0"])
        let settled = s.finish("s0", .failed)
        #expect(settled.count == 2 * n)
        #expect(Set(settled.map(\.stage)) == g.dependents(of: "s0"))
        #expect(settled.first { $0.stage == "b7" }?.reason == "upstream a7 did not succeed")
        #expect(s.isDone && s.runStatus == .failed)
    }

    @Test func aStageSettledFromTheCacheReleasesItsDependents() {
        let g = StageGraph(names: ["a", "b", "c"], upstream: ["b": ["a"], "c": ["b"]])
        var s = SchedulerState(graph: g, jobs: 1)
        // The engine restores a and b itself, without starting them.
        s.finish("a", .cached)
        s.finish("b", .cached)
        #expect(s.runningCount == 0)
        #expect(s.startable() == ["c"])
        s.finish("c", .succeeded)
        #expect(s.isDone && s.runStatus == .succeeded)
    }
}

@Suite struct PlanningScaleTests {
    @Test func aChangeAtTheHeadOfALongChainRunsItAndDefersTheRest() {
        let n = 10_000
        let stages = (0..<n).map { i in
            StageSpec(name: "s\(i)", command: Located("step \(i)"),
                      deps: i == 0 ? [Located("raw.csv")] : [Located("out/\(i - 1).txt")], outs: [Located("out/\(i).txt")])
        }
        let p = PipelineSpec(name: "main", stages: stages)
        let g = StageGraph(pipeline: p)
        var inputs: [String: RunPlanner.StageInputs] = [:]
        for (i, s) in stages.enumerated() {
            let dep = s.deps[0].value
            inputs[s.name] = RunPlanner.inputs(of: s, hashes: [dep: i == 0 ? "new" : "h\(i - 1)"], params: Params())
        }
        let plans = RunPlanner.plan(pipeline: p, graph: g, inputs: inputs, stored: { _ in .init(run: 1, outputs: [:]) },
                                    previous: { _ in nil }, force: false).stages
        #expect(plans.map(\.stage) == stages.map(\.name))
        // Everything is in the cache, so the head comes from it and so does the rest.
        #expect(plans.allSatisfy { $0.decision == .cached(fromRun: 1) })
        let head = RunPlanner.plan(pipeline: p, graph: g, inputs: inputs, stored: { _ in nil },
                                   previous: { _ in nil }, force: false).stages
        #expect(head[0].decision == .run(reasons: ["first run"]))
        #expect(head[1].decision == .afterUpstream(["s0"]))
        #expect(head[n - 1].decision == .afterUpstream(["s\(n - 2)"]))
        // A missing dep that a stage makes is rebuilt; one that no stage makes blocks.
        var missing = inputs
        missing["s5"] = .missing(path: "out/4.txt")
        missing["s6"] = .missing(path: "elsewhere.csv")
        let partial = RunPlanner.plan(pipeline: p, graph: g, inputs: missing, stored: { _ in .init(run: nil, outputs: [:]) },
                                      previous: { _ in nil }, force: false).stages
        #expect(partial[5].decision == .run(reasons: ["dep out/4.txt will be restored or rebuilt"]))
        #expect(partial[6].decision == .afterUpstream(["s5"]))
        #expect(partial[4].decision == .cached(fromRun: nil))
    }
}
