/// Checks that need the whole spec: references between stages, cycles,
/// clashing outs, and params that `params.yaml` does not define.
enum SpecChecks {
    static func check(_ spec: WorkspaceSpec, params: Params?, unexpanded: [String: Set<String>] = [:]) -> [SpecIssue] {
        var issues: [SpecIssue] = []
        let file = spec.file
        // Every out has one writer across the whole workspace: two pipelines
        // may run at once, and their runs lock per pipeline.
        var writers: [(pipeline: String, stage: String, matrix: String?, path: Located<String>)] = []
        // A matrix whose members share an out is reported once, not per member.
        var matrixClashes: Set<String> = []
        // Two paths overlap when one is the other or a folder above it, so a
        // clash is found by looking up the path's own components: each written
        // path maps to its writer, each folder above one to the first writer
        // below it (the first writer in `writers` that clashes is reported).
        var writerAt: [String: Int] = [:]
        var firstBelow: [String: Int] = [:]
        for pipeline in spec.pipelines {
            let base = "pipelines.\(pipeline.name).stages"
            let names = pipeline.stages.map(\.name)
            // A matrix that could not be expanded is known: its own issues say why it has no members.
            let known = Set(names).union(unexpanded[pipeline.name] ?? [])
            // A matrix's members share their template's mistakes: each is said once.
            var saidForMatrix: Set<String> = []
            for stage in pipeline.stages {
                for (i, need) in stage.needs.enumerated() {
                    func key() -> String { "\(base).\(stage.matrix?.base ?? stage.name).needs[\(i)]" }
                    let bad = need.value == stage.name || !known.contains(need.value)
                    if bad, let group = stage.matrix?.base, !saidForMatrix.insert("\(group)\u{1F}\(i)").inserted { continue }
                    if need.value == stage.name {
                        issues.append(SpecIssue(at: need.location, file: file, keyPath: key(),
                                                message: stage.matrix.map { "a member of matrix '\($0.base)' cannot need its own matrix" } ?? "a stage cannot need itself"))
                    } else if !known.contains(need.value) {
                        let hint = Suggestions.closest(to: need.value, in: names).map { " (did you mean '\($0)'?)" } ?? ""
                        issues.append(SpecIssue(at: need.location, file: file, keyPath: key(),
                                                message: "unknown stage '\(need.value)'\(hint); stages here: \(listing(names))"))
                    }
                }
            }
            // Two stages writing the same path (or one inside the other).
            for stage in pipeline.stages {
                for out in stage.outs + stage.metrics {
                    let above = WorkspacePath.selfAndAncestors(out.value)
                    var first = firstBelow[out.value]
                    for p in above { if let w = writerAt[p] { first = min(first ?? w, w) } }
                    if let first {
                        let clash = writers[first]
                        if let group = stage.matrix?.base, clash.matrix == group, clash.pipeline == pipeline.name {
                            let key = stage.outs.contains(out) ? "outs" : "metrics"
                            guard matrixClashes.insert("\(pipeline.name)\u{1F}\(group)\u{1F}\(key)").inserted else { continue }
                            let axes = stage.matrix!.axes.map { "${matrix.\($0)}" }.joined(separator: ", ")
                            issues.append(SpecIssue(at: out.location, file: file, keyPath: "\(base).\(group).\(key)",
                                                    message: "'\(out.value)' is written by more than one member of matrix '\(group)' "
                                                        + "(\(clash.stage) and \(stage.name)); each member needs outs of its own: use \(axes) in each path"))
                            continue
                        }
                        let how = clash.path.value == out.value ? "is also written by" : "overlaps '\(clash.path.value)' written by"
                        let key = stage.outs.contains(out) ? "outs" : "metrics"
                        let writer = clash.pipeline == pipeline.name ? "stage '\(clash.stage)'" : "stage '\(clash.stage)' of pipeline '\(clash.pipeline)'"
                        issues.append(SpecIssue(at: out.location, file: file, keyPath: "\(base).\(stage.name).\(key)",
                                                message: "'\(out.value)' \(how) \(writer)"
                                                    + (clash.stage == stage.name && clash.pipeline == pipeline.name ? "" : "; each path has one writer")))
                    } else {
                        writers.append((pipeline.name, stage.name, stage.matrix?.base, out))
                        writerAt[out.value] = writers.count - 1
                        for folder in above.dropFirst() where firstBelow[folder] == nil { firstBelow[folder] = writers.count - 1 }
                    }
                }
            }
            let envNames = spec.environments.map(\.name)
            // The baseline environment must exist when it is named, or a gate
            // compares with it (`>= production`); absolute gates need none.
            for stage in pipeline.stages where !envNames.isEmpty
                && (stage.options["baseline"] != nil || stage.gates.contains(where: { $0.condition.isRelative }))
                && !envNames.contains(stage.baseline) {
                let hint = Suggestions.closest(to: stage.baseline, in: envNames).map { " (did you mean '\($0)'?)" } ?? ""
                issues.append(SpecIssue(at: stage.location, file: file, keyPath: "\(base).\(stage.name).baseline",
                                        message: "environment '\(stage.baseline)' is not declared\(hint); environments: \(envNames.joined(separator: ", "))"))
            }
            let graph = StageGraph(pipeline: pipeline)
            if let cycle = graph.findCycle() {
                // Why each stage waits for the one before it, for the first few steps.
                let byName = Dictionary(pipeline.stages.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                let why = zip(cycle, cycle.dropFirst()).prefix(3).compactMap { writer, reader in
                    byName[reader].flatMap { r in byName[writer].flatMap { StageGraph.reason(r, waitsFor: $0) } }
                }
                issues.append(SpecIssue(at: pipeline.location, file: file, keyPath: "pipelines.\(pipeline.name)",
                                        message: "stages form a cycle: \(cycle.joined(separator: " → "))"
                                            + (why.isEmpty ? "" : " (" + why.joined(separator: "; ") + (cycle.count > 4 ? "; …" : "") + ")")))
            }
            if let params {
                for stage in pipeline.stages {
                    for (i, p) in stage.params.enumerated() where params[p.value] == nil {
                        let hint = Suggestions.closest(to: p.value, in: params.values.keys.sorted()).map { " (did you mean '\($0)'?)" } ?? ""
                        issues.append(SpecIssue(at: p.location, file: file, keyPath: "\(base).\(stage.name).params[\(i)]",
                                                message: "param '\(p.value)' is not defined in params.yaml\(hint)"))
                    }
                }
            }
        }
        return issues
    }

    /// Names for a message: all of a short list, the first 20 of a long one.
    static func listing(_ names: [String]) -> String {
        guard names.count > 20 else { return names.joined(separator: ", ") }
        return names.prefix(20).joined(separator: ", ") + " and \(names.count - 20) more"
    }
}
