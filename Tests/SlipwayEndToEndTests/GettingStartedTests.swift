import Foundation
import Testing

/// docs/getting-started.md's commands run as written in a copy of
/// examples/getting-started (the agent for one pass, the console as `status`
/// since there is no terminal).
@Suite struct GettingStartedTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `slipway …` lines of the document's "Then:" block, comments cut.
    func documentedCommands() throws -> [[String]] {
        let doc = try String(contentsOf: Self.repo.appendingPathComponent("docs/getting-started.md"), encoding: .utf8)
        let after = try #require(doc.components(separatedBy: "Then:\n").last)
        let block = try #require(after.components(separatedBy: "```sh\n").dropFirst().first?.components(separatedBy: "```").first)
        return block.split(separator: "\n").map { line in
            let command = line.components(separatedBy: "#").first!.trimmingCharacters(in: .whitespaces)
            return command.split(separator: " ").map(String.init)
        }.filter { $0.first == "slipway" }
    }

    @Test func theDocumentsCommandsRunAsWrittenOnTheExample() throws {
        let commands = try documentedCommands()
        #expect(commands.count >= 6, "\(commands)")
        let s = Sandbox()
        try FileManager.default.removeItem(atPath: s.root)
        try FileManager.default.copyItem(atPath: Self.repo.appendingPathComponent("examples/getting-started").path, toPath: s.root)
        for args in [["init", "-q"], ["add", "-A"], ["-c", "user.email=ana@example.org", "-c", "user.name=Ana", "commit", "-qm", "start"]] {
            let git = Process()
            git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            git.arguments = ["git", "-C", s.root] + args
            try git.run()
            git.waitUntilExit()
            #expect(git.terminationStatus == 0)
        }
        for command in commands {
            var args = Array(command.dropFirst())
            if args == ["agent"] { args.append("--once") }  // the agent runs until stopped
            let r = s.run(args)
            #expect(r.status == 0, "`\(command.joined(separator: " "))` exited \(r.status): \(r.stderr)")
        }
        #expect(s.read("eval.json")?.contains("\"auc\"") == true)
        #expect(s.read("deployed/staging.json")?.contains("\"version\":1") == true)
        #expect(s.read("deployed/production.json")?.contains("\"version\":1") == true)
        #expect(s.run("audit", "verify").status == 0)
    }
}
