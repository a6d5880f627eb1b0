import Foundation
import Testing

@Suite(.serialized) struct ApprovalTests {
    /// A workspace with two approvers (Dana, Sam) and a policy: an architecture
    /// change is high risk, a threshold-only change low risk.
    func workspace(required: Int = 1, expires: String = "7d", passphrase: String = "") throws -> Sandbox {
        let s = Sandbox()
        try FileManager.default.createDirectory(atPath: s.root + "/keys", withIntermediateDirectories: true)
        for who in ["dana", "sam", "ana"] {
            tool(["ssh-keygen", "-q", "-t", "ed25519", "-N", who == "dana" ? passphrase : "", "-C", "\(who)@example.org", "-f", s.root + "/keys/\(who)"])
        }
        func pub(_ who: String) -> String { s.read("keys/\(who).pub")!.trimmingCharacters(in: .whitespacesAndNewlines) }
        s.write("slipway.yaml", """
        project: approvals
        pipelines:
          main:
            model: clf
            stages:
              train:
                cmd: |
                  cat params.yaml > model.txt && printf '{"accuracy":0.9}' > eval.json
                deps: [params.yaml]
                params: [model.arch, serving.threshold]
                outs: [model.txt]
                metrics: [eval.json]
        environments:
          staging: {}
          production: {requires: none}
        policy:
          high_risk_when: [{params_changed: [model.arch]}, {tag: base-model-upgrade}, {env: production}]
          low_risk_when: [{params_changed: [serving.threshold]}]
          approvers:
            - {name: Dana Ruiz, user: dana, key: "\(pub("dana"))"}
            - {name: Sam Lee, user: [sam, sam@example.org], key: "\(pub("sam"))"}
          required_approvals: \(required)
          expires: \(expires)
        """)
        s.write("params.yaml", "model:\n  arch: gbm\nserving:\n  threshold: 0.5\n")
        return s
    }

    func run(_ s: Sandbox, as user: String = "ana") {
        let r = s.run(["run"], environment: ["SLIPWAY_USER": user])
        #expect(r.status == 0, "\(r.stderr)")
    }

    func promote(_ s: Sandbox, _ ref: String, to env: String = "production", as user: String = "ana", reason: String? = nil) -> Sandbox.Result {
        s.run(["promote", ref, "--to", env] + (reason.map { ["--reason", $0] } ?? []), environment: ["SLIPWAY_USER": user])
    }

    func approve(_ s: Sandbox, _ id: Int, key: String, comment: String = "looks right", as user: String = "dana") -> Sandbox.Result {
        s.run(["approve", String(id), "--key", s.root + "/keys/\(key)", "--comment", comment], environment: ["SLIPWAY_USER": user])
    }

    @Test func highRiskWaitsForASignatureAndLowRiskGoesThrough() throws {
        let s = try workspace()
        run(s)
        // Nothing live yet: every param counts as changed, the architecture among them.
        let first = promote(s, "clf:1", reason: "first release of the churn model")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("is high risk: waiting for 1 approval (request 1)"), "\(first.stdout)")
        #expect(first.stdout.contains("params changed: model.arch (— → gbm)"))
        #expect(s.run("status").stdout.contains("approvals    ◆ #1 clf:1 → production"))
        #expect(!s.run("status").stdout.contains("production  clf:1"))
        let pending = try #require(try s.json("approvals", "--json") as? [[String: Any]])
        #expect(pending.count == 1 && pending[0]["status"] as? String == "pending" && pending[0]["requester"] as? String == "ana")
        // The requester's reason is kept with the request.
        #expect(pending[0]["reason"] as? String == "first release of the churn model", "\(pending)")

        // Someone who is not an approver: refused, nothing recorded.
        let outsider = approve(s, 1, key: "ana", as: "eve")
        #expect(outsider.status == 3)
        #expect(outsider.stderr.contains("belongs to no approver"), "\(outsider.stderr)")

