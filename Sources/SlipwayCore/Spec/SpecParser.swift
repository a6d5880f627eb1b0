import Yams

/// Reads `slipway.yaml` text into a ``WorkspaceSpec``.
///
/// Parsing never stops at the first problem: every unknown key, wrong type,
/// unknown stage in `needs`, cycle, clashing out and bad path is collected and
/// thrown together as ``SpecErrors``, each with its file, line, column and key.
public struct SpecParser {
    public static let topLevelKeys = ["project", "registry", "store", "pipelines", "environments", "policy", "monitors", "signing"]
    public static let signingKeys = ["key", "signers"]
    public static let packageConfigKeys = ["entrypoint", "cmd", "env", "labels", "exposed_ports", "workdir", "user"]
    public static let pipelineKeys = ["stages", "triggers", "model", "description", "max_concurrent_runs", "executor"]
    public static let monitorKeys = ["reference", "env", "features", "method", "threshold", "drift_share", "cooldown", "pipeline",
                                     "incoming", "label", "prediction", "task", "performance", "description"]
    public static let stageKeys = ["cmd", "uses", "deps", "params", "outs", "metrics", "needs",
                                   "timeout", "env", "gates", "baseline", "on_no_baseline", "description", "executor", "matrix"]
    public static let environmentKeys = ["deploy", "canary", "description", "requires", "auto", "timeout", "rollback_when", "watch"]
    public static let canaryKeys = ["steps", "interval", "analysis", "max_inconclusive", "measure", "min_samples"]
    public static let analysisKeys = ["cmd", "http", "prometheus", "value", "fail_if", "pass_if"]
    public static let prometheusKeys = ["address", "query", "version_label", "version_value"]
    public static let measureKeys = ["every", "count", "failure_limit", "inconclusive_limit", "consecutive_error_limit"]
    public static let minSamplesKeys = ["at_least", "cmd", "http", "prometheus", "value"]

    let file: String
    private var issues: [SpecIssue] = []

    public init(file: String = "slipway.yaml") { self.file = file }

    /// Parses and checks the spec. `params` (from `params.yaml`), when given,
    /// is used to report params that stages read but the file does not define.
    public static func parse(_ text: String, file: String = "slipway.yaml", params: Params? = nil) throws(SpecErrors) -> WorkspaceSpec {
        var parser = SpecParser(file: file)
        let spec = parser.read(text)
        if let spec {
            parser.issues += SpecChecks.check(spec, params: params)
        }
        if !parser.issues.isEmpty { throw SpecErrors(parser.issues) }
        return spec!
    }

    // MARK: - Reading

