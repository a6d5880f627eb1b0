import Foundation
import SlipwayStore

/// Rebuilds a registered version from what was recorded about it, and says
/// whether the result is the same, output by output and for the image.
///
/// The recorded commit is checked out in a temporary git worktree; the dataset
/// versions the run read (those no stage makes) are restored from the content
/// store; params.yaml comes from the commit (or, when it is not tracked, from
/// the recorded params); the pipeline runs with no cache into a registry of its
/// own. A run made with uncommitted changes cannot be reproduced, and says so.
public struct ReproduceService: Sendable {
    let workspace: Workspace
    let registry: any Registry
    let tracking: (any TrackingEndpointFactory)?

    public init(workspace: Workspace, registry: any Registry, tracking: (any TrackingEndpointFactory)? = nil) {
        self.workspace = workspace
        self.registry = registry
        self.tracking = tracking
    }

    public struct Output: Sendable, Hashable, Codable {
        public var path: String
        public var stage: String?
        public var recorded: String
        public var reproduced: String?
        public var identical: Bool { recorded == reproduced }
    }

    public struct Report: Sendable, Hashable, Codable {
        public var version: String
        public var commit: String?
        public var reproducible: Bool
        /// Why the version cannot be reproduced at all.
        public var reason: String?
        public var outputs: [Output]
        public var image: Output?
        /// Stages whose outputs differ: not deterministic.
        public var nondeterministicStages: [String]
        public var identical: Bool { reproducible && outputs.allSatisfy(\.identical) && (image?.identical ?? true) }
    }

    public struct NotReproduced: SlipwayError {
        public var report: Report
        public init(report: Report) { self.report = report }
        public var exitStatus: ExitStatus { .checkFailed }
        public var description: String {
            if let r = report.reason { return "\(report.version) is not reproducible: \(r)" }
            let differing = report.outputs.filter { !$0.identical }.map(\.path) + (report.image?.identical == false ? ["the image"] : [])
            return "\(report.version) did not reproduce: \(differing.joined(separator: ", ")) differ"
                + (report.nondeterministicStages.isEmpty ? "" : " (not deterministic: stage \(report.nondeterministicStages.joined(separator: ", ")))")
        }
    }