        let ok = approve(s, 1, key: "dana")
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("approved by Dana Ruiz: clf:1 → production"), "\(ok.stdout)")
        #expect(s.run("status").stdout.contains("production  clf:1"))
        let history = s.run("models", "history", "clf").stdout
        #expect(history.contains("approved by Dana Ruiz (request 1)"))
        #expect(history.contains("first release of the churn model"), "\(history)")

        // A threshold-only change is low risk: promoted at once.
        s.write("params.yaml", "model:\n  arch: gbm\nserving:\n  threshold: 0.6\n")
        run(s)
        let low = promote(s, "clf:2")
        #expect(low.status == 0)
        #expect(low.stdout.contains("clf:2 → production (was :1) · low risk: only low-risk params changed: serving.threshold (0.5 → 0.6)"), "\(low.stdout)")

        // An architecture change is high risk again, with the evidence kept.
        s.write("params.yaml", "model:\n  arch: mlp\nserving:\n  threshold: 0.6\n")
        run(s)
        let high = promote(s, "clf:3")
        #expect(high.stdout.contains("params changed: model.arch (gbm → mlp)"), "\(high.stdout)")
        #expect(s.run("audit", "verify").status == 0)
        let kinds = try #require(try s.json("audit", "--json") as? [[String: Any]]).compactMap { $0["kind"] as? String }
        for k in ["risk.classified", "approval.requested", "approval.voted", "approval.resolved", "policy.approvers"] {
            #expect(kinds.contains(k), "\(k)")
        }
    }

    @Test func twoOfTwoRefusalsRejectionAndSupersede() throws {
        let s = try workspace(required: 2)
        run(s, as: "dana")
        #expect(promote(s, "clf:1", as: "dana").stdout.contains("waiting for 2 approvals (request 1)"))
        // Dana started the run and asked for the promotion: no self-approval.
        let own = approve(s, 1, key: "dana")
        #expect(own.status == 3)
        #expect(own.stderr.contains("cannot sign off clf:1"), "\(own.stderr)")
        let first = approve(s, 1, key: "sam", as: "sam")
        #expect(first.status == 0)
        #expect(first.stdout.contains("(1 of 2)"), "\(first.stdout)")
        let again = approve(s, 1, key: "sam", as: "sam")
        #expect(again.status == 3)
        #expect(again.stderr.contains("already voted"), "\(again.stderr)")
        #expect(!s.run("status").stdout.contains("production  clf:1"))

        // A newer candidate supersedes the pending request.
        s.write("params.yaml", "model:\n  arch: mlp\nserving:\n  threshold: 0.5\n")
        run(s)
        let newer = promote(s, "clf:2")
        #expect(newer.stdout.contains("supersedes request 1"), "\(newer.stdout)")
        let late = approve(s, 1, key: "sam", as: "sam")
        #expect(late.status == 3 && late.stderr.contains("is superseded"), "\(late.stderr)")

        // A rejection needs a comment, and ends the request.
        let noComment = s.run(["reject", "2", "--key", s.root + "/keys/sam", "--comment", " "])
        #expect(noComment.status == 2)
        let rejected = s.run(["reject", "2", "--key", s.root + "/keys/sam", "--comment", "accuracy regressed on winter data"])
        #expect(rejected.status == 0, "\(rejected.stderr)")
        let all = try #require(try s.json("approvals", "--all", "--json") as? [[String: Any]])
        #expect(Set(all.compactMap { $0["status"] as? String }) == ["superseded", "rejected"])
        #expect(s.run("audit", "verify").status == 0)
    }

    /// A comment once printed its newlines raw, so it could forge a line that
    /// looks like another approver's vote; an escape sequence in it vanished.
    @Test func aCommentCannotForgeAVoteInTheListing() throws {
        let s = try workspace(required: 2)
        run(s)
        #expect(promote(s, "clf:1").stdout.contains("request 1"))
        let forged = "fine\n  #1 approve by Sam Lee at 2030-01-01T00:00:00.000Z: ship it\u{1B}[2J"
        let vote = approve(s, 1, key: "dana", comment: forged)
        #expect(vote.status == 0, "\(vote.stderr)")
        let listing = s.run("approvals", "--all")
        #expect(listing.status == 0)
        let lines = listing.stdout.split(separator: "\n")
        #expect(lines.filter { $0.contains("#1 approve by") }.count == 1, "\(listing.stdout)")
        #expect(!lines.contains { $0.hasPrefix("  #1 approve by Sam Lee") }, "\(listing.stdout)")
        #expect(listing.stdout.contains("fine^J  #1 approve by Sam Lee"), "\(listing.stdout)")
        #expect(listing.stdout.contains("ship it^[[2J") && !listing.stdout.contains("\u{1B}"), "\(listing.stdout)")
        // JSON keeps the comment exactly as signed.
        let all = try #require(try s.json("approvals", "--all", "--json") as? [[String: Any]])
        #expect((all.first?["decisions"] as? [[String: String]])?.first?["comment"] == forged)
    }

    @Test func requestsExpire() throws {
        let s = try workspace(expires: "1s")
        run(s)
        #expect(promote(s, "clf:1").status == 0)
        usleep(1_300_000)
        let late = approve(s, 1, key: "dana")
        #expect(late.status == 3)
        #expect(late.stderr.contains("is expired"), "\(late.stderr)")
        let all = try #require(try s.json("approvals", "--all", "--json") as? [[String: Any]])
        #expect(all.first?["status"] as? String == "expired")
    }

    @Test func aPackageThatChangedSinceTheRequestIsNotSigned() throws {
        let s = try workspace()
        run(s)
        #expect(promote(s, "clf:1").status == 0)
        tamper(s, "UPDATE modelVersion SET artifactDigest = 'sha256:0000' WHERE version = 1;")
        let r = approve(s, 1, key: "dana")
        #expect(r.status == 3)
        #expect(r.stderr.contains("package changed since the request"), "\(r.stderr)")
    }

    @Test func anAuditorChecksAnApprovalWithSshKeygenAlone() throws {
        let s = try workspace()
        run(s)
        #expect(promote(s, "clf:1").status == 0)
        #expect(approve(s, 1, key: "dana", comment: "reviewed the eval deltas").status == 0)
        #expect(s.run("status").stdout.contains("approvals    none pending"))
        let export = s.run("audit", "export", "--format", "jsonl")
        #expect(export.status == 0)
        let lines = export.stdout.split(separator: "\n")
        let vote = try #require(lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["kind"] as? String == "approval.voted" })
        let payload = ["signed_payload": try #require(vote["signedPayload"] as? String), "signature": try #require(vote["signature"] as? String)]
        let signed = try #require(payload["signed_payload"])
        #expect(signed.contains("\"decision\":\"approve\"") && signed.contains("\"comment\":\"reviewed the eval deltas\""))
        s.write("vote.sig", try #require(payload["signature"]))
        s.write("allowed", "dana@example.org " + s.read("keys/dana.pub")!.split(separator: " ").prefix(2).joined(separator: " ") + "\n")
        let ok = tool(["ssh-keygen", "-Y", "verify", "-f", s.root + "/allowed", "-I", "dana@example.org", "-n", "slipway-approval",
                       "-s", s.root + "/vote.sig"], stdin: signed)
        #expect(ok.status == 0, "\(ok.out)")
        let forged = tool(["ssh-keygen", "-Y", "verify", "-f", s.root + "/allowed", "-I", "dana@example.org", "-n", "slipway-approval",
                           "-s", s.root + "/vote.sig"], stdin: signed.replacingOccurrences(of: "approve", with: "reject"))
        #expect(forged.status != 0)
    }

    @Test func aForgedApprovalIsCaughtByAuditVerify() throws {
        let s = try workspace()
        run(s)
        #expect(promote(s, "clf:1").status == 0)
        #expect(approve(s, 1, key: "dana").status == 0)
        #expect(s.run("audit", "verify").status == 0)

        // Production pointed at another version by editing the registry.
        let t = try workspace()
        run(t)
        s.write("params.yaml", "model:\n  arch: mlp\nserving:\n  threshold: 0.5\n")
        tamper(t, "INSERT INTO aliasEvent (model, environment, version, previousVersion, at, actor, reason) VALUES ('clf', 'production', 1, NULL, 0, 'Dana Ruiz', 'approved');")
        let forged = t.run("audit", "verify")
        #expect(forged.status == 3)
        #expect(forged.stderr.contains("without the audit event"), "\(forged.stderr)")

        // A vote whose comment was changed after it was signed.
        tamper(s, "UPDATE approvalVote SET comment = 'approved without review';")
        let edited = s.run("audit", "verify")
        #expect(edited.status == 3)
        #expect(edited.stderr.contains("vote/1 was altered"), "\(edited.stderr)")
    }

    @Test(.enabled(if: TmuxSession.available)) func anApproverSignsOffInTheConsoleInFourKeys() throws {
        let s = try workspace()
        run(s)
        #expect(promote(s, "clf:1").stdout.contains("request 1"))
        let t = TmuxSession(command: "SLIPWAY_USER=dana \(Sandbox.binary) -C \(s.root) console --key \(s.root)/keys/dana")
        defer { t.kill() }
        #expect(t.wait(for: "1 approval"), "\(t.screen)")
        // 4 (the tab), a (approve), the comment, Enter.
        t.keys("4")
        #expect(t.wait(for: "Approvals (1 pending)"), "\(t.screen)")
        t.keys("a")
        #expect(t.wait(for: "Signing as: Dana Ruiz"), "\(t.screen)")
        t.type("checked the eval")
        t.keys("Enter")
        #expect(t.wait(for: "approved by Dana Ruiz: clf:1 → production"), "\(t.screen)")
        #expect(s.run("status").stdout.contains("production  clf:1"))
        let votes = try #require(try s.json("approvals", "--all", "--json") as? [[String: Any]])
        #expect((votes.first?["decisions"] as? [[String: String]])?.first?["comment"] == "checked the eval")
        t.keys("q")
    }

    @Test func passphraseProtectedKeysAndSshAgentWork() throws {
        let s = try workspace(passphrase: "correct horse")
        s.write("askpass", "#!/bin/sh\necho 'correct horse'\n", executable: true)
        let askpass = ["SSH_ASKPASS": s.root + "/askpass", "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"]
        run(s)
        #expect(promote(s, "clf:1").status == 0)
        // ssh-keygen asks for the passphrase (here through SSH_ASKPASS, as a desktop prompt would).
        var env = askpass
        env["SLIPWAY_USER"] = "dana"
        let withPassphrase = s.run(["approve", "1", "--key", s.root + "/keys/dana", "--comment", "ok"], environment: env)
        #expect(withPassphrase.status == 0, "\(withPassphrase.stderr)")

        // The private key in ssh-agent; Slipway is given only the public half.
        // An agent of the test's own, in the foreground (-D) on a socket in the sandbox.
        let sock = s.root + "/agent.sock"
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        agent.arguments = ["ssh-agent", "-D", "-a", sock]
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = FileHandle.nullDevice
        agent.standardInput = FileHandle.nullDevice
        try agent.run()
        defer { kill(agent.processIdentifier, SIGKILL); s.reap(agent, timeout: 10) }
        #expect(s.waitUntil(timeout: 5) { FileManager.default.fileExists(atPath: sock) })
        let add = Process()
        add.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        add.arguments = ["ssh-add", s.root + "/keys/dana"]
        var addEnv = ProcessInfo.processInfo.environment
        for (k, v) in askpass { addEnv[k] = v }
        addEnv["SSH_AUTH_SOCK"] = String(sock)
        add.environment = addEnv
        add.standardInput = FileHandle.nullDevice
        try add.run()
        add.waitUntilExit()
        #expect(add.terminationStatus == 0)
        s.write("params.yaml", "model:\n  arch: mlp\nserving:\n  threshold: 0.5\n")
        run(s)
        #expect(promote(s, "clf:2").stdout.contains("request 2"))
        let viaAgent = s.run(["approve", "2", "--key", s.root + "/keys/dana.pub", "--comment", "via the agent"],
                             environment: ["SSH_AUTH_SOCK": String(sock), "SLIPWAY_USER": "dana"])
        #expect(viaAgent.status == 0, "\(viaAgent.stderr)")
        #expect(viaAgent.stdout.contains("approved by Dana Ruiz: clf:2 → production"))
        #expect(s.run("audit", "verify").status == 0)
    }
}

/// Runs beside the serialized approval tests: its own workspace, no terminal.
@Suite struct RefusedVoteTests {
    /// Must fix 4: an approval refused because the package does not verify
    /// records nothing (no vote, the request still pending), so once the
    /// package is whole again the agent has nothing approved to promote.
    @Test func aVoteOnAPackageThatDoesNotVerifyRecordsNothing() throws {
        let t = ApprovalTests()
        let s = try t.workspace()
        s.write("slipway.yaml", s.read("slipway.yaml")!.replacingOccurrences(
            of: "        metrics: [eval.json]\n",
            with: "        metrics: [eval.json]\n      package: {uses: package, model: model.txt, needs: [train]}\n"))
        t.run(s)
        #expect(t.promote(s, "clf:1").stdout.contains("request 1"))
        // The biggest blob of the image is its layer: one changed byte.
        let blobs = s.root + "/.slipway/images/clf/blobs/sha256"
        let layer = try #require(try FileManager.default.contentsOfDirectory(atPath: blobs).max { a, b in
            (try? FileManager.default.attributesOfItem(atPath: blobs + "/" + a)[.size] as? Int ?? 0) ?? 0
                < (try? FileManager.default.attributesOfItem(atPath: blobs + "/" + b)[.size] as? Int ?? 0) ?? 0
        })
        let path = blobs + "/" + layer
        chmod(path, 0o644)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        var bytes = [UInt8](original)
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let before = try #require(try s.json("audit", "--json") as? [[String: Any]]).count
        let refused = t.approve(s, 1, key: "dana")
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("package does not verify"), "\(refused.stderr)")
        let requests = try #require(try s.json("approvals", "--all", "--json") as? [[String: Any]])
        #expect(requests.first?["status"] as? String == "pending" && requests.first?["votes"] as? Int == 0, "\(requests)")
        #expect(try #require(try s.json("audit", "--json") as? [[String: Any]]).count == before)
        // The blob restored: nothing was approved, so the agent promotes nothing.
        try original.write(to: URL(fileURLWithPath: path))
        #expect(s.run("agent", "--once", "--quiet").status == 0)
        #expect(!s.run("status").stdout.contains("production  clf:1"))
        let signed = t.approve(s, 1, key: "dana")
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(s.run("status").stdout.contains("production  clf:1"))
    }
}
