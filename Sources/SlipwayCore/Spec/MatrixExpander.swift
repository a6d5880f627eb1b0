import Yams

/// Expands a stage with `matrix:` into its members (``Matrix``), checking the
/// axes, the `${matrix.AXIS}` references and every path a member gets.
///
/// The stage is read once, as a template; each member is a copy with its
/// values put in, so a 10,000-member matrix costs 10,000 string
/// substitutions, not 10,000 readings of YAML. A problem in the template is
/// reported once, not once per member.
struct MatrixExpander {
    let file: String
    var issues: [SpecIssue] = []

    init(file: String) { self.file = file }

    mutating func expand(_ template: StageSpec, _ node: Node, path: String) -> [StageSpec] {
        let mpath = path + ".matrix"
        guard let axes = axes(node, mpath) else { return [] }
        if template.builtin != nil {
            issues.append(SpecIssue(file: file, mark: node.mark, keyPath: mpath,
                                    message: "applies to `cmd:` stages; a built-in stage (`uses:`) has no matrix"))
            return []
        }
        let names = axes.map(\.name)
        let count = Matrix.memberCount(axes)
        guard count <= Matrix.maxMembers else {
            issues.append(SpecIssue(file: file, mark: node.mark, keyPath: mpath,
                                    message: "makes \(count == .max ? "too many" : String(count)) members; at most \(Matrix.maxMembers)"))
            return []
        }
        guard checkReferences(template, axes: names, path: path) else { return [] }

        var members: [StageSpec] = []
        members.reserveCapacity(count)
        var reported: Set<String> = []
        for values in Matrix.combinations(axes) {
            var byAxis: [String: String] = [:]
            for (a, v) in zip(names, values) { byAxis[a] = v }
            var s = template
            s.name = Matrix.memberName(base: template.name, axes: names, values: values)
            s.matrix = MatrixMember(base: template.name, axes: names, values: values)
            if let c = s.command { s.command = Located(Matrix.substitute(c.value, byAxis), at: c.location) }
            s.params = s.params.map { Located(Matrix.substitute($0.value, byAxis), at: $0.location) }
            s.needs = s.needs.map { Located(Matrix.substitute($0.value, byAxis), at: $0.location) }
            var ok = true
            func paths(_ list: [Located<String>], _ key: String, writing: Bool) -> [Located<String>] {
                list.compactMap { p in
                    guard p.value.contains("${matrix.") else { return p }
                    let filled = Matrix.substitute(p.value, byAxis)
                    switch WorkspacePath.normalize(filled) {
                    case .success(let normal):
                        if let reason = WorkspacePath.reserved(normal, writing: writing) {
                            report(p, "\(path).\(key)", "'\(filled)' (member \(s.name)) \(reason): "
                                + (writing ? "Slipway may not write or delete it" : "Slipway may not read it for a stage"))
                            return nil
                        }
                        return Located(normal, at: p.location)
                    case .failure(let problem):
                        report(p, "\(path).\(key)", "'\(filled)' (member \(s.name)) \(problem)")
                        return nil
                    }
                }
            }
            func report(_ p: Located<String>, _ keyPath: String, _ message: String) {
                ok = false
                // Once per path as written: every member would say the same.
                guard reported.insert(keyPath + "\u{1F}" + p.value).inserted else { return }
                issues.append(SpecIssue(at: p.location, file: file, keyPath: keyPath, message: message))
            }
            s.deps = paths(s.deps, "deps", writing: false)
            s.outs = paths(s.outs, "outs", writing: true)
            s.metrics = paths(s.metrics, "metrics", writing: true)
            s.env = paths(s.env, "env", writing: false)
            if ok { members.append(s) }
        }
        return members
    }

