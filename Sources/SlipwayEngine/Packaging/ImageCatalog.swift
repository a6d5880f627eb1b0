import Foundation

/// Every registered version's image, in one OCI layout per model under
/// `.slipway/images/MODEL/`, tagged `VERSION-<12 hex of the manifest digest>`,
/// with its provenance and signatures as referrers. `slipway verify`, `push`
/// and the registry read images from here; a package stage's out is only the
/// latest build.
public struct ImageCatalog: Sendable {
    public let workspace: Workspace

    public init(workspace: Workspace) { self.workspace = workspace }

    public func layout(model: String) -> OCILayoutDirectory {
        OCILayoutDirectory(path: workspace.imagesDir + "/" + model)
    }

    /// The image a package stage wrote into `out`: its manifest and the version it was built as.
    public static func built(in out: OCILayoutDirectory) throws -> (manifest: OCI.Descriptor, version: Int)? {
        guard FileSystem.isFile(out.path + "/index.json") else { return nil }
        guard let image = try out.index().manifests.first(where: { $0.artifactType == nil && $0.annotations?[OCI.refName] != nil }),
              let tag = image.annotations?[OCI.refName], let version = Int(tag.prefix { $0 != "-" }) else { return nil }
        return (image, version)
    }

    /// Copies the version's image (and its referrers) from a package stage's
    /// out into the model's layout, tagged with the version.
    public func publish(from out: OCILayoutDirectory, version: ModelVersionRecord) throws {
        guard let digest = version.imageDigest, let tag = version.imageTag else { return }
        try publish(from: out, model: version.model, digest: digest, tag: tag)
    }

    /// Whether the model's layout holds the image `digest` already.
    public func holds(model: String, digest: String) -> Bool {
        ((try? layout(model: model).index())?.manifests ?? []).contains { $0.digest == digest }
    }

    /// The tag an image gets before its version is registered: the number it
    /// was built as when known (the registration then keeps it), else a
    /// placeholder the registration replaces. Either way the image is in the
    /// layout under its digest before any version names it, so a run killed
    /// between the two leaves a version whose package verifies.
    public static func provisionalTag(digest: String, builtAs version: Int?) -> String {
        let hex = digest.dropFirst("sha256:".count).prefix(12)
        return version.map { "\($0)-\(hex)" } ?? "unregistered-\(hex)"
    }

    /// Copies the image `digest` (and its referrers) from `out` into the
    /// model's layout, tagged `tag`.
    public func publish(from out: OCILayoutDirectory, model: String, digest: String, tag: String) throws {
        let target = layout(model: model)
        try target.create()
        var index = (try? target.index()) ?? OCI.Index(manifests: [])
        let source = try out.index()
        for d in source.manifests where d.digest == digest || d.artifactType != nil {
            try copyTree(d, from: out, to: target)
            index.manifests.removeAll { $0.digest == d.digest }
            var entry = d
            if d.digest == digest { entry.annotations = [OCI.refName: tag] }
            index.manifests.append(entry)
        }
        try target.writeIndex(index)
    }

    func copyTree(_ d: OCI.Descriptor, from: OCILayoutDirectory, to: OCILayoutDirectory, as how: OCILayoutDirectory.BlobCopy = .link) throws {
        try to.importBlob(d.digest, from: from, as: how)
        guard d.mediaType == OCI.manifestMediaType else { return }
        let m = try from.readJSON(OCI.Manifest.self, d.digest)
        try to.importBlob(m.config.digest, from: from, as: how)
        for l in m.layers { try to.importBlob(l.digest, from: from, as: how) }
    }

    /// The image manifest of a version and the artifacts that refer to it.
    public func image(of version: ModelVersionRecord) throws -> (layout: OCILayoutDirectory, manifest: OCI.Descriptor, referrers: [OCI.Descriptor]) {
        guard let digest = version.imageDigest else {
            throw OCILayoutDirectory.Problem(message: "\(version.label) was not packaged (its pipeline has no `uses: package` stage)")
        }
        let l = layout(model: version.model)
        let index = try l.index()
        guard let m = index.manifests.first(where: { $0.digest == digest }) else {
            throw OCILayoutDirectory.Problem(message: "\(version.label)'s image \(digest) is not in \(l.path)")
        }
        var referrers: [OCI.Descriptor] = []
        for d in index.manifests where d.artifactType != nil {
            if let art = try? l.readJSON(OCI.Manifest.self, d.digest), art.subject?.digest == digest { referrers.append(d) }
        }
        return (l, m, referrers)
    }
}

extension ImageCatalog {
    /// A push destination that cannot hold an image layout.
    public struct BadDestination: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String { message }
    }

    /// Refuses a destination that exists and is not a directory.
    public static func checkDestination(_ path: String) throws {
        if let st = FileSystem.status(path), (st.st_mode & S_IFMT) != S_IFDIR {
            throw BadDestination(message: "\(path) is not a directory: push writes an OCI image layout into a directory (or give TRANSPORT:NAME for skopeo)")
        }
    }

    /// Copies a version's image with its referrers into another OCI layout
    /// (created when missing, merged into an existing one), tagged as in the
    /// catalog. Verify the version first (``PackageVerifier/require(_:)``).
    /// Every blob is a new, read-only file (a reflink or a copy, never a hard
    /// link to the store), and no symlink is followed or copied.
    public func push(_ version: ModelVersionRecord, toLayout path: String) throws -> String {
        try Self.checkDestination(path)
        let (source, manifest, referrers) = try image(of: version)
        let target = OCILayoutDirectory(path: path)
        if !FileSystem.isFile(path + "/oci-layout") { try target.create() }
        // An index already there that does not read is refused, not overwritten.
        var index = FileSystem.exists(path + "/index.json") ? try target.index() : OCI.Index(manifests: [])
        for d in [manifest] + referrers {
            try copyTree(d, from: source, to: target, as: .export)
            index.manifests.removeAll { $0.digest == d.digest || ($0.annotations?[OCI.refName] != nil && $0.annotations?[OCI.refName] == d.annotations?[OCI.refName]) }
            index.manifests.append(d)
        }
        try target.writeIndex(index)
        return version.imageTag ?? manifest.digest
    }
}
