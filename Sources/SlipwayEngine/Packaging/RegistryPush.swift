import Foundation

/// A version's image in a container registry, with its provenance and
/// signatures as OCI 1.1 referrers (artifact manifests whose `subject` is the
/// image manifest).
///
/// Pushing: the image goes through `skopeo copy --preserve-digests` (layers
/// of any size, the digest kept as signed); then each referrer's blobs and
/// manifest go through the distribution API (``RegistryClient``), put by
/// digest. A registry with the referrers API says so (`OCI-Subject` on the
/// manifest PUT) and indexes them itself; for one without it (Distribution
/// 2.8, say) the referrers are listed in the fallback index at tag
/// `sha256-<hex of the image digest>`, merged with what that tag held.
///
/// Reading back (``pull(_:into:)``): the image by tag or digest through
/// skopeo into an OCI layout, then its referrers (API, else fallback tag),
/// each manifest checked against its digest, into the same layout, so
/// ``PackageVerifier`` checks it as it checks a local version.
///
/// A registry that wants a login gets the one kept for it in the standard
/// auth files (``RegistryAuthFiles``): checked first (`GET /v2/`, so a
/// missing or refused login changes nothing), handed to skopeo as
/// `--src-authfile`/`--dest-authfile` (the same file), and used by
/// ``RegistryClient`` through one ``RegistryAuthenticator`` per command.
public struct RegistryPush: Sendable {
    public let auth: RegistryAuthenticator
    let run: @Sendable ([String]) throws -> OutsideTool.Result

    public init(http: any HTTPFetcher = CurlFetcher(), authFiles: RegistryAuthFiles = .standard,
                run: @escaping @Sendable ([String]) throws -> OutsideTool.Result = { try OutsideTool.run($0) }) {
        self.auth = RegistryAuthenticator(http: http, files: authFiles)
        self.run = run
    }

    public struct Pushed: Sendable, Hashable, Codable {
        public var destination: String
        public var manifest: String
        public var referrers: [String]
        /// The fallback tag written, nil when the registry indexes referrers itself.
        public var fallbackTag: String?
    }

    /// skopeo's flags for a reference: plain http (no TLS) only on loopback.
    static func tlsFlag(_ ref: ImageReference, _ side: String) -> [String] {
        ref.isLoopback ? ["--\(side)-tls-verify=false"] : []
    }

    /// Runs skopeo on `registry` for `action` (pushing, reading); a refused
    /// login is ``RegistryAccessDenied``.
    func skopeo(_ args: [String], _ action: String, registry: ImageReference) throws {
        let what = "\(action) \(registry)"
        let r: OutsideTool.Result
        do { r = try run(["skopeo"] + args) } catch {
            throw ImageReference.Bad(message: "\(what) needs skopeo (apt-get install skopeo): \(error)")
        }
        guard r.succeeded else {
            if let denied = RegistryAccessDenied.fromSkopeo(r.stderr, reference: registry, what: action,
                                                            credentials: try auth.credentials(for: registry), files: auth.files) {
                throw denied
            }
            let why = r.stderr.split(separator: "\n").last.map { TerminalText.oneLine($0) } ?? "exit \(r.status)"
            throw RegistryClient.Failed(message: "\(what): skopeo failed: \(why)")
        }
    }

    /// Pushes the image tagged `tag` in `layout` and its `referrers` to
    /// `destination` (a tag; the version's own tag when none is given).
    public func push(layout: OCILayoutDirectory, tag: String, manifest: OCI.Descriptor, referrers: [OCI.Descriptor],
                     to destination: ImageReference) throws -> Pushed {
        if let digest = destination.digest {
            throw ImageReference.Bad(message: "\(destination): push names a tag, not a digest (\(digest) is what the registry will compute)")
        }
        let target = destination.tag == nil ? destination.with(tag: tag) : destination
        try auth.signIn(target, "pushing")
        try skopeo(["copy", "--quiet", "--preserve-digests"] + Self.tlsFlag(target, "dest") + (try auth.skopeoFlags(for: target, side: "dest"))
                   + ["oci:\(layout.path):\(tag)", target.description], "pushing", registry: target)
        let client = RegistryClient(reference: target, auth: auth)
        var listed: [OCI.Descriptor] = []
        var indexedByRegistry = !referrers.isEmpty
        for r in referrers {
            let bytes = try layout.readBlob(r.digest)
            let art = try JSONDecoder().decode(OCI.Manifest.self, from: bytes)
            for blob in [art.config] + art.layers { try client.uploadBlob(try layout.readBlob(blob.digest), digest: blob.digest) }
            let headers = try client.putManifest(bytes, mediaType: OCI.manifestMediaType, reference: r.digest)
            if headers["oci-subject"] != manifest.digest { indexedByRegistry = false }
            listed.append(OCI.Descriptor(mediaType: OCI.manifestMediaType, digest: r.digest, size: Int64(bytes.count),
                                         artifactType: art.artifactType ?? art.config.mediaType, annotations: art.annotations))
        }
        guard !indexedByRegistry, !listed.isEmpty else {
            return Pushed(destination: target.description, manifest: manifest.digest, referrers: listed.map(\.digest), fallbackTag: nil)
        }
        // The fallback: merge into the index at sha256-<hex>, newest last.
        var index = try client.fallbackIndex(manifest.digest)
        index.mediaType = OCI.indexMediaType
        index.manifests.removeAll { old in listed.contains { $0.digest == old.digest } }
        index.manifests += listed
        try client.putManifest(try OCI.encode(index), mediaType: OCI.indexMediaType, reference: RegistryClient.fallbackTag(manifest.digest))
        return Pushed(destination: target.description, manifest: manifest.digest, referrers: listed.map(\.digest),
                      fallbackTag: RegistryClient.fallbackTag(manifest.digest))
    }

