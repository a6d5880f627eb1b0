import Foundation

/// Where the login for an image registry is kept, read as skopeo, podman and
/// docker read it (containers-auth.json(5)), so that `skopeo login HOST`,
/// `podman login HOST` or `docker login HOST` is all a person does:
///
/// 1. `$REGISTRY_AUTH_FILE` when it is set (then that file alone, as skopeo
///    does);
/// 2. `${XDG_RUNTIME_DIR}/containers/auth.json` (where `skopeo login` and
///    `podman login` write; `/run/containers/UID/auth.json` when
///    `XDG_RUNTIME_DIR` is not set);
/// 3. `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`;
/// 4. `${DOCKER_CONFIG:-~/.docker}/config.json` (where `docker login` writes).
///
/// The first file holding an entry for the registry wins. In a file the
/// most specific key wins: `HOST/REPO`, its parent paths, then `HOST`
/// (`https://HOST/v1/` as docker writes it counts as `HOST`). An entry is
/// `{"auth": base64("USER:PASSWORD")}`. Credentials never come from
/// `slipway.yaml`, and the password is never part of a description, an
/// error, a log or an audit payload.
public struct RegistryAuthFiles: Sendable {
    public var environment: [String: String]
    public var home: String
    public var uid: UInt32

    public init(environment: [String: String], home: String, uid: UInt32) {
        self.environment = environment
        self.home = home
        self.uid = uid
    }

    /// This process's environment, home folder and user.
    public static var standard: RegistryAuthFiles {
        let env = ProcessInfo.processInfo.environment
        return RegistryAuthFiles(environment: env, home: env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory(), uid: getuid())
    }

