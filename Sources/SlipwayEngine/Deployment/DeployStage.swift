import Foundation

/// The built-in `uses: deploy` stage. The version a run registers exists only
/// once the run is finished (registration and the run's end are one
/// transaction), so the stage itself checks that there is somewhere to deploy
/// to; after the run, the runner asks the approval service to promote the new
/// version into the stage's `to:` environment (default: the first one), where
/// the policy decides whether it waits for a signature.
public struct DeployStage: BuiltinStageHandler {
    let environments: [String]

    public init(environments: [String]) { self.environments = environments }

    public func execute(stage: StageSpec, context: BuiltinContext) throws -> StageFailure? {
        let target = stage.options["to"]?.stringValue ?? environments.first
        let text: String
        let failure: StageFailure?
        if let target, environments.contains(target) {
            text = "the version this run registers goes to \(target) once the run has finished\n"
            failure = nil
        } else if let target {
            text = "no environment '\(target)' in slipway.yaml (environments: \(environments.joined(separator: ", ")))\n"
            failure = .check(text.trimmingCharacters(in: .newlines))
        } else {
            text = "slipway.yaml declares no environments to deploy to\n"
            failure = .check(text.trimmingCharacters(in: .newlines))
        }
        try? FileSystem.writeFile(context.logPath, Data(text.utf8))
        return failure
    }

    /// The environment a pipeline's deploy stage targets, if it has one.
    static func target(_ pipeline: PipelineSpec, _ spec: WorkspaceSpec) -> String? {
        guard let stage = pipeline.stages.first(where: { $0.builtin == .deploy }) else { return nil }
        return stage.options["to"]?.stringValue ?? spec.environments.first?.name
    }
}
