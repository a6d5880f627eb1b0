import Foundation
import Testing

/// Polls until the registry `process` serves on `host`: `GET /v2/` answers 200,
/// or 401 when it wants a login. A registry that exited is not ready, so a
/// port taken meanwhile by another's server is not mistaken for this one.
func registryAnswers(_ host: String, process: Process, timeout: Double) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end, process.isRunning {
        if ["200", "401"].contains(tool(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://\(host)/v2/"]).out) {
            return process.isRunning
        }
        usleep(100_000)
    }
    return false
}

/// Debian's `docker-registry` (CNCF Distribution 2.8: no referrers API, so
/// referrers go through the OCI 1.1 fallback tag) on a free loopback port,
/// its storage in a temporary folder. Stopped with ``stop()``.
final class TestImageRegistry {
    let root: String
    let port: Int
    let process: Process

    var host: String { "127.0.0.1:\(port)" }

    /// A port nobody listens on now (bound to 0, read back, released).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// With `htpasswd` (lines `USER:BCRYPT-HASH`), every request needs HTTP
    /// Basic auth (`auth: htpasswd: {realm, path}`); with `token`, a bearer
    /// token from that token service (`auth: token: {realm, service, issuer,
    /// rootcertbundle}`).
    init(in folder: String, htpasswd: String? = nil, token: (realm: String, service: String, issuer: String, certificate: String)? = nil) throws {
        root = folder + "/registry"
        try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        port = Self.freePort()
        var config = "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: \(root)/data\nhttp:\n  addr: 127.0.0.1:\(port)\n"
        if let htpasswd {
            try Data(htpasswd.utf8).write(to: URL(fileURLWithPath: root + "/htpasswd"))
            config += "auth:\n  htpasswd:\n    realm: slipway-test\n    path: \(root)/htpasswd\n"
        }
        if let token {
            config += "auth:\n  token:\n    realm: \(token.realm)\n    service: \(token.service)\n    issuer: \(token.issuer)\n"
                + "    rootcertbundle: \(token.certificate)\n"
        }
        try Data(config.utf8).write(to: URL(fileURLWithPath: root + "/config.yml"))
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
        process.arguments = ["serve", root + "/config.yml"]
        FileManager.default.createFile(atPath: root + "/log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: root + "/log"))
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    func ready(timeout: Double = 20) -> Bool { registryAnswers(host, process: process, timeout: timeout) }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    /// A manifest or index by tag or digest, as JSON (`login`: `USER:PASSWORD`).
    func manifest(_ repo: String, _ ref: String, login: String? = nil) throws -> [String: Any] {
        let r = tool(["curl", "-sS", "-f"] + (login.map { ["-u", $0] } ?? []) + ["-H", "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
                      "http://\(host)/v2/\(repo)/manifests/\(ref)"])
        return try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "\(r.out)")
    }
}

extension PackagingTests {
    @Test func pushCarriesProvenanceAndSignaturesAsReferrersAndVerifyReadsThemBack() throws {
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
        let tag = "1-" + hex.prefix(12)
        let repo = "docker://\(registry.host)/team/clf"

        // Pushed under the version's own tag, with its three referrers.
        let pushed = s.run("push", "clf:1", repo)
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(pushed.stdout.contains("3 referrers") && pushed.stdout.contains("sha256-" + hex), "\(pushed.stdout)")
        let inspect = tool(["skopeo", "inspect", "--tls-verify=false", "\(repo):\(tag)"])
        #expect(inspect.status == 0 && inspect.out.contains(digest), "\(inspect.out)")

        // The fallback tag: an image index listing the provenance and both signatures.
        let index = try registry.manifest("team/clf", "sha256-" + hex)
        #expect(index["mediaType"] as? String == "application/vnd.oci.image.index.v1+json")
        var entries = try #require(index["manifests"] as? [[String: Any]])
        #expect(entries.count == 3)
        #expect(Set(entries.compactMap { $0["artifactType"] as? String }) == ["application/vnd.in-toto+json", "application/vnd.slipway.sshsig"])
        for e in entries {
            let art = try registry.manifest("team/clf", try #require(e["digest"] as? String))
            #expect((art["subject"] as? [String: Any])?["digest"] as? String == digest)
        }
        #expect(tool(["skopeo", "inspect", "--tls-verify=false", "--raw", "\(repo):sha256-\(hex)"]).out.contains("application/vnd.slipway.sshsig"))

        // Pushing again merges: the index still lists each referrer once.
        #expect(s.run("push", "clf:1", "\(repo):again").status == 0)
        #expect((try registry.manifest("team/clf", "sha256-" + hex)["manifests"] as? [[String: Any]])?.count == 3)

        // Read back by tag and by digest, and verified as a local version is.
        let byTag = s.run("verify", "\(repo):\(tag)")
        #expect(byTag.status == 0, "\(byTag.stdout)\(byTag.stderr)")
        #expect(byTag.stdout.contains("verified"))
        let byDigest = s.run("verify", "\(repo)@\(digest)", "--json")
        #expect(byDigest.status == 0, "\(byDigest.stdout)\(byDigest.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(byDigest.stdout.utf8)) as? [String: Any])
        #expect(report["provenance"] as? Bool == true)
        let sigs = try #require(report["signatures"] as? [[String: Any]])
        #expect(Set(sigs.compactMap { $0["signed"] as? String }) == ["manifest", "provenance"] && sigs.allSatisfy { $0["valid"] as? Bool == true })

        // Tampered: the manifest's signature replaced by version 2's (about another image).
        s.write("params.yaml", "train:\n  lr: 0.3\n")
        #expect(s.run("run").status == 0)
        #expect(s.run("push", "clf:2", repo).status == 0)
        let show2 = try #require(try s.json("models", "show", "clf:2", "--json") as? [String: Any])
        let digest2 = try #require(show2["imageDigest"] as? String)
        let other = try #require(try registry.manifest("team/clf", "sha256-" + digest2.dropFirst(7))["manifests"] as? [[String: Any]])
        func signsManifest(_ e: [String: Any]) -> Bool { (e["annotations"] as? [String: String])?["dev.slipway.signed"] == "manifest" }
        entries.removeAll(where: signsManifest)
        entries.append(try #require(other.first(where: signsManifest)))
        var tampered = index
        tampered["manifests"] = entries
        try JSONSerialization.data(withJSONObject: tampered).write(to: URL(fileURLWithPath: s.root + "/tampered.json"))
        let put = tool(["curl", "-sS", "-f", "-X", "PUT", "-H", "Content-Type: application/vnd.oci.image.index.v1+json",
                        "--data-binary", "@" + s.root + "/tampered.json", "http://\(registry.host)/v2/team/clf/manifests/sha256-\(hex)"])
        #expect(put.status == 0, "\(put.out)")
        let broken = s.run("verify", "\(repo)@\(digest)")
        #expect(broken.status == 3, "\(broken.stdout)\(broken.stderr)")
        #expect(broken.stderr.contains("is about \(digest2)"), "\(broken.stderr)")
        #expect(broken.stderr.contains("no valid signature of the manifest"), "\(broken.stderr)")

        // Bad input names the reference.
        let badRef = s.run("verify", "docker://\(registry.host)/Team/CLF:1")
        #expect(badRef.status == 2 && badRef.stderr.contains("docker://\(registry.host)/Team/CLF:1"), "\(badRef.stderr)")
        let byDigestPush = s.run("push", "clf:1", "\(repo)@\(digest)")
        #expect(byDigestPush.status == 2 && byDigestPush.stderr.contains("names a tag, not a digest"), "\(byDigestPush.stderr)")
        let missing = s.run("verify", "\(repo):nothing")
        #expect(missing.status != 0 && missing.stderr.contains("\(repo):nothing"), "\(missing.stderr)")
    }
}
