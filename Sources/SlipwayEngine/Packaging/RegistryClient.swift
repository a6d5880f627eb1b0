import Foundation

/// The few calls of the OCI distribution API (v1.1) that referrers need, over
/// the engine's ``HTTPFetcher``: blob upload (POST then PUT), manifests by
/// tag or digest, blobs by digest, and the referrers API. Images themselves
/// (layers of any size) travel through skopeo; what goes through here is
/// small (artifact manifests, provenance statements, signatures, indexes).
///
/// Every request goes through a ``RegistryAuthenticator``: anonymous while
/// the registry lets it, else with the login kept for the registry (HTTP
/// Basic or the bearer-token flow); a refusal is ``RegistryAccessDenied``.
public struct RegistryClient: Sendable {
    public let reference: ImageReference
    let auth: RegistryAuthenticator

    public init(reference: ImageReference, http: any HTTPFetcher = CurlFetcher()) {
        self.init(reference: reference, auth: RegistryAuthenticator(http: http))
    }

    public init(reference: ImageReference, auth: RegistryAuthenticator) {
        self.reference = reference
        self.auth = auth
    }

    /// Why a registry call did not succeed (exit 1: the outside failed).
    public struct Failed: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .stageFailed }
        public var description: String { message }
    }

    func send(_ request: HTTPRequest, _ what: String) throws -> HTTPResponse {
        try auth.send(request, to: reference, what)
    }

    func failure(_ r: HTTPResponse, _ what: String) -> Failed {
        let text = TerminalText.oneLine(String(decoding: r.body.prefix(200), as: UTF8.self))
        return Failed(message: "\(reference): \(what) answered HTTP \(r.status)" + (text.isEmpty ? "" : ": \(text)"))
    }

    /// Uploads a blob (POST for a session, PUT with the digest), unless the
    /// repository holds it already.
    public func uploadBlob(_ data: Data, digest: String) throws {
        let head = try send(HTTPRequest(url: reference.apiBase + "/blobs/" + digest, method: "GET"), "reading blob \(digest)")
        if head.isSuccess && OCI.sha256(head.body) == digest { return }
        let start = try send(HTTPRequest(url: reference.apiBase + "/blobs/uploads/", method: "POST", body: Data()), "starting an upload")
        guard start.status == 202, let location = start.headers["location"] else { throw failure(start, "starting an upload of \(digest)") }
        var url = location.hasPrefix("http://") || location.hasPrefix("https://") ? location : Self.origin(of: reference.apiBase) + location
        url += (url.contains("?") ? "&" : "?") + "digest=" + digest
        let put = try send(HTTPRequest(url: url, method: "PUT", headers: ["Content-Type": "application/octet-stream"], body: data),
                           "uploading blob \(digest)")
        guard put.status == 201 else { throw failure(put, "uploading blob \(digest)") }
    }

    /// `scheme://host[:port]` of a URL.
    static func origin(of url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let afterScheme = url[schemeEnd.upperBound...]
        return String(url[..<schemeEnd.upperBound]) + String(afterScheme.prefix { $0 != "/" })
    }

    /// Puts a manifest or index under a tag or digest; returns the answer's
    /// headers (a registry with the referrers API sets `OCI-Subject`).
    @discardableResult
    public func putManifest(_ data: Data, mediaType: String, reference ref: String) throws -> [String: String] {
        let r = try send(HTTPRequest(url: reference.apiBase + "/manifests/" + ref, method: "PUT", headers: ["Content-Type": mediaType], body: data),
                         "putting manifest \(ref)")
        guard r.status == 201 else { throw failure(r, "putting manifest \(ref)") }
        return r.headers
    }

    /// A manifest or index by tag or digest; nil when the registry has none.
    public func manifest(_ ref: String, accept: [String] = [OCI.manifestMediaType, OCI.indexMediaType]) throws -> Data? {
        let r = try send(HTTPRequest(url: reference.apiBase + "/manifests/" + ref, headers: ["Accept": accept.joined(separator: ", ")]),
                         "reading manifest \(ref)")
        if r.status == 404 { return nil }
        guard r.isSuccess else { throw failure(r, "reading manifest \(ref)") }
        return r.body
    }

    public func blob(_ digest: String) throws -> Data {
        let r = try send(HTTPRequest(url: reference.apiBase + "/blobs/" + digest), "reading blob \(digest)")
        guard r.isSuccess else { throw failure(r, "reading blob \(digest)") }
        return r.body
    }

    /// The referrers of `digest` through the referrers API
    /// (`GET /v2/REPO/referrers/DIGEST`, an image index); nil when the
    /// registry does not have the API (a 404, or a 2xx that is not an
    /// index), and then the fallback tag is where they are; any other status
    /// is a ``Failed`` naming it. With
    /// `artifactType`, only those; a registry that did not apply the filter
    /// (no `OCI-Filters-Applied: artifactType`) has it applied here.
    public func referrersAPI(_ digest: String, artifactType: String? = nil) throws -> OCI.Index? {
        let filter = artifactType.map { "?artifactType=" + RegistryAuthenticator.percentEncoded($0) } ?? ""
        let r = try send(HTTPRequest(url: reference.apiBase + "/referrers/" + digest + filter, headers: ["Accept": OCI.indexMediaType]),
                         "listing referrers")
        // Only a 404 says the registry has no referrers API (OCI distribution spec 1.1);
        // any other failure is the registry's, not a reason to read the fallback tag.
        if r.status == 404 { return nil }
        guard r.isSuccess else {
            let text = TerminalText.oneLine(String(decoding: r.body.prefix(200), as: UTF8.self))
            throw Failed(message: "\(reference): listing referrers of \(digest): the registry answered \(r.status)" + (text.isEmpty ? "" : ": \(text)"))
        }
        guard r.status == 200, var index = try? JSONDecoder().decode(OCI.Index.self, from: r.body) else { return nil }
        let applied = (r.headers["oci-filters-applied"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if let artifactType, !applied.contains("artifactType") {
            index.manifests.removeAll { $0.artifactType != artifactType }
        }
        return index
    }

    /// The OCI 1.1 fallback tag for the referrers of `digest`: `sha256-<hex>`.
    public static func fallbackTag(_ digest: String) -> String {
        digest.replacingOccurrences(of: ":", with: "-")
    }

    /// The index at the fallback tag (empty when there is none).
    public func fallbackIndex(_ digest: String) throws -> OCI.Index {
        guard let data = try manifest(Self.fallbackTag(digest), accept: [OCI.indexMediaType]) else { return OCI.Index(manifests: []) }
        do { return try JSONDecoder().decode(OCI.Index.self, from: data) } catch {
            throw Failed(message: "\(reference.with(tag: Self.fallbackTag(digest))) is not an image index: \(OCILayoutDirectory.describe(error))")
        }
    }
}
