import Foundation
import Testing
@testable import SlipwayEngine

/// Inputs the fuzzers (Fuzz/) found misread by the engine's readers; each
/// stays a test so the fix stays.
@Suite struct EngineFuzzFindingsTests {
    /// A descriptor's digest names a file by path (`blobs/sha256/<hex>`):
    /// `sha256:../../outside` in an index or manifest named a file outside the
    /// layout, which `verify` hashed and `push`/publishing copied.
    @Test func aDigestThatIsNotSHA256NeverNamesAFileOutsideTheLayout() throws {
        let root = NSTemporaryDirectory() + "slipway-oci-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = OCILayoutDirectory(path: root + "/layout")
        try layout.create()
        try Data("outside".utf8).write(to: URL(fileURLWithPath: root + "/outside"))
        let config = try layout.writeBlob(Data("{}".utf8), mediaType: OCI.configMediaType)
        let escaping = OCI.Descriptor(mediaType: OCI.layerTarMediaType, digest: "sha256:../../../outside", size: 7)
        let manifest = try layout.writeJSON(OCI.Manifest(config: config, layers: [escaping]), mediaType: OCI.manifestMediaType)
        try layout.writeIndex(OCI.Index(manifests: [manifest]))

        let (_, problems) = try layout.verifyBlobs()
        #expect(problems == ["sha256:../../../outside (application/vnd.oci.image.layer.v1.tar) is not a sha256 digest"])
        let other = OCILayoutDirectory(path: root + "/copy")
        try other.create()
        #expect(throws: OCILayoutDirectory.Problem.self) { try other.importBlob("sha256:../../../outside", from: layout) }
        #expect(!FileManager.default.fileExists(atPath: root + "/copy/blobs/outside"))
        #expect(OCI.isDigest(config.digest))
    }

    /// Found by the CI smoke run: a manifest listed under a media type
    /// Slipway does not know was not looked into, so a malformed digest in it
    /// went unreported. Blobs are followed by what they hold.
    @Test func aManifestUnderAnUnknownMediaTypeIsStillChecked() throws {
        let root = NSTemporaryDirectory() + "slipway-oci-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = OCILayoutDirectory(path: root + "/layout")
        try layout.create()
        let config = try layout.writeBlob(Data("{}".utf8), mediaType: OCI.configMediaType)
        let escaping = OCI.Descriptor(mediaType: OCI.layerTarMediaType, digest: "sha256:../../../outside", size: 7)
        var manifest = try layout.writeJSON(OCI.Manifest(config: config, layers: [escaping]), mediaType: OCI.manifestMediaType)
        manifest.mediaType = "application/vnd.oci.image.manifest.v0+json"
        try layout.writeIndex(OCI.Index(manifests: [manifest]))

        let (_, problems) = try layout.verifyBlobs()
        #expect(problems.contains("sha256:../../../outside (application/vnd.oci.image.layer.v1.tar) is not a sha256 digest"), "\(problems)")
        #expect(problems.contains { $0.contains("is a manifest but its descriptor says application/vnd.oci.image.manifest.v0+json") }, "\(problems)")
    }
}
