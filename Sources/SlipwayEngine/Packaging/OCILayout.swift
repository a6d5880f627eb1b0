import Crypto
import Foundation

/// The OCI image-layout format (image-spec v1.1): `oci-layout`, `index.json`
/// and content-addressed `blobs/sha256/…`, read by container registries,
/// `skopeo`, `umoci`, `crane`, Kubernetes and KServe.
public enum OCI {
    public static let indexMediaType = "application/vnd.oci.image.index.v1+json"
    public static let manifestMediaType = "application/vnd.oci.image.manifest.v1+json"
    public static let configMediaType = "application/vnd.oci.image.config.v1+json"
    public static let layerTarMediaType = "application/vnd.oci.image.layer.v1.tar"
    public static let layerGzipMediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let emptyMediaType = "application/vnd.oci.empty.v1+json"
    public static let inTotoMediaType = "application/vnd.in-toto+json"
    public static let signatureMediaType = "application/vnd.slipway.sshsig"
    public static let refName = "org.opencontainers.image.ref.name"

    public struct Descriptor: Codable, Sendable, Hashable {
        public var mediaType: String
        public var digest: String
        public var size: Int64
        public var artifactType: String?
        public var annotations: [String: String]?
        public var platform: Platform?

        public init(mediaType: String, digest: String, size: Int64, artifactType: String? = nil,
                    annotations: [String: String]? = nil, platform: Platform? = nil) {
            self.mediaType = mediaType
            self.digest = digest
            self.size = size
            self.artifactType = artifactType
            self.annotations = annotations
            self.platform = platform
        }
    }

    public struct Platform: Codable, Sendable, Hashable {
        public var architecture: String
        public var os: String
    }

    public struct Manifest: Codable, Sendable, Hashable {
        public var schemaVersion = 2
        public var mediaType: String? = OCI.manifestMediaType
        public var artifactType: String?
        public var config: Descriptor
        public var layers: [Descriptor]
        public var subject: Descriptor?
        public var annotations: [String: String]?
    }

    public struct Index: Codable, Sendable, Hashable {
        public var schemaVersion = 2
        public var mediaType: String? = OCI.indexMediaType
        public var manifests: [Descriptor]
        public var annotations: [String: String]?
    }

    /// The parts of an image config Slipway writes or carries over from a base.
    public struct ImageConfig: Codable, Sendable, Hashable {
        public struct Config: Codable, Sendable, Hashable {
            public var User: String?
            public var ExposedPorts: [String: Empty]?
            public var Env: [String]?
            public var Entrypoint: [String]?
            public var Cmd: [String]?
            public var WorkingDir: String?
            public var Labels: [String: String]?
            public var StopSignal: String?
            public var Volumes: [String: Empty]?
        }
        public struct Empty: Codable, Sendable, Hashable {}
        public struct RootFS: Codable, Sendable, Hashable {
            public var type = "layers"
            public var diff_ids: [String]
        }
        public struct History: Codable, Sendable, Hashable {
            public var created: String?
            public var created_by: String?
            public var comment: String?
            public var empty_layer: Bool?
        }
        public var created: String?
        public var author: String?
        public var architecture: String
        public var os: String
        public var variant: String?
        public var config: Config?
        public var rootfs: RootFS
        public var history: [History]?
    }

    /// Canonical JSON for blobs: keys sorted, no escaped slashes; the same
    /// value always gives the same bytes.
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        try JSONEncoder.canonical.encode(value)
    }

    public static func sha256(_ data: Data) -> String { "sha256:" + Digests.hex(SHA256.hash(data: data)) }

    /// `sha256:` and 64 hex digits: the only digests Slipway reads or writes
    /// (anything else could name a path outside `blobs/`).
    public static func isDigest(_ digest: String) -> Bool {
        digest.hasPrefix("sha256:") && digest.utf8.count == 71 && digest.dropFirst(7).allSatisfy(\.isHexDigit)
    }
}

