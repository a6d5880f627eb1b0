import Foundation

/// What `status` needs of the spec: the project, the environment and monitor
/// names, and the problems in the text of `slipway.yaml` and `params.yaml`.
///
/// Reading a 10,000-stage spec takes longer than all the rest of `status`,
/// and none of its stages are shown there, so the summary is kept in
/// `.slipway/spec-summary.json` under the SHA-256 of both files' bytes (and
/// this build's version): while the files are unchanged it is read back, not
/// recomputed. It depends on nothing but those bytes, so it is never stale.
/// (Where the spec's paths lead through symlinks is checked by the commands
/// that use them, when they use them: `lint` and `run`.)
public struct SpecSummary: Sendable, Codable, Equatable {
    /// The project, when the spec loads.
    public var project: String?
    public var environments: [String]
    public var monitors: [String]
    /// Every problem found (empty when the spec loads).
    public var issues: [SpecIssue]
    /// What the summary was made from.
    var digest: String

    init(_ loaded: LoadedSpec, digest: String) {
        project = loaded.spec.project
        environments = loaded.spec.environments.map(\.name)
        monitors = loaded.spec.monitorSpecs.map(\.name)
        issues = []
        self.digest = digest
    }

    init(issues: [SpecIssue], digest: String) {
        project = nil
        environments = []
        monitors = []
        self.issues = issues
        self.digest = digest
    }
}

extension Workspace {
    var specSummaryPath: String { stateDir + "/spec-summary.json" }

    /// The spec's summary: read back while both files are unchanged, else
    /// made from the files (and kept for next time).
    public func specSummary() -> SpecSummary {
        guard let spec = FileManager.default.contents(atPath: specPath) else {
            do {
                return SpecSummary(try loadSpecText(), digest: "")
            } catch {
                return SpecSummary(issues: error.issues, digest: "")
            }
        }
        let params = FileManager.default.contents(atPath: paramsPath)
        let digest = Self.summaryDigest(spec: spec, params: params)
        if let data = FileManager.default.contents(atPath: specSummaryPath),
           let kept = try? JSONDecoder().decode(SpecSummary.self, from: data), kept.digest == digest {
            return kept
        }
        let summary: SpecSummary
        do {
            summary = SpecSummary(try loadSpecText(), digest: digest)
        } catch {
            summary = SpecSummary(issues: error.issues, digest: digest)
        }
        // Best effort: a workspace that cannot be written to still has a status.
        if FileSystem.isDirectory(stateDir), let data = try? JSONEncoder.sorted.encode(summary) {
            try? FileSystem.writeFile(specSummaryPath, data, mode: 0o600)
        }
        return summary
    }

    static func summaryDigest(spec: Data, params: Data?) -> String {
        var bytes = Array("slipway-spec-summary/1 \(Slipway.version)\n".utf8)
        bytes += Array("\(spec.count)\n".utf8) + spec
        if let params { bytes += Array("params \(params.count)\n".utf8) + params } else { bytes += Array("no params\n".utf8) }
        return Digests.sha256Hex(bytes)
    }
}