    /// A file that cannot be read as an auth file, named with the place (exit 2).
    public struct Bad: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String { message }
    }

    private func value(_ name: String) -> String? {
        environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The files read, in order.
    public var paths: [String] {
        if let file = value("REGISTRY_AUTH_FILE") { return [file] }
        return [value("XDG_RUNTIME_DIR").map { $0 + "/containers/auth.json" } ?? "/run/containers/\(uid)/auth.json",
                (value("XDG_CONFIG_HOME") ?? home + "/.config") + "/containers/auth.json",
                (value("DOCKER_CONFIG") ?? home + "/.docker") + "/config.json"]
    }

    /// What the files are called in a message: `$REGISTRY_AUTH_FILE (PATH)` or the list.
    public var shown: String {
        if let file = value("REGISTRY_AUTH_FILE") { return "$REGISTRY_AUTH_FILE (\(TerminalText.oneLine(file)))" }
        return paths.map { TerminalText.oneLine($0) }.joined(separator: ", ")
    }

    /// The keys an entry for `reference` may have, most specific first.
    static func keys(for reference: ImageReference) -> [String] {
        let host = normalizedHost(reference.host)
        var keys: [String] = []
        var path = reference.repository.split(separator: "/").map(String.init)
        while !path.isEmpty {
            keys.append(host + "/" + path.joined(separator: "/"))
            path.removeLast()
        }
        return keys + [host]
    }

    /// `https://HOST/v1/` → `HOST`; Docker Hub's aliases → `docker.io`.
    static func normalizedKey(_ key: String) -> String {
        var k = key
        for scheme in ["http://", "https://"] where k.hasPrefix(scheme) {
            k = String(k.dropFirst(scheme.count).prefix { $0 != "/" })
        }
        guard let slash = k.firstIndex(of: "/") else { return normalizedHost(k) }
        return normalizedHost(String(k[..<slash])) + String(k[slash...])
    }

    static func normalizedHost(_ host: String) -> String {
        ["index.docker.io", "registry-1.docker.io"].contains(host) ? "docker.io" : host
    }

    /// The largest auth file read (1 MiB).
    public static let maxFileSize = 1 << 20

    /// The credentials for `reference`'s registry; nil when no file has any.
    public func credentials(for reference: ImageReference) throws -> RegistryCredentials? {
        let wanted = Self.keys(for: reference)
        for path in paths {
            guard let handle = FileHandle(forReadingAtPath: path) else { continue }
            // At most a little over the cap is read: an auth file is a few logins, not megabytes.
            defer { try? handle.close() }
            let data: Data
            do { data = try handle.read(upToCount: Self.maxFileSize + 1) ?? Data() } catch { continue }
            guard data.count <= Self.maxFileSize else {
                throw Bad(message: "\(TerminalText.oneLine(path)): not a registry auth file: larger than 1 MiB")
            }
            if let found = try Self.credentials(in: data, file: path, keys: wanted, host: reference.host) { return found }
        }
        return nil
    }

    /// The entry for the first of `keys` in one auth file's contents.
    static func credentials(in data: Data, file: String, keys: [String], host: String) throws -> RegistryCredentials? {
        let shownFile = TerminalText.oneLine(file)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: data) } catch {
            let why = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "not JSON"
            throw Bad(message: "\(shownFile): not a registry auth file: \(TerminalText.oneLine(why))")
        }
        guard let top = json as? [String: Any] else { throw Bad(message: "\(shownFile): not a registry auth file: not a JSON object") }
        if let helpers = top["credHelpers"] as? [String: Any],
           let helper = keys.lazy.compactMap({ k in helpers.first { normalizedKey($0.key) == k } }).first {
            throw Bad(message: "\(shownFile): credHelpers.\"\(TerminalText.oneLine(helper.key))\": the login for \(host) is kept by docker-credential-"
                      + "\(TerminalText.oneLine("\(helper.value)")), which Slipway does not run; log in with `skopeo login \(host)` to keep it in an auth file")
        }
        guard let auths = top["auths"] else { return nil }
        guard let entries = auths as? [String: Any] else { throw Bad(message: "\(shownFile): \"auths\" is not a JSON object") }
        for wanted in keys {
            // Exact key first, then keys that normalise to it (https://HOST/v1/).
            guard let match = entries.first(where: { $0.key == wanted }) ?? entries.sorted(by: { $0.key < $1.key })
                .first(where: { normalizedKey($0.key) == wanted }) else { continue }
            let (key, entry) = (match.key, match.value)
            let place = "\(shownFile): auths.\"\(TerminalText.oneLine(key))\""
            guard let fields = entry as? [String: Any] else { throw Bad(message: "\(place) is not a JSON object") }
            if let field = fields["auth"], !(field is String) { throw Bad(message: "\(place).auth is not a string") }
            let auth = fields["auth"] as? String ?? ""
            if auth.isEmpty {
                if fields["identitytoken"] != nil {
                    throw Bad(message: "\(place) holds an identity token, which Slipway does not use; log in with `skopeo login \(host)` (user and password)")
                }
                continue
            }
            guard let decoded = Data(base64Encoded: auth).map({ String(decoding: $0, as: UTF8.self) }),
                  let colon = decoded.firstIndex(of: ":") else {
                throw Bad(message: "\(place).auth is not base64 of USER:PASSWORD")
            }
            return RegistryCredentials(username: String(decoded[..<colon]), password: String(decoded[decoded.index(after: colon)...]),
                                       file: file, key: key)
        }
        return nil
    }
}

/// A user and password for one registry, and the file they came from. Its
/// description, debug description and mirror name the user and the file,
/// never the password.
public struct RegistryCredentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let username: String
    private let password: String
    /// The auth file holding them (what skopeo gets as `--authfile`).
    public let file: String
    /// Their key in that file's `auths`.
    public let key: String

    public init(username: String, password: String, file: String, key: String) {
        self.username = username
        self.password = password
        self.file = file
        self.key = key
    }

    /// `Basic base64(USER:PASSWORD)`, for an `Authorization` header only.
    var basicAuthorization: String { "Basic " + Data("\(username):\(password)".utf8).base64EncodedString() }

    public var description: String { "\(TerminalText.oneLine(username)) (from \(TerminalText.oneLine(file)))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["username": username, "file": file, "key": key]) }
}
