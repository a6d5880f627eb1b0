import Foundation

/// What `status` needs of the spec: the project, the environment and monitor
/// names, and the problems in the text of `slipway.yaml` and `params.yaml`.
///
/// Reading a 10,000-stage spec takes longer than all the rest of `status`,
/// and none of its stages are shown there, so the summary is kept in
/// `.slipway/spec-summary.json` under a digest of both files' bytes keyed by
/// the user's own key (``DigestKeptFile``): while the files are unchanged it is read back, not
/// recomputed.
/// (Where the spec's paths lead through symlinks is checked by the commands
/// that use them, when they use them: `lint` and `run`.)
public struct SpecSummary: Sendable, Codable, Equatable {
    /// The project, when the spec loads.
    public var project: String?
    public var environments: [String]
    public var monitors: [String]
    /// Every problem found (empty when the spec loads).
    public var issues: [SpecIssue]

    init(_ loaded: LoadedSpec) {
        project = loaded.spec.project
        environments = loaded.spec.environments.map(\.name)
        monitors = loaded.spec.monitorSpecs.map(\.name)
        issues = []
    }

    init(issues: [SpecIssue]) {
        project = nil
        environments = []
        monitors = []
        self.issues = issues
    }

    /// The summary of what `load` reads (or of why it cannot).
    init(_ load: () throws(SpecErrors) -> LoadedSpec) {
        do {
            self.init(try load())
        } catch {
            self.init(issues: error.issues)
        }
    }
}

extension Workspace {
    var specSummaryPath: String { stateDir + "/spec-summary.json" }

    /// The spec's summary: read back while both files are unchanged, else
    /// made from the files (and kept for next time).
    public func specSummary() -> SpecSummary {
        // Kept only for bytes in hand: a file that is there but cannot be read is reported, never kept.
        let paramsThere = FileSystem.exists(paramsPath)
        let spec = FileManager.default.contents(atPath: specPath)
        let params = paramsThere ? FileManager.default.contents(atPath: paramsPath) : nil
        guard let spec, !paramsThere || params != nil else { return SpecSummary { () throws(SpecErrors) in try loadSpecText() } }
        let kept = keptSpecSummary(spec: spec, params: params)
        if let summary = kept.read() { return summary }
        // Made from the very bytes the digest is of.
        let summary = SpecSummary { () throws(SpecErrors) in try loadSpecText(spec: spec, params: params) }
        kept.keep(summary)
        return summary
    }

    private func keptSpecSummary(spec: Data, params: Data?) -> DigestKeptFile<SpecSummary> {
        DigestKeptFile(path: specSummaryPath, purpose: "slipway-spec-summary/2", parts: [spec, params])
    }

    /// Keeps the summary of the spec and params text these bytes hold (what
    /// ``specSummary()`` would make of them), for the next `status`.
    func keepSpecSummary(_ summary: SpecSummary, spec: Data, params: Data?) {
        keptSpecSummary(spec: spec, params: params).keep(summary)
    }
}
