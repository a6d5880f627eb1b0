import Foundation
import PostgresTestServer
import Testing

/// Two clones of one project on one PostgreSQL registry (`registry:` in
/// slipway.yaml), against a throw-away PostgreSQL server on loopback.
@Suite struct TeamRegistryTests {
    /// A clone of the `reg` project whose registry is `url`.
    func clone(_ url: String) -> Sandbox {
        let s = gatedWorkspace()
        let spec = s.read("slipway.yaml")!.replacingOccurrences(of: "project: reg\n", with: "project: reg\nregistry: \(url)\n")
        s.write("slipway.yaml", spec)
        return s
    }

    @Test func twoClonesShareOneRegistryAndItsAuditTrail() throws {
        let url = try PostgresTestServer.freshDatabase().description
        let a = clone(url), b = clone(url)
        let run = a.run("run")
        #expect(run.status == 0, "\(run.stderr)")
        // B sees A's run and version, and promotes it; A sees the promotion.
        let runs = try #require(try b.json("runs", "--json") as? [[String: Any]])
        #expect(runs.count == 1)
        #expect(b.run("promote", "clf:1", "--to", "production").status == 0)
        let models = try #require(try a.json("models", "--json") as? [[String: Any]])
        #expect(models.count == 1)
        #expect("\(models)".contains("production"))
        for clone in [a, b] {
            let verify = clone.run("audit", "verify")
            #expect(verify.status == 0 && verify.stdout.hasPrefix("audit trail verified"), "\(verify.stdout)\(verify.stderr)")
        }
        // Nothing went to an embedded registry.
        #expect(!a.exists(".slipway/registry.sqlite") && !b.exists(".slipway/registry.sqlite"))
        // $SLIPWAY_REGISTRY_URL wins over the spec: another database is empty.
        let other = try PostgresTestServer.freshDatabase().description
        let elsewhere = b.run("runs", "--json", environment: ["SLIPWAY_REGISTRY_URL": other])
        #expect(elsewhere.status == 0, "\(elsewhere.stderr)")
        #expect((try JSONSerialization.jsonObject(with: Data(elsewhere.stdout.utf8)) as? [Any])?.isEmpty == true)
    }

    /// A console in clone A hears of clone B's writes through LISTEN/NOTIFY
    /// (traced as a reload after the change feed) and shows them. How soon is
    /// measured in docs/benchmarks.md; here the rule is that the change feed,
    /// not a poll, brought the reload (a wall-clock bound would fail on a
    /// loaded machine for reasons that are not the program's).
    @Test(.enabled(if: TmuxSession.available)) func aConsoleShowsAnotherClonesRunFromTheChangeFeed() throws {
        let url = try PostgresTestServer.freshDatabase().description
        let a = clone(url), b = clone(url)
        #expect(a.run("status").status == 0)
        let trace = a.root + "/console.trace"
        let t = TmuxSession(command: "SLIPWAY_CONSOLE_TRACE=\(trace) \(Sandbox.binary) -C \(a.root) console")
        defer { t.kill() }
        #expect(t.wait(for: "No runs yet"), "\(t.screen)")
        let run = b.run("run")
        #expect(run.status == 0, "\(run.stderr)")
        let finished = Date()
        #expect(t.wait(for: "✓ evaluate", timeout: 30), "\(t.screen)")
        let shownAfter = Date().timeIntervalSince(finished)
        FileHandle.standardError.write(Data("clone B's run shown in clone A's console \(Int(shownAfter * 1000)) ms after it finished\n".utf8))
        #expect((try? String(contentsOfFile: trace, encoding: .utf8))?.contains("reload-after-change-feed") == true)
        t.keys("q")
    }

