import Foundation
import Testing
@testable import SlipwayDemo
import SlipwayEngine

/// The demo's files are real files (the target's resources): each one is
/// there, both specs load against them, and the scripts are valid Python.
@Suite struct DemoFilesTests {
    func temporaryFolder() -> String {
        let dir = NSTemporaryDirectory() + "slipway-demo-files-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func everyFileIsBundled() throws {
        for name in DemoFiles.shared + DemoFiles.tourOnly + ["slipway.yaml", "tour.yaml", "gitignore.txt"] {
            #expect(!(try DemoFiles.text(name)).isEmpty, "\(name)")
        }
        let rows = try DemoFiles.text("data/seattle-weather.csv").split(separator: "\n")
        #expect(rows.first == "date,precipitation,temp_max,temp_min,wind,weather")
        #expect(rows.count == 1 + 1461)
    }

    @Test func theExampleWorkspaceLoads() throws {
        let ws = try DemoProject.initialize(at: temporaryFolder() + "/example")
        let loaded = try ws.loadSpec()
        #expect(loaded.spec.pipelines.map(\.name) == ["weather"])
        for name in DemoFiles.shared { #expect(FileSystem.exists(ws.root + "/" + name), "\(name)") }
    }

    @Test func theTourSpecLoadsWithItsKeysFilledIn() throws {
        let root = temporaryFolder()
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBcW7+zGw5Uu1QmFdLZWZ9Rf0U0sbA7iU1zXk0y1r2u3 demo@example.org"
        let spec = try DemoFiles.tourSpec(approverKey: key, signerKey: key, canaryInterval: "6s")
        #expect(!spec.contains("{{"))
        try FileSystem.makeDirectory(root + "/data")
        for (name, text) in try DemoFiles.files(DemoFiles.shared + DemoFiles.tourOnly) + [("slipway.yaml", spec), ("data/history.csv", "x\n"), ("data/reference.csv", "x\n")] {
            try FileSystem.writeFile(root + "/" + name, Data(text.utf8))
        }
        let loaded = try Workspace(root: root).loadSpec()
        #expect(loaded.spec.environments.map(\.name) == ["dev", "staging", "production"])
        #expect(loaded.spec.monitorSpecs.map(\.name) == ["weather"])
    }

    /// Production on HAProxy: the tour's spec with the real production block
    /// loads, and the deploy recipe is the one in examples/deploy/haproxy/.
    @Test func theRealProductionSpecLoadsAndUsesTheHAProxyRecipe() throws {
        let root = temporaryFolder()
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBcW7+zGw5Uu1QmFdLZWZ9Rf0U0sbA7iU1zXk0y1r2u3 demo@example.org"
        let spec = try DemoFiles.realTourSpec(approverKey: key, signerKey: key, canaryInterval: "4s",
                                              prometheus: "http://127.0.0.1:9999", socket: "/tmp/x/haproxy.sock")
        #expect(!spec.contains("{{"))
        #expect(!spec.contains("probe.py"))
        #expect(spec.contains("deploy: python3 deploy.py && HAPROXY_SOCKET='/tmp/x/haproxy.sock' sh haproxy-deploy.sh"))
        try FileSystem.makeDirectory(root + "/data")
        for (name, text) in try DemoFiles.files(DemoFiles.shared + DemoFiles.realProduction) + [("slipway.yaml", spec), ("data/history.csv", "x\n"), ("data/reference.csv", "x\n")] {
            try FileSystem.writeFile(root + "/" + name, Data(text.utf8))
        }
        let loaded = try Workspace(root: root).loadSpec()
        #expect(loaded.spec.environments.map(\.name) == ["dev", "staging", "production"])
        let recipe = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/deploy/haproxy/deploy.sh")
        #expect(try DemoFiles.text("haproxy-deploy.sh") == String(contentsOf: recipe, encoding: .utf8),
                "Resources/seattle-weather/haproxy-deploy.sh must be a copy of examples/deploy/haproxy/deploy.sh")
        let r = try OutsideTool.run(["python3", "-m", "py_compile", root + "/production.py"])
        #expect(r.succeeded, "\(r.stderr)")
    }

    @Test func theScriptsAreValidPython() throws {
        let root = temporaryFolder()
        var paths: [String] = []
        for (name, text) in try DemoFiles.files((DemoFiles.shared + DemoFiles.tourOnly).filter { $0.hasSuffix(".py") }) {
            try FileSystem.writeFile(root + "/" + name, Data(text.utf8))
            paths.append(root + "/" + name)
        }
        #expect(paths.count == 6)
        let r = try OutsideTool.run(["python3", "-m", "py_compile"] + paths)
        #expect(r.succeeded, "\(r.stderr)")
    }
}
