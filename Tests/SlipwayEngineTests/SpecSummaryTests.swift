import Foundation
import Testing
@testable import SlipwayEngine

/// What `status` shows of the spec, kept while `slipway.yaml` and
/// `params.yaml` are unchanged: the same answers as reading them, never stale.
@Suite struct SpecSummaryTests {
    static let spec = """
        project: churn
        pipelines:
          main:
            stages:
              train: {cmd: "echo ${params.lr}"}
        environments: {staging: {}}

        """

    @Test func keptWhileTheFilesAreUnchangedAndMadeAgainWhenOneChanges() throws {
        let ws = try Workspace.scratch(Self.spec)
        defer { try? FileManager.default.removeItem(atPath: ws.root) }
        try "lr: 0.1\n".write(toFile: ws.paramsPath, atomically: true, encoding: .utf8)
        let first = ws.specSummary()
        #expect(first.project == "churn" && first.environments == ["staging"] && first.issues.isEmpty)
        #expect(FileManager.default.fileExists(atPath: ws.specSummaryPath))
        #expect(ws.specSummary() == first)
        // params.yaml is broken: the summary says so.
        try "lr: [0.1\n".write(toFile: ws.paramsPath, atomically: true, encoding: .utf8)
        let broken = ws.specSummary()
        #expect(broken.issues.contains { $0.file == "params.yaml" }, "\(broken)")
        // Garbage in the kept file is not believed.
        try Data("{garbage".utf8).write(to: URL(fileURLWithPath: ws.specSummaryPath))
        #expect(ws.specSummary() == broken)
        try "lr: 0.2\n".write(toFile: ws.paramsPath, atomically: true, encoding: .utf8)
        #expect(ws.specSummary() == first)
    }

    /// A command that parses the spec (`run`, `lint`) keeps the summary of
    /// what it read: the `status` after an edit then reads it back instead of
    /// parsing a big spec again. A spec with problems leaves its problems.
    @Test func parsingTheSpecKeepsItsSummaryForStatus() throws {
        let ws = try Workspace.scratch(Self.spec)
        defer { try? FileManager.default.removeItem(atPath: ws.root) }
        try "lr: 0.1\n".write(toFile: ws.paramsPath, atomically: true, encoding: .utf8)
        #expect(!FileManager.default.fileExists(atPath: ws.specSummaryPath))
        _ = try ws.loadSpec()
        let spec = try #require(FileManager.default.contents(atPath: ws.specPath))
        let params = FileManager.default.contents(atPath: ws.paramsPath)
        let kept = try #require(DigestKeptFile<SpecSummary>(path: ws.specSummaryPath, purpose: "slipway-spec-summary/2", parts: [spec, params]).read())
        #expect(kept.project == "churn" && kept.environments == ["staging"] && kept.issues.isEmpty)
        #expect(ws.specSummary() == kept)
        // An edit that breaks the spec: the parse keeps the summary of its problems.
        try (Self.spec + "bogus: 1\n").write(toFile: ws.specPath, atomically: true, encoding: .utf8)
        #expect(throws: SpecErrors.self) { try ws.loadSpec() }
        let edited = try #require(FileManager.default.contents(atPath: ws.specPath))
        let broken = try #require(DigestKeptFile<SpecSummary>(path: ws.specSummaryPath, purpose: "slipway-spec-summary/2", parts: [edited, params]).read())
        #expect(broken.project == nil && broken.issues.contains { $0.keyPath.contains("bogus") }, "\(broken.issues)")
        #expect(ws.specSummary() == broken)
    }

    /// The kept file's digest says which files it was made from, its MAC what
    /// it says: a summary edited in place (the digest left as it was) is not believed.
    @Test func aSummaryEditedInPlaceIsNotBelieved() throws {
        let ws = try Workspace.scratch(Self.spec)
        defer { try? FileManager.default.removeItem(atPath: ws.root) }
        try "lr: 0.1\n".write(toFile: ws.paramsPath, atomically: true, encoding: .utf8)
        #expect(ws.specSummary().project == "churn")
        let kept = try #require(FileManager.default.contents(atPath: ws.specSummaryPath))
        let edited = String(decoding: kept, as: UTF8.self).replacingOccurrences(of: "\"churn\"", with: "\"other\"")
        #expect(edited != String(decoding: kept, as: UTF8.self))
        try edited.write(toFile: ws.specSummaryPath, atomically: true, encoding: .utf8)
        #expect(ws.specSummary().project == "churn")
    }

    @Test func aParamsFileThatCannotBeReadIsReportedAndNotKept() throws {
        let ws = try Workspace.scratch(Self.spec)
        defer { try? FileManager.default.removeItem(atPath: ws.root) }
        try FileManager.default.createSymbolicLink(atPath: ws.paramsPath, withDestinationPath: ws.root + "/nowhere.yaml")
        for _ in 0..<2 {
            let summary = ws.specSummary()
            #expect(summary.issues.contains { $0.file == "params.yaml" && $0.message == "cannot be read" }, "\(summary.issues)")
        }
        #expect(!FileManager.default.fileExists(atPath: ws.specSummaryPath))
        // Once it is gone, the spec reads without params.yaml.
        try FileManager.default.removeItem(atPath: ws.paramsPath)
        #expect(!ws.specSummary().issues.contains { $0.file == "params.yaml" })
    }

    /// Editors on Windows write a byte order mark: it is not part of the first key.
    @Test func aSpecWithAByteOrderMarkReadsAsOneWithout() throws {
        let ws = try Workspace.scratch("")
        defer { try? FileManager.default.removeItem(atPath: ws.root) }
        // "restore" and "registry" in the text make the commands look for store: and registry: in it.
        let spec = Self.spec.replacingOccurrences(of: "train:", with: "restore:") + "# registry: later\n"
        try (Data([0xEF, 0xBB, 0xBF]) + Data(spec.utf8)).write(to: URL(fileURLWithPath: ws.specPath))
        try "lr: 0.1\n".write(toFile: ws.paramsPath, atomically: true, encoding: .utf8)
        let opened = try Workspace.opening(root: ws.root)
        #expect(opened.sharedStore == nil)
        #expect(try opened.registryLocation(environment: [:]) == .embedded(path: opened.registryPath))
        let summary = opened.specSummary()
        #expect(summary.project == "churn" && summary.issues.isEmpty, "\(summary.issues)")
        #expect(try opened.loadSpecText().spec.project == "churn")
    }
}
