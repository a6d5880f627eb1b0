import Foundation

/// Which model version a successful run makes: the pipeline's model, with
/// the digest of every output the run produced or restored. The registry
/// registers it in the transaction that finishes the run, and skips it when
/// ``isUnchanged(_:newest:)`` says so (a no-op re-run makes no version).
public enum ModelRegistration {
    /// Whether the model's newest version already is the one a run would
    /// register: the same artifact digest (for a packaged model, the same
    /// image), whatever its number.
    static func isUnchanged(_ new: NewModelVersion, newest: ModelVersionRecord) -> Bool {
        newest.artifactDigest == new.artifactDigest
    }

    /// The digest of a run's outputs (path → content hash), order-independent.
    public static func artifactDigest(_ outputs: [String: String]) -> String {
        Digests.sha256Hex(Array(outputs.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined().utf8))
    }

    public static func newVersion(run: RunRecord, pipeline: PipelineSpec, outputs: [String: String]) -> NewModelVersion {
        NewModelVersion(model: pipeline.modelName, runID: run.id, pipeline: pipeline.name, gitCommit: run.gitCommit,
                        artifactDigest: artifactDigest(outputs), createdBy: run.user)
    }
}