    private mutating func read(_ text: String) -> WorkspaceSpec? {
        let root: Node?
        do {
            // Tags are never asked for: every number, bool and null is read
            // from the text (`Node.int`, `.float`, `Self.bool`, `isNull`).
            root = try BoundedYAML.compose(text, file: file, resolver: .basic)
        } catch {
            issues.append(contentsOf: error.issues)
            return nil
        }
        guard let root else {
            issues.append(SpecIssue(file: file, line: 1, column: 1, keyPath: "", message: "is empty; it needs at least `project:` and `pipelines:`"))
            return nil
        }
        guard let top = mapping(root, "") else { return nil }
        checkKeys(top, allowed: Self.topLevelKeys, path: "")

        var spec = WorkspaceSpec(file: file, project: "")
        if let project = value(top, "project") {
            spec.project = string(project, "project") ?? ""
        } else {
            issues.append(issue(root, "project", "is missing: name the project, e.g. `project: my-model`"))
        }
        if let registry = value(top, "registry"), let url = string(registry, "registry") {
            if let problem = RegistrySetting.problem(url) {
                issues.append(issue(registry, "registry", problem))
            } else {
                spec.registry = Located(url, at: loc(registry))
            }
        }
        if let store = value(top, "store"), let path = string(store, "store") {
            if let problem = StoreSetting.problem(path) {
                issues.append(issue(store, "store", problem))
            } else {
                spec.store = Located(path, at: loc(store))
            }
        }
        if let pipelines = value(top, "pipelines"), let map = mapping(pipelines, "pipelines") {
            for (key, node) in map {
                guard let name = self.name(key, "pipelines", what: "pipeline") else { continue }
                if let p = pipeline(name, node, key) { spec.pipelines.append(p) }
            }
            if map.count == 0 { issues.append(issue(pipelines, "pipelines", "declares no pipeline")) }
        } else if value(top, "pipelines") == nil {
            issues.append(issue(root, "pipelines", "is missing: declare at least one pipeline"))
        }
        if let envs = value(top, "environments"), let map = mapping(envs, "environments") {
            for (key, node) in map {
                guard let name = self.name(key, "environments", what: "environment") else { continue }
                let path = "environments.\(name)"
                var env = EnvironmentSpec(name: name, location: loc(key), settings: specValue(node))
                env.plan.requires = spec.environments.last?.name
                if case .scalar(let s) = node, s.string.isEmpty || s.string == "~" || s.string == "null" {
                    // `staging:` with nothing: every default.
                } else if let m = mapping(node, path) {
                    checkKeys(m, allowed: Self.environmentKeys, path: path)
                    if let d = value(m, "deploy") { env.deploy = string(d, path + ".deploy") }
                    environmentPlan(m, path, into: &env.plan)
                }
                spec.environments.append(env)
            }
            let names = spec.environments.map(\.name)
            for env in spec.environments {
                if let r = env.plan.requires, !names.contains(r) {
                    issues.append(SpecIssue(at: env.location, file: file, keyPath: "environments.\(env.name).requires",
                                                         message: "environment '\(r)' is not declared" + didYouMean(r, names)))
                } else if env.plan.requires == env.name {
                    issues.append(SpecIssue(at: env.location, file: file, keyPath: "environments.\(env.name).requires",
                                                         message: "an environment cannot require itself"))
                }
            }
            issues += requiresCycles(spec.environments)
        }
        if let signing = value(top, "signing"), let m = mapping(signing, "signing") {
            checkKeys(m, allowed: Self.signingKeys, path: "signing")
            if let k = value(m, "key") { spec.signing.key = string(k, "signing.key") }
            for line in strings(m, "signers", "signing") {
                do {
                    spec.signing.signers.append(Located(try SSHSig.PublicKey(line: line.value), at: line.location))
                } catch {
                    issues.append(SpecIssue(at: line.location, file: file, keyPath: "signing.signers", message: error.message))
                }
            }
        }
        if let policy = value(top, "policy") {
            if let m = mapping(policy, "policy") {
                spec.policy = specValue(policy)
                spec.rules = self.policy(m)
            }
        }
        if let monitors = value(top, "monitors"), let map = mapping(monitors, "monitors") {
            for (key, node) in map {
                guard let name = self.name(key, "monitors", what: "monitor") else { continue }
                if let m = mapping(node, "monitors.\(name)"), let monitor = monitor(name, m, node, key) { spec.monitorSpecs.append(monitor) }
                spec.monitors.append(.init(key: name, value: specValue(node)))
            }
        }
        let monitorNames = spec.monitorSpecs.map(\.name)
        let pipelineNames = spec.pipelines.map(\.name)
        for m in spec.monitorSpecs {
            if let p = m.pipeline, !pipelineNames.contains(p) {
                issues.append(SpecIssue(at: m.location, file: file, keyPath: "monitors.\(m.name).pipeline",
                                        message: "unknown pipeline '\(p)'" + didYouMean(p, pipelineNames)))
            }
            if let e = m.environment, !spec.environments.map(\.name).contains(e) {
                issues.append(SpecIssue(at: m.location, file: file, keyPath: "monitors.\(m.name).env",
                                        message: "environment '\(e)' is not declared" + didYouMean(e, spec.environments.map(\.name))))
            }
        }
        for p in spec.pipelines {
            for case .drift(let name) in p.triggers where !monitorNames.contains(name) {
                issues.append(SpecIssue(at: p.location, file: file, keyPath: "pipelines.\(p.name).triggers",
                                        message: "{drift: \(name)} names no monitor" + didYouMean(name, monitorNames)
                                            + (monitorNames.isEmpty ? "; declare it under monitors:" : "")))
            }
        }
        // A package stage's result depends on the key it signs with: part of its cache key.
        if let key = spec.signing.key {
            for p in spec.pipelines.indices {
                for s in spec.pipelines[p].stages.indices where spec.pipelines[p].stages[s].builtin == .package {
                    spec.pipelines[p].stages[s].options["signing_key"] = .string(key)
                }
            }
        }
        return spec
    }

