import Foundation

/// Sends the distribution API's requests to a registry with the login kept
/// for it (``RegistryAuthFiles``), as the OCI distribution spec and Docker's
/// token authentication describe:
///
/// - a request goes out with the authorization last accepted for the same
///   login (file and key: a login may be per repository), or for the same
///   repository when it has none (none at first: anonymous registries never
///   see a login);
/// - a 401 with `WWW-Authenticate: Basic …` is answered once with the user
///   and password;
/// - a 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` gets a
///   token: `GET realm?service=…&scope=…` (with the user and password as
///   Basic, when there is a login; anonymously otherwise), then the request
///   again with `Authorization: Bearer TOKEN`. Tokens are kept for the
///   authenticator's life (one command), a new one fetched whenever the
///   registry asks for another scope (pull, then push);
/// - a 401 or 403 left after that is ``RegistryAccessDenied``: the registry,
///   what was refused and how to log in, never the password or the token.
///
/// The login goes to curl in a header file, never on its command line; a
/// token realm on plain http gets it only on loopback, and a request goes
/// out with it only to the registry's own origin (scheme, host, port).
public final class RegistryAuthenticator: @unchecked Sendable {
    let http: any HTTPFetcher
    public let files: RegistryAuthFiles
    private let lock = NSLock()
    private var accepted: [String: String] = [:]
    private var found: [String: RegistryCredentials?] = [:]

    public init(http: any HTTPFetcher = CurlFetcher(), files: RegistryAuthFiles = .standard) {
        self.http = http
        self.files = files
    }

    /// The login for `reference`'s registry (read once per repository).
    public func credentials(for reference: ImageReference) throws -> RegistryCredentials? {
        let key = reference.host + "/" + reference.repository
        if let known = lock.withLock({ found[key] }) { return known }
        let creds = try files.credentials(for: reference)
        lock.withLock { found[key] = .some(creds) }
        return creds
    }

    /// skopeo's flag for the auth file holding the login (`--src-authfile`
    /// or `--dest-authfile`), so skopeo and Slipway use the same one; none
    /// when no file has a login for the registry.
    public func skopeoFlags(for reference: ImageReference, side: String) throws -> [String] {
        try credentials(for: reference).map { ["--\(side)-authfile", $0.file] } ?? []
    }

    /// Checks the login before anything is copied: `GET /v2/` through the
    /// challenge flow, so a missing or refused login is reported as such and
    /// nothing changes.
    public func signIn(_ reference: ImageReference, _ what: String) throws {
        let r = try send(HTTPRequest(url: reference.apiRoot), to: reference, what)
        guard r.isSuccess else {
            throw RegistryClient.Failed(message: "\(reference): \(what): \(reference.apiRoot) answered HTTP \(r.status): is \(reference.host) an OCI registry?")
        }
    }

    /// Sends `request` to `reference`'s registry, answering its challenge;
    /// throws ``RegistryAccessDenied`` when it still refuses.
    public func send(_ request: HTTPRequest, to reference: ImageReference, _ what: String) throws -> HTTPResponse {
        // A login goes only to the registry's own origin (scheme, host and port: an upload location
        // elsewhere, or on plain http from an https registry, gets none), and never over plain http
        // except to loopback.
        guard Self.mayCarryLogin(request.url, for: reference) else { return try fetch(request, reference, what) }
        var request = request
        let slot = acceptedSlot(reference)
        let remembered = lock.withLock { accepted[slot] }
        if let remembered { request.headers["Authorization"] = remembered }
        var r = try fetch(request, reference, what)
        if r.status == 401, let challenge = RegistryChallenge.parse(r.headers["www-authenticate"] ?? "") {
            let creds = try credentials(for: reference)
            let header: String
            switch challenge.scheme {
            case .basic:
                guard let creds else { throw denied(.noLogin, r, reference, what, nil) }
                header = creds.basicAuthorization
                // The very login just sent was refused: asking again changes nothing.
                if header == remembered { throw denied(.refused, r, reference, what, creds) }
            case .bearer:
                header = "Bearer " + (try token(challenge, creds, reference, what))
            }
            request.headers["Authorization"] = header
            r = try fetch(request, reference, what)
        }
        if r.status == 401 || r.status == 403 {
            let creds = try credentials(for: reference)
            // A token that is good but not for this (`error="insufficient_scope"`): a right, not the login, is missing.
            let lacksScope = RegistryChallenge.parse(r.headers["www-authenticate"] ?? "")?.parameters["error"] == "insufficient_scope"
            throw denied(creds == nil ? .noLogin : r.status == 403 || lacksScope ? .forbidden : .refused, r, reference, what, creds)
        }
        if let header = request.headers["Authorization"] { lock.withLock { accepted[slot] = header } }
        return r
    }

