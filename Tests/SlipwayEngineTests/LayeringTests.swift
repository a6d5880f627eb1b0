import Foundation
import Testing

/// The layers hold by construction: each target imports only the ones below
/// it, and the faces (console, command line, demo) never see the store. A
/// face that needs a new query adds it to `RegistryReading`; one that needs
/// to act calls an engine service.
@Suite struct LayeringTests {
    static let sources = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources")

    /// Every `import X` in the target's Swift files.
    static func imports(of target: String) throws -> [String: Set<String>] {
        let root = sources.appendingPathComponent(target)
        var found: [String: Set<String>] = [:]
        let files = FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? []
        for file in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                guard let i = words.firstIndex(of: "import"), i + 1 < words.count,
                      words[..<i].allSatisfy({ $0.hasPrefix("@") || ["public", "internal", "package"].contains($0) })
                else { continue }
                found[String(words[i + 1]), default: []].insert(file)
            }
        }
        return found
    }

    static let below: [String: Set<String>] = [
        "SlipwayCore": [],
        "SlipwayStore": ["SlipwayCore", "SlipwayPostgres"],
        "SlipwayEngine": ["SlipwayCore", "SlipwayStore"],
        "SlipwayConsole": ["SlipwayCore", "SlipwayEngine", "CNcursesw"],
        "SlipwayDemo": ["SlipwayCore", "SlipwayEngine"],
        // The command line links no HTTP server: a run starts slipway-mlflow for that.
        "slipway": ["SlipwayCore", "SlipwayEngine", "SlipwayConsole", "SlipwayDemo"],
        "SlipwayTracking": ["SlipwayCore", "SlipwayEngine"],
        "slipway-mlflow": ["SlipwayTracking"],
    ]
    static let slipwayModules: Set<String> = [
        "SlipwayCore", "SlipwayPostgres", "SlipwayStore", "SlipwayEngine", "SlipwayTracking",
        "SlipwayConsole", "SlipwayDemo", "CNcursesw", "CLibPQ",
    ]

    @Test(arguments: below.keys.sorted())
    func aTargetImportsOnlyTheLayersBelowIt(_ target: String) throws {
        let allowed = Self.below[target]!
        for (module, files) in try Self.imports(of: target) where Self.slipwayModules.contains(module) {
            #expect(allowed.contains(module), "\(target) imports \(module) in \(files.sorted().joined(separator: ", "))")
        }
    }

    @Test func noEngineFileReExportsTheStore() throws {
        let root = Self.sources.appendingPathComponent("SlipwayEngine")
        let files = FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? []
        for file in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            #expect(!text.contains("@_exported import SlipwayStore"), "\(file) re-exports the store to the faces")
        }
    }
}
