import Foundation
import Testing
@testable import SlipwayEngine

/// Where the registry is, read from a kept copy while the spec's bytes are
/// unchanged: the same answers as reading the spec, never stale.
@Suite struct RegistrySettingCacheTests {
    @Test func keptWhileTheSpecIsUnchangedAndReadAgainWhenItChanges() throws {
        let ws = try Workspace.scratch("project: churn\nregistry: postgres://db.example/mlops\npipelines: {}\n")
        defer { try? FileManager.default.removeItem(atPath: ws.root) }
        #expect(try ws.registryLocation(environment: [:]) == .postgres(url: "postgres://db.example/mlops", project: "churn"))
        let text = try String(contentsOfFile: ws.specPath, encoding: .utf8)
        #expect(ws.keptRegistrySetting(text).read() == KeptRegistrySetting(project: "churn", registry: "postgres://db.example/mlops"))
        // Read back: the same answer.
        #expect(try ws.registryLocation(environment: [:]) == .postgres(url: "postgres://db.example/mlops", project: "churn"))
        // Another spec: another answer, whatever was kept.
        try "project: fraud\nregistry: postgres://db.example/other\n".write(toFile: ws.specPath, atomically: true, encoding: .utf8)
        #expect(try ws.registryLocation(environment: [:]) == .postgres(url: "postgres://db.example/other", project: "fraud"))
        // The environment still wins over the spec's URL, and the project still comes from the spec.
        #expect(try ws.registryLocation(environment: ["SLIPWAY_REGISTRY_URL": "postgres://elsewhere/x"])
                == .postgres(url: "postgres://elsewhere/x", project: "fraud"))
        // A kept copy that is not JSON, or made from other bytes, is not believed.
        try Data("{garbage".utf8).write(to: URL(fileURLWithPath: ws.registrySettingPath))
        #expect(try ws.registryLocation(environment: [:]) == .postgres(url: "postgres://db.example/other", project: "fraud"))
        ws.keptRegistrySetting("project: x\n").keep(KeptRegistrySetting(project: "x", registry: "postgres://evil/x"))
        #expect(FileManager.default.fileExists(atPath: ws.registrySettingPath))
        #expect(try ws.registryLocation(environment: [:]) == .postgres(url: "postgres://db.example/other", project: "fraud"))
        // A copy kept for this very spec, holding a URL the spec's rules refuse, is not believed either.
        let text2 = try String(contentsOfFile: ws.specPath, encoding: .utf8)
        ws.keptRegistrySetting(text2).keep(KeptRegistrySetting(project: "fraud", registry: "postgres://u:secret@evil/x"))
        #expect(ws.keptRegistrySetting(text2).read()?.registry == "postgres://u:secret@evil/x")
        #expect(try ws.registryLocation(environment: [:]) == .postgres(url: "postgres://db.example/other", project: "fraud"))
    }

    @Test func anUnusableSettingIsReportedEachTimeAndNotKept() throws {
        let ws = try Workspace.scratch("project: churn\nregistry: mysql://db.example/x\n")
        defer { try? FileManager.default.removeItem(atPath: ws.root) }
        for _ in 0..<2 {
            #expect(throws: SpecErrors.self) { try ws.registryLocation(environment: [:]) }
        }
        #expect(!FileManager.default.fileExists(atPath: ws.registrySettingPath))
    }
}
