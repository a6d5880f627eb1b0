import Foundation

/// An image in a container registry, as `push` and `verify` take it:
/// `docker://HOST[:PORT]/REPO[:TAG]` or `docker://HOST[:PORT]/REPO@sha256:…`.
/// A loopback host (`127.0.0.1`, `localhost`, `[::1]`) is spoken to over
/// plain http (a test registry); every other host over https.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var repository: String
    public var tag: String?
    public var digest: String?

    public static let scheme = "docker://"

    /// A reference that does not parse, named in the message (exit 2).
    public struct Bad: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String { message }
    }

    public init(host: String, repository: String, tag: String? = nil, digest: String? = nil) {
        self.host = host
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    public static func parse(_ text: String) throws -> ImageReference {
        // A login written into the reference (docker://USER:PASSWORD@HOST/…, the
        // password perhaps holding `/` or `@`) is never repeated.
        if let at = loginEnd(text) {
            let host = TerminalText.oneLine(text[text.index(after: at)...].prefix { $0 != "/" })
            throw Bad(message: "an image reference holds a login before \(host): logins are not taken from references or slipway.yaml; "
                      + "log in with `skopeo login \(host)` and give docker://\(host)/REPO")
        }
        let shown = TerminalText.oneLine(text)
        func bad(_ why: String) -> Bad { Bad(message: "'\(shown)' is not an image reference: \(why) (docker://HOST[:PORT]/REPO[:TAG] or docker://HOST[:PORT]/REPO@sha256:…)") }
        guard text.hasPrefix(scheme) else { throw bad("it does not start with docker://") }
        let rest = String(text.dropFirst(scheme.count))
        guard let slash = rest.firstIndex(of: "/") else { throw bad("it names no repository") }
        let host = String(rest[..<slash])
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) }) else {
            throw bad("the host '\(TerminalText.oneLine(host))' is not a host name with an optional port")
        }
        var path = String(rest[rest.index(after: slash)...])
        var digest: String?
        var tag: String?
        if let at = path.firstIndex(of: "@") {
            let d = String(path[path.index(after: at)...])
            guard OCI.isDigest(d), d == d.lowercased() else { throw bad("'\(TerminalText.oneLine(d))' is not a sha256 digest") }
            digest = d
            path = String(path[..<at])
        } else if let colon = path.lastIndex(of: ":"), !path[colon...].contains("/") {
            let t = String(path[path.index(after: colon)...])
            guard !t.isEmpty, t.count <= 128, t.first != "." && t.first != "-",
                  t.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }) else {
                throw bad("'\(TerminalText.oneLine(t))' is not a tag (letters, digits, _ . -, up to 128)")
            }
            tag = t
            path = String(path[..<colon])
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, components.allSatisfy({ c in
            !c.isEmpty && (c.first!.isLetter || c.first!.isNumber)
        }), path.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "._-/".contains($0)) }) else {
            throw bad("the repository '\(TerminalText.oneLine(path))' is not lower-case letters, digits and . _ - /")
        }
        return ImageReference(host: host, repository: path, tag: tag, digest: digest)
    }

    /// The `@` ending a login written before the host, the password perhaps
    /// holding `/` or `@`: the last `@` unless a digest (`@sha256:…`) follows
    /// it, else the last `@` before the digest that a `/` follows (the
    /// login's end before HOST/REPO); nil when there is none.
    static func loginEnd(_ text: String) -> String.Index? {
        let rest = text.hasPrefix(scheme) ? text[text.index(text.startIndex, offsetBy: scheme.count)...] : text[...]
        guard let last = rest.lastIndex(of: "@") else { return nil }
        guard rest[rest.index(after: last)...].hasPrefix("sha256:") else { return last }
        let beforeDigest = rest[..<last]
        guard let slash = beforeDigest.lastIndex(of: "/") else { return nil }
        return beforeDigest[..<slash].lastIndex(of: "@")
    }

    /// Plain http only to the machine itself.
    public var isLoopback: Bool { Self.isLoopback(host: host) }

    /// Whether `HOST[:PORT]` is this machine.
    public static func isLoopback(host: String) -> Bool {
        let name = host.hasPrefix("[") ? String(host.prefix { $0 != "]" }) + "]" : String(host.prefix { $0 != ":" })
        return ["127.0.0.1", "localhost", "[::1]"].contains(name)
    }

    /// `http(s)://HOST/v2/`: the registry's API root (its version check).
    public var apiRoot: String { (isLoopback ? "http://" : "https://") + host + "/v2/" }

    /// `http(s)://HOST/v2/REPO`: where the distribution API of this repository starts.
    public var apiBase: String { apiRoot + repository }

    /// The same repository with another tag or a digest.
    public func with(tag: String? = nil, digest: String? = nil) -> ImageReference {
        ImageReference(host: host, repository: repository, tag: tag, digest: digest)
    }

    public var description: String {
        Self.scheme + host + "/" + repository + (digest.map { "@" + $0 } ?? tag.map { ":" + $0 } ?? "")
    }
}
