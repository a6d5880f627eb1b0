import Yams

/// Drift monitors and the promotion policy.
extension SpecParser {
    mutating func monitor(_ name: String, _ m: Node.Mapping, _ node: Node, _ key: Node) -> MonitorSpec? {
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

    mutating func policy(_ m: Node.Mapping) -> PolicySpec {
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

    mutating func rules(_ m: Node.Mapping, _ key: String) -> [PolicySpec.Rule] {
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
}
