import Yams

/// Environments: deploy commands, canary steps, measurements and analyses.
extension SpecParser {
    mutating func environmentPlan(_ m: Node.Mapping, _ path: String, into plan: inout DeploymentPlan) {
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
    mutating func measurePlan(_ m: Node.Mapping, _ path: String) -> MeasurePlan {
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
    mutating func minSamples(_ m: Node.Mapping, _ node: Node, _ path: String) -> MinSamples? {
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

    mutating func duration(_ node: Node, _ path: String, positive: Bool) -> Double? {
        guard let text = string(node, path) else { return nil }
        guard let s = Durations.seconds(from: text), !positive || s > 0 else {
            issues.append(issue(node, path, Durations.problem(text) ?? "'\(text)' is not a duration (30s, 5m, 1h)"))
            return nil
        }
        return s
    }

    /// `{METRIC: {cmd|http, value, fail_if, pass_if}, …}`, or one source whose
    /// conditions name their metric: `{cmd: ./probe.sh, fail_if: "error_rate > 0.02"}`.
    mutating func analysis(_ node: Node, _ path: String) -> [AnalysisCheck] {
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

    mutating func analysisSource(_ m: Node.Mapping, _ node: Node, _ path: String) -> AnalysisCheck.Source? {
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

    mutating func gateCondition(_ text: String, _ location: SourceLocation?, _ path: String) -> GateCondition? {
        do { return try GateCondition(parsing: text) } catch {
            issues.append(SpecIssue(at: location, file: file, keyPath: path, message: error.message))
            return nil
        }
    }
}
