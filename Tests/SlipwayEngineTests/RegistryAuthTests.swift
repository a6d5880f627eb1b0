import Foundation
import Testing
@testable import SlipwayEngine

/// The login for image registries: which files, in what order, which entry;
/// the Basic and bearer-token flows; refusals that say what to do and never
/// repeat a secret.
struct RegistryAuthTests {
    let dir = NSTemporaryDirectory() + "slipway-regauth-\(UUID().uuidString.prefix(8))"
    let ref = try! ImageReference.parse("docker://registry.example.org/team/clf:1")
    static let password = "s3cret-pa55word"

    func write(_ path: String, _ text: String) {
        let full = dir + "/" + path
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! Data(text.utf8).write(to: URL(fileURLWithPath: full))
    }

    func entry(_ login: String) -> String { "{\"auth\": \"\(Data(login.utf8).base64EncodedString())\"}" }

    func files(_ env: [String: String] = [:]) -> RegistryAuthFiles {
        RegistryAuthFiles(environment: ["XDG_RUNTIME_DIR": dir + "/run"].merging(env) { $1 }, home: dir + "/home", uid: 1000)
    }

    @Test func filesAreReadInSkopeosOrder() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(files().paths == [dir + "/run/containers/auth.json", dir + "/home/.config/containers/auth.json", dir + "/home/.docker/config.json"])
        #expect(RegistryAuthFiles(environment: [:], home: "/h", uid: 7).paths.first == "/run/containers/7/auth.json")
        #expect(files(["REGISTRY_AUTH_FILE": dir + "/ci.json"]).paths == [dir + "/ci.json"])
        #expect(files(["DOCKER_CONFIG": dir + "/dc"]).paths.last == dir + "/dc/config.json")

