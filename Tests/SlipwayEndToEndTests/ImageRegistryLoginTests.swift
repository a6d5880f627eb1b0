import Foundation
import Testing

/// The login of the registries these tests start: user `ci`, password
/// `slipway-test-password`. The htpasswd line holds the password's bcrypt
/// hash (cost 10), made once with python3's `crypt.crypt(password,
/// crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024))` (no `htpasswd` on
/// these machines); Distribution accepts only bcrypt.
enum TestLogin {
    static let user = "ci"
    static let password = "slipway-test-password"
    static let htpasswd = "ci:$2b$10$laXLiaachy2OdMJUkU8Aeu5kZXFYyutcg/LX4hr3YegfqpJpRv.0m\n"
    static var basic: String { user + ":" + password }

    /// An auth file (containers-auth.json) with `login` for `host`.
    static func authFile(host: String, login: String = basic) -> String {
        "{\"auths\": {\"\(host)\": {\"auth\": \"\(Data(login.utf8).base64EncodedString())\"}}}\n"
    }

    /// What a secret must never appear as: itself, its Basic encoding.
    static func leaks(_ text: String, _ login: String = basic) -> Bool {
        let secret = String(login.split(separator: ":", maxSplits: 1).last ?? "")
        return text.contains(secret) || text.contains(Data(login.utf8).base64EncodedString())
    }
}

extension PackagingTests {
    /// A person's login files, nowhere near the real ones: HOME, the runtime
    /// folder, no `$REGISTRY_AUTH_FILE`, `$DOCKER_CONFIG`, `$XDG_CONFIG_HOME`.
    func loginEnvironment(_ s: Sandbox) throws -> [String: String] {
        for dir in ["home/.docker", "run"] {
            try FileManager.default.createDirectory(atPath: s.root + "/" + dir, withIntermediateDirectories: true)
        }
        return ["HOME": s.root + "/home", "XDG_RUNTIME_DIR": s.root + "/run", "REGISTRY_AUTH_FILE": "", "DOCKER_CONFIG": "", "XDG_CONFIG_HOME": ""]
    }

    @Test func aRegistryWithBasicAuthIsUsedWithTheLoginSkopeoKeeps() throws {
        guard installed("docker-registry") && installed("skopeo") else {
            print("skipped: docker-registry or skopeo is not installed")
            return
        }
        let s = try packaged(signing: true)
        let registry = try TestImageRegistry(in: s.root, htpasswd: TestLogin.htpasswd)
        defer { registry.stop() }
        #expect(registry.ready(), "the registry did not start: \(s.read("registry/log") ?? "")")
        let digest = try manifestDigest(s)
        let hex = String(digest.dropFirst(7))
        let repo = "docker://\(registry.host)/team/clf"
        let env = try loginEnvironment(s)
        let login = "`skopeo login --tls-verify=false \(registry.host)`"
        func catalog() -> String { tool(["curl", "-sS", "-u", TestLogin.basic, "http://\(registry.host)/v2/_catalog"]).out }

        // No login anywhere: refused before anything is copied, saying how to log in.
        let anonymous = s.run(["push", "clf:1", repo], environment: env)
        #expect(anonymous.status == 1, "\(anonymous.stdout)\(anonymous.stderr)")
        #expect(anonymous.stderr.contains("\(repo):1-\(hex.prefix(12))") && anonymous.stderr.contains("asks for a login (HTTP 401"), "\(anonymous.stderr)")
        #expect(anonymous.stderr.contains(login) && anonymous.stderr.contains(s.root + "/run/containers/auth.json"), "\(anonymous.stderr)")
        #expect(catalog().contains("\"repositories\":[]"), "\(catalog())")
        #expect(try auditEvents(s, kind: "image.pushed").isEmpty)

        // A wrong password in docker's file: refused, naming the user and the file, never the password.
        let wrong = "ci:not-the-password-4711"
        s.write("home/.docker/config.json", TestLogin.authFile(host: registry.host, login: wrong))
        let refused = s.run(["push", "clf:1", repo], environment: env)
        #expect(refused.status == 1, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("refused the login of ci (from \(s.root)/home/.docker/config.json)") && refused.stderr.contains(login),
                "\(refused.stderr)")
        #expect(!TestLogin.leaks(refused.stdout + refused.stderr, wrong))
        #expect(catalog().contains("\"repositories\":[]"))