    /// The agent in clone A passes when clone B writes, not at its next
    /// interval: B's promotion to staging is followed into an `auto:`
    /// production in seconds while the agent's interval is ten minutes.
    @Test func theAgentActsOnAnotherClonesWriteAtOnce() throws {
        let url = try PostgresTestServer.freshDatabase().description
        let a = clone(url), b = clone(url)
        for c in [a, b] {
            c.write("slipway.yaml", c.read("slipway.yaml")!.replacingOccurrences(of: "production: {requires: none}",
                                                                             with: "production: {requires: staging, auto: true}"))
        }
        #expect(a.run("status").status == 0)
        let agent = try a.start(["agent", "--interval", "600"])
        defer { kill(agent.processIdentifier, SIGTERM); a.reap(agent) }
        #expect(a.waitUntil(timeout: 30) { a.read(".slipway/agent.log")?.contains("listening for changes to the registry") == true },
                "\(a.read(".slipway/agent.log") ?? "no agent.log")")
        #expect(b.run("run").status == 0)
        #expect(b.run("promote", "clf:1", "--to", "staging").status == 0)
        // Woken by the change feed: this wait is far shorter than the agent's
        // 600 s interval, with room for a loaded machine.
        #expect(a.waitUntil(timeout: 30) { a.read(".slipway/agent.log")?.contains("auto: clf:1 → production") == true },
                "\(a.read(".slipway/agent.log") ?? "")")
        let models = try #require(try b.json("models", "--json") as? [[String: Any]])
        #expect("\(models)".contains("production"))
    }

    /// `registry migrate` moves a registry with history (runs, versions,
    /// promotions, a rollback, metrics) into PostgreSQL with the same audit head;
    /// a second migrate, or a broken embedded trail, changes nothing.
    @Test func registryMigrateCopiesTheHistoryWithTheSameAuditHead() throws {
        let s = gatedWorkspace()
        #expect(s.run("run").status == 0)
        s.write("params.yaml", "train:\n  lr: 0.05\n")
        #expect(s.run("run", "--set", "train.lr=0.2").status == 0)
        #expect(s.run("promote", "clf:1", "--to", "production").status == 0)
        #expect(s.run("promote", "clf:2", "--to", "production").status == 0)
        #expect(s.run("rollback", "production", "--reason", "latency").status == 0)
        let here = try #require(try s.json("audit", "verify", "--json") as? [String: Any])
        let runsHere = s.run("runs", "--json").stdout
        let historyHere = s.run("models", "history", "clf", "--json").stdout

        let url = try PostgresTestServer.freshDatabase().description
        let migrated = s.run("registry", "migrate", "--to", url)
        #expect(migrated.status == 0, "\(migrated.stderr)")
        #expect(migrated.stdout.contains("audit trail verified there: \(here["events"] as? Int ?? -1) events"), "\(migrated.stdout)")
        #expect(migrated.stdout.contains("registry: \(url)"))
        let there = ["SLIPWAY_REGISTRY_URL": url]
        let verified = try #require(try JSONSerialization.jsonObject(with: Data(s.run(["audit", "verify", "--json"], environment: there).stdout.utf8)) as? [String: Any])
        #expect(verified["ok"] as? Bool == true)
        #expect(verified["headHash"] as? String == here["headHash"] as? String)
        #expect(verified["headSeq"] as? Int == here["headSeq"] as? Int)
        #expect(s.run(["runs", "--json"], environment: there).stdout == runsHere)
        #expect(s.run(["models", "history", "clf", "--json"], environment: there).stdout == historyHere)
        #expect(s.run(["show", "2", "--json"], environment: there).stdout.contains("\"train.lr\" : \"0.2\""))
        // New records continue the ids and the chain.
        #expect(s.run(["run", "--force"], environment: there).status == 0)
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(s.run(["runs", "--json"], environment: there).stdout.utf8)) as? [[String: Any]])
        #expect(runs.first?["id"] as? Int == 3)
        #expect(s.run(["audit", "verify"], environment: there).status == 0)

        // Again: the project is no longer empty, and nothing changes.
        let again = s.run("registry", "migrate", "--to", url)
        #expect(again.status == 2 && again.stderr.contains("is not empty"), "\(again.stderr)")
        #expect(s.run(["runs", "--json"], environment: there).stdout.contains("\"id\" : 3"))

        // A broken embedded trail is not carried over.
        let broken = gatedWorkspace()
        #expect(broken.run("run").status == 0)
        tamper(broken, "UPDATE auditEvent SET actor = 'mallory' WHERE seq = 1")
        let other = try PostgresTestServer.freshDatabase().description
        let refused = broken.run("registry", "migrate", "--to", other)
        #expect(refused.status == 3 && refused.stderr.contains("does not verify"), "\(refused.stderr)")
        let empty = broken.run(["runs", "--json"], environment: ["SLIPWAY_REGISTRY_URL": other])
        #expect((try JSONSerialization.jsonObject(with: Data(empty.stdout.utf8)) as? [Any])?.isEmpty == true, "\(empty.stdout)")
    }

    /// The server restarts while a stage logs metrics: the run rides it out,
    /// no point is lost, and the trail verifies.
    @Test func aRunRidesOutAServerRestart() throws {
        let server = try PostgresTestServer.dedicated()
        defer { server.stop() }
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: restart
        registry: \(server.url.description)
        pipelines:
          main:
            stages:
              train:
                cmd: for i in $(seq 1 40); do echo "::metric name=loss value=0.$i step=$i"; sleep 0.1; done; echo trained > model.txt
                outs: [model.txt]
        """)
        let run = try s.start(["run"])
        func lines() -> Int { (s.read(".slipway/logs/run-1/train.log") ?? "").components(separatedBy: "::metric").count - 1 }
        #expect(s.waitUntil(timeout: 30) { lines() >= 5 })
        try server.pause()
        // The stage goes on logging while the server is down.
        #expect(s.waitUntil(timeout: 30) { lines() >= 20 })
        try server.resume()
        #expect(s.reap(run, timeout: 120) >> 8 == 0)
        let shown = try #require(try s.json("show", "1", "--json") as? [String: Any])
        #expect((shown["run"] as? [String: Any])?["status"] as? String == "succeeded")
        #expect((shown["metrics"] as? [Any])?.count == 40, "\(shown["metrics"] ?? "")")
        #expect(s.run("audit", "verify").status == 0)
    }

    /// `store:` names a folder both clones share: a version packaged in
    /// clone A verifies and pushes from clone B, which never built it.
    @Test func aSharedStoreLetsEveryCloneVerifyAndPush() throws {
        let url = try PostgresTestServer.freshDatabase().description
        let shared = Sandbox()
        func clone() -> Sandbox {
            let c = Sandbox()
            c.write("train.sh", "#!/bin/sh\nmkdir -p model && cat params.yaml > model/weights.txt\n", executable: true)
            c.write("params.yaml", "train:\n  lr: 0.1\n")
            c.write("slipway.yaml", """
            project: shared
            registry: \(url)
            store: \(shared.root)/churn
            pipelines:
              main:
                model: clf
                stages:
                  train: {cmd: ./train.sh, deps: [train.sh, params.yaml], params: [train.lr], outs: [model]}
                  package: {uses: package, model: model, needs: [train]}
            environments:
              production: {requires: none}
            """)
            return c
        }
        let a = clone(), b = clone()
        // The shared folder must exist: an unmounted share is not an empty store.
        let missing = a.run("run")
        #expect(missing.status == 2 && missing.stderr.contains("is not a folder: is the shared file system mounted?"), "\(missing.stderr)")
        try FileManager.default.createDirectory(atPath: shared.root + "/churn", withIntermediateDirectories: true)
        let built = a.run("run")
        #expect(built.status == 0, "\(built.stderr)")
        #expect(!a.exists(".slipway/images") && shared.exists("churn/images/clf/index.json"))
        // Clone B never ran the pipeline: it verifies, pushes and restores from the shared store.
        let verified = b.run("verify", "clf:1")
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let pushed = b.run("push", "clf:1", b.root + "/out")
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(b.exists("out/index.json"))
        #expect(b.run("promote", "clf:1", "--to", "production").status == 0)
        // B's run of the same inputs takes its outs from the shared store.
        let cached = b.run("run", "--explain")
        #expect(cached.status == 0, "\(cached.stderr)")
        #expect(b.read("model/weights.txt") == "train:\n  lr: 0.1\n")
        #expect(cached.stderr.contains("train: cached") || cached.stderr.contains("same inputs"), "\(cached.stderr)")
    }

    @Test func initCreatesTheProjectsSchemaAndAnUnreachableServerLeavesNothing() throws {
        let url = try PostgresTestServer.freshDatabase().description
        let parent = Sandbox()
        let made = parent.run("init", "-C", parent.root + "/ws", "--registry", url)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(parent.read("ws/slipway.yaml")?.contains("registry: \(url)\n") == true)
        let ws = Sandbox(existing: parent.root + "/ws")
        #expect(ws.run("audit", "verify").status == 0)
        let events = try #require(try ws.json("audit", "ls", "--json") as? [[String: Any]])
        #expect(events.map { $0["kind"] as? String } == ["workspace.created"])

        // Port 1 on loopback: nothing listens. The command fails and writes nothing.
        let refused = parent.run("init", "-C", parent.root + "/nothing", "--registry", "postgres://postgres@127.0.0.1:1/slipway")
        #expect(refused.status != 0 && refused.stderr.contains("127.0.0.1"))
        #expect(!parent.exists("nothing/slipway.yaml") && !parent.exists("nothing/.slipway"))
    }

    @Test func aPasswordInTheURLIsRefusedAndNeverRepeated() throws {
        let secret = "hunter2-\(UUID().uuidString.prefix(6))"
        let parent = Sandbox()
        let made = parent.run("init", "-C", parent.root + "/ws", "--registry", "postgres://ana:\(secret)@db.example:5432/slipway")
        #expect(made.status != 0 && made.stderr.contains("PGPASSWORD") && !made.stderr.contains(secret))
        #expect(!parent.exists("ws/slipway.yaml"))

        let s = clone("postgres://ana@db.example:5432/slipway?password=\(secret)")
        for args in [["lint"], ["runs"], ["status"]] {
            let r = s.run(args)
            #expect(r.status != 0 && r.stderr.contains("slipway.yaml:") && r.stderr.contains("registry"), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains(secret) && !r.stdout.contains(secret))
        }
        let plain = gatedWorkspace()
        let r = plain.run(["runs"], environment: ["SLIPWAY_REGISTRY_URL": "postgresql://ana:\(secret)@db.example/slipway"])
        #expect(r.status != 0 && r.stderr.contains("SLIPWAY_REGISTRY_URL") && !r.stderr.contains(secret))
    }
}