    /// Where the authorization accepted for `reference` is remembered: its
    /// login's file and key (logins may be per repository: `HOST/teamA` and
    /// `HOST/teamB`), or its repository when it has no login (or the auth
    /// files cannot be read: that is told when a login is asked for).
    private func acceptedSlot(_ reference: ImageReference) -> String {
        if let creds = (try? credentials(for: reference)) ?? nil { return "login\u{0}" + creds.file + "\u{0}" + creds.key }
        return "anonymous\u{0}" + reference.host + "/" + reference.repository
    }

    private func fetch(_ request: HTTPRequest, _ reference: ImageReference, _ what: String) throws -> HTTPResponse {
        do { return try http.fetch(request) } catch {
            throw RegistryClient.Failed(message: "\(reference): \(what): \(TerminalText.oneLine(error.message))")
        }
    }

    /// A bearer token for the challenge, from its realm.
    func token(_ challenge: RegistryChallenge, _ creds: RegistryCredentials?, _ reference: ImageReference, _ what: String) throws -> String {
        let realm = challenge.realm ?? ""
        let shownRealm = TerminalText.oneLine(realm)
        guard realm.hasPrefix("https://") || realm.hasPrefix("http://") else {
            throw RegistryClient.Failed(message: "\(reference): \(what): the registry's token realm '\(shownRealm)' is not an http(s) address")
        }
        if realm.hasPrefix("http://"), creds != nil, !ImageReference.isLoopback(host: Self.host(of: realm)) {
            throw RegistryClient.Failed(message: "\(reference): \(what): the registry's token realm \(shownRealm) is plain http: "
                                        + "the login for \(reference.host) is sent only over https (or to loopback)")
        }
        var query: [String] = []
        if let service = challenge.service { query.append("service=" + Self.percentEncoded(service)) }
        query += challenge.scopes.map { "scope=" + Self.percentEncoded($0) }
        if let creds { query.append("account=" + Self.percentEncoded(creds.username)) }
        let url = realm + (query.isEmpty ? "" : (realm.contains("?") ? "&" : "?") + query.joined(separator: "&"))
        var headers: [String: String] = ["Accept": "application/json"]
        if let creds { headers["Authorization"] = creds.basicAuthorization }
        let r: HTTPResponse
        do { r = try http.fetch(HTTPRequest(url: url, headers: headers)) } catch {
            throw RegistryClient.Failed(message: "\(reference): \(what): the token server \(shownRealm): \(TerminalText.oneLine(error.message))")
        }
        if r.status == 401 || r.status == 403 {
            throw denied(creds == nil ? .noLogin : .refused, r, reference, what, creds, by: "its token server \(shownRealm)")
        }
        let object = (try? JSONSerialization.jsonObject(with: r.body)) as? [String: Any]
        guard r.isSuccess, let token = (object?["token"] as? String) ?? (object?["access_token"] as? String), !token.isEmpty,
              !token.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw RegistryClient.Failed(message: "\(reference): \(what): the token server \(shownRealm) answered HTTP \(r.status) without a token")
        }
        return token
    }

    /// Whether `url` is on `reference`'s registry's own origin (same scheme,
    /// host and port as its API root) and not plain http off loopback.
    static func mayCarryLogin(_ url: String, for reference: ImageReference) -> Bool {
        let origin = RegistryClient.origin(of: url).lowercased()
        guard origin == RegistryClient.origin(of: reference.apiRoot).lowercased() else { return false }
        return origin.hasPrefix("https://") || (origin.hasPrefix("http://") && ImageReference.isLoopback(host: host(of: url)))
    }

    static func host(of url: String) -> String {
        let origin = RegistryClient.origin(of: url)
        return String(origin[(origin.range(of: "://")?.upperBound ?? origin.startIndex)...])
    }

    static func percentEncoded(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    private func denied(_ reason: RegistryAccessDenied.Reason, _ r: HTTPResponse, _ reference: ImageReference, _ what: String,
                        _ creds: RegistryCredentials?, by who: String? = nil) -> RegistryAccessDenied {
        RegistryAccessDenied(reason: reason, reference: reference, what: what, status: r.status,
                             registryError: RegistryAccessDenied.registryError(r.body), credentials: creds, files: files, by: who)
    }
}