        // `skopeo login` writes ${XDG_RUNTIME_DIR}/containers/auth.json, read before docker's file.
        let skopeoLogin = tool(["env", "HOME=\(env["HOME"]!)", "XDG_RUNTIME_DIR=\(env["XDG_RUNTIME_DIR"]!)", "REGISTRY_AUTH_FILE=",
                                "skopeo", "login", "--tls-verify=false", "-u", TestLogin.user, "-p", TestLogin.password, registry.host])
        #expect(skopeoLogin.status == 0 && s.exists("run/containers/auth.json"), "\(skopeoLogin.out)")
        let pushed = s.run(["push", "clf:1", repo], environment: env)
        #expect(pushed.status == 0, "\(pushed.stdout)\(pushed.stderr)")
        #expect(pushed.stdout.contains("3 referrers") && pushed.stdout.contains("sha256-" + hex), "\(pushed.stdout)")
        #expect(!TestLogin.leaks(pushed.stdout + pushed.stderr))

        // skopeo reads it with the same file; without a login it is refused.
        let inspect = tool(["skopeo", "inspect", "--tls-verify=false", "--authfile", s.root + "/run/containers/auth.json", "\(repo):1-\(hex.prefix(12))"])
        #expect(inspect.status == 0 && inspect.out.contains(digest), "\(inspect.out)")
        #expect(tool(["skopeo", "inspect", "--tls-verify=false", "--authfile", s.root + "/none.json", "\(repo):1-\(hex.prefix(12))"]).status != 0)
        let index = try registry.manifest("team/clf", "sha256-" + hex, login: TestLogin.basic)
        #expect((index["manifests"] as? [[String: Any]])?.count == 3)