    /// An image read back from a registry into a local OCI layout.
    public struct Pulled: Sendable {
        public var layout: OCILayoutDirectory
        public var manifest: OCI.Descriptor
        public var referrers: [OCI.Descriptor]
        /// What does not hold already: a referrer that cannot be read, whose
        /// bytes do not match its digest, or that is about another image.
        public var problems: [String]
    }

    /// Reads `source` (by tag or digest) and its referrers into a new layout at `directory`.
    public func pull(_ source: ImageReference, into directory: String) throws -> Pulled {
        guard source.tag != nil || source.digest != nil else {
            throw ImageReference.Bad(message: "\(source) names no tag or digest: verify reads one image (REPO:TAG or REPO@sha256:…)")
        }
        let layout = OCILayoutDirectory(path: directory)
        try auth.signIn(source, "reading")
        try skopeo(["copy", "--quiet", "--preserve-digests"] + Self.tlsFlag(source, "src") + (try auth.skopeoFlags(for: source, side: "src"))
                   + [source.description, "oci:\(directory):pulled"], "reading", registry: source)
        let (descriptor, _) = try layout.manifest(tagged: "pulled")
        var problems: [String] = []
        if let asked = source.digest, asked != descriptor.digest {
            problems.append("\(source) arrived as \(descriptor.digest)")
        }
        let client = RegistryClient(reference: source, auth: auth)
        let listed = try client.referrersAPI(descriptor.digest)?.manifests ?? client.fallbackIndex(descriptor.digest).manifests
        var index = try layout.index()
        var referrers: [OCI.Descriptor] = []
        for d in listed where d.mediaType == OCI.manifestMediaType {
            guard OCI.isDigest(d.digest) else { problems.append("referrer \(TerminalText.oneLine(d.digest)) is not a sha256 digest"); continue }
            guard let bytes = try client.manifest(d.digest, accept: [OCI.manifestMediaType]) else {
                problems.append("referrer \(d.digest) is listed but not in \(source.with())")
                continue
            }
            guard OCI.sha256(bytes) == d.digest else { problems.append("referrer \(d.digest) arrived with other bytes"); continue }
            guard let art = try? JSONDecoder().decode(OCI.Manifest.self, from: bytes) else {
                problems.append("referrer \(d.digest) is not an OCI manifest")
                continue
            }
            guard art.subject?.digest == descriptor.digest else {
                problems.append("referrer \(d.digest) is about \(art.subject.map { TerminalText.oneLine($0.digest) } ?? "no image"), not \(descriptor.digest)")
                continue
            }
            try layout.writeBlob(bytes, mediaType: OCI.manifestMediaType)
            for blob in [art.config] + art.layers {
                guard OCI.isDigest(blob.digest) else { problems.append("referrer \(d.digest) names \(TerminalText.oneLine(blob.digest))"); continue }
                try layout.writeBlob(try client.blob(blob.digest), mediaType: blob.mediaType)
            }
            let entry = OCI.Descriptor(mediaType: OCI.manifestMediaType, digest: d.digest, size: Int64(bytes.count),
                                       artifactType: art.artifactType ?? art.config.mediaType, annotations: art.annotations)
            index.manifests.append(entry)
            referrers.append(entry)
        }
        try layout.writeIndex(index)
        return Pulled(layout: layout, manifest: descriptor, referrers: referrers, problems: problems)
    }
}
