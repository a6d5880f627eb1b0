import Foundation
import Testing
@testable import SlipwayEngine

struct RegistryPushTests {
    @Test func referencesParseOrNameWhatIsWrong() throws {
        let r = try ImageReference.parse("docker://127.0.0.1:5000/team/clf:1-abc")
        #expect(r.host == "127.0.0.1:5000" && r.repository == "team/clf" && r.tag == "1-abc" && r.digest == nil)
        #expect(r.isLoopback && r.apiBase == "http://127.0.0.1:5000/v2/team/clf")
        let d = "sha256:" + String(repeating: "a", count: 64)
        let byDigest = try ImageReference.parse("docker://registry.example.org/ml/clf@" + d)
        #expect(byDigest.digest == d && !byDigest.isLoopback && byDigest.apiBase.hasPrefix("https://"))
        #expect(byDigest.description == "docker://registry.example.org/ml/clf@" + d)
        for bad in ["docker://host", "docker://host/Team/clf", "docker://host/clf@sha256:12", "docker://host/clf:bad tag",
                    "oci:/x", "docker://ho st/clf", "docker://host//clf"] {
            #expect(throws: ImageReference.Bad.self) { try ImageReference.parse(bad) }
            do { _ = try ImageReference.parse(bad) } catch { #expect("\(error)".contains("'\(bad)'")) }
        }
    }

    @Test func theLastHeaderBlockIsKept() {
        let h = CurlFetcher.lastHeaders("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nLocation: /v2/x/blobs/uploads/1?_state=a\r\nDocker-Upload-UUID: 1\r\n\r\n")
        #expect(h["location"] == "/v2/x/blobs/uploads/1?_state=a" && h["docker-upload-uuid"] == "1")
    }

    /// A registry without the referrers API: the referrers are put by digest,
    /// then merged into the index at the fallback tag, keeping what it listed.
    @Test func withoutTheReferrersAPIReferrersAreMergedIntoTheFallbackTag() throws {
        let dir = NSTemporaryDirectory() + "slipway-regpush-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layout = OCILayoutDirectory(path: dir)
        try layout.create()
        let image = try layout.writeBlob(Data("image".utf8), mediaType: OCI.manifestMediaType)
        let empty = try layout.writeBlob(Data("{}".utf8), mediaType: OCI.emptyMediaType)
        let payload = try layout.writeBlob(Data("statement".utf8), mediaType: OCI.inTotoMediaType)
        let art = OCI.Manifest(artifactType: OCI.inTotoMediaType, config: empty, layers: [payload],
                               subject: OCI.Descriptor(mediaType: OCI.manifestMediaType, digest: image.digest, size: image.size))
        let artDescriptor = try layout.writeJSON(art, mediaType: OCI.manifestMediaType, artifactType: OCI.inTotoMediaType)
        let someoneElse = OCI.Descriptor(mediaType: OCI.manifestMediaType, digest: "sha256:" + String(repeating: "b", count: 64), size: 3,
                                         artifactType: "application/example")
        let existing = try OCI.encode(OCI.Index(manifests: [someoneElse, artDescriptor]))
        let fallback = RegistryClient.fallbackTag(image.digest)

        let http = FakeHTTP { request throws(HTTPFailure) in
            switch (request.method, request.url) {
            case ("GET", let u) where u.hasSuffix("/v2/"): return HTTPResponse(status: 200, body: Data("{}".utf8))
            case ("GET", let u) where u.hasSuffix("/manifests/" + fallback): return HTTPResponse(status: 200, body: existing)
            case ("GET", _): return HTTPResponse(status: 404, body: Data())
            case ("POST", _): return HTTPResponse(status: 202, body: Data(), headers: ["location": "/v2/ml/clf/blobs/uploads/u1?_state=s"])
            default: return HTTPResponse(status: 201, body: Data())
            }
        }
        let skopeo = FakeTools()
        let pushed = try RegistryPush(http: http, run: skopeo.run).push(
            layout: layout, tag: "1-abc", manifest: image, referrers: [artDescriptor],
            to: try ImageReference.parse("docker://127.0.0.1:5000/ml/clf"))
        #expect(pushed.fallbackTag == fallback && pushed.destination == "docker://127.0.0.1:5000/ml/clf:1-abc")
        #expect(skopeo.calls.first?.contains("--dest-tls-verify=false") == true)
        let puts = http.requests.filter { $0.method == "PUT" }
        #expect(puts.contains { $0.url == "http://127.0.0.1:5000/v2/ml/clf/blobs/uploads/u1?_state=s&digest=" + payload.digest })
        #expect(puts.contains { $0.url.hasSuffix("/manifests/" + artDescriptor.digest) && $0.headers["Content-Type"] == OCI.manifestMediaType })
        let indexPut = try #require(puts.last)
        #expect(indexPut.url.hasSuffix("/manifests/" + fallback) && indexPut.headers["Content-Type"] == OCI.indexMediaType)
        let merged = try JSONDecoder().decode(OCI.Index.self, from: try #require(indexPut.body))
        #expect(merged.manifests.map(\.digest) == [someoneElse.digest, artDescriptor.digest])
        #expect(merged.manifests.last?.artifactType == OCI.inTotoMediaType)
    }

    @Test func aRegistryAskingForALoginNobodyKeptIsNamed() throws {
        let http = FakeHTTP { _ throws(HTTPFailure) in HTTPResponse(status: 401, body: Data()) }
        let nowhere = RegistryAuthFiles(environment: ["REGISTRY_AUTH_FILE": "/nonexistent/auth.json"], home: "/nonexistent", uid: 0)
        let client = RegistryClient(reference: try ImageReference.parse("docker://registry.example.org/ml/clf:1"),
                                    auth: RegistryAuthenticator(http: http, files: nowhere))
        #expect(throws: RegistryAccessDenied.self) { try client.fallbackIndex("sha256:" + String(repeating: "c", count: 64)) }
        do { _ = try client.fallbackIndex("sha256:" + String(repeating: "c", count: 64)) } catch {
            #expect("\(error)".contains("docker://registry.example.org/ml/clf:1") && "\(error)".contains("asks for a login")
                    && "\(error)".contains("`skopeo login registry.example.org`"), "\(error)")
        }
    }
}

/// Records outside-tool calls and answers success.
final class FakeTools: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [[String]] = []
    var calls: [[String]] { lock.withLock { seen } }
    var run: @Sendable ([String]) throws -> OutsideTool.Result {
        { [self] args in
            lock.withLock { seen.append(args) }
            return OutsideTool.Result(status: 0, stdout: "", stderr: "")
        }
    }
}