/// An OCI image layout on disk.
public struct OCILayoutDirectory: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public struct Problem: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .checkFailed }
        public var description: String { message }
    }

    public func blobPath(_ digest: String) -> String {
        path + "/blobs/" + digest.replacingOccurrences(of: ":", with: "/")
    }

    /// How ``importBlob(_:from:as:)`` places a blob.
    public enum BlobCopy: Sendable {
        /// Inside Slipway's own state: a hard link where possible.
        case link
        /// Out of Slipway (a push): never an inode shared with the store; a
        /// reflink where the file system can, else a copy; read-only.
        case export
    }

    /// What makes this folder not an OCI image layout (nothing when it is one):
    /// `oci-layout` naming its version, `blobs/sha256/` and `index.json`, none
    /// of them a symlink.
    public func layoutProblems() -> [String] {
        var problems: [String] = []
        let marker = path + "/oci-layout"
        if let st = FileSystem.linkStatus(marker), (st.st_mode & S_IFMT) == S_IFREG {
            let object = (try? FileSystem.readFile(marker)).flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any]
            if !(object?["imageLayoutVersion"] is String) {
                problems.append("\(marker) does not name an imageLayoutVersion: not an OCI image layout")
            }
        } else {
            problems.append("\(path) has no oci-layout file" + (FileSystem.exists(marker) ? " (a symlink or not a file)" : "") + ": not an OCI image layout")
        }
        for folder in ["blobs", "blobs/sha256"] {
            guard let st = FileSystem.linkStatus(path + "/" + folder), (st.st_mode & S_IFMT) == S_IFDIR else {
                problems.append("\(path)/\(folder) is missing, a symlink or not a folder")
                break
            }
        }
        return problems
    }

    /// Creates the layout's skeleton (`oci-layout`, `blobs/sha256/`).
    public func create() throws {
        try FileSystem.makeDirectory(path + "/blobs/sha256")
        try FileSystem.writeFile(path + "/oci-layout", Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
    }

    /// Writes a blob (no-op when present); returns its descriptor.
    @discardableResult
    public func writeBlob(_ data: Data, mediaType: String, artifactType: String? = nil,
                          annotations: [String: String]? = nil) throws -> OCI.Descriptor {
        let digest = OCI.sha256(data)
        let target = blobPath(digest)
        if !FileSystem.isFile(target) { try FileSystem.writeFile(target, data) }
        return OCI.Descriptor(mediaType: mediaType, digest: digest, size: Int64(data.count), artifactType: artifactType,
                              annotations: annotations)
    }

    public func writeJSON<T: Encodable>(_ value: T, mediaType: String, artifactType: String? = nil,
                                        annotations: [String: String]? = nil) throws -> OCI.Descriptor {
        try writeBlob(try OCI.encode(value), mediaType: mediaType, artifactType: artifactType, annotations: annotations)
    }

    public func readBlob(_ digest: String) throws -> Data {
        guard OCI.isDigest(digest) else { throw Problem(message: "\(digest) is not a sha256 digest") }
        let file = blobPath(digest)
        if let st = FileSystem.linkStatus(file), (st.st_mode & S_IFMT) != S_IFREG {
            throw Problem(message: "blob \(digest) in \(path) is a symlink or not a regular file; refusing to follow it")
        }
        return try FileSystem.readFile(file)
    }

    public func readJSON<T: Decodable>(_ type: T.Type, _ digest: String) throws -> T {
        try JSONDecoder().decode(T.self, from: try readBlob(digest))
    }

    /// The layout's `index.json`; a missing, linked or unreadable one is a
    /// ``Problem`` that says what is wrong with it.
    public func index() throws -> OCI.Index {
        let file = path + "/index.json"
        guard let st = FileSystem.linkStatus(file) else { throw Problem(message: "\(path) has no index.json: not an OCI image layout") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw Problem(message: "\(file) is a symlink or not a regular file; refusing to follow it") }
        let data = try FileSystem.readFile(file)
        do {
            return try JSONDecoder().decode(OCI.Index.self, from: data)
        } catch {
            throw Problem(message: "\(file) is not a valid OCI image index: \(Self.describe(error))")
        }
    }

    /// A decoding error in a few words.
    static func describe(_ error: any Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        func at(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "" : " at " + path.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
        }
        switch e {
        case .dataCorrupted(let c): return (c.underlyingError.map { ($0 as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\($0)" } ?? c.debugDescription) + at(c.codingPath)
        case .keyNotFound(let key, let c): return "no \"\(key.stringValue)\"" + at(c.codingPath)
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return c.debugDescription + at(c.codingPath)
        @unknown default: return "\(error)"
        }
    }

    public func writeIndex(_ index: OCI.Index) throws {
        try FileSystem.writeFile(path + "/index.json", try OCI.encode(index))
    }

    /// The manifest tagged `tag` (through a nested index for a multi-platform
    /// image: its linux/amd64 entry).
    public func manifest(tagged tag: String) throws -> (descriptor: OCI.Descriptor, manifest: OCI.Manifest) {
        let idx = try index()
        guard let d = idx.manifests.first(where: { $0.annotations?[OCI.refName] == tag }) else {
            let tags = idx.manifests.compactMap { $0.annotations?[OCI.refName] }
            throw Problem(message: "\(path) has no image tagged '\(tag)'" + (tags.isEmpty ? "" : "; tags: \(tags.joined(separator: ", "))"))
        }
        if d.mediaType == OCI.indexMediaType {
            let nested = try readJSON(OCI.Index.self, d.digest)
            guard let m = nested.manifests.first(where: { $0.platform?.os == "linux" && $0.platform?.architecture == "amd64" })
                    ?? nested.manifests.first else { throw Problem(message: "\(path):\(tag) is an empty index") }
            return (m, try readJSON(OCI.Manifest.self, m.digest))
        }
        return (d, try readJSON(OCI.Manifest.self, d.digest))
    }

    /// Copies a blob from another layout, never following a symlink: a blob
    /// that is one, in either layout, is refused.
    public func importBlob(_ digest: String, from other: OCILayoutDirectory, as how: BlobCopy = .link) throws {
        guard OCI.isDigest(digest) else { throw Problem(message: "\(digest) is not a sha256 digest") }
        let target = blobPath(digest)
        if let st = FileSystem.linkStatus(target) {
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                throw Problem(message: "\(target) is a symlink or not a regular file; refusing to write through it")
            }
            return
        }
        let source = other.blobPath(digest)
        guard let st = FileSystem.linkStatus(source) else { throw Problem(message: "\(other.path) lacks blob \(digest)") }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw Problem(message: "blob \(digest) in \(other.path) is a symlink or not a regular file; refusing to follow it")
        }
        switch how {
        case .link:
            if link(source, target) != 0 { try FileSystem.copyFile(from: source, to: target, mode: 0o644, followSymlinks: false) }
        case .export:
            try FileSystem.copyFile(from: source, to: target, mode: 0o444, followSymlinks: false)
        }
    }

    /// Recomputes the digest and size of every blob reachable from the index;
    /// returns how many were checked and what does not match.
    public func verifyBlobs() throws -> (checked: Int, problems: [String]) {
        var problems = layoutProblems()
        var seen: Set<String> = []
        func check(_ d: OCI.Descriptor) {
            guard seen.insert(d.digest).inserted else { return }
            guard OCI.isDigest(d.digest) else { problems.append("\(d.digest) (\(d.mediaType)) is not a sha256 digest"); return }
            let path = blobPath(d.digest)
            guard let st = FileSystem.linkStatus(path) else { problems.append("blob \(d.digest) (\(d.mediaType)) is missing"); return }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                problems.append("blob \(d.digest) (\(d.mediaType)) is a symlink or not a regular file; refusing to follow it")
                return
            }
            do {
                let (digest, size) = try Self.hashFile(path, followSymlinks: false)
                if digest != d.digest { problems.append("blob \(d.digest) (\(d.mediaType)) has digest \(digest): its bytes changed") }
                else if size != d.size { problems.append("blob \(d.digest) is \(size) bytes, its descriptor says \(d.size)") }
            } catch {
                problems.append("blob \(d.digest): \(error)")
                return
            }
            // Followed by what the blob holds, not only by the media type its
            // descriptor claims: a manifest behind an unknown media type is checked too.
            if let m = try? readJSON(OCI.Manifest.self, d.digest) {
                if d.mediaType != OCI.manifestMediaType { problems.append("blob \(d.digest) is a manifest but its descriptor says \(d.mediaType)") }
                check(m.config)
                m.layers.forEach(check)
            } else if let i = try? readJSON(OCI.Index.self, d.digest) {
                if d.mediaType != OCI.indexMediaType { problems.append("blob \(d.digest) is an index but its descriptor says \(d.mediaType)") }
                i.manifests.forEach(check)
            }
        }
        for d in try index().manifests { check(d) }
        return (seen.count, problems)
    }

    /// SHA-256 (`sha256:…`) and size of a file.
    public static func hashFile(_ path: String, followSymlinks: Bool = true) throws -> (digest: String, size: Int64) {
        guard let st = followSymlinks ? FileSystem.status(path) : FileSystem.linkStatus(path) else {
            throw FileSystem.Failure(path: path, operation: "stat", code: errno)
        }
        return ("sha256:" + (try FileHasher.sha256(file: path, followSymlinks: followSymlinks)), Int64(st.st_size))
    }
}
