import Foundation
import Testing

@Suite struct RollbackTests {
    /// Three registered versions, promoted to production one after another.
    func promotedThrice(deploy: String? = nil) throws -> Sandbox {
        let s = gatedWorkspace()
        if let deploy {
            s.write("slipway.yaml", s.read("slipway.yaml")!.replacingOccurrences(of: "  production: {requires: none}", with: "  production: {requires: none, deploy: \"\(deploy)\"}"))
        }
        for (i, lr) in ["0.1", "0.2", "0.3"].enumerated() {
            s.write("params.yaml", "train:\n  lr: \(lr)\n")
            #expect(s.run("run").status == 0)
            #expect(s.run("promote", "clf:\(i + 1)", "--to", "production").status == 0)
        }
        return s
    }

    func live(_ s: Sandbox) throws -> Int? {
        let target = try JSONSerialization.jsonObject(with: Data(s.read(".slipway/deploy/production.json")!.utf8)) as? [String: Any]
        return target?["version"] as? Int
    }

    @Test func rollsBackToThePreviousVersionAndNotToTheOneRolledBackFrom() throws {
        let s = try promotedThrice()
        #expect(try live(s) == 3)
        let first = s.run(["rollback", "production", "--reason", "error rate up"], environment: ["SLIPWAY_USER": "oncall"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("clf:2 is live in production again (was :3)"))
        #expect(try live(s) == 2)
        let target = try #require(try JSONSerialization.jsonObject(with: Data(s.read(".slipway/deploy/production.json")!.utf8)) as? [String: Any])
        #expect(target["by"] as? String == "oncall" && target["reason"] as? String == "rollback: error rate up" && target["traffic"] as? Int == 100)
        // Again: back to 1, never forward to the version just rolled back from.
        #expect(s.run("rollback", "production").stdout.contains("clf:1 is live in production again (was :2)"))
        #expect(try live(s) == 1)
        // Named, and shown by deployments.
        #expect(s.run("rollback", "production", "--to", "3").status == 0)
        let deployments = try #require(try s.json("deployments", "--json") as? [[String: Any]])
        let production = try #require(deployments.first { $0["environment"] as? String == "production" })
        #expect(production["live"] as? Int == 3 && production["previous"] as? Int == 1)
        #expect(s.run("models", "history", "clf", "--env", "production").stdout.contains("rollback: error rate up"))
        #expect(s.run("audit", "verify").status == 0)
        // Refusals.
        #expect(s.run("rollback", "staging").status == 2)
        #expect(s.run("rollback", "prod").stderr.contains("no environment 'prod'; environments: staging, production"))
        #expect(s.run("rollback", "production", "--to", "9").status == 2)
    }

    @Test func theDeployCommandRunsAfterThePointerMoves() throws {
        let s = try promotedThrice(deploy: "printf '%s %s %s %s' $SLIPWAY_MODEL $SLIPWAY_VERSION $SLIPWAY_ENV $SLIPWAY_STABLE_VERSION > deployed.txt")
        #expect(s.read("deployed.txt") == "clf 3 production 2")
        #expect(s.run("rollback", "production").status == 0)
        #expect(s.read("deployed.txt") == "clf 2 production 2")
        let events = try #require(try s.json("audit", "--kind", "deploy.ran", "--json") as? [[String: Any]])
        #expect(events.count == 4)

        let t = try promotedThrice(deploy: "[ ! -e broken ] || exit 7")
        t.write("broken", "")
        let failed = t.run("rollback", "production")
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("the pointer moved, but the deploy command failed (exit code 7)"))
        #expect(try live(t) == 2)
    }
}

@Suite struct RunbookTests {
    /// docs/deployment.md's on-call runbook, followed as written: every
    /// `slipway …` command in it runs, in order, against a workspace with
    /// three versions promoted to production.
    @Test func theOnCallRunbookWorksAsWritten() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/deployment.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        let runbook = try #require(text.components(separatedBy: "## On-call runbook").last)
        var commands: [String] = []
        var rest = Substring(runbook)
        while let open = rest.firstIndex(of: "`") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "`") else { break }
            let code = String(after[..<close])
            if code.hasPrefix("slipway ") && !code.contains("NAME") { commands.append(code) }
            rest = after[after.index(after: close)...]
        }
        #expect(commands.count >= 6, "\(commands)")
        let s = try RollbackTests().promotedThrice()
        for command in commands {
            var args = Array(command.split(separator: " ").map(String.init).dropFirst())
            // Quoted reasons stay one argument.
            if let i = args.firstIndex(where: { $0.hasPrefix("\"") }) {
                args = Array(args[..<i]) + [args[i...].joined(separator: " ").trimmingCharacters(in: CharacterSet(charactersIn: "\""))]
            }
            args = args.map { $0 == "/path/to/workspace" ? s.root : $0 == "MODEL" ? "clf" : $0 }
            let r = s.run(args)
            #expect(r.status == 0, "\(command): \(r.stderr)")
            if command.contains("rollback production --reason") {
                #expect(r.stdout.contains("clf:2 is live in production again (was :3)"), "\(r.stdout)")
            }
        }
        let target = s.read(".slipway/deploy/production.json") ?? ""
        #expect(target.contains("\"version\":1"), "\(target)")
    }
}