        // verify reads it back with the login; without one it says how to log in.
        let verified = s.run(["verify", "\(repo)@\(digest)"], environment: env)
        #expect(verified.status == 0 && verified.stdout.contains("verified"), "\(verified.stdout)\(verified.stderr)")
        let nobody = env.merging(["XDG_RUNTIME_DIR": s.root + "/elsewhere", "HOME": s.root + "/elsewhere"]) { $1 }
        let noLogin = s.run(["verify", "\(repo)@\(digest)"], environment: nobody)
        #expect(noLogin.status == 1 && noLogin.stderr.contains("\(repo)@\(digest)") && noLogin.stderr.contains("asks for a login")
                && noLogin.stderr.contains(login), "\(noLogin.stderr)")

        // $REGISTRY_AUTH_FILE alone, when set.
        s.write("ci-auth.json", TestLogin.authFile(host: registry.host))
        let byEnv = s.run(["verify", "\(repo)@\(digest)"], environment: env.merging(["REGISTRY_AUTH_FILE": s.root + "/ci-auth.json",
                                                                                     "XDG_RUNTIME_DIR": s.root + "/elsewhere"]) { $1 })
        #expect(byEnv.status == 0, "\(byEnv.stdout)\(byEnv.stderr)")

        // Promotion reads it back with the login.
        let promoted = s.run(["promote", "clf:1", "--to", "production"], environment: env)
        #expect(promoted.status == 0, "\(promoted.stdout)\(promoted.stderr)")

        // Version 2, pushed; promoted by someone without the login: refused
        // (exit 3), audited, the alias unchanged.
        s.write("params.yaml", "train:\n  lr: 0.3\n")
        #expect(s.run("run").status == 0)
        #expect(s.run(["push", "clf:2", repo], environment: env).status == 0)
        let show2 = try #require(try s.json("models", "show", "clf:2", "--json") as? [String: Any])
        let digest2 = try #require(show2["imageDigest"] as? String)
        let stranger = s.run(["promote", "clf:2", "--to", "production"], environment: nobody)
        #expect(stranger.status == 3, "\(stranger.stdout)\(stranger.stderr)")
        #expect(stranger.stderr.contains("\(repo)@\(digest2)") && stranger.stderr.contains("asks for a login") && stranger.stderr.contains(login),
                "\(stranger.stderr)")
        #expect(try auditEvents(s, kind: "alias.changed").count == 1)
        let refusals = try auditEvents(s, kind: "package.refused")
        #expect(refusals.count == 1 && "\(refusals.first?["payload"] ?? "")".contains("skopeo login"), "\(refusals)")

        // A wrong login at promotion: refused the same way, the password nowhere.
        s.write("wrong-auth.json", TestLogin.authFile(host: registry.host, login: wrong))
        let badLogin = s.run(["promote", "clf:2", "--to", "production"], environment: env.merging(["REGISTRY_AUTH_FILE": s.root + "/wrong-auth.json"]) { $1 })
        #expect(badLogin.status == 3 && badLogin.stderr.contains("refused the login of ci"), "\(badLogin.stderr)")
        #expect(try auditEvents(s, kind: "package.refused").count == 2)
        let trail = s.run("audit", "ls", "--json")
        #expect(!TestLogin.leaks(trail.stdout, wrong) && !TestLogin.leaks(trail.stdout) && !TestLogin.leaks(badLogin.stdout + badLogin.stderr, wrong))
        #expect(s.run("audit", "verify").status == 0)
    }

    /// Debian's docker-registry with token auth (`auth: token:`): its
    /// bearer tokens come from the fake registry's token service (`--jwt`:
    /// RS256 tokens, a throw-away certificate), asked with the login.
    @Test func aRegistryWithTokenAuthIsUsedThroughItsTokenService() throws {
        guard installed("docker-registry") && installed("skopeo") && installed("openssl") else {
            print("skipped: docker-registry, skopeo or openssl is not installed")
            return
        }
        let s = try packaged(signing: true)
        let made = tool(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", s.root + "/token.key", "-out", s.root + "/token.crt",
                         "-days", "1", "-subj", "/CN=slipway-test-token"])
        #expect(made.status == 0, "\(made.out)")
        let tokens = try FakeOCIRegistry(in: s.root, referrers: false, token: TestLogin.basic, reader: "auditor:reader-password",
                                         jwt: (s.root + "/token.key", s.root + "/token.crt", "slipway-test-issuer", "slipway-test"))
        defer { tokens.stop() }
        #expect(tokens.ready(), "the token service did not start: \(s.read("fake-registry/out") ?? "")")
        let registry = try TestImageRegistry(in: s.root, token: ("http://\(tokens.host)/token", "slipway-test", "slipway-test-issuer", s.root + "/token.crt"))
        defer { registry.stop() }
        #expect(registry.ready(), "the registry did not start: \(s.read("registry/log") ?? "")")
        let digest = try manifestDigest(s)
        let hex = String(digest.dropFirst(7))
        let repo = "docker://\(registry.host)/team/clf"
        s.write("auth.json", TestLogin.authFile(host: registry.host))
        let env = ["REGISTRY_AUTH_FILE": s.root + "/auth.json"]

        let pushed = s.run(["push", "clf:1", repo], environment: env)
        #expect(pushed.status == 0, "\(pushed.stdout)\(pushed.stderr)")
        #expect(pushed.stdout.contains("3 referrers") && pushed.stdout.contains("sha256-" + hex), "\(pushed.stdout)")
        #expect(tokens.requests.contains { $0.hasPrefix("GET /token?") && $0.contains("scope=repository%3Ateam%2Fclf%3Apull%2Cpush") && $0.hasSuffix(" 200") },
                "\(tokens.requests)")
        let inspect = tool(["skopeo", "inspect", "--tls-verify=false", "--authfile", s.root + "/auth.json", "\(repo):1-\(hex.prefix(12))"])
        #expect(inspect.status == 0 && inspect.out.contains(digest), "\(inspect.out)")
        let verified = s.run(["verify", "\(repo)@\(digest)"], environment: env)
        #expect(verified.status == 0 && verified.stdout.contains("verified"), "\(verified.stdout)\(verified.stderr)")
        let promoted = s.run(["promote", "clf:1", "--to", "production"], environment: env)
        #expect(promoted.status == 0, "\(promoted.stdout)\(promoted.stderr)")

        // The token service refuses a wrong login: nothing pushed, said with how to log in.
        s.write("wrong.json", TestLogin.authFile(host: registry.host, login: "ci:not-the-password-4711"))
        let wrong = s.run(["push", "clf:1", "\(repo):again"], environment: ["REGISTRY_AUTH_FILE": s.root + "/wrong.json"])
        #expect(wrong.status == 1 && wrong.stderr.contains("refused the login of ci") && wrong.stderr.contains("token server")
                && wrong.stderr.contains("skopeo login --tls-verify=false \(registry.host)"), "\(wrong.stderr)")
        #expect(!TestLogin.leaks(wrong.stdout + wrong.stderr, "ci:not-the-password-4711"))

        // A login that may pull but not push: verify works, push is refused by
        // the registry through skopeo, nothing recorded.
        s.write("reader.json", TestLogin.authFile(host: registry.host, login: "auditor:reader-password"))
        let reader = ["REGISTRY_AUTH_FILE": s.root + "/reader.json"]
        #expect(s.run(["verify", "\(repo)@\(digest)"], environment: reader).status == 0)
        let readOnly = s.run(["push", "clf:1", "\(repo):again"], environment: reader)
        #expect(readOnly.status == 1 && readOnly.stderr.contains("does not let auditor (from \(s.root)/reader.json) do this")
                && readOnly.stderr.contains("skopeo login --tls-verify=false \(registry.host)"), "\(readOnly.stderr)")
        #expect(!TestLogin.leaks(readOnly.stdout + readOnly.stderr, "auditor:reader-password"))
        #expect(try auditEvents(s, kind: "image.pushed").count == 1)
    }
}