        // docker's file only: its key as docker writes it for a host.
        write("home/.docker/config.json", "{\"auths\": {\"https://registry.example.org/v1/\": \(entry("docker-user:x"))}}")
        #expect(try files().credentials(for: ref)?.username == "docker-user")
        // The runtime file (skopeo login) comes first; a repository's own key beats the host's.
        write("run/containers/auth.json", "{\"auths\": {\"registry.example.org\": \(entry("host-user:y")), \"registry.example.org/team/clf\": \(entry("repo-user:z:colon"))}}")
        let creds = try #require(try files().credentials(for: ref))
        #expect(creds.username == "repo-user" && creds.file == dir + "/run/containers/auth.json" && creds.key == "registry.example.org/team/clf")
        #expect(creds.basicAuthorization == "Basic " + Data("repo-user:z:colon".utf8).base64EncodedString())
        #expect(try files().credentials(for: try ImageReference.parse("docker://registry.example.org/other/x"))?.username == "host-user")
        #expect(try files().credentials(for: try ImageReference.parse("docker://elsewhere.example.org/team/clf")) == nil)
        // $REGISTRY_AUTH_FILE alone: the others are not read.
        #expect(try files(["REGISTRY_AUTH_FILE": dir + "/missing.json"]).credentials(for: ref) == nil)
    }

    @Test func aBadAuthFileIsNamedWithThePlace() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func problem(_ text: String) -> String {
            write("ci.json", text)
            do { _ = try files(["REGISTRY_AUTH_FILE": dir + "/ci.json"]).credentials(for: ref); return "no error" } catch { return "\(error)" }
        }
        #expect(problem("{\"auths\": ").hasPrefix(dir + "/ci.json: not a registry auth file"))
        #expect(problem("{\"auths\": {\"registry.example.org\": {\"auth\": \"%%%\"}}}")
                == dir + "/ci.json: auths.\"registry.example.org\".auth is not base64 of USER:PASSWORD")
        #expect(problem("{\"credHelpers\": {\"registry.example.org\": \"ecr-login\"}}").contains("docker-credential-ecr-login, which Slipway does not run"))
        #expect(problem("{\"auths\": {\"registry.example.org\": {\"identitytoken\": \"t\"}}}").contains("identity token"))
        #expect(problem("{\"auths\": {\"registry.example.org\": {\"auth\": 42}}}") == dir + "/ci.json: auths.\"registry.example.org\".auth is not a string")
        #expect(problem("{\"auths\": {}, \"x\": \"" + String(repeating: "a", count: RegistryAuthFiles.maxFileSize) + "\"}")
                == dir + "/ci.json: not a registry auth file: larger than 1 MiB")
    }

    @Test func aLoginIsNeverShown() throws {
        let creds = RegistryCredentials(username: "ana", password: Self.password, file: "/x/auth.json", key: "h")
        var dumped = ""
        dump(creds, to: &dumped)
        for shown in ["\(creds)", String(reflecting: creds), dumped] {
            #expect(shown.contains("ana") && !shown.contains(Self.password), "\(shown)")
        }
        // Nor a login written into a reference.
        do { _ = try ImageReference.parse("docker://ana:\(Self.password)@registry.example.org/team/clf"); Issue.record("parsed") } catch {
            #expect(!"\(error)".contains(Self.password) && "\(error)".contains("skopeo login registry.example.org"), "\(error)")
        }
        // Nor a password holding `/` or `@`, nor one before no repository.
        for text in ["docker://ana:pa/ss-SECRET@host/repo:1", "docker://ana:p@ss/x-SECRET@host/repo@sha256:" + String(repeating: "a", count: 64),
                     "docker://ana:SECRET@host", "ana:pa/ss-SECRET@host/repo"] {
            do { _ = try ImageReference.parse(text); Issue.record("parsed \(text)") } catch {
                #expect(!"\(error)".contains("SECRET") && "\(error)".contains("skopeo login host"), "\(error)")
            }
        }
        #expect(try ImageReference.parse("docker://localhost:5000/team/clf@sha256:" + String(repeating: "a", count: 64)).host == "localhost:5000")
    }

    @Test func challengesParse() {
        let bearer = RegistryChallenge.parse(#"Bearer realm="https://auth.example.org/token",service="registry.example.org",scope="repository:team/clf:pull,push""#)
        #expect(bearer?.scheme == .bearer && bearer?.realm == "https://auth.example.org/token" && bearer?.service == "registry.example.org")
        #expect(bearer?.scopes == ["repository:team/clf:pull,push"])
        #expect(RegistryChallenge.parse(#"Basic realm="a \"b\", c""#) == RegistryChallenge(scheme: .basic, parameters: ["realm": #"a "b", c"#]))
        #expect(RegistryChallenge.parse("Negotiate abc, Basic realm=x")?.scheme == .basic)
        #expect(RegistryChallenge.parse("") == nil && RegistryChallenge.parse("Negotiate") == nil)
    }

    /// A registry with Basic auth: one challenge, then the login is sent with each request.
    @Test func basicAuthIsAnsweredOnceThenSentAhead() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        write("ci.json", "{\"auths\": {\"registry.example.org\": \(entry("ana:" + Self.password))}}")
        let good = "Basic " + Data("ana:\(Self.password)".utf8).base64EncodedString()
        let http = FakeHTTP { r throws(HTTPFailure) in
            r.headers["Authorization"] == good ? HTTPResponse(status: 200, body: Data("{}".utf8))
                : HTTPResponse(status: 401, body: Data(), headers: ["www-authenticate": "Basic realm=\"registry\""])
        }
        let client = RegistryClient(reference: ref, auth: RegistryAuthenticator(http: http, files: files(["REGISTRY_AUTH_FILE": dir + "/ci.json"])))
        #expect(try client.manifest("1") != nil)
        #expect(try client.manifest("2") != nil)
        #expect(http.requests.map { $0.headers["Authorization"] != nil } == [false, true, true])
    }

    /// An upload location on plain http (or another port) of an https
    /// registry never gets the remembered login.
    @Test func aLoginGoesOnlyToTheRegistrysOwnOrigin() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        write("ci.json", "{\"auths\": {\"registry.example.org\": \(entry("ana:" + Self.password))}}")
        let good = "Basic " + Data("ana:\(Self.password)".utf8).base64EncodedString()
        for location in ["http://registry.example.org/v2/team/clf/blobs/uploads/u1", "https://registry.example.org:8443/v2/team/clf/blobs/uploads/u1"] {
            let http = FakeHTTP { r throws(HTTPFailure) in
                if r.method == "PUT" { return HTTPResponse(status: 201, body: Data()) }
                if r.headers["Authorization"] != good {
                    return HTTPResponse(status: 401, body: Data(), headers: ["www-authenticate": "Basic realm=\"registry\""])
                }
                if r.method == "POST" { return HTTPResponse(status: 202, body: Data(), headers: ["location": location]) }
                return HTTPResponse(status: 404, body: Data())
            }
            let client = RegistryClient(reference: ref, auth: RegistryAuthenticator(http: http, files: files(["REGISTRY_AUTH_FILE": dir + "/ci.json"])))
            try client.uploadBlob(Data("x".utf8), digest: OCI.sha256(Data("x".utf8)))
            let put = try #require(http.requests.last)
            #expect(put.method == "PUT" && put.url.hasPrefix(location) && put.headers["Authorization"] == nil, "\(put.url)")
        }
        #expect(RegistryAuthenticator.mayCarryLogin("https://registry.example.org/v2/x", for: ref))
        #expect(!RegistryAuthenticator.mayCarryLogin("http://registry.example.org/v2/x", for: ref))
        let local = try ImageReference.parse("docker://localhost:5000/team/clf:1")
        #expect(RegistryAuthenticator.mayCarryLogin("http://localhost:5000/v2/x", for: local))
        #expect(!RegistryAuthenticator.mayCarryLogin("http://localhost:5001/v2/x", for: local))
    }

    /// Logins per repository on one host: the one accepted for teamA is
    /// never sent ahead to teamB.
    @Test func aLoginAcceptedForOneRepositoryIsNotSentToAnother() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        write("ci.json", "{\"auths\": {\"registry.example.org/teama\": \(entry("a:pass-a")), \"registry.example.org/teamb\": \(entry("b:pass-b"))}}")
        let a = "Basic " + Data("a:pass-a".utf8).base64EncodedString(), b = "Basic " + Data("b:pass-b".utf8).base64EncodedString()
        let http = FakeHTTP { r throws(HTTPFailure) in
            let ok = r.url.contains("/v2/teama/") ? r.headers["Authorization"] == a : r.headers["Authorization"] == b
            return ok ? HTTPResponse(status: 200, body: Data("{}".utf8)) : HTTPResponse(status: 401, body: Data(), headers: ["www-authenticate": "Basic realm=r"])
        }
        let auth = RegistryAuthenticator(http: http, files: files(["REGISTRY_AUTH_FILE": dir + "/ci.json"]))
        let teamA = RegistryClient(reference: try ImageReference.parse("docker://registry.example.org/teama/x:1"), auth: auth)
        let teamB = RegistryClient(reference: try ImageReference.parse("docker://registry.example.org/teamb/y:1"), auth: auth)
        #expect(try teamA.manifest("1") != nil)
        #expect(try teamB.manifest("1") != nil)
        #expect(try teamA.manifest("2") != nil)
        #expect(http.requests.map { $0.headers["Authorization"] } == [nil, a, nil, b, a])
    }

    /// The token flow: the realm asked with the login for the challenge's
    /// service and scope; a new token when another scope is asked for.
    @Test func bearerTokensComeFromTheRealmWithTheLogin() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        write("ci.json", "{\"auths\": {\"registry.example.org\": \(entry("ana:" + Self.password))}}")
        let basic = "Basic " + Data("ana:\(Self.password)".utf8).base64EncodedString()
        let http = FakeHTTP { r throws(HTTPFailure) in
            if r.url.hasPrefix("https://auth.example.org/token?") {
                guard r.headers["Authorization"] == basic else { return HTTPResponse(status: 401, body: Data()) }
                let push = r.url.contains("pull%2Cpush")
                return HTTPResponse(status: 200, body: Data("{\"token\": \"\(push ? "T-PUSH" : "T-PULL")\"}".utf8))
            }
            let push = r.method != "GET"
            let ok = r.headers["Authorization"] == "Bearer T-PUSH" || (!push && r.headers["Authorization"] == "Bearer T-PULL")
            if ok { return HTTPResponse(status: 201, body: Data("{}".utf8), headers: ["oci-subject": "x"]) }
            let scope = "repository:team/clf:" + (push ? "pull,push" : "pull")
            return HTTPResponse(status: 401, body: Data(#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.utf8),
                                headers: ["www-authenticate": "Bearer realm=\"https://auth.example.org/token\",service=\"registry.example.org\",scope=\"\(scope)\""])
        }
        let client = RegistryClient(reference: ref, auth: RegistryAuthenticator(http: http, files: files(["REGISTRY_AUTH_FILE": dir + "/ci.json"])))
        #expect(try client.manifest("1") != nil)
        try client.putManifest(Data("{}".utf8), mediaType: OCI.manifestMediaType, reference: "1")
        #expect(try client.manifest("1") != nil)
        let tokens = http.requests.filter { $0.url.hasPrefix("https://auth.example.org/") }.map(\.url)
        #expect(tokens == ["https://auth.example.org/token?service=registry.example.org&scope=repository%3Ateam%2Fclf%3Apull&account=ana",
                           "https://auth.example.org/token?service=registry.example.org&scope=repository%3Ateam%2Fclf%3Apull%2Cpush&account=ana"])
        // The last read went straight out with the push token.
        #expect(http.requests.last?.headers["Authorization"] == "Bearer T-PUSH")
    }

    @Test func refusalsSayWhatToDoAndNeverTheSecret() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        write("ci.json", "{\"auths\": {\"registry.example.org\": \(entry("ana:" + Self.password))}}")
        func refusal(_ env: [String: String], _ answer: @escaping @Sendable (HTTPRequest) -> HTTPResponse) -> RegistryAccessDenied? {
            let client = RegistryClient(reference: ref, auth: RegistryAuthenticator(http: FakeHTTP { r throws(HTTPFailure) in answer(r) }, files: files(env)))
            do { _ = try client.manifest("1"); return nil } catch { return error as? RegistryAccessDenied }
        }
        let basic: @Sendable (HTTPRequest) -> HTTPResponse = { _ in HTTPResponse(status: 401, body: Data(), headers: ["www-authenticate": "Basic realm=r"]) }
        let none = try #require(refusal([:], basic))
        #expect(none.reason == .noLogin && none.exitStatus == .stageFailed)
        #expect(none.message.contains("docker://registry.example.org/team/clf:1: reading manifest 1: the registry registry.example.org asks for a login (HTTP 401)"))
        #expect(none.message.contains("`skopeo login registry.example.org`") && none.message.contains(dir + "/home/.docker/config.json"), "\(none.message)")
        let refused = try #require(refusal(["REGISTRY_AUTH_FILE": dir + "/ci.json"], basic))
        #expect(refused.reason == .refused && refused.message.contains("refused the login of ana (from \(dir)/ci.json)"), "\(refused.message)")
        let forbidden = try #require(refusal(["REGISTRY_AUTH_FILE": dir + "/ci.json"]) { r in
            r.headers["Authorization"] == nil ? basic(r) : HTTPResponse(status: 403, body: Data(#"{"errors":[{"code":"DENIED","message":"no"}]}"#.utf8))
        })
        #expect(forbidden.reason == .forbidden && forbidden.message.contains("does not let ana") && forbidden.message.contains("HTTP 403: DENIED: no"))
        // A good token without the scope asked for: a missing right, not a bad login.
        let scoped = try #require(refusal(["REGISTRY_AUTH_FILE": dir + "/ci.json"]) { r in
            r.url.hasPrefix("https://auth.example.org/") ? HTTPResponse(status: 200, body: Data(#"{"token":"T"}"#.utf8))
                : HTTPResponse(status: 401, body: Data(), headers: ["www-authenticate": #"Bearer realm="https://auth.example.org/t",scope="repository:team/clf:pull",error="insufficient_scope""#])
        })
        #expect(scoped.reason == .forbidden, "\(scoped.message)")
        for m in [none.message, refused.message, forbidden.message] {
            #expect(!m.contains(Self.password) && !m.contains(Data("ana:\(Self.password)".utf8).base64EncodedString()))
        }
        // A token realm on plain http elsewhere never gets the login.
        let client = RegistryClient(reference: ref, auth: RegistryAuthenticator(http: FakeHTTP { r throws(HTTPFailure) in
            HTTPResponse(status: 401, body: Data(), headers: ["www-authenticate": "Bearer realm=\"http://auth.example.org/token\""])
        }, files: files(["REGISTRY_AUTH_FILE": dir + "/ci.json"])))
        do { _ = try client.manifest("1"); Issue.record("no refusal") } catch {
            #expect("\(error)".contains("is plain http"), "\(error)")
        }
    }

    @Test func skopeosRefusalsAreTold() throws {
        let f = files()
        let creds = RegistryCredentials(username: "ana", password: Self.password, file: "/x/auth.json", key: "h")
        let denied = RegistryAccessDenied.fromSkopeo(
            "time=… level=fatal msg=\"copying: trying to reuse blob: requested access to the resource is denied\"", reference: ref, what: "pushing",
            credentials: creds, files: f)
        #expect(denied?.reason == .forbidden && denied?.message.contains("skopeo login registry.example.org") == true)
        #expect(RegistryAccessDenied.fromSkopeo("unauthorized: authentication required", reference: ref, what: "reading", credentials: nil, files: f)?.reason == .noLogin)
        #expect(RegistryAccessDenied.fromSkopeo("open /tmp/x/blobs: permission denied", reference: ref, what: "reading", credentials: creds, files: f) == nil)
    }

    /// The referrers API with a filter the registry did not apply: applied here.
    @Test func anUnappliedArtifactTypeFilterIsAppliedByTheClient() throws {
        let index = OCI.Index(manifests: [
            OCI.Descriptor(mediaType: OCI.manifestMediaType, digest: "sha256:" + String(repeating: "a", count: 64), size: 1, artifactType: OCI.inTotoMediaType),
            OCI.Descriptor(mediaType: OCI.manifestMediaType, digest: "sha256:" + String(repeating: "b", count: 64), size: 1, artifactType: OCI.signatureMediaType),
        ])
        let body = try OCI.encode(index)
        let http = FakeHTTP { _ throws(HTTPFailure) in HTTPResponse(status: 200, body: body) }
        let client = RegistryClient(reference: ref, auth: RegistryAuthenticator(http: http, files: files()))
        let subject = "sha256:" + String(repeating: "c", count: 64)
        #expect(try client.referrersAPI(subject, artifactType: OCI.signatureMediaType)?.manifests.map(\.artifactType) == [OCI.signatureMediaType])
        #expect(http.requests.last?.url == "https://registry.example.org/v2/team/clf/referrers/\(subject)?artifactType=application%2Fvnd.slipway.sshsig")
        #expect(try client.referrersAPI(subject)?.manifests.count == 2)
        http.answer { _ throws(HTTPFailure) in HTTPResponse(status: 404, body: Data()) }
        #expect(try client.referrersAPI(subject) == nil)
        // Only a 404 means no API: a failing registry is reported, not read past.
        http.answer { _ throws(HTTPFailure) in HTTPResponse(status: 500, body: Data("oops".utf8)) }
        do { _ = try client.referrersAPI(subject); Issue.record("no failure") } catch {
            #expect("\(error)".contains("the registry answered 500: oops") && (error as? RegistryClient.Failed)?.exitStatus == .stageFailed, "\(error)")
        }
    }
}
