import Foundation

/// One HTTP exchange, as an analysis or a registry client makes it.
public struct HTTPRequest: Sendable, Hashable {
    public var url: String
    public var method: String
    public var headers: [String: String]
    public var body: Data?
    /// Seconds the whole exchange may take.
    public var timeout: Double

    public init(url: String, method: String = "GET", headers: [String: String] = [:], body: Data? = nil, timeout: Double = 30) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

public struct HTTPResponse: Sendable, Hashable {
    public var status: Int
    public var contentType: String?
    public var body: Data
    /// The final answer's headers, names in lower case (a registry's
    /// `location`, `docker-content-digest`, `oci-subject`).
    public var headers: [String: String]

    public init(status: Int, contentType: String? = nil, body: Data, headers: [String: String] = [:]) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    public var isSuccess: Bool { (200..<300).contains(status) }
}

/// Why no answer came: the address, the connection, a timeout, the size.
public struct HTTPFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Where the engine's HTTP goes. ``CurlFetcher`` in production (redirects,
/// chunked bodies, timeouts, proxies and TLS handled by curl, and no
/// networking library loaded by commands that never fetch); tests use
/// ``FakeHTTP``, whose answers they script.
public protocol HTTPFetcher: Sendable {
    func fetch(_ request: HTTPRequest) throws(HTTPFailure) -> HTTPResponse
}

extension HTTPFetcher {
    /// A GET whose answer must be 2xx.
    public func get(_ url: String, timeout: Double = 30) throws(HTTPFailure) -> Data {
        let r = try fetch(HTTPRequest(url: url, timeout: timeout))
        guard r.isSuccess else {
            let text = String(decoding: r.body.prefix(120), as: UTF8.self)
            throw HTTPFailure("GET answered HTTP \(r.status)" + (text.isEmpty ? "" : ": \(text)"))
        }
        return r.body
    }
}

/// HTTP through the `curl` program: `http://` and `https://`, the address
/// taken as written (no globbing of `[]{}`, as in PromQL), following up to
/// five redirects, honouring `http_proxy`/`https_proxy`/`no_proxy` as curl
/// does, bodies up to 16 MiB.
public struct CurlFetcher: HTTPFetcher {
    public static let maxBody = 16 << 20

    public init() {}

    public func fetch(_ request: HTTPRequest) throws(HTTPFailure) -> HTTPResponse {
        guard request.url.hasPrefix("http://") || request.url.hasPrefix("https://") else {
            throw HTTPFailure("'\(request.url)' is not an http:// or https:// address")
        }
        let dir = NSTemporaryDirectory() + "slipway-http-\(getpid())-\(UUID().uuidString.prefix(8))"
        // Private to this user: it holds the answer and the request's body.
        guard (try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])) != nil else {
            throw HTTPFailure("cannot make a temporary folder for the answer")
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bodyPath = dir + "/body"
        let headersPath = dir + "/headers"
        var args = ["curl", "-q", "-sS", "-g", "-L", "--max-redirs", "5", "--proto", "=http,https", "--proto-redir", "=http,https",
                    "--max-time", String(format: "%.3f", max(0.001, request.timeout)), "--max-filesize", String(Self.maxBody),
                    "-X", request.method, "-o", bodyPath, "-D", headersPath, "-w", "%{http_code} %{content_type}"]
        // Headers go to curl's standard input (`-H @-`, a pipe), so a login or
        // token is never on a command line another user's `ps` shows, nor in a
        // file left behind when slipway is killed mid-request.
        var headerLines = ""
        for (name, value) in request.headers.sorted(by: { $0.key < $1.key }) {
            guard !name.contains(where: { $0 == "\r" || $0 == "\n" || $0 == ":" }), !value.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                throw HTTPFailure("header '\(name)' holds a line break")
            }
            headerLines += "\(name): \(value)\n"
        }
        if !headerLines.isEmpty { args += ["-H", "@-"] }
        if let body = request.body {
            let requestBody = dir + "/request"
            guard FileManager.default.createFile(atPath: requestBody, contents: body) else { throw HTTPFailure("cannot write the request body") }
            args += ["--data-binary", "@" + requestBody]
        }
        args += ["--", request.url]
        let result: OutsideTool.Result
        do { result = try OutsideTool.run(args, input: headerLines.isEmpty ? nil : Data(headerLines.utf8)) } catch {
            throw HTTPFailure("HTTP needs curl, which cannot be run: \(error)")
        }
        guard result.succeeded else {
            // curl's message line (not a caret pointing into the URL).
            let why = result.stderr.split(separator: "\n").map(String.init)
                .first { $0.hasPrefix("curl:") } ?? "curl exited \(result.status)"
            throw HTTPFailure(Self.explain(curlStatus: result.status, why, timeout: request.timeout))
        }
        let written = result.stdout.split(separator: " ", maxSplits: 1).map(String.init)
        guard let code = written.first.flatMap({ Int($0) }), code > 0 else { throw HTTPFailure("no HTTP answer from \(request.url)") }
        // --max-filesize holds only when the length is announced: a chunked answer is measured here.
        let size = (try? FileManager.default.attributesOfItem(atPath: bodyPath)[.size] as? Int) ?? 0
        guard size <= Self.maxBody else { throw HTTPFailure("the answer is larger than 16 MiB") }
        let body = FileManager.default.contents(atPath: bodyPath) ?? Data()
        let headerText = FileManager.default.contents(atPath: headersPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return HTTPResponse(status: code, contentType: written.count > 1 && !written[1].isEmpty ? written[1] : nil, body: body,
                            headers: Self.lastHeaders(headerText))
    }

    /// The header block of the last answer in curl's `-D` file (after
    /// redirects and `100 Continue`, each answer has its own block).
    static func lastHeaders(_ text: String) -> [String: String] {
        var headers: [String: String] = [:]
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }) {
            if line.hasPrefix("HTTP/") { headers = [:]; continue }
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return headers
    }

    static func explain(curlStatus: Int32, _ message: String, timeout: Double) -> String {
        let text = message.replacingOccurrences(of: "curl: ", with: "")
        switch curlStatus {
        case 28: return "no answer within \(Durations.format(timeout))"
        case 63: return "the answer is larger than 16 MiB"
        default: return text
        }
    }
}

/// Scripted answers for tests: a handler per request, and every request kept.
public final class FakeHTTP: HTTPFetcher, @unchecked Sendable {
    private let lock = NSLock()
    private var handler: @Sendable (HTTPRequest) throws(HTTPFailure) -> HTTPResponse
    private var seen: [HTTPRequest] = []

    public init(_ handler: @escaping @Sendable (HTTPRequest) throws(HTTPFailure) -> HTTPResponse = { _ throws(HTTPFailure) in
        throw HTTPFailure("connection refused")
    }) {
        self.handler = handler
    }

    public func answer(_ handler: @escaping @Sendable (HTTPRequest) throws(HTTPFailure) -> HTTPResponse) {
        lock.withLock { self.handler = handler }
    }

    public var requests: [HTTPRequest] { lock.withLock { seen } }

    public func fetch(_ request: HTTPRequest) throws(HTTPFailure) -> HTTPResponse {
        let h = lock.withLock { seen.append(request); return handler }
        return try h(request)
    }
}
