import Foundation

/// Checks a registered version's image: every digest in its layout, the
/// provenance statement's subject, and the SSH signatures against the
/// `signing.signers` of `slipway.yaml`. `slipway verify` reports it;
/// promotion refuses a version whose package does not verify.
public struct PackageVerifier: Sendable {
    let workspace: Workspace
    let signing: SigningSpec

    public init(workspace: Workspace, signing: SigningSpec) {
        self.workspace = workspace
        self.signing = signing
    }

    public struct SignatureCheck: Sendable, Hashable, Codable {
        public var signed: String
        public var key: String
        public var signer: String?
        public var valid: Bool
        public var problem: String?
    }

    public struct Report: Sendable, Hashable, Codable {
        public var version: String
        public var manifest: String
        public var tag: String?
        public var blobs: Int
        public var provenance: Bool
        public var signatures: [SignatureCheck]
        public var problems: [String]
        public var ok: Bool { problems.isEmpty }
    }

    public struct Failed: SlipwayError {
        public var report: Report
        public init(report: Report) { self.report = report }
        public var exitStatus: ExitStatus { .checkFailed }
        public var description: String { "\(report.version) does not verify: " + report.problems.joined(separator: "; ") }
    }

    /// Verifies, and throws ``Failed`` (exit 3) unless every check holds:
    /// what `push` and promotion require before an image leaves the catalog.
    @discardableResult
    public func require(_ version: ModelVersionRecord) throws -> Report {
        let report = try verify(version)
        if !report.ok { throw Failed(report: report) }
        return report
    }

    public func verify(_ version: ModelVersionRecord) throws -> Report {
        let (layout, manifest, referrers) = try ImageCatalog(workspace: workspace).image(of: version)
        return try verify(layout: layout, manifest: manifest, referrers: referrers, label: version.label, tag: version.imageTag)
    }

    /// Verifies an image in a registry (`docker://HOST/REPO:TAG` or
    /// `@sha256:…`): read back with its referrers into a temporary layout
    /// (``RegistryPush/pull(_:into:)``), then checked as a local version is.
    public func verify(remote source: ImageReference, http: any HTTPFetcher = CurlFetcher(), transfer: RegistryPush? = nil) throws -> Report {
        let dir = NSTemporaryDirectory() + "slipway-pull-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pulled = try (transfer ?? RegistryPush(http: http)).pull(source, into: dir)
        var report = try verify(layout: pulled.layout, manifest: pulled.manifest, referrers: pulled.referrers,
                                label: source.description, tag: source.tag)
        report.problems = pulled.problems + report.problems
        return report
    }

    /// Checks the image `manifest` in `layout` and the artifacts `referrers` about it.
    public func verify(layout: OCILayoutDirectory, manifest: OCI.Descriptor, referrers: [OCI.Descriptor],
                       label: String, tag: String?) throws -> Report {
        let (checked, blobProblems) = try layout.verifyBlobs()
        var problems = blobProblems
        var provenanceOK = false
        var signatures: [SignatureCheck] = []
        var statementDigest: String?
        for r in referrers {
            guard let art = try? layout.readJSON(OCI.Manifest.self, r.digest), let layer = art.layers.first,
                  let payload = try? layout.readBlob(layer.digest) else {
                problems.append("artifact \(r.digest) cannot be read")
                continue
            }
            if art.artifactType == OCI.inTotoMediaType {
                statementDigest = layer.digest
                let subjects = (try? JSONSerialization.jsonObject(with: payload) as? [String: Any])?["subject"] as? [[String: Any]]
                let named = subjects?.compactMap { ($0["digest"] as? [String: String])?["sha256"] } ?? []
                if named.contains(String(manifest.digest.dropFirst("sha256:".count))) { provenanceOK = true }
                else { problems.append("the provenance statement is about another image") }
            }
        }
        if statementDigest == nil { problems.append("no provenance statement is attached") }
        for r in referrers {
            guard let art = try? layout.readJSON(OCI.Manifest.self, r.digest), art.artifactType == OCI.signatureMediaType,
                  let layer = art.layers.first, let sigData = try? layout.readBlob(layer.digest) else { continue }
            let what = art.annotations?["dev.slipway.signed"] ?? "?"
            let message: [UInt8]
            if what == "manifest" {
                message = Array(manifest.digest.utf8)
            } else if let sd = statementDigest, let statement = try? layout.readBlob(sd) {
                message = [UInt8](statement)
            } else {
                continue
            }
            do {
                let sig = try SSHSig.verify(armored: String(decoding: sigData, as: UTF8.self), message: message, namespace: PackageStage.namespace)
                let signer = signing.signers.first { $0.value.raw == sig.publicKey.raw }
                signatures.append(SignatureCheck(signed: what, key: sig.publicKey.fingerprint, signer: signer?.value.comment,
                                                 valid: signer != nil, problem: signer == nil ? "the key is not one of signing.signers" : nil))
            } catch {
                signatures.append(SignatureCheck(signed: what, key: "?", signer: nil, valid: false, problem: error.message))
            }
        }
        if !signing.signers.isEmpty {
            for what in ["manifest", "provenance"] where !signatures.contains(where: { $0.signed == what && $0.valid }) {
                let bad = signatures.filter { $0.signed == what }.compactMap(\.problem)
                problems.append("no valid signature of the \(what) by a listed signer" + (bad.isEmpty ? "" : " (" + bad.joined(separator: "; ") + ")"))
            }
        }
        return Report(version: label, manifest: manifest.digest, tag: tag,
                      blobs: checked, provenance: provenanceOK, signatures: signatures, problems: problems)
    }
}
