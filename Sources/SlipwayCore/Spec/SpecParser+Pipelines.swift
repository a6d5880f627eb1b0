import Yams

/// Pipelines and their stages: `needs`, matrices, executors, triggers.
extension SpecParser {
    mutating func pipeline(_ name: String, _ node: Node, _ key: Node) -> PipelineSpec? {
        let path = "pipelines.\(name)"
        guard let map = mapping(node, path) else { return nil }
        checkKeys(map, allowed: Self.pipelineKeys, path: path)
        var pipeline = PipelineSpec(name: name, location: loc(key), stages: [])
        if let model = value(map, "model"), let m = string(model, path + ".model") {
            pipeline.model = checkedName(m, model, path + ".model", what: "model") ? m : nil
        }
        if let triggers = value(map, "triggers") {
            pipeline.triggers = self.triggers(triggers, path + ".triggers")
        }
        if let n = value(map, "max_concurrent_runs") {
            if let v = n.int, v >= 1 { pipeline.maxConcurrentRuns = v } else { issues.append(issue(n, path + ".max_concurrent_runs", "must be a whole number ≥ 1")) }
        }
        var stageExecutors: [String: (spec: ExecutorSpec, namesKind: Bool)] = [:]
        if let e = value(map, "executor") { pipeline.executor = executor(e, path + ".executor")?.spec }
        guard let stagesNode = value(map, "stages") else {
            issues.append(issue(node, path + ".stages", "is missing: a pipeline needs at least one stage"))
            return pipeline
        }
        guard let stages = mapping(stagesNode, path + ".stages") else { return pipeline }
        for (k, v) in stages {
            guard let stageName = self.name(k, path + ".stages", what: "stage") else { continue }
            if let s = stage(stageName, v, k, path: "\(path).stages.\(stageName)") {
                if let m = v.mapping, let matrixNode = value(m, "matrix") {
                    let members = matrixMembers(of: s, matrixNode, path: "\(path).stages.\(stageName)")
                    if members.isEmpty { unexpanded[name, default: []].insert(stageName) }
                    pipeline.stages += members
                } else {
                    pipeline.stages.append(s)
                }
                if let m = v.mapping, let e = value(m, "executor") {
                    if s.builtin != nil {
                        issues.append(issue(e, "\(path).stages.\(stageName).executor",
                                            "a built-in stage (`uses:`) runs inside slipway; `executor:` applies to `cmd:` stages"))
                    } else if let parsed = executor(e, "\(path).stages.\(stageName).executor") {
                        stageExecutors[stageName] = parsed
                    }
                }
            }
        }
        if stages.count == 0 { issues.append(issue(stagesNode, path + ".stages", "declares no stage")) }
        MatrixExpander.resolveNeeds(&pipeline.stages)
        // Each command stage runs on its own executor over the pipeline's default.
        for i in pipeline.stages.indices where pipeline.stages[i].builtin == nil {
            let own = stageExecutors[pipeline.stages[i].matrix?.base ?? pipeline.stages[i].name]
            pipeline.stages[i].executor = own.map { $0.spec.over(pipeline.executor, stageSetKind: $0.namesKind) }
                ?? pipeline.executor ?? .local
        }
        return pipeline
    }

    /// The members of a stage with `matrix:` (see ``Matrix``), or none when
    /// the matrix cannot be expanded (with issues saying why).
    mutating func matrixMembers(of template: StageSpec, _ node: Node, path: String) -> [StageSpec] {
        var expander = MatrixExpander(file: file)
        let members = expander.expand(template, node, path: path)
        issues += expander.issues
        return members
    }

    /// `executor:` (its parsing lives in ExecutorSpec.swift).
    mutating func executor(_ node: Node, _ path: String) -> (spec: ExecutorSpec, namesKind: Bool)? {
        var parser = ExecutorSpecParser(file: file)
        let parsed = parser.parse(node, path: path)
        issues += parser.issues
        return parsed
    }

    mutating func triggers(_ node: Node, _ path: String) -> [TriggerSpec] {
        guard let list = sequence(node, path) else { return [] }
        var result: [TriggerSpec] = []
        for (i, item) in list.enumerated() {
            let p = "\(path)[\(i)]"
            if case .scalar(let s) = item {
                switch s.string {
                case "commit": result.append(.commit)
                case "manual": result.append(.manual)
                default:
                    issues.append(issue(item, p, "unknown trigger '\(s.string)'" + didYouMean(s.string, ["commit", "manual"])))
                }
                continue
            }
            guard let m = mapping(item, p), m.count == 1, let (k, v) = m.first, let kind = k.string else {
                issues.append(issue(item, p, "a trigger is `commit`, `manual`, `{data: PATH}`, `{schedule: CRON}` or `{drift: MONITOR}`"))
                continue
            }
            guard let arg = string(v, "\(p).\(kind)") else { continue }
            switch kind {
            case "data":
                if let normal = checkedPath(arg, v, "\(p).data", writing: false) { result.append(.data(path: normal)) }
            case "schedule":
                do { _ = try Cron(arg) } catch { issues.append(issue(v, "\(p).schedule", error.message)) }
                result.append(.schedule(cron: arg))
            case "drift": result.append(.drift(monitor: arg))
            default:
                issues.append(issue(k, "\(p).\(kind)", "unknown trigger" + didYouMean(kind, ["data", "schedule", "drift"])))
            }
        }
        return result
    }