    /// Environments whose `requires` lead back to themselves (staging needs
    /// production, which needs staging): no version could ever reach them.
    /// Each cycle is reported once, at its first environment.
    private func requiresCycles(_ environments: [EnvironmentSpec]) -> [SpecIssue] {
        let byName = Dictionary(environments.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var found: [SpecIssue] = []
        var reported: Set<String> = []
        for env in environments where env.plan.requires != env.name && !reported.contains(env.name) {
            var chain = [env.name]
            var next = env.plan.requires
            while let name = next, let required = byName[name], !chain.contains(name) {
                chain.append(name)
                next = required.plan.requires
            }
            guard next == env.name, chain.count > 1 else { continue }
            reported.formUnion(chain)
            found.append(SpecIssue(at: env.location, file: file, keyPath: "environments.\(env.name).requires",
                                   message: "environments require each other in a cycle: \((chain + [env.name]).joined(separator: " → ")); "
                                       + "no version could reach them (end the chain with `requires: none`)"))
        }
        return found
    }

    private mutating func pipeline(_ name: String, _ node: Node, _ key: Node) -> PipelineSpec? {
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
                    pipeline.stages += matrixMembers(of: s, matrixNode, path: "\(path).stages.\(stageName)")
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
    private mutating func matrixMembers(of template: StageSpec, _ node: Node, path: String) -> [StageSpec] {
        var expander = MatrixExpander(file: file)
        let members = expander.expand(template, node, path: path)
        issues += expander.issues
        return members
    }

    /// `executor:` (its parsing lives in ExecutorSpec.swift).
    private mutating func executor(_ node: Node, _ path: String) -> (spec: ExecutorSpec, namesKind: Bool)? {
        var parser = ExecutorSpecParser(file: file)
        let parsed = parser.parse(node, path: path)
        issues += parser.issues
        return parsed
    }

    private mutating func triggers(_ node: Node, _ path: String) -> [TriggerSpec] {
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

    private mutating func stage(_ name: String, _ node: Node, _ key: Node, path: String) -> StageSpec? {
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
        let common = Set(Self.stageKeys).subtracting(["description"])
        for (k, v) in map {
            guard let key = k.string, !common.contains(key) else { continue }
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

    // MARK: - Node helpers

    private func loc(_ node: Node) -> SourceLocation? {
        node.mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) }
    }

    private func issue(_ node: Node, _ keyPath: String, _ message: String) -> SpecIssue {
        SpecIssue(file: file, mark: node.mark, keyPath: keyPath, message: message)
    }

    private func value(_ map: Node.Mapping, _ key: String) -> Node? {
        for (k, v) in map where k.string == key { return v }
        return nil
    }

    private mutating func mapping(_ node: Node, _ path: String) -> Node.Mapping? {
        if case .mapping(let m) = node { return m }
        issues.append(issue(node, path, "must be a mapping (key: value), found \(kind(node))"))
        return nil
    }

    private mutating func sequence(_ node: Node, _ path: String) -> Node.Sequence? {
        if case .sequence(let s) = node { return s }
        issues.append(issue(node, path, "must be a list, found \(kind(node))"))
        return nil
    }

    private mutating func string(_ node: Node, _ path: String) -> String? {
        if case .scalar(let s) = node {
            if s.style == .plain, s.string.isEmpty || s.string == "~" || s.string == "null" {
                issues.append(issue(node, path, "is empty"))
                return nil
            }
            return s.string
        }
        issues.append(issue(node, path, "must be a string, found \(kind(node))"))
        return nil
    }

    /// A list of strings; a single string is accepted as a list of one.
    private mutating func strings(_ map: Node.Mapping, _ key: String, _ path: String) -> [Located<String>] {
        guard let node = value(map, key) else { return [] }
        let p = "\(path).\(key)"
        if case .scalar = node {
            return string(node, p).map { [Located($0, at: loc(node))] } ?? []
        }
        guard let seq = sequence(node, p) else { return [] }
        var result: [Located<String>] = []
        for (i, item) in seq.enumerated() {
            if let s = string(item, "\(p)[\(i)]") { result.append(Located(s, at: loc(item))) }
        }
        return result
    }

    private mutating func paths(_ map: Node.Mapping, _ key: String, _ path: String, writing: Bool) -> [Located<String>] {
        guard let node = value(map, key) else { return [] }
        let p = "\(path).\(key)"
        let items: [Node]
        if case .scalar = node { items = [node] } else if let seq = sequence(node, p) { items = Array(seq) } else { return [] }
        var result: [Located<String>] = []
        for (i, item) in items.enumerated() {
            let ip = node.sequence != nil ? "\(p)[\(i)]" : p
            if case .scalar(let s) = item, s.style == .plain, Self.mayReadAsNumberOrBool(s.string),
               item.int != nil || item.float != nil || Self.bool(item) != nil {
                issues.append(issue(item, ip, "must be a path or a list of paths, found \(kind(item)) (quote it if a file has that name)"))
                continue
            }
            if let raw = string(item, ip), let normal = checkedPath(raw, item, ip, writing: writing) {
                result.append(Located(normal, at: loc(item)))
            }
        }
        return result
    }

    /// The path in normal form, or nil with an issue: it leaves the
    /// workspace, or names git's or Slipway's own files (which a stage may
    /// neither read nor, with `writing`, write and delete).
    private mutating func checkedPath(_ raw: String, _ node: Node, _ path: String, writing: Bool) -> String? {
        switch WorkspacePath.normalize(raw) {
        case .success(let p):
            if let reason = WorkspacePath.reserved(p, writing: writing) {
                issues.append(issue(node, path, "'\(raw)' \(reason): " + (writing ? "Slipway may not write or delete it" : "Slipway may not read it for a stage")))
                return nil
            }
            return p
        case .failure(let problem):
            issues.append(issue(node, path, "'\(raw)' \(problem)"))
            return nil
        }
    }

    private mutating func checkKeys(_ map: Node.Mapping, allowed: [String], path: String) {
        for (k, _) in map {
            guard let key = k.string else { continue }
            if !allowed.contains(key) {
                let p = path.isEmpty ? key : "\(path).\(key)"
                issues.append(issue(k, p, "unknown key" + didYouMean(key, allowed)))
            }
        }
    }

    private mutating func environmentPlan(_ m: Node.Mapping, _ path: String, into plan: inout DeploymentPlan) {
        if let r = value(m, "requires") {
            if case .scalar(let s) = r, s.string.isEmpty || s.string == "~" || s.string == "null" || s.string == "none" {
                plan.requires = nil
            } else if let s = string(r, path + ".requires") {
                plan.requires = s
            }
        }
        if let a = value(m, "auto") {
            if let b = Self.bool(a) { plan.auto = b } else { issues.append(issue(a, path + ".auto", "must be true or false")) }
        }
        if let t = value(m, "timeout") { plan.timeoutSeconds = duration(t, path + ".timeout", positive: true) ?? plan.timeoutSeconds }
        if let w = value(m, "watch") { plan.watchSeconds = duration(w, path + ".watch", positive: false) ?? 0 }
        if let r = value(m, "rollback_when") { plan.rollbackWhen = analysis(r, path + ".rollback_when") }
        if !plan.rollbackWhen.isEmpty, plan.watchSeconds == 0, let r = value(m, "rollback_when") {
            issues.append(issue(r, path + ".watch", "is missing: `rollback_when` is watched for `watch:` (e.g. `watch: 30m`) after the version is live"))
        }
        guard let c = value(m, "canary"), let cm = mapping(c, path + ".canary") else { return }
        let cpath = path + ".canary"
        checkKeys(cm, allowed: Self.canaryKeys, path: cpath)
        var steps: [Int] = []
        if let s = value(cm, "steps"), let seq = sequence(s, cpath + ".steps") {
            for (i, item) in seq.enumerated() {
                guard let n = item.int, n >= 1, n <= 100 else {
                    issues.append(issue(item, "\(cpath).steps[\(i)]", "must be a whole percent from 1 to 100"))
                    continue
                }
                if let last = steps.last, n <= last {
                    issues.append(issue(item, "\(cpath).steps[\(i)]", "steps must increase (\(last) then \(n))"))
                }
                steps.append(n)
            }
            if steps.last != 100 && !steps.isEmpty { steps.append(100) }
        } else if value(cm, "steps") == nil {
            issues.append(issue(c, cpath + ".steps", "is missing: the traffic percent at each step, e.g. `steps: [10, 50, 100]`"))
        }
        let interval = value(cm, "interval").flatMap { duration($0, cpath + ".interval", positive: false) } ?? 300
        let analysis = value(cm, "analysis").map { self.analysis($0, cpath + ".analysis") } ?? []
        var canary = CanarySpec(steps: steps, intervalSeconds: interval, analysis: analysis)
        if let n = value(cm, "max_inconclusive") {
            if let v = n.int, v >= 1 { canary.maxInconclusive = v } else { issues.append(issue(n, cpath + ".max_inconclusive", "must be a whole number ≥ 1")) }
        }
        if let n = value(cm, "measure"), let mm = mapping(n, cpath + ".measure") { canary.measure = measurePlan(mm, cpath + ".measure") }
        if let n = value(cm, "min_samples"), let mm = mapping(n, cpath + ".min_samples") { canary.minSamples = minSamples(mm, n, cpath + ".min_samples") }
        if (canary.measure != nil || canary.minSamples != nil) && analysis.isEmpty, let n = value(cm, "measure") ?? value(cm, "min_samples") {
            issues.append(issue(n, cpath + ".analysis", "is missing: `measure:` and `min_samples:` measure the canary's `analysis:`"))
        }
        plan.canary = canary
    }

    /// `{every: 30s, count: 5, failure_limit: 0, inconclusive_limit: 0, consecutive_error_limit: 2}`.
    private mutating func measurePlan(_ m: Node.Mapping, _ path: String) -> MeasurePlan {
        checkKeys(m, allowed: Self.measureKeys, path: path)
        var plan = MeasurePlan()
        if let e = value(m, "every") { plan.everySeconds = duration(e, path + ".every", positive: false) ?? plan.everySeconds }
        func whole(_ key: String, minimum: Int) -> Int? {
            guard let n = value(m, key) else { return nil }
            guard let v = n.int, v >= minimum else {
                issues.append(issue(n, "\(path).\(key)", "must be a whole number ≥ \(minimum)"))
                return nil
            }
            return v
        }
        if let v = whole("count", minimum: 1) { plan.count = v }
        if let v = whole("failure_limit", minimum: 0) { plan.failureLimit = v }
        if let v = whole("inconclusive_limit", minimum: 0) { plan.inconclusiveLimit = v }
        if let v = whole("consecutive_error_limit", minimum: 0) { plan.consecutiveErrorLimit = v }
        if plan.failureLimit >= plan.count, let n = value(m, "failure_limit") {
            issues.append(issue(n, path + ".failure_limit", "\(plan.failureLimit) tolerates every one of the \(plan.count) measurements failing: it must be below `count`"))
        }
        return plan
    }

    /// `{prometheus: {…} | cmd | http, value, at_least: 50}`.
    private mutating func minSamples(_ m: Node.Mapping, _ node: Node, _ path: String) -> MinSamples? {
        checkKeys(m, allowed: Self.minSamplesKeys, path: path)
        guard let source = analysisSource(m, node, path) else { return nil }
        var result = MinSamples(source: source, atLeast: 1)
        if let vp = value(m, "value"), let text = string(vp, path + ".value") {
            do { _ = try JSONValuePath.parse(text); result.valuePath = text } catch { issues.append(issue(vp, path + ".value", error.message)) }
        }
        guard let a = value(m, "at_least") else {
            issues.append(issue(node, path + ".at_least", "is missing: the fewest requests a canary is judged on, e.g. `at_least: 100`"))
            return nil
        }
        guard let s = a.string, let v = Double(s), v.isFinite, v >= 0 else {
            issues.append(issue(a, path + ".at_least", "must be a number ≥ 0"))
            return nil
        }
        result.atLeast = v
        return result
    }

    private mutating func duration(_ node: Node, _ path: String, positive: Bool) -> Double? {
        guard let text = string(node, path) else { return nil }
        guard let s = Durations.seconds(from: text), !positive || s > 0 else {
            issues.append(issue(node, path, Durations.problem(text) ?? "'\(text)' is not a duration (30s, 5m, 1h)"))
            return nil
        }
        return s
    }

    /// `{METRIC: {cmd|http, value, fail_if, pass_if}, …}`, or one source whose
    /// conditions name their metric: `{cmd: ./probe.sh, fail_if: "error_rate > 0.02"}`.
    private mutating func analysis(_ node: Node, _ path: String) -> [AnalysisCheck] {
        guard let m = mapping(node, path) else { return [] }
        if value(m, "cmd") != nil || value(m, "http") != nil || value(m, "prometheus") != nil {
            checkKeys(m, allowed: Self.analysisKeys, path: path)
            guard let source = analysisSource(m, node, path) else { return [] }
            var checks: [AnalysisCheck] = []
            for key in ["fail_if", "pass_if"] {
                for line in strings(m, key, path) {
                    let parts = line.value.trimmingWhitespace().split(separator: " ", maxSplits: 1).map(String.init)
                    guard parts.count == 2, !(parts[0].first.map { "<>=!".contains($0) } ?? true) else {
                        issues.append(SpecIssue(at: line.location, file: file, keyPath: "\(path).\(key)",
                                                message: "'\(line.value)' must name its metric, e.g. \"error_rate > 0.02\""))
                        continue
                    }
                    guard let condition = gateCondition(parts[1], line.location, "\(path).\(key)") else { continue }
                    if let i = checks.firstIndex(where: { $0.metric == parts[0] }) {
                        if key == "fail_if" { checks[i].failIf = condition } else { checks[i].passIf = condition }
                    } else {
                        checks.append(AnalysisCheck(metric: parts[0], source: source,
                                                    failIf: key == "fail_if" ? condition : nil, passIf: key == "pass_if" ? condition : nil))
                    }
                }
            }
            if checks.isEmpty { issues.append(issue(node, path, "needs `fail_if:` or `pass_if:`, e.g. fail_if: \"error_rate > 0.02\"")) }
            return checks
        }
        var checks: [AnalysisCheck] = []
        for (k, v) in m {
            guard let metric = k.string, let vm = mapping(v, "\(path).\(k.string ?? "")") else { continue }
            let p = "\(path).\(metric)"
            checkKeys(vm, allowed: Self.analysisKeys, path: p)
            guard let source = analysisSource(vm, v, p) else { continue }
            var check = AnalysisCheck(metric: metric, source: source)
            if let vp = value(vm, "value"), let text = string(vp, p + ".value") {
                do { _ = try JSONValuePath.parse(text); check.valuePath = text } catch { issues.append(issue(vp, p + ".value", error.message)) }
            }
            if let f = value(vm, "fail_if"), let t = string(f, p + ".fail_if") { check.failIf = gateCondition(t, loc(f), p + ".fail_if") }
            if let f = value(vm, "pass_if"), let t = string(f, p + ".pass_if") { check.passIf = gateCondition(t, loc(f), p + ".pass_if") }
            if check.failIf == nil && check.passIf == nil {
                issues.append(issue(v, p, "needs `fail_if:` or `pass_if:` (e.g. fail_if: \"> 0.02\")"))
            }
            checks.append(check)
        }
        return checks
    }

    private mutating func analysisSource(_ m: Node.Mapping, _ node: Node, _ path: String) -> AnalysisCheck.Source? {
        if let c = value(m, "cmd"), let s = string(c, path + ".cmd") { return .command(s) }
        if let h = value(m, "http"), let s = string(h, path + ".http") {
            guard s.hasPrefix("http://") || s.hasPrefix("https://") else {
                issues.append(issue(h, path + ".http", "'\(s)' must be an http:// or https:// address"))
                return nil
            }
            return .http(s)
        }
        if let p = value(m, "prometheus"), let pm = mapping(p, path + ".prometheus") {
            let ppath = path + ".prometheus"
            checkKeys(pm, allowed: Self.prometheusKeys, path: ppath)
            guard let a = value(pm, "address"), let address = string(a, ppath + ".address") else {
                if value(pm, "address") == nil { issues.append(issue(p, ppath + ".address", "is missing: Prometheus's address, e.g. http://127.0.0.1:9090")) }
                return nil
            }
            guard address.hasPrefix("http://") || address.hasPrefix("https://"), !address.contains("?") else {
                issues.append(issue(a, ppath + ".address", "'\(address)' must be an http:// or https:// address without a query"))
                return nil
            }
            guard let q = value(pm, "query"), let query = string(q, ppath + ".query"), !query.trimmingWhitespace().isEmpty else {
                if value(pm, "query") == nil { issues.append(issue(p, ppath + ".query", "is missing: the PromQL to ask, with ${SLIPWAY_ANALYSIS_VERSION}")) }
                return nil
            }
            var source = PrometheusSource(address: address, query: query)
            if let l = value(pm, "version_label"), let label = string(l, ppath + ".version_label") {
                guard !label.isEmpty, label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                    issues.append(issue(l, ppath + ".version_label", "'\(label)' is not a Prometheus label name"))
                    return nil
                }
                source.versionLabel = label
            }
            if let v = value(pm, "version_value"), let text = string(v, ppath + ".version_value") {
                guard text.contains(PrometheusSource.versionToken) else {
                    issues.append(issue(v, ppath + ".version_value", "'\(text)' must contain ${SLIPWAY_ANALYSIS_VERSION}"))
                    return nil
                }
                if value(pm, "version_label") == nil {
                    issues.append(issue(v, ppath + ".version_label", "is missing: `version_value` is the value of the `version_label` label"))
                }
                source.versionValue = text
            }
            if source.versionLabel == nil && !source.dependsOnVersion {
                issues.append(issue(q, ppath + ".query", "names no version: use ${SLIPWAY_ANALYSIS_VERSION} in it, or `version_label:` to pick each version's series"))
                return nil
            }
            return .prometheus(source)
        }
        if value(m, "prometheus") != nil { return nil }
        issues.append(issue(node, path, "needs a source: `cmd:` (prints JSON), `http:` (GET returning JSON) or `prometheus:` (an instant query)"))
        return nil
    }

    private mutating func gateCondition(_ text: String, _ location: SourceLocation?, _ path: String) -> GateCondition? {
        do { return try GateCondition(parsing: text) } catch {
            issues.append(SpecIssue(at: location, file: file, keyPath: path, message: error.message))
            return nil
        }
    }

    private mutating func monitor(_ name: String, _ m: Node.Mapping, _ node: Node, _ key: Node) -> MonitorSpec? {
        let path = "monitors.\(name)"
        checkKeys(m, allowed: Self.monitorKeys, path: path)
        var reference: MonitorSpec.Reference?
        if let r = value(m, "reference") {
            if case .mapping(let rm) = r {
                checkKeys(rm, allowed: ["model"], path: path + ".reference")
                if let model = value(rm, "model").flatMap({ string($0, path + ".reference.model") }) { reference = .model(model) }
                else { issues.append(issue(r, path + ".reference", "is `{model: NAME}` or a dataset path")) }
            } else if let s = string(r, path + ".reference") {
                if let normal = checkedPath(s, r, path + ".reference", writing: false) { reference = .dataset(normal) }
            }
        } else {
            issues.append(issue(node, path + ".reference", "is missing: the data production batches are compared with (a dataset, or {model: NAME})"))
        }
        var mon = MonitorSpec(name: name, reference: reference ?? .dataset(""))
        mon.location = loc(key)
        if let e = value(m, "env") { mon.environment = string(e, path + ".env") }
        func driftMethod(_ n: Node, _ p: String) -> DataSchema.DriftMethod? {
            guard let s = string(n, p) else { return nil }
            guard let method = DataSchema.DriftMethod(rawValue: s) else {
                issues.append(issue(n, p, "unknown drift method '\(s)'" + didYouMean(s, DataSchema.DriftMethod.allCases.map(\.rawValue))))
                return nil
            }
            return method
        }
        if let n = value(m, "method") { mon.method = driftMethod(n, path + ".method") }
        if let n = value(m, "threshold") {
            if let v = n.float, v.isFinite, v >= 0 { mon.threshold = v } else { issues.append(issue(n, path + ".threshold", "must be a number ≥ 0")) }
        }
        if let f = value(m, "features") {
            if case .mapping(let fm) = f {
                for (k, v) in fm {
                    guard let feature = k.string else { continue }
                    mon.features.append(feature)
                    if case .mapping(let rm) = v {
                        checkKeys(rm, allowed: ["method", "threshold"], path: "\(path).features.\(feature)")
                        let method = value(rm, "method").flatMap { driftMethod($0, "\(path).features.\(feature).method") } ?? mon.method ?? .psi
                        let threshold = value(rm, "threshold")?.float ?? method.defaultThreshold
                        mon.rules[feature] = DataSchema.DriftRule(method: method, threshold: threshold)
                    }
                }
            } else {
                mon.features = strings(m, "features", path).map(\.value)
            }
        }
        if let n = value(m, "drift_share") {
            if let v = n.float, v > 0, v <= 1 { mon.driftShare = v } else { issues.append(issue(n, path + ".drift_share", "must be a share in (0, 1]")) }
        }
        if let n = value(m, "cooldown") { mon.cooldownSeconds = duration(n, path + ".cooldown", positive: false) ?? mon.cooldownSeconds }
        if let n = value(m, "pipeline") { mon.pipeline = string(n, path + ".pipeline") }
        if let n = value(m, "incoming"), let s = string(n, path + ".incoming") {
            // Files are moved about in it: written, not only read.
            if let normal = checkedPath(s, n, path + ".incoming", writing: true) { mon.incoming = normal }
        }
        if let n = value(m, "label") { mon.label = string(n, path + ".label") }
        if let n = value(m, "prediction") { mon.prediction = string(n, path + ".prediction") }
        if let n = value(m, "task"), let s = string(n, path + ".task") {
            if let t = MonitorSpec.Task(rawValue: s) { mon.task = t } else { issues.append(issue(n, path + ".task", "is classification or regression")) }
        }
        if let n = value(m, "performance"), let pm = mapping(n, path + ".performance") {
            checkKeys(pm, allowed: Self.performanceKeys, path: path + ".performance")
            let metric = value(pm, "metric").flatMap { string($0, path + ".performance.metric") } ?? (mon.task == .classification ? "accuracy" : "mae")
            if !["accuracy", "error_rate", "mae"].contains(metric) {
                issues.append(issue(n, path + ".performance.metric", "'\(metric)' is not accuracy, error_rate or mae"))
            }
            var rule = MonitorSpec.PerformanceRule(metric: metric)
            rule.limit = (value(pm, "below") ?? value(pm, "above"))?.float
            rule.dropMoreThan = value(pm, "drop_more_than")?.float
            if rule.limit == nil && rule.dropMoreThan == nil {
                issues.append(issue(n, path + ".performance", "needs `below:` (or `above:`) or `drop_more_than:`"))
            }
            if mon.label == nil || mon.prediction == nil {
                issues.append(issue(n, path + ".performance", "needs `label:` and `prediction:` columns in the batches"))
            }
            mon.performance = rule
        }
        return mon  // with a bad reference the parse fails anyway; its other keys are still checked
    }

    public static let approverKeys = ["name", "user", "key"]
    public static let policyEnvironmentKeys = ["required_approvals", "expires"]
    public static let performanceKeys = ["metric", "below", "above", "drop_more_than"]

    /// Every key list the parser checks, by where it applies (docs/slipway-yaml.md is checked against it).
    public static var allKeyLists: [String: [String]] {
        var lists: [String: [String]] = [
            "top level": topLevelKeys, "signing": signingKeys, "package config": packageConfigKeys, "pipeline": pipelineKeys,
            "stage": stageKeys, "environment": environmentKeys, "canary": canaryKeys, "analysis": analysisKeys,
            "prometheus": prometheusKeys, "measure": measureKeys, "min_samples": minSamplesKeys,
            "monitor": monitorKeys, "policy": policyKeys, "rules": ruleKinds, "approver": approverKeys,
            "policy environment": policyEnvironmentKeys, "performance": performanceKeys, "executor": ExecutorSpec.keys,
        ]
        for b in BuiltinStage.allCases { lists["uses: \(b.rawValue)"] = b.optionKeys }
        return lists
    }

    static let policyKeys = ["high_risk_when", "low_risk_when", "approvers", "required_approvals", "expires", "environments"]
    static let ruleKinds = ["params_changed", "tag", "metric_drop", "env", "data_changed", "always"]

    private mutating func policy(_ m: Node.Mapping) -> PolicySpec {
        var p = PolicySpec()
        checkKeys(m, allowed: Self.policyKeys, path: "policy")
        p.highRiskWhen = rules(m, "high_risk_when")
        p.lowRiskWhen = rules(m, "low_risk_when")
        if let n = value(m, "required_approvals") {
            if let v = n.int, v >= 1 { p.requiredApprovals = v } else { issues.append(issue(n, "policy.required_approvals", "must be a whole number ≥ 1")) }
        }
        if let e = value(m, "expires"), let text = string(e, "policy.expires") {
            if let s = Durations.seconds(from: text), s > 0 { p.expiresSeconds = s } else {
                issues.append(issue(e, "policy.expires", Durations.problem(text, example: "7d, 36h") ?? "'\(text)' is not a duration (7d, 36h)"))
            }
        }
        if let a = value(m, "approvers"), let seq = sequence(a, "policy.approvers") {
            for (i, item) in seq.enumerated() {
                let path = "policy.approvers[\(i)]"
                guard let am = mapping(item, path) else { continue }
                checkKeys(am, allowed: Self.approverKeys, path: path)
                guard let nameNode = value(am, "name"), let name = string(nameNode, path + ".name") else {
                    issues.append(issue(item, path + ".name", "is missing: each approver has a name"))
                    continue
                }
                let users = strings(am, "user", path).map(\.value)
                guard let keyNode = value(am, "key"), let keyText = string(keyNode, path + ".key") else {
                    issues.append(issue(item, path + ".key", "is missing: the approver's SSH public key (ssh-ed25519 AAAA…)"))
                    continue
                }
                do {
                    let key = try SSHSig.PublicKey(line: keyText)
                    if p.approvers.contains(where: { $0.key.raw == key.raw }) {
                        issues.append(issue(keyNode, path + ".key", "this key already belongs to another approver"))
                    }
                    p.approvers.append(PolicySpec.Approver(name: name, users: users, key: key))
                } catch {
                    issues.append(issue(keyNode, path + ".key", error.message))
                }
            }
        }
        if let e = value(m, "environments"), let em = mapping(e, "policy.environments") {
            for (k, v) in em {
                guard let env = k.string, let vm = mapping(v, "policy.environments.\(env)") else { continue }
                checkKeys(vm, allowed: Self.policyEnvironmentKeys, path: "policy.environments.\(env)")
                var o = PolicySpec.Override()
                if let n = value(vm, "required_approvals")?.int, n >= 1 { o.requiredApprovals = n }
                if let e = value(vm, "expires"), let t = string(e, "policy.environments.\(env).expires") {
                    if let s = Durations.seconds(from: t), s > 0 { o.expiresSeconds = s } else {
                        issues.append(issue(e, "policy.environments.\(env).expires", Durations.problem(t, example: "7d, 36h") ?? "'\(t)' is not a duration (7d, 36h)"))
                    }
                }
                p.environments[env] = o
            }
        }
        return p
    }

    private mutating func rules(_ m: Node.Mapping, _ key: String) -> [PolicySpec.Rule] {
        guard let node = value(m, key), let seq = sequence(node, "policy.\(key)") else { return [] }
        var out: [PolicySpec.Rule] = []
        for (i, item) in seq.enumerated() {
            let path = "policy.\(key)[\(i)]"
            if case .scalar(let s) = item, s.string == "always" { out.append(.always); continue }
            guard let rm = mapping(item, path) else { continue }
            checkKeys(rm, allowed: Self.ruleKinds, path: path)
            for (k, v) in rm {
                switch k.string {
                case "params_changed": out.append(.paramsChanged(strings(rm, "params_changed", path).map(\.value)))
                case "data_changed": out.append(.dataChanged(strings(rm, "data_changed", path).map(\.value)))
                case "tag": if let t = string(v, path + ".tag") { out.append(.tag(t)) }
                case "env": if let e = string(v, path + ".env") { out.append(.env(e)) }
                case "always": out.append(.always)
                case "metric_drop":
                    guard let dm = mapping(v, path + ".metric_drop") else { continue }
                    guard let metric = value(dm, "metric").flatMap({ string($0, path + ".metric_drop.metric") }),
                          let more = value(dm, "more_than")?.float else {
                        issues.append(issue(v, path + ".metric_drop", "needs `metric:` and a number `more_than:`"))
                        continue
                    }
                    out.append(.metricDrop(metric: metric, moreThan: more))
                default: continue
                }
            }
        }
        return out
    }

    /// The name a mapping key gives (a pipeline, stage, environment, monitor),
    /// refused unless it is a plain string of the safe set: names become file
    /// names (logs) and reach terminals.
    private mutating func name(_ key: Node, _ path: String, what: String) -> String? {
        guard case .scalar(let s) = key else {
            issues.append(issue(key, path, "a \(what) name must be a string, found \(kind(key))"))
            return nil
        }
        return checkedName(s.string, key, "\(path).\(s.string)", what: what) ? s.string : nil
    }

    private mutating func checkedName(_ name: String, _ node: Node, _ path: String, what: String) -> Bool {
        if let problem = SafeName.problem(name) {
            issues.append(issue(node, path, "\(what) name \(problem)"))
            return false
        }
        return true
    }

    private func didYouMean(_ word: String, _ candidates: [String]) -> String {
        Suggestions.closest(to: word, in: candidates).map { " (did you mean '\($0)'?)" } ?? ""
    }

    /// False for text no YAML number or bool can be written as: a path with
    /// a `/`, or with a character no number, bool, `inf` or `nan` has. Those
    /// skip the costlier readings as `Int`, `Double` and `Bool`.
    static func mayReadAsNumberOrBool(_ text: String) -> Bool {
        !text.utf8.contains { b in
            !(b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") || b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")
              || b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") || "._+-:()".utf8.contains(b))
        }
    }

    /// A plain scalar YAML 1.1 reads as a bool (`true`, `yes`, `on`, … in the
    /// resolver's spellings). Read from the text: under the `.basic` resolver
    /// every plain scalar is tagged `str`, which `Node.bool` refuses.
    static func bool(_ node: Node) -> Bool? {
        guard case .scalar(let s) = node, s.style == .plain else { return nil }
        switch s.string {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return true
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return false
        default: return nil
        }
    }

    /// A plain scalar YAML reads as null (`~`, `null`, nothing).
    static func isNull(_ s: Node.Scalar) -> Bool {
        s.string.isEmpty || s.style == .plain && ["~", "null", "Null", "NULL"].contains(s.string)
    }

    private func kind(_ node: Node) -> String {
        switch node {
        case .scalar(let s):
            if Self.isNull(s) { return "nothing" }
            return "'\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    private func specValue(_ node: Node) -> SpecValue {
        switch node {
        case .scalar(let s):
            if s.style == .plain {
                if Self.isNull(s) { return .null }
                if let b = Self.bool(node) { return .bool(b) }
                if let i = node.int { return .number(Double(i)) }
                if let f = node.float { return .number(f) }
            }
            return .string(s.string)
        case .sequence(let seq): return .list(seq.map(specValue))
        case .mapping(let m): return .map(m.map { .init(key: $0.key.string ?? "", value: specValue($0.value)) })
        case .alias: return .null
        }
    }
}
