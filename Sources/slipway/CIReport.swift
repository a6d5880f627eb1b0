import Foundation
import SlipwayEngine

/// What a CI system gets from `slipway run`: JUnit XML, and on GitHub Actions
/// error annotations and a Markdown step summary.
struct CIReport {
    let result: RunResult
    let pipeline: String
    let registry: RegistryConnection
    let spec: WorkspaceSpec

    var cases: [JUnitReport.Case] {
        var cases: [JUnitReport.Case] = []
        for v in validations {
            for c in v.checks {
                cases.append(.init(suite: "validation: \(v.dataset)", name: (c.column.map { "\($0): " } ?? "") + c.check,
                                   failure: c.passed || c.warning ? nil : c.message))
            }
        }
        for g in result.gates {
            cases.append(.init(suite: "gates", name: "\(g.stage): \(g.metric) \(g.condition)", failure: g.passed ? nil : g.explanation))
        }
        for s in result.stages.map(\.record) {
            let failure = s.status == .failed ? (s.message ?? "failed") : nil
            cases.append(.init(suite: "stages", name: s.stage, seconds: s.duration ?? 0, failure: failure,
                               skipped: s.status == .cancelled))
        }
        return cases
    }

    func writeJUnit(to path: String) throws {
        let xml = JUnitReport.xml(name: "slipway run \(result.run.id) (\(pipeline))", cases: cases)
        do {
            try FileSystem.writeFile(path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path, Data(xml.utf8))
        } catch {
            throw Failure(status: .internalError, message: "cannot write the JUnit report \(path): \(error)")
        }
    }

    /// The validation reports this run recorded.
    var validations: [ValidationReport] {
        ((try? registry.validations(runID: result.run.id)) ?? []).compactMap {
            try? ValidationReport.decoder.decode(ValidationReport.self, from: Data($0.report.utf8))
        }
    }

    /// `::error` annotations on stdout and a summary appended to $GITHUB_STEP_SUMMARY.
    func writeGitHub() {
        for v in validations {
            for c in v.failures {
                print("::error title=\(Self.property("Validation failed: \(v.dataset)" + (c.column.map { " \($0)" } ?? "") + " \(c.check)"))::\(Self.data(c.message))")
            }
        }
        for g in result.gates where !g.passed {
            print("::error title=\(Self.property("Gate failed: \(g.stage) \(g.metric)"))::\(Self.data(g.explanation))")
        }
        let validatedStages = Set(((try? registry.validations(runID: result.run.id)) ?? []).compactMap(\.stageRunID))
        for s in result.stages.map(\.record) where s.status == .failed && !result.gates.contains(where: { $0.stageRunID == s.id })
            && !validatedStages.contains(s.id) {
            print("::error title=\(Self.property("Stage failed: \(s.stage)"))::\(Self.data(s.message ?? "failed; see slipway logs \(result.run.id) \(Output.shellWord(s.stage))"))")
        }
        guard let summaryPath = ProcessInfo.processInfo.environment["GITHUB_STEP_SUMMARY"], !summaryPath.isEmpty else { return }
        var md = "## Slipway run \(result.run.id) · \(pipeline) · \(result.run.status.rawValue)\n\n"
        md += "| stage | status | took | why |\n|---|---|---:|---|\n"
        for s in result.stages.map(\.record) {
            md += "| \(s.stage) | \(s.status.rawValue) | \(s.duration.map(Durations.format) ?? "—") | \(Self.cell(s.status == .failed ? (s.message ?? "") : s.reason)) |\n"
        }
        if let p = spec.pipeline(named: pipeline), p.stages.contains(where: { !$0.gates.isEmpty }),
           let c = try? ComparisonService(registry: registry, spec: spec).candidateVsBaseline(pipeline: p, candidateRun: result.run.id) {
            md += "\n### Evaluation: \(c.candidate.label) vs \(c.baseline.label)\n\n"
                + c.comparison.markdown(baselineLabel: c.baseline.label, candidateLabel: c.candidate.label) + "\n"
        }
        if let v = result.registered { md += "\nRegistered **\(v.model):\(v.version)**.\n" }
        guard let handle = FileHandle(forWritingAtPath: summaryPath) ?? {
            _ = FileManager.default.createFile(atPath: summaryPath, contents: nil)
            return FileHandle(forWritingAtPath: summaryPath)
        }() else { return }
        handle.seekToEndOfFile()
        handle.write(Data((md + "\n").utf8))
        try? handle.close()
    }

    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    /// GitHub workflow-command escaping for the message part.
    static func data(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D").replacingOccurrences(of: "\n", with: "%0A")
    }

    /// Escaping for a property value (`title=`).
    static func property(_ text: String) -> String {
        data(text).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }
}
