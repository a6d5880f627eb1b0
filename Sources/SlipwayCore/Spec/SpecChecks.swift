/// Checks that need the whole spec: references between stages, cycles,
/// clashing outs, and params that `params.yaml` does not define.
enum SpecChecks {
    static func check(_ spec: WorkspaceSpec, params: Params?) -> [SpecIssue] {
        var issues: [SpecIssue] = []
        let file = spec.file
        // Every out has one writer across the whole workspace: two pipelines
        // may run at once, and their runs lock per pipeline.
        var writers: [(pipeline: String, stage: String, path: Located<String>)] = []
        for pipeline in spec.pipelines {
            let base = "pipelines.\(pipeline.name).stages"
            let names = pipeline.stages.map(\.name)
            for stage in pipeline.stages {
                for (i, need) in stage.needs.enumerated() {
                    let key = "\(base).\(stage.name).needs[\(i)]"
                    if need.value == stage.name {
                        issues.append(SpecIssue(at: need.location, file: file, keyPath: key, message: "a stage cannot need itself"))
                    } else if !names.contains(need.value) {
                        let hint = Suggestions.closest(to: need.value, in: names).map { " (did you mean '\($0)'?)" } ?? ""
                        issues.append(SpecIssue(at: need.location, file: file, keyPath: key,
                                                message: "unknown stage '\(need.value)'\(hint); stages here: \(names.joined(separator: ", "))"))
                    }
                }
            }
            // Two stages writing the same path (or one inside the other).
            for stage in pipeline.stages {
                for out in stage.outs + stage.metrics {
                    if let clash = writers.first(where: { WorkspacePath.overlaps($0.path.value, out.value) }) {
                        let how = clash.path.value == out.value ? "is also written by" : "overlaps '\(clash.path.value)' written by"
                        let key = stage.outs.contains(out) ? "outs" : "metrics"
                        let writer = clash.pipeline == pipeline.name ? "stage '\(clash.stage)'" : "stage '\(clash.stage)' of pipeline '\(clash.pipeline)'"
                        issues.append(SpecIssue(at: out.location, file: file, keyPath: "\(base).\(stage.name).\(key)",
                                                message: "'\(out.value)' \(how) \(writer)"
                                                    + (clash.stage == stage.name && clash.pipeline == pipeline.name ? "" : "; each path has one writer")))
                    } else {
                        writers.append((pipeline.name, stage.name, out))
                    }
                }
            }
            let envNames = spec.environments.map(\.name)
            for stage in pipeline.stages where !envNames.isEmpty && (stage.options["baseline"] != nil || !stage.gates.isEmpty)
                && !envNames.contains(stage.baseline) {
                let hint = Suggestions.closest(to: stage.baseline, in: envNames).map { " (did you mean '\($0)'?)" } ?? ""
                issues.append(SpecIssue(at: stage.location, file: file, keyPath: "\(base).\(stage.name).baseline",
                                        message: "environment '\(stage.baseline)' is not declared\(hint); environments: \(envNames.joined(separator: ", "))"))
            }
            let graph = StageGraph(pipeline: pipeline)
            if let cycle = graph.findCycle() {
                issues.append(SpecIssue(at: pipeline.location, file: file, keyPath: "pipelines.\(pipeline.name)",
                                        message: "stages form a cycle: \(cycle.joined(separator: " → "))"))
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
}