    /// The axes, in the order written: `NAME: [v, …]` or `NAME: range(…)`.
    private mutating func axes(_ node: Node, _ path: String) -> [Matrix.Axis]? {
        guard case .mapping(let map) = node else {
            issues.append(SpecIssue(file: file, mark: node.mark, keyPath: path,
                                    message: "must be a mapping of axes to values, e.g. `{lr: [0.1, 0.01], shard: range(0, 8)}`"))
            return nil
        }
        guard map.count > 0 else {
            issues.append(SpecIssue(file: file, mark: node.mark, keyPath: path, message: "declares no axis"))
            return nil
        }
        var axes: [Matrix.Axis] = []
        var ok = true
        for (k, v) in map {
            guard case .scalar(let key) = k else {
                issues.append(SpecIssue(file: file, mark: k.mark, keyPath: path, message: "an axis name must be a string"))
                ok = false
                continue
            }
            let apath = "\(path).\(key.string)"
            if let problem = Matrix.axisNameProblem(key.string) {
                issues.append(SpecIssue(file: file, mark: k.mark, keyPath: apath, message: problem))
                ok = false
                continue
            }
            var values: [String] = []
            switch v {
            case .sequence(let seq):
                for (i, item) in seq.enumerated() {
                    guard case .scalar(let s) = item, !SpecParser.isNull(s) else {
                        issues.append(SpecIssue(file: file, mark: item.mark, keyPath: "\(apath)[\(i)]", message: "must be a value (a number or a word)"))
                        ok = false
                        continue
                    }
                    if let problem = Matrix.valueProblem(s.string) {
                        issues.append(SpecIssue(file: file, mark: item.mark, keyPath: "\(apath)[\(i)]", message: "value \(problem)"))
                        ok = false
                        continue
                    }
                    values.append(s.string)
                }
            case .scalar(let s):
                switch Matrix.range(s.string) {
                case .success(let made)?: values = made
                case .failure(let problem)?:
                    issues.append(SpecIssue(file: file, mark: v.mark, keyPath: apath, message: problem.message))
                    ok = false
                case nil:
                    issues.append(SpecIssue(file: file, mark: v.mark, keyPath: apath,
                                            message: "must be a list of values or range(START, STOP), found '\(TerminalText.oneLine(s.string.prefix(60)))'"))
                    ok = false
                }
            default:
                issues.append(SpecIssue(file: file, mark: v.mark, keyPath: apath, message: "must be a list of values or range(START, STOP)"))
                ok = false
            }
            if ok, values.isEmpty {
                issues.append(SpecIssue(file: file, mark: v.mark, keyPath: apath, message: "has no value"))
                ok = false
            }
            var seen: Set<String> = []
            for value in values where !seen.insert(value).inserted {
                issues.append(SpecIssue(file: file, mark: v.mark, keyPath: apath, message: "lists '\(value)' twice: two members would have one name"))
                ok = false
                break
            }
            if axes.contains(where: { $0.name == key.string }) {
                issues.append(SpecIssue(file: file, mark: k.mark, keyPath: apath, message: "is declared twice"))
                ok = false
            }
            axes.append(Matrix.Axis(name: key.string, values: values))
        }
        return ok ? axes : nil
    }

    /// Every `${matrix.X}` in the template names an axis.
    private mutating func checkReferences(_ s: StageSpec, axes: [String], path: String) -> Bool {
        var ok = true
        var fields: [(String, [Located<String>])] = [
            ("deps", s.deps), ("outs", s.outs), ("metrics", s.metrics), ("env", s.env), ("params", s.params), ("needs", s.needs),
        ]
        if let c = s.command { fields.insert(("cmd", [c]), at: 0) }
        for (key, list) in fields {
            for item in list {
                for name in Matrix.references(in: item.value) where !axes.contains(name) {
                    let hint = Suggestions.closest(to: name, in: axes).map { " (did you mean '\($0)'?)" } ?? ""
                    issues.append(SpecIssue(at: item.location, file: file, keyPath: "\(path).\(key)",
                                            message: "${matrix.\(TerminalText.oneLine(name.prefix(40)))} names no axis\(hint); axes: \(axes.joined(separator: ", "))"))
                    ok = false
                }
            }
        }
        return ok
    }

    /// `needs:` naming a whole matrix (`train`) becomes every member of it;
    /// naming some (`train[lr=0.1]`), the members with those values. A name
    /// that selects nothing is left as written, for ``SpecChecks`` to report.
    static func resolveNeeds(_ stages: inout [StageSpec]) {
        var membersOf: [String: [Int]] = [:]
        for (i, s) in stages.enumerated() { if let m = s.matrix { membersOf[m.base, default: []].append(i) } }
        guard !membersOf.isEmpty else { return }
        let names = Set(stages.map(\.name))
        let snapshot = stages
        for i in stages.indices where !stages[i].needs.isEmpty {
            var resolved: [Located<String>] = []
            var changed = false
            for need in stages[i].needs {
                if names.contains(need.value) { resolved.append(need); continue }
                var chosen: [Int]?
                if let all = membersOf[need.value] {
                    chosen = all
                } else if let (base, pairs) = Matrix.parseSelector(need.value), let all = membersOf[base] {
                    let picked = all.filter { j in
                        let values = snapshot[j].matrix!.byAxis
                        return pairs.allSatisfy { values[$0.axis] == $0.value }
                    }
                    if !picked.isEmpty { chosen = picked }
                }
                guard let chosen else { resolved.append(need); continue }
                changed = true
                // A member needing its own matrix needs itself: reported as such.
                for j in chosen { resolved.append(Located(snapshot[j].name, at: need.location)) }
            }
            if changed { stages[i].needs = resolved }
        }
    }
}
