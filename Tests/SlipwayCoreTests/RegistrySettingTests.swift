import Testing
@testable import SlipwayCore

@Suite struct RegistrySettingTests {
    @Test(arguments: ["postgres://ana@db:5432/slipway?sslmode=require", "postgresql://db/slipway", "postgres:///slipway?host=/run/postgresql"])
    func aURLWithoutAPasswordIsAccepted(_ url: String) {
        #expect(RegistrySetting.problem(url) == nil)
    }

    @Test(arguments: ["postgres://ana:pw-42@db/slipway", "postgres://db/slipway?sslmode=require&password=pw-42",
                      "postgresql://ana:pw-42@db:1,other:2/slipway"])
    func aPasswordIsRefusedWithoutBeingRepeated(_ url: String) throws {
        let problem = try #require(RegistrySetting.problem(url))
        #expect(problem.contains("PGPASSWORD") && !problem.contains("pw-42"))
        let error = #expect(throws: SpecErrors.self) { try SpecParser.parse("project: p\nregistry: \(url)\npipelines: {main: {stages: {a: {cmd: x}}}}\n") }
        #expect(error?.issues.map(\.keyPath) == ["registry"])
        #expect(error?.description.contains("pw-42") == false)
    }

    @Test func aSharedStoreIsAFolderAndReadCheaply() throws {
        #expect(try StoreSetting.read("project: p\nstore: /mnt/share/p\n") == "/mnt/share/p")
        #expect(try StoreSetting.read("store: ../share\nproject: p\n") == "../share")
        #expect(try StoreSetting.read("project: p\n# store: /x\n") == nil)
        #expect(throws: SpecErrors.self) { try StoreSetting.read("project: p\nstore: s3://bucket/p\n") }
        #expect(throws: SpecErrors.self) { try StoreSetting.read("project: p\nstore:\n") }
        let spec = try SpecParser.parse("project: p\nstore: /mnt/share/p\npipelines: {main: {stages: {a: {cmd: x}}}}\n")
        #expect(spec.store?.value == "/mnt/share/p")
        let error = #expect(throws: SpecErrors.self) { try SpecParser.parse("project: p\nstore: s3://b\npipelines: {main: {stages: {a: {cmd: x}}}}\n") }
        #expect(error?.issues.map(\.keyPath) == ["store"])
    }

    @Test func aStoreKeyInAnySpellingIsFoundAndASpecWithoutOneIsNotParsed() throws {
        #expect(!StoreSetting.mayNameStore("project: p\npipelines: {main: {stages: {a: {cmd: x}}}}\n"))
        // Spellings the YAML allows besides `store:` at the start of a line.
        #expect(try StoreSetting.read("project: p\n\"store\": /mnt/a\n") == "/mnt/a")
        #expect(try StoreSetting.read("project: p\nstore : /mnt/b\n") == "/mnt/b")
        #expect(try StoreSetting.read("{project: p, store: /mnt/c}") == "/mnt/c")
        let escaped = "project: p\n\"\\x73tore\": /mnt/d\n"
        #expect(StoreSetting.mayNameStore(escaped))
        #expect(try StoreSetting.read(escaped) == "/mnt/d")
        // A stage whose command restores something is parsed, and names no store.
        #expect(try StoreSetting.read("project: p\npipelines: {main: {stages: {a: {cmd: restore.sh}}}}\n") == nil)
    }

    @Test func onlyProjectAndRegistryAreReadToFindTheRegistry() throws {
        // The rest of the spec may be mid-edit.
        let read = try RegistrySetting.read("project: churn\nregistry: postgres://ana@db/slipway\npipelines: {broken\n".replacingOccurrences(of: "{broken\n", with: "7\n"))
        #expect(read.project == "churn" && read.registry == "postgres://ana@db/slipway")
        #expect(try RegistrySetting.read("project: churn\n").registry == nil)
        #expect(throws: SpecErrors.self) { try RegistrySetting.read("project: churn\nregistry: sqlite:///x\n") }
        #expect(throws: SpecErrors.self) { try RegistrySetting.read("project: churn\nregistry:\n") }
    }

    @Test func aSpecThatCannotNameARegistryIsNotParsedForOne() throws {
        #expect(!RegistrySetting.mayNameRegistry("project: p\npipelines: {main: {stages: {a: {cmd: x}}}}\n"))
        #expect(!RegistrySetting.mayNameRegistry(""))
        #expect(RegistrySetting.mayNameRegistry("project: p\nregistry: postgres://db/x\n"))
        #expect(RegistrySetting.mayNameRegistry("project: p\n# registry: later\n"))
        // A double-quoted key can spell it with escapes.
        let escaped = "project: p\n\"\\x72egistry\": postgres://ana@db/x\n"
        #expect(RegistrySetting.mayNameRegistry(escaped))
        #expect(try RegistrySetting.read(escaped).registry == "postgres://ana@db/x")
        #expect(RegistrySetting.mayNameRegistry("project: é\nrégistry_registry: 1\n"))
    }

    @Test func theByteSearchFindsANeedleAnywhereAndNothingElse() {
        #expect(RegistrySetting.contains("registry: x", "registry"))
        #expect(RegistrySetting.contains("x: 1\nregistry", "registry"))
        #expect(RegistrySetting.contains("é régistry registr", "registry") == false)
        #expect(RegistrySetting.contains("éregistry", "registry"))
        #expect(RegistrySetting.contains("regis", "registry") == false)
        #expect(RegistrySetting.contains("", "registry") == false)
        #expect(RegistrySetting.contains("anything", ""))
        #expect(RegistrySetting.contains(String(repeating: "registr", count: 100_000) + "y", "registry"))
    }
}