/// A registry that wants a login it did not get: none kept for it, refused,
/// or not allowed to do this. Names the registry, what was refused and how
/// to log in; never a password or token (exit 1: the outside refused).
public struct RegistryAccessDenied: SlipwayError {
    public enum Reason: String, Sendable { case noLogin, refused, forbidden }
    public var reason: Reason
    public var message: String
    public var exitStatus: ExitStatus { .stageFailed }
    public var description: String { message }

    init(reason: Reason, reference: ImageReference, what: String, status: Int?, registryError: String?,
         credentials: RegistryCredentials?, files: RegistryAuthFiles, by who: String? = nil) {
        self.reason = reason
        let host = reference.host
        let answer = (status.map { "HTTP \($0)" } ?? "") + (registryError.map { (status == nil ? "" : ": ") + $0 } ?? "")
        let login = "`" + Self.loginCommand(reference) + "`"
        let registry = "the registry \(host)" + (who.map { " (\($0))" } ?? "")
        switch reason {
        case .noLogin:
            message = "\(reference): \(what): \(registry) asks for a login (\(answer)) and none for \(host) is kept in \(files.shown); "
                + "log in with \(login) (podman login and docker login write the same files)"
        case .refused:
            message = "\(reference): \(what): \(registry) refused the login of \(credentials?.description ?? "?") (\(answer)); "
                + "log in again with \(login)"
        case .forbidden:
            message = "\(reference): \(what): \(registry) does not let \(credentials?.description ?? "?") do this (\(answer)); "
                + "ask for access to \(reference.repository), or log in as another user with \(login)"
        }
    }

    /// `skopeo login HOST` (with `--tls-verify=false` for a loopback registry on plain http).
    public static func loginCommand(_ reference: ImageReference) -> String {
        "skopeo login " + (reference.isLoopback ? "--tls-verify=false " : "") + reference.host
    }

    /// The distribution spec's error body: `CODE: message` of the first error.
    static func registryError(_ body: Data) -> String? {
        guard let object = (try? JSONSerialization.jsonObject(with: body.prefix(4096))) as? [String: Any],
              let first = (object["errors"] as? [[String: Any]])?.first, let code = first["code"] as? String else { return nil }
        let text = (first["message"] as? String).map { code + ": " + $0 } ?? code
        return TerminalText.oneLine(String(text.prefix(160)))
    }

    /// A skopeo failure that is a refused login, from its message; nil otherwise.
    static func fromSkopeo(_ stderr: String, reference: ImageReference, what: String, credentials: RegistryCredentials?,
                           files: RegistryAuthFiles) -> RegistryAccessDenied? {
        // The registry's words as skopeo passes them on (not a local "permission denied").
        let lower = stderr.lowercased()
        let forbidden = ["access to the resource is denied", "denied: ", "403 (forbidden)"].contains { lower.contains($0) }
        let unauthorized = ["unauthorized", "authentication required", "invalid username/password", "401 (unauthorized)"].contains { lower.contains($0) }
        guard forbidden || unauthorized else { return nil }
        let last = stderr.split(separator: "\n").last.map { TerminalText.oneLine(String($0.suffix(200))) }
        let reason: Reason = credentials == nil ? .noLogin : forbidden ? .forbidden : .refused
        return RegistryAccessDenied(reason: reason, reference: reference, what: what, status: nil, registryError: last.map { "skopeo: " + $0 },
                                    credentials: credentials, files: files)
    }
}