    public func reproduce(_ version: ModelVersionRecord, spec: WorkspaceSpec) throws -> Report {
        var report = Report(version: version.label, commit: nil, reproducible: false, reason: nil, outputs: [], image: nil,
                            nondeterministicStages: [])
        guard let run = try registry.run(id: version.runID) else {
            report.reason = "its run \(version.runID) is not in the registry"
            return report
        }
        report.commit = run.gitCommit
        guard let commit = run.gitCommit else {
            report.reason = "run \(run.id) was not made in a git work tree, so its code cannot be checked out again"
            return report
        }
        if run.gitDirty == true {
            report.reason = "run \(run.id) was made with uncommitted changes to tracked files; commit \(commit.prefix(12)) alone does not hold its code"
            return report
        }
        guard let pipeline = spec.pipeline(named: version.pipeline) else {
            report.reason = "slipway.yaml no longer declares pipeline '\(version.pipeline)'"
            return report
        }
        guard let top = GitState.run(["rev-parse", "--show-toplevel"], in: workspace.root) else {
            report.reason = "the workspace is not in a git work tree"
            return report
        }
        let realTop = FileSystem.realPath(top) ?? top, realRoot = FileSystem.realPath(workspace.root) ?? workspace.root
        let sub = realRoot == realTop ? "" : String(Substring(realRoot.utf8.dropFirst(realTop.utf8.count + 1)))
        let tree = NSTemporaryDirectory() + "slipway-reproduce-\(UUID().uuidString.prefix(8))"
        guard GitState.run(["worktree", "add", "--detach", tree, commit], in: workspace.root) != nil else {
            report.reason = "cannot check out commit \(commit.prefix(12)) (is it still in the repository?)"
            return report
        }
        defer {
            _ = GitState.run(["worktree", "remove", "--force", tree], in: workspace.root)
            try? FileSystem.remove(tree)
        }
        let copy = Workspace(root: sub.isEmpty ? tree : tree + "/" + sub)
        guard FileSystem.isFile(copy.specPath) else {
            report.reason = "commit \(commit.prefix(12)) has no slipway.yaml at \(sub.isEmpty ? "the top" : sub)"
            return report
        }

        // The data the run read, that no stage makes, back from the store. A
        // folder that holds stages' outs is restored whole when the store has
        // it (the stages, forced, make their parts again); when it does not,
        // its stages make their parts and the rest is what the commit holds.
        let made = Set(pipeline.stages.flatMap(\.cachedOutputs))
        let store = ContentStore(store: workspace, restoringInto: copy)
        var restored: Set<String> = []
        for d in try registry.runDatasets(runID: run.id) where !made.contains(where: { WorkspacePath.contains($0, d.path) }) {
            guard restored.insert(d.path).inserted else { continue }
            if FileSystem.exists(copy.absolute(d.path)), (try? FileHasher(root: copy.root, cache: nil).hash(d.path)) == d.hash { continue }
            guard store.contains(d.hash) else {
                if made.contains(where: { WorkspacePath.contains(d.path, $0) }) { continue }
                report.reason = "dataset \(d.path) as run \(run.id) read it (\(d.hash.prefix(12))) is not in the store"
                return report
            }
            try store.restore(d.path, hash: d.hash)
        }
        if !FileSystem.exists(copy.paramsPath) {
            let params = try registry.params(runID: run.id)
            try FileSystem.writeFile(copy.paramsPath, Data(Self.yaml(params).utf8))
        }

        // The pipeline again, from nothing, under the version's own number.
        let copyRegistry = try copy.openEmbeddedRegistry()
        let loaded = try copy.loadSpec()
        // Values the run was given on the command line (`run --set`, a sweep), as it had them.
        let overrides = try registry.paramOverrides(runID: run.id).sorted { $0.key < $1.key }
            .map { ParamOverride(key: $0.key, value: $0.value) }
        let result = try PipelineRunner(workspace: copy, loaded: loaded, pipeline: pipeline.name, registry: copyRegistry,
                                        tracking: tracking, overrides: overrides)
            // A rebuild to compare: its deploy stage, if any, deploys nothing.
            .run(options: .init(force: true, trigger: "reproduce", packageVersion: version.version, deploys: false))
        report.reproducible = true
        let recorded = try registry.artifacts(runID: run.id)
        let again = try copyRegistry.artifacts(runID: result.run.id)
        func stage(of path: String) -> String? {
            pipeline.stages.first { $0.cachedOutputs.contains(path) || RunTracking.artifactArea(stage: $0.name) == path }?.name
        }
        // The package stage's folder holds the provenance of the run that built
        // it (a new run, a new statement): the image manifest is compared instead.
        let packageOut = pipeline.stages.first { $0.builtin == .package }?.options["out"]?.stringValue
        report.outputs = recorded.keys.sorted().filter { $0 != packageOut }
            .map { Output(path: $0, stage: stage(of: $0), recorded: recorded[$0]!, reproduced: again[$0]) }
        if let digest = version.imageDigest {
            let rebuilt = try copyRegistry.modelVersions(model: version.model, limit: 1).first?.imageDigest
            report.image = Output(path: "image manifest", stage: pipeline.stages.first { $0.builtin == .package }?.name,
                                  recorded: digest, reproduced: rebuilt)
        }
        if result.run.status != .succeeded {
            report.reason = "the pipeline did not succeed again (run \(result.run.status.rawValue): \(result.run.message ?? ""))"
            report.reproducible = false
        }
        // The stages whose own outputs differ (not just because an upstream's did).
        let differing = report.outputs.filter { !$0.identical }.compactMap(\.stage)
        let graph = StageGraph(pipeline: pipeline)
        report.nondeterministicStages = Array(Set(differing)).filter { s in
            !graph.upstream[s, default: []].contains { differing.contains($0) }
        }.sorted()
        return report
    }

    /// Flat dotted params as nested YAML (`train.lr: 0.1` → `train:\n  lr: 0.1`).
    static func yaml(_ params: [String: String]) -> String {
        var tree: [String: Any] = [:]
        for (key, value) in params {
            let parts = key.split(separator: ".").map(String.init)
            func insert(_ node: inout [String: Any], _ i: Int) {
                if i == parts.count - 1 { node[parts[i]] = value; return }
                var child = node[parts[i]] as? [String: Any] ?? [:]
                insert(&child, i + 1)
                node[parts[i]] = child
            }
            if !parts.isEmpty { insert(&tree, 0) }
        }
        func render(_ node: [String: Any], _ indent: String) -> String {
            node.keys.sorted().map { k in
                if let child = node[k] as? [String: Any] { return "\(indent)\(k):\n" + render(child, indent + "  ") }
                return "\(indent)\(k): \(node[k]!)\n"
            }.joined()
        }
        return render(tree, "")
    }
}
