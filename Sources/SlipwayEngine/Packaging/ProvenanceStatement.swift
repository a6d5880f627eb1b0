import Foundation

/// The provenance of a packaged model: an in-toto Statement v1 whose
/// subject is the image manifest and whose predicate is SLSA provenance v1
/// (https://slsa.dev/provenance/v1): the builder (Slipway and its version),
/// the commit, the dataset versions with their digests, the params, the run,
/// the pipeline's stages with their cache keys, and the gate results.
enum ProvenanceStatement {
    struct Statement: Encodable {
        var _type = "https://in-toto.io/Statement/v1"
        var subject: [Subject]
        var predicateType = "https://slsa.dev/provenance/v1"
        var predicate: Predicate
    }
    struct Subject: Encodable { var name: String; var digest: [String: String] }
    struct Predicate: Encodable { var buildDefinition: BuildDefinition; var runDetails: RunDetails }
    struct BuildDefinition: Encodable {
        var buildType = "https://slipway.dev/pipeline-run/v1"
        var externalParameters: External
        var internalParameters: Internal
        var resolvedDependencies: [Dependency]
    }
    struct External: Encodable { var project: String?; var pipeline: String; var model: String; var params: [String: String] }
    struct Internal: Encodable { var stages: [StageEntry]; var gates: [Gate] }
    struct StageEntry: Encodable { var name: String; var status: String; var cacheKey: String? }
    struct Gate: Encodable { var stage: String; var metric: String; var condition: String; var passed: Bool; var explanation: String }
    struct Dependency: Encodable { var uri: String?; var name: String?; var digest: [String: String] }
    struct RunDetails: Encodable { var builder: Builder; var metadata: Metadata }
    struct Builder: Encodable { var id: String; var version: [String: String] }
    struct Metadata: Encodable { var invocationId: String; var startedOn: String }

    static func make(context: BuiltinContext, stage: StageSpec, model: String, manifest: OCI.Descriptor,
                     gitCommit: String?, gitDirty: Bool?) throws -> Data {
        let registry = context.registry
        let run = context.run
        var deps: [Dependency] = []
        if let gitCommit {
            deps.append(Dependency(uri: "git+file:.", name: gitDirty == true ? "workspace (uncommitted changes)" : "workspace",
                                   digest: ["gitCommit": gitCommit]))
        }
        var seen: Set<String> = []
        for d in try registry.runDatasets(runID: run.id) where seen.insert(d.path + d.hash).inserted {
            deps.append(Dependency(uri: nil, name: d.path, digest: [d.hash.hasSuffix(".dir") ? "sha256-manifest" : "sha256":
                                                                    String(d.hash.replacingOccurrences(of: "sha256:", with: "").prefix(64))]))
        }
        let stages = try registry.stageRuns(runID: run.id).map {
            StageEntry(name: $0.stage, status: $0.id == context.stageRun.id ? "running" : $0.status.rawValue, cacheKey: $0.cacheKey)
        }
        let gates = try registry.gateResults(runID: run.id).map {
            Gate(stage: $0.stage, metric: $0.metric, condition: $0.condition, passed: $0.passed, explanation: $0.explanation)
        }
        let statement = Statement(
            subject: [Subject(name: model, digest: ["sha256": String(manifest.digest.dropFirst("sha256:".count))])],
            predicate: Predicate(
                buildDefinition: BuildDefinition(
                    externalParameters: External(project: nil, pipeline: context.pipeline.name, model: model,
                                                 params: try registry.params(runID: run.id)),
                    internalParameters: Internal(stages: stages, gates: gates),
                    resolvedDependencies: deps),
                runDetails: RunDetails(builder: Builder(id: "https://slipway.dev/slipway", version: ["slipway": Slipway.version]),
                                       metadata: Metadata(invocationId: "run/\(run.id)",
                                                          startedOn: ISO8601DateFormatter().string(from: SystemClock.date(run.startedAt))))))
        return try OCI.encode(statement)
    }
}
