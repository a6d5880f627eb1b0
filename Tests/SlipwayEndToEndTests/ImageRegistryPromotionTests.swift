import Foundation
import Testing

extension PackagingTests {
    /// The audit events of one kind, as `audit ls --kind K --json` lists them.
    func auditEvents(_ s: Sandbox, kind: String) throws -> [[String: Any]] {
        try #require(try s.json("audit", "ls", "--kind", kind, "--json") as? [[String: Any]])
    }

    @Test func promotionReadsAPushedVersionBackFromTheRegistryByDigest() throws {
        guard installed("docker-registry") && installed("skopeo") else {
            print("skipped: docker-registry or skopeo is not installed")
            return
        }
        let s = try packaged(signing: true)
        let registry = try TestImageRegistry(in: s.root)
        defer { registry.stop() }
        #expect(registry.ready(), "the registry did not start: \(s.read("registry/log") ?? "")")
        let digest = try manifestDigest(s)
        let hex = String(digest.dropFirst(7))
        let repo = "docker://\(registry.host)/team/clf"

        // The push is recorded and audited: where, and as what digest.
        let pushed = s.run("push", "clf:1", repo)
        #expect(pushed.status == 0, "\(pushed.stderr)")
        let recorded = try auditEvents(s, kind: "image.pushed")
        #expect(recorded.count == 1)
        let payload = "\(recorded.first?["payload"] ?? "")"
        #expect(payload.contains("\(repo):1-\(hex.prefix(12))") && payload.contains(digest), "\(payload)")

        // A pushed version that verifies in the registry promotes.
        let promoted = s.run("promote", "clf:1", "--to", "production")
        #expect(promoted.status == 0, "\(promoted.stdout)\(promoted.stderr)")
        #expect(try auditEvents(s, kind: "alias.changed").count == 1)

        // Version 2, pushed, then its manifest signature in the registry swapped
        // for version 1's (about another image): refused, naming the registry
        // reference by digest, audited, nothing else changed.
        s.write("params.yaml", "train:\n  lr: 0.3\n")
        #expect(s.run("run").status == 0)
        let show2 = try #require(try s.json("models", "show", "clf:2", "--json") as? [String: Any])
        let digest2 = try #require(show2["imageDigest"] as? String)
        let hex2 = String(digest2.dropFirst(7))
        #expect(s.run("push", "clf:2", repo).status == 0)
        func signsManifest(_ e: [String: Any]) -> Bool { (e["annotations"] as? [String: String])?["dev.slipway.signed"] == "manifest" }
        var index2 = try registry.manifest("team/clf", "sha256-" + hex2)
        var entries2 = try #require(index2["manifests"] as? [[String: Any]])
        let entries1 = try #require(try registry.manifest("team/clf", "sha256-" + hex)["manifests"] as? [[String: Any]])
        entries2.removeAll(where: signsManifest)
        entries2.append(try #require(entries1.first(where: signsManifest)))
        index2["manifests"] = entries2
        try JSONSerialization.data(withJSONObject: index2).write(to: URL(fileURLWithPath: s.root + "/tampered.json"))
        let put = tool(["curl", "-sS", "-f", "-X", "PUT", "-H", "Content-Type: application/vnd.oci.image.index.v1+json",
                        "--data-binary", "@" + s.root + "/tampered.json", "http://\(registry.host)/v2/team/clf/manifests/sha256-\(hex2)"])
        #expect(put.status == 0, "\(put.out)")
        // The local copy still verifies: only the registry's is wrong.
        #expect(s.run("verify", "clf:2").status == 0)
        let refused = s.run("promote", "clf:2", "--to", "production")
        #expect(refused.status == 3, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("\(repo)@\(digest2)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("is about \(digest)") && refused.stderr.contains("no valid signature of the manifest"), "\(refused.stderr)")
        #expect(try auditEvents(s, kind: "alias.changed").count == 1)
        let refusals = try auditEvents(s, kind: "package.refused")
        #expect(refusals.count == 1 && "\(refusals.first?["subject"] ?? "")" == "model/clf/2", "\(refusals)")
        #expect("\(refusals.first?["payload"] ?? "")".contains("\(repo)@\(digest2)"))

        // Re-tagged: version 1's tag now names version 2's image. Read by
        // digest the image is still there, but the pushed tag no longer names
        // it: refused too.
        let retag = tool(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
                          "\(repo):2-\(hex2.prefix(12))", "\(repo):1-\(hex.prefix(12))"])
        #expect(retag.status == 0, "\(retag.out)")
        let again = s.run("promote", "clf:1", "--to", "production")
        #expect(again.status == 3, "\(again.stdout)\(again.stderr)")
        #expect(again.stderr.contains("\(repo):1-\(hex.prefix(12)) now names \(digest2), not the pushed \(digest)"), "\(again.stderr)")
        #expect(try auditEvents(s, kind: "alias.changed").count == 1)
        #expect(try auditEvents(s, kind: "package.refused").count == 2)

        // The registry gone: a check that cannot be made does not pass.
        registry.stop()
        let gone = s.run("promote", "clf:1", "--to", "production")
        #expect(gone.status == 3 && gone.stderr.contains("\(repo)"), "\(gone.stderr)")
        #expect(s.run("audit", "verify").status == 0)
    }
}
