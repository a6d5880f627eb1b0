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
    /// The keys every stage reads itself; the others are a built-in's options.
    static let commonStageKeys = Set(stageKeys).subtracting(["description"])
    public static let stageKeys = ["cmd", "uses", "deps", "params", "outs", "metrics", "needs",
                                   "timeout", "env", "gates", "baseline", "on_no_baseline", "description", "executor", "matrix"]
    public static let environmentKeys = ["deploy", "canary", "description", "requires", "auto", "timeout", "rollback_when", "watch"]
    public static let canaryKeys = ["steps", "interval", "analysis", "max_inconclusive", "measure", "min_samples"]
    public static let analysisKeys = ["cmd", "http", "prometheus", "value", "fail_if", "pass_if"]
    public static let prometheusKeys = ["address", "query", "version_label", "version_value"]
    public static let measureKeys = ["every", "count", "failure_limit", "inconclusive_limit", "consecutive_error_limit"]
    public static let minSamplesKeys = ["at_least", "cmd", "http", "prometheus", "value"]

    let file: String
    var issues: [SpecIssue] = []
    /// Matrix stages that could not be expanded (their issues said why), by
    /// pipeline: a `needs:` naming one is not also an unknown stage.
    var unexpanded: [String: Set<String>] = [:]

    public init(file: String = "slipway.yaml") { self.file = file }

    /// Parses and checks the spec. `params` (from `params.yaml`), when given,
    /// is used to report params that stages read but the file does not define.
    public static func parse(_ text: String, file: String = "slipway.yaml", params: Params? = nil) throws(SpecErrors) -> WorkspaceSpec {
        var parser = SpecParser(file: file)
        let spec = parser.read(text)
        if let spec {
            parser.issues += SpecChecks.check(spec, params: params, unexpanded: parser.unexpanded)
        }
        if !parser.issues.isEmpty { throw SpecErrors(parser.issues) }
        return spec!
    }

    // MARK: - Reading

    mutating func read(_ text: String) -> WorkspaceSpec? {
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
    func requiresCycles(_ environments: [EnvironmentSpec]) -> [SpecIssue] {
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
}