    mutating func stage(_ name: String, _ node: Node, _ key: Node, path: String) -> StageSpec? {
        guard let map = mapping(node, path) else { return nil }
        var stage = StageSpec(name: name, location: loc(key))
        var allowed = Self.stageKeys
        if let uses = value(map, "uses"), let u = string(uses, path + ".uses") {
            if let builtin = BuiltinStage(rawValue: u) {
                stage.builtin = builtin
                allowed += builtin.optionKeys
            } else {
                issues.append(issue(uses, path + ".uses", "unknown built-in stage '\(u)'"
                    + didYouMean(u, BuiltinStage.allCases.map(\.rawValue))
                    + "; built-ins are " + BuiltinStage.allCases.map(\.rawValue).joined(separator: ", ")))
            }
        }
        checkKeys(map, allowed: allowed, path: path)
        if let cmd = value(map, "cmd"), let text = string(cmd, path + ".cmd") {
            if text.trimmingWhitespace().isEmpty {
                issues.append(issue(cmd, path + ".cmd", "is empty"))
            }
            stage.command = Located(text, at: loc(cmd))
        }
        if stage.command != nil && value(map, "uses") != nil {
            issues.append(issue(key, path, "has both `cmd` and `uses`: a stage is either a command or a built-in"))
        } else if stage.command == nil && value(map, "uses") == nil {
            issues.append(issue(key, path, "needs `cmd` (a command to run) or `uses` (a built-in stage)"))
        }
        stage.deps = paths(map, "deps", path, writing: false)
        stage.outs = paths(map, "outs", path, writing: true)
        stage.metrics = paths(map, "metrics", path, writing: true)
        stage.env = paths(map, "env", path, writing: false)
        stage.params = strings(map, "params", path)
        stage.needs = strings(map, "needs", path)
        if let t = value(map, "timeout") {
            if case .scalar(let s) = t, let seconds = Durations.seconds(from: s.string), seconds > 0 {
                stage.timeout = seconds
            } else if case .scalar(let s) = t, Durations.parse(s.string) == .failure(.tooLong) {
                issues.append(issue(t, path + ".timeout", Durations.problem(s.string) ?? ""))
            } else {
                issues.append(issue(t, path + ".timeout", "must be a duration such as `90s`, `30m` or `2h`"))
            }
        }
        if let g = value(map, "gates"), let gm = mapping(g, path + ".gates") {
            for (k, v) in gm {
                guard let metric = k.string, let text = string(v, "\(path).gates.\(metric)") else { continue }
                do {
                    stage.gates.append(GateSpec(metric: metric, condition: try GateCondition(parsing: text), location: loc(v)))
                } catch {
                    issues.append(issue(v, "\(path).gates.\(metric)", error.message))
                }
            }
        }
        if let b = value(map, "baseline"), let env = string(b, path + ".baseline") {
            stage.baseline = env
            stage.options["baseline"] = .string(env)
        }
        if let n = value(map, "on_no_baseline"), let text = string(n, path + ".on_no_baseline") {
            if let policy = NoBaselinePolicy(rawValue: text) {
                stage.onNoBaseline = policy
            } else {
                issues.append(issue(n, path + ".on_no_baseline", "must be `pass` or `fail`, found '\(text)'"))
            }
        }
        forEachPair(map) { k, v in
            guard let key = k.string, !Self.commonStageKeys.contains(key) else { return }
            stage.options[key] = specValue(v)
        }
        if stage.builtin == .package {
            // The image layout the stage writes is its out (default `image`).
            var out = "image"
            if let o = value(map, "out"), let raw = string(o, path + ".out") { out = checkedPath(raw, o, path + ".out", writing: true) ?? out }
            if !stage.outs.contains(where: { $0.value == out }) { stage.outs.append(Located(out, at: loc(key))) }
            stage.options["out"] = .string(out)
            if let c = value(map, "config"), let cm = mapping(c, path + ".config") {
                checkKeys(cm, allowed: Self.packageConfigKeys, path: path + ".config")
            }
            if let b = value(map, "base"), let text = string(b, path + ".base") {
                // `DIR:TAG`, a local OCI layout (the folder is a dep).
                guard let colon = text.lastIndex(of: ":"), colon != text.startIndex, text.index(after: colon) != text.endIndex else {
                    issues.append(issue(b, path + ".base", "must be `DIR:TAG`, a local OCI layout and a tag in it (e.g. base:3.12)"))
                    return stage
                }
                if let normal = checkedPath(String(text[..<colon]), b, path + ".base", writing: false) { stage.deps.append(Located(normal, at: loc(b))) }
            }
        }
        if let builtin = stage.builtin {
            for required in builtin.requiredOptions where value(map, required) == nil {
                issues.append(issue(key, "\(path).\(required)", "is missing: `uses: \(builtin.rawValue)` needs `\(required):`"))
            }
            for option in builtin.pathOptions {
                guard let v = value(map, option) else { continue }
                let items: [Node]
                if case .sequence(let seq) = v { items = Array(seq) } else { items = [v] }
                for (i, item) in items.enumerated() {
                    let p = items.count > 1 || v.sequence != nil ? "\(path).\(option)[\(i)]" : "\(path).\(option)"
                    if let raw = string(item, p), let normal = checkedPath(raw, item, p, writing: false) {
                        stage.deps.append(Located(normal, at: loc(item)))
                    }
                }
            }
        }
        return stage
    }
}
