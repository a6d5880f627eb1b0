import CLibPQ

/// A PostgreSQL connection URL without a password:
/// `postgres://user@host:port/db?sslmode=verify-full`.
///
/// Passwords come only from libpq's own sources (`PGPASSWORD`, `~/.pgpass`,
/// `PGPASSFILE` or a `passfile=` parameter), never from a URL that ends up in
/// `slipway.yaml`, a shell history or a process listing. A URL holding one is
/// refused, and the refusal does not repeat it. ``description`` is built from
/// the parsed parameters, so it holds nothing the URL did not name.
public struct PGURL: Sendable, Hashable, CustomStringConvertible {
    /// The URL as given (it holds no password).
    public let text: String
    /// The parameters the URL sets (libpq keyword → value), after libpq's own parsing.
    public private(set) var parameters: [String: String]
    /// Parameters set after the URL (see ``with(database:)``).
    private var overrides: [String: String] = [:]

    /// Parameters that carry a secret and so may not appear in a URL.
    static let secretKeywords: Set<String> = ["password", "sslpassword"]

    public init(_ text: String) throws(PGError) {
        let trimmed = text.trimmingWhitespace
        guard let schemeEnd = trimmed.range(of: "://"),
              ["postgres", "postgresql"].contains(trimmed[..<schemeEnd.lowerBound].lowercased()) else {
            throw PGError(kind: .badURL, message: "a PostgreSQL registry is named by a URL: "
                          + "postgres://USER@HOST:PORT/DATABASE?sslmode=… (not key=value settings)")
        }
        try Self.refuseSecrets(in: trimmed, after: schemeEnd.upperBound)
        let pq = try LibPQ.api()
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = pq.PQconninfoParse!(trimmed, &errorMessage) else {
            let why = errorMessage.map { String(cString: $0) }?.trimmingWhitespace ?? "libpq could not parse it"
            if let errorMessage { pq.PQfreemem!(errorMessage) }
            throw PGError(kind: .badURL, message: "not a valid PostgreSQL URL: \(why)")
        }
        defer { pq.PQconninfoFree!(options) }
        var parameters: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { parameters[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        // Belt and braces: whatever spelling got a secret past the syntactic check, libpq's parse names it.
        if !Self.secretKeywords.isDisjoint(with: parameters.keys) {
            throw Self.secretRefusal
        }
        self.text = trimmed
        self.parameters = parameters
    }

    static let secretRefusal = PGError(
        kind: .badURL,
        message: "the registry URL holds a password, which is not accepted (it would be kept in slipway.yaml, shell "
            + "histories and process listings); remove it from the URL and give it to libpq through PGPASSWORD, "
            + "~/.pgpass or PGPASSFILE")

    /// Refuses a password in the user part (`user:secret@host`) or in a query
    /// parameter (`?password=…`, `?sslpassword=…`) before libpq parses the URL,
    /// so that not even libpq's parse errors can repeat one.
    private static func refuseSecrets(in url: String, after start: String.Index) throws(PGError) {
        let rest = url[start...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@"), authority[..<at].contains(":") { throw secretRefusal }
        guard let question = rest.firstIndex(of: "?") else { return }
        for pair in rest[rest.index(after: question)...].split(separator: "&") {
            let key = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            if key.contains("%") {
                throw PGError(kind: .badURL, message: "percent-encoded parameter names are not accepted in a registry URL")
            }
            if secretKeywords.contains(key.lowercased()) { throw secretRefusal }
        }
    }

    public var user: String? { parameters["user"] }
    public var host: String? { parameters["host"] ?? parameters["hostaddr"] }
    public var port: String? { parameters["port"] }
    public var database: String? { parameters["dbname"] }

    /// The URL rebuilt from what it sets: user, host, port, database and the
    /// query parameters, in a stable order. Safe for logs, listings and errors.
    public var redacted: String {
        var text = "postgres://"
        if let user { text += "\(user)@" }
        let hosts = (host ?? "").split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let ports = (port ?? "").split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        text += hosts.enumerated().map { i, h in
            let shownHost = h.contains(":") ? "[\(h)]" : h
            let p = ports.count == hosts.count ? ports[i] : (ports.count == 1 ? ports[0] : "")
            return p.isEmpty ? shownHost : "\(shownHost):\(p)"
        }.joined(separator: ",")
        text += "/" + (database ?? "")
        let shown = parameters.keys.filter { !["user", "host", "hostaddr", "port", "dbname"].contains($0) && !Self.secretKeywords.contains($0) }
        if !shown.isEmpty {
            text += "?" + shown.sorted().map { "\($0)=\(parameters[$0]!)" }.joined(separator: "&")
        }
        return text
    }

    public var description: String { redacted }

    /// This URL with `name` as the database (applied after the URL when connecting).
    public func with(database name: String) -> PGURL {
        var copy = self
        copy.parameters["dbname"] = name
        copy.overrides["dbname"] = name
        return copy
    }

    /// This URL with `search_path` set to `schema` as the connection starts
    /// (libpq's `options`, after any the URL gives): no `SET` round trip per
    /// connection. `schema` must be a plain lower-case identifier.
    public func with(searchPath schema: String) -> PGURL {
        precondition(schema.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }, "not a plain identifier")
        var copy = self
        copy.overrides["options"] = ((parameters["options"].map { $0 + " " }) ?? "") + "-c search_path=" + schema
        return copy
    }

    /// The keyword/value pairs for `PQconnectdbParams`: `defaults` first, then
    /// the URL (expanded by libpq), then this value's overrides, so the URL
    /// wins over defaults and overrides win over the URL.
    func connectParameters(defaults: [(String, String)]) -> [(String, String)] {
        defaults.filter { parameters[$0.0] == nil } + [("dbname", text)] + overrides.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
