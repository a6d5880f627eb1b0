import Foundation
import Testing

/// `Fixtures/fake_oci_registry.py` on a free loopback port: an in-memory
/// registry with what no Debian registry has, the OCI 1.1 referrers API and
/// Docker's bearer-token flow (each optional). Its request log is how a
/// test sees which path a client took.
final class FakeOCIRegistry {
    let root: String
    let port: Int
    let process: Process
    var host: String { "127.0.0.1:\(port)" }
    var logPath: String { root + "/requests.log" }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fake_oci_registry.py").path

    /// `jwt`: only a token service for a real registry (`--jwt`), its
    /// tokens signed with that key and certificate.
    init(in folder: String, referrers: Bool, token: String? = nil, reader: String? = nil,
         jwt: (key: String, certificate: String, issuer: String, service: String)? = nil) throws {
        root = folder + "/fake-registry"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        port = TestImageRegistry.freePort()
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script, "--port", "\(port)", "--log", logPath]
            + (referrers ? [] : ["--no-referrers"]) + (token.map { ["--token", $0] } ?? [])
            + (reader.map { ["--reader", $0] } ?? [])
            + (jwt.map { ["--jwt", $0.key, $0.certificate, $0.issuer, $0.service] } ?? [])
        FileManager.default.createFile(atPath: root + "/out", contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: root + "/out"))
        process.standardOutput = out
        process.standardError = out
        try process.run()
    }

    func ready(timeout: Double = 20) -> Bool { registryAnswers(host, process: process, timeout: timeout) }

    /// `METHOD PATH STATUS` of each request so far.
    var requests: [String] {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }
}

extension PackagingTests {
    /// A registry with the referrers API (and a token login): push puts each
    /// referrer with its subject, sees `OCI-Subject`, and writes no fallback
    /// tag; verify and promotion find them through `GET /referrers/`.
    @Test func aRegistryWithTheReferrersAPIIsUsedThroughIt() throws {
        guard installed("skopeo") else {
            print("skipped: skopeo is not installed")
            return
        }
        let s = try packaged(signing: true)
        let registry = try FakeOCIRegistry(in: s.root, referrers: true, token: TestLogin.basic)
        defer { registry.stop() }
        #expect(registry.ready(), "the fake registry did not start: \(s.read("fake-registry/out") ?? "")")
        let digest = try manifestDigest(s)
        let hex = String(digest.dropFirst(7))
        let repo = "docker://\(registry.host)/team/clf"
        s.write("auth.json", TestLogin.authFile(host: registry.host))
        let env = ["REGISTRY_AUTH_FILE": s.root + "/auth.json"]

        let pushed = s.run(["push", "clf:1", repo], environment: env)
        #expect(pushed.status == 0, "\(pushed.stdout)\(pushed.stderr)")
        #expect(pushed.stdout.contains("3 referrers") && !pushed.stdout.contains("listed at tag"), "\(pushed.stdout)")
        let afterPush = registry.requests
        #expect(afterPush.filter { $0.hasPrefix("PUT /v2/team/clf/manifests/sha256:") && $0.hasSuffix(" 201") }.count == 3, "\(afterPush)")
        #expect(!afterPush.contains { $0.contains("/manifests/sha256-") }, "a fallback tag was read or written: \(afterPush)")
        // The token flow: a token fetched with the login, then used.
        #expect(afterPush.contains { $0.hasPrefix("GET /token?") && $0.contains("scope=repository%3Ateam%2Fclf%3Apull%2Cpush") && $0.hasSuffix(" 200") },
                "\(afterPush)")

        // The API lists them, filtered by artifact type where asked.
        let token = try #require(try JSONSerialization.jsonObject(with: Data(tool(["curl", "-sS", "-u", TestLogin.basic,
            "http://\(registry.host)/token?service=fake-registry&scope=repository:team/clf:pull"]).out.utf8)) as? [String: Any])["token"] as? String
        let listed = tool(["curl", "-sS", "-H", "Authorization: Bearer \(token ?? "")",
                           "http://\(registry.host)/v2/team/clf/referrers/\(digest)?artifactType=application/vnd.slipway.sshsig"])
        let index = try #require(try JSONSerialization.jsonObject(with: Data(listed.out.utf8)) as? [String: Any], "\(listed.out)")
        #expect((index["manifests"] as? [[String: Any]])?.count == 2, "\(listed.out)")

        let verified = s.run(["verify", "\(repo)@\(digest)", "--json"], environment: env)
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(verified.stdout.utf8)) as? [String: Any])
        #expect(report["provenance"] as? Bool == true && (report["signatures"] as? [[String: Any]])?.count == 2, "\(report)")
        let afterVerify = Array(registry.requests.dropFirst(afterPush.count))
        #expect(afterVerify.contains("GET /v2/team/clf/referrers/\(digest) 200"), "\(afterVerify)")
        #expect(!afterVerify.contains { $0.contains("sha256-" + hex) }, "\(afterVerify)")

        let promoted = s.run(["promote", "clf:1", "--to", "production"], environment: env)
        #expect(promoted.status == 0, "\(promoted.stdout)\(promoted.stderr)")

        // The token server refuses a wrong login, or none: said, with how to log in.
        s.write("wrong.json", TestLogin.authFile(host: registry.host, login: "ci:not-the-password-4711"))
        let wrong = s.run(["verify", "\(repo)@\(digest)"], environment: ["REGISTRY_AUTH_FILE": s.root + "/wrong.json"])
        #expect(wrong.status == 1 && wrong.stderr.contains("refused the login of ci") && wrong.stderr.contains("token server"), "\(wrong.stderr)")
        #expect(!TestLogin.leaks(wrong.stderr, "ci:not-the-password-4711"))
        let none = s.run(["push", "clf:1", repo], environment: ["REGISTRY_AUTH_FILE": s.root + "/none.json"])
        #expect(none.status == 1 && none.stderr.contains("asks for a login")
                && none.stderr.contains("skopeo login --tls-verify=false \(registry.host)"), "\(none.stderr)")
    }

    /// A registry whose referrers endpoint answers 404: the fallback tag
    /// `sha256-<hex>` is written on push and read on verify.
    @Test func aRegistryWithoutTheReferrersAPIGetsTheFallbackTag() throws {
        guard installed("skopeo") else {
            print("skipped: skopeo is not installed")
            return
        }
        let s = try packaged(signing: true)
        let registry = try FakeOCIRegistry(in: s.root, referrers: false)
        defer { registry.stop() }
        #expect(registry.ready(), "the fake registry did not start: \(s.read("fake-registry/out") ?? "")")
        let digest = try manifestDigest(s)
        let hex = String(digest.dropFirst(7))
        let repo = "docker://\(registry.host)/team/clf"

        let pushed = s.run("push", "clf:1", repo)
        #expect(pushed.status == 0, "\(pushed.stdout)\(pushed.stderr)")
        #expect(pushed.stdout.contains("listed at tag sha256-\(hex)"), "\(pushed.stdout)")
        #expect(registry.requests.contains("PUT /v2/team/clf/manifests/sha256-\(hex) 201"), "\(registry.requests)")
        let before = registry.requests.count
        let verified = s.run("verify", "\(repo)@\(digest)")
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let asked = Array(registry.requests.dropFirst(before))
        let api = try #require(asked.firstIndex(of: "GET /v2/team/clf/referrers/\(digest) 404"), "\(asked)")
        let fallback = try #require(asked.firstIndex(of: "GET /v2/team/clf/manifests/sha256-\(hex) 200"), "\(asked)")
        #expect(api < fallback)
    }
}
