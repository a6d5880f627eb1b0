import Foundation

/// The few calls of the OCI distribution API (v1.1) that referrers need, over
/// the engine's ``HTTPFetcher``: blob upload (POST then PUT), manifests by
/// tag or digest, blobs by digest, and the referrers API. Images themselves
/// (layers of any size) travel through skopeo; what goes through here is
/// small (artifact manifests, provenance statements, signatures, indexes).
///
/// Anonymous access only: a registry that answers 401 (token or basic auth)
/// is reported as not yet supported, naming the reference.
public struct RegistryClient: Sendable {
    public let reference: ImageReference
    let http: any HTTPFetcher

    public init(reference: ImageReference, http: any HTTPFetcher = CurlFetcher()) {
        self.reference = reference
        self.http = http
    }

    /// Why a registry call did not succeed (exit 1: the outside failed).
    public struct Failed: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .stageFailed }
        public var description: String { message }
    }

    func send(_ request: HTTPRequest, _ what: String) throws -> HTTPResponse {
        let r: HTTPResponse
        do { r = try http.fetch(request) } catch {
            throw Failed(message: "\(reference): \(what): \(TerminalText.oneLine("\(error)"))")
        }
        if r.status == 401 || r.status == 403 {
            throw Failed(message: "\(reference): \(what): the registry asks for credentials (HTTP \(r.status)); registries with token or basic auth are not supported yet")
        }
        return r
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

    /// The referrers of `digest` through the referrers API; nil when the
    /// registry does not have the API (a 404 that is not an index).
    public func referrersAPI(_ digest: String) throws -> OCI.Index? {
        let r = try send(HTTPRequest(url: reference.apiBase + "/referrers/" + digest, headers: ["Accept": OCI.indexMediaType]),
                         "listing referrers")
        guard r.status == 200 else { return nil }
        return try? JSONDecoder().decode(OCI.Index.self, from: r.body)
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
