import Foundation

/// Which model version a successful run makes: the pipeline's model, with
/// the digest of every output the run produced or restored. The registry
/// registers it in the transaction that finishes the run, and skips it when
/// the newest version has the same digest (a no-op re-run makes no version).
public enum ModelRegistration {
    /// The digest of a run's outputs (path → content hash), order-independent.
    public static func artifactDigest(_ outputs: [String: String]) -> String {
        Digests.sha256Hex(Array(outputs.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined().utf8))
    }

    public static func newVersion(run: RunRecord, pipeline: PipelineSpec, outputs: [String: String]) -> NewModelVersion {
        NewModelVersion(model: pipeline.modelName, runID: run.id, pipeline: pipeline.name, gitCommit: run.gitCommit,
                        artifactDigest: artifactDigest(outputs), createdBy: run.user)
    }
}
