import Foundation

/// The built-in `uses: package` stage: the model artifact and its included
/// files become an OCI image layout (the stage's out, default `image/`),
/// byte-for-byte the same for the same inputs, with an in-toto/SLSA
/// provenance statement and, with `signing.key`, SSH signatures attached as
/// OCI 1.1 referrers of the image manifest.
///
/// The layer is an uncompressed tar (`application/vnd.oci.image.layer.v1.tar`):
/// model weights barely compress, and packaging stays one streaming pass of
/// reading, hashing and writing (docs/packaging.md).
public struct PackageStage: BuiltinStageHandler {
    public static let namespace = "slipway-package"
    public static let versionAnnotation = "org.opencontainers.image.version"

    public init() {}

    public func execute(stage: StageSpec, context: BuiltinContext) throws -> StageFailure? {
        var log = ""
        defer { try? FileSystem.writeFile(context.logPath, Data(log.utf8)) }
        do {
            let result = try build(stage: stage, context: context, log: &log)
            log += "image \(result.manifest.digest) tagged \(result.tag)\n"
            return nil
        } catch let e as OCILayoutDirectory.Problem {
            log += e.message + "\n"
            return .input(e.message)
        } catch let e as SSHSigner.Failure {
            log += e.message + "\n"
            return .slipway("signing failed: \(e.message)")
        } catch let e as PackageError {
            log += e.description + "\n"
            return .input(e.description)
        }
    }

    struct PackageError: SlipwayError {
        var message: String
        var exitStatus: ExitStatus { .stageFailed }
        var description: String { message }
    }

    public struct Built: Sendable {
        public var manifest: OCI.Descriptor
        public var tag: String
        public var version: Int
    }

    func build(stage: StageSpec, context: BuiltinContext, log: inout String) throws -> Built {
        let ws = context.workspace
        let out = stage.options["out"]?.stringValue ?? "image"
        let model = context.pipeline.modelName
        var sources: [String] = []
        if let m = stage.options["model"]?.stringValue { sources.append(m) }
        if let inc = stage.options["include"] {
            sources += inc.listValue?.compactMap(\.stringValue) ?? inc.stringValue.map { [$0] } ?? []
        }
        // Files under /model, by their workspace paths; parent folders made explicit.
        var files: [(path: String, source: String, size: Int64, executable: Bool)] = []
        var folders: Set<String> = ["model"]
        let contained = ContainedFiles(root: ws.root)
        for source in sources {
            let path: String
            do { path = try contained.readable(source) } catch { throw PackageError(message: "\(error)") }
            try collect(path, relative: source, into: &files, folders: &folders)
        }
        let git = GitState.read(workspace: ws)
        let created = Self.commitTime(workspace: ws, commit: git?.commit) ?? 0
        let createdText = ISO8601DateFormatter.string(from: Date(timeIntervalSince1970: Double(created)),
                                                      timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withInternetDateTime])
        let layout = OCILayoutDirectory(path: ws.absolute(out))
        try layout.create()

        // The base image, if any: its layers and config carried over.
        var baseLayers: [OCI.Descriptor] = []
        var config = OCI.ImageConfig(architecture: "amd64", os: "linux", config: OCI.ImageConfig.Config(),
                                     rootfs: OCI.ImageConfig.RootFS(diff_ids: []), history: [])
        if let base = stage.options["base"]?.stringValue, let colon = base.lastIndex(of: ":") {
            let baseDir: String
            do { baseDir = try contained.readable(String(base[..<colon])) } catch { throw PackageError(message: "base: \(error)") }
            let baseLayout = OCILayoutDirectory(path: baseDir)
            let (_, baseManifest) = try baseLayout.manifest(tagged: String(base[base.index(after: colon)...]))
            config = try baseLayout.readJSON(OCI.ImageConfig.self, baseManifest.config.digest)
            for layer in baseManifest.layers { try layout.importBlob(layer.digest, from: baseLayout) }
            baseLayers = baseManifest.layers
            log += "base \(base): \(baseLayers.count) layers\n"
        }

        // The model layer: one pass of tar, hash and write.
        let tmp = layout.path + "/blobs/sha256/.layer-\(getpid())"
        let fd = open(tmp, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileSystem.Failure(path: tmp, operation: "create", code: errno) }
        var tar = TarWriter(fd: fd, mtime: created)
        let entries: [TarWriter.Entry] = folders.map { TarWriter.Entry.directory(path: $0) }
            + files.map { TarWriter.Entry.file(path: "model/" + $0.path, source: $0.source, size: $0.size, executable: $0.executable) }
        func key(_ e: TarWriter.Entry) -> [Substring] {
            switch e {
            case .directory(let p): return p.split(separator: "/")
            case .file(let p, _, _, _): return p.split(separator: "/")
            }
        }
        do {
            for e in entries.sorted(by: { key($0).lexicographicallyPrecedes(key($1)) }) { try tar.add(e) }
        } catch { close(fd); unlink(tmp); throw error }
        let (layerDigest, layerSize) = try tar.finish()
        close(fd)
        if rename(tmp, layout.blobPath(layerDigest)) != 0 { throw FileSystem.Failure(path: tmp, operation: "rename", code: errno) }
        // The layer's hash is known: seed the stat cache, so storing the out
        // does not read the (possibly huge) layer a second time.
        let blobRelative = out + "/blobs/sha256/" + layerDigest.dropFirst("sha256:".count)
        if let st = FileSystem.status(layout.blobPath(layerDigest)) {
            try context.registry.saveFileStates([FileHasher.state(blobRelative, st, hash: String(layerDigest.dropFirst("sha256:".count)))])
        }
        let layer = OCI.Descriptor(mediaType: OCI.layerTarMediaType, digest: layerDigest, size: layerSize)
        log += "layer \(layerDigest) (\(files.count) files, \(layerSize) bytes)\n"

        // The config: the base's, with the model layer and the stage's `config:`.
        config.created = createdText
        config.rootfs.diff_ids.append(layerDigest)
        var c = config.config ?? OCI.ImageConfig.Config()
        let options = stage.options["config"]
        func option(_ k: String) -> SpecValue? { options?.mapEntries?.first { $0.key == k }?.value }
        if let v = option("entrypoint") { c.Entrypoint = v.listValue?.compactMap(\.stringValue) ?? v.stringValue.map { [$0] } }
        if let v = option("cmd") { c.Cmd = v.listValue?.compactMap(\.stringValue) ?? v.stringValue.map { [$0] } }
        if let v = option("workdir")?.stringValue { c.WorkingDir = v } else if c.WorkingDir == nil { c.WorkingDir = "/model" }
        if let v = option("user")?.stringValue { c.User = v }
        if let env = option("env")?.mapEntries {
            var merged = c.Env ?? []
            for e in env.sorted(by: { $0.key < $1.key }) {
                merged.removeAll { $0.hasPrefix(e.key + "=") }
                merged.append("\(e.key)=\(e.value.stringValue ?? e.value.canonical)")
            }
            c.Env = merged
        }
        if let labels = option("labels")?.mapEntries {
            var l = c.Labels ?? [:]
            for e in labels { l[e.key] = e.value.stringValue ?? e.value.canonical }
            c.Labels = l
        }
        if let ports = option("exposed_ports") {
            var p = c.ExposedPorts ?? [:]
            for port in ports.listValue?.compactMap({ $0.stringValue ?? $0.numberValue.map { String(Int($0)) } }) ?? [] {
                p[port.contains("/") ? port : port + "/tcp"] = OCI.ImageConfig.Empty()
            }
            c.ExposedPorts = p
        }
        config.config = c
        config.history = (config.history ?? []) + [OCI.ImageConfig.History(created: createdText, created_by: "slipway package (\(model))",
                                                                          comment: nil, empty_layer: nil)]
        let configDescriptor = try layout.writeJSON(config, mediaType: OCI.configMediaType)

        // The manifest, annotated with the version it will be registered as:
        // the newest version's number when this is exactly its image again
        // (same layers and config: registration then makes no new version), else the next.
        let newest = try context.registry.modelVersions(model: model, limit: 1).first
        var version = (newest?.version ?? 0) + 1
        if let forced = context.packageVersion {
            // `slipway reproduce` rebuilds a version under its own number.
            version = forced
        } else if let newest, let digest = newest.imageDigest,
           let previous = try? ImageCatalog(workspace: ws).layout(model: model).readJSON(OCI.Manifest.self, digest),
           previous.config.digest == configDescriptor.digest, previous.layers == baseLayers + [layer] {
            version = newest.version
        }
        var annotations = [
            Self.versionAnnotation: String(version),
            "org.opencontainers.image.created": createdText,
            "org.opencontainers.image.title": model,
        ]
        if let commit = git?.commit { annotations["org.opencontainers.image.revision"] = commit }
        if let remote = GitState.run(["config", "--get", "remote.origin.url"], in: ws.root), !remote.isEmpty {
            annotations["org.opencontainers.image.source"] = remote
        }
        let manifest = OCI.Manifest(config: configDescriptor, layers: baseLayers + [layer], annotations: annotations)
        let manifestDescriptor = try layout.writeJSON(manifest, mediaType: OCI.manifestMediaType)
        let tag = "\(version)-\(manifestDescriptor.digest.dropFirst("sha256:".count).prefix(12))"
        var index = OCI.Index(manifests: [OCI.Descriptor(mediaType: OCI.manifestMediaType, digest: manifestDescriptor.digest,
                                                         size: manifestDescriptor.size, annotations: [OCI.refName: tag])])

        // Provenance, then signatures, as artifacts whose subject is the image.
        let statement = try ProvenanceStatement.make(context: context, stage: stage, model: model, manifest: manifestDescriptor,
                                                     gitCommit: git?.commit, gitDirty: git?.dirty)
        let statementDescriptor = try attach(statement, mediaType: OCI.inTotoMediaType, artifactType: OCI.inTotoMediaType,
                                             subject: manifestDescriptor, annotations: [:], to: layout, index: &index)
        if let keyPath = ProcessInfo.processInfo.environment["SLIPWAY_SIGNING_KEY"].flatMap({ $0.isEmpty ? nil : $0 }) ?? context.signing.key {
            let signer = SSHSigner(keyPath: keyPath.hasPrefix("/") || keyPath.hasPrefix("~") ? (keyPath as NSString).expandingTildeInPath : ws.absolute(keyPath))
            let key = try signer.publicKey()
            for (what, payload) in [("manifest", Array(manifestDescriptor.digest.utf8)), ("provenance", [UInt8](statement))] {
                let sig = try signer.sign(payload, namespace: Self.namespace)
                try attach(Data(sig.utf8), mediaType: OCI.signatureMediaType, artifactType: OCI.signatureMediaType,
                           subject: manifestDescriptor,
                           annotations: ["dev.slipway.signed": what, "dev.slipway.key": key.fingerprint,
                                         "dev.slipway.payload": what == "manifest" ? manifestDescriptor.digest : statementDescriptor.digest],
                           to: layout, index: &index)
            }
            log += "signed with \(key.fingerprint)\n"
        }
        try layout.writeIndex(index)
        return Built(manifest: manifestDescriptor, tag: tag, version: version)
    }

    /// Writes `payload` as an OCI 1.1 artifact (empty config, one layer) about `subject`.
    @discardableResult
    func attach(_ payload: Data, mediaType: String, artifactType: String, subject: OCI.Descriptor, annotations: [String: String],
                to layout: OCILayoutDirectory, index: inout OCI.Index) throws -> OCI.Descriptor {
        let blob = try layout.writeBlob(payload, mediaType: mediaType)
        let empty = try layout.writeBlob(Data("{}".utf8), mediaType: OCI.emptyMediaType)
        let subjectRef = OCI.Descriptor(mediaType: subject.mediaType, digest: subject.digest, size: subject.size)
        let manifest = OCI.Manifest(artifactType: artifactType, config: empty, layers: [blob], subject: subjectRef,
                                    annotations: annotations.isEmpty ? nil : annotations)
        let d = try layout.writeJSON(manifest, mediaType: OCI.manifestMediaType)
        index.manifests.append(OCI.Descriptor(mediaType: OCI.manifestMediaType, digest: d.digest, size: d.size,
                                              artifactType: artifactType, annotations: annotations.isEmpty ? nil : annotations))
        return blob
    }

    func collect(_ absolute: String, relative: String, into files: inout [(path: String, source: String, size: Int64, executable: Bool)],
                 folders: inout Set<String>) throws {
        guard let st = FileSystem.status(absolute) else { throw PackageError(message: "\(relative) does not exist") }
        var parent = (relative as NSString).deletingLastPathComponent
        while !parent.isEmpty && parent != "." {
            folders.insert("model/" + parent)
            parent = (parent as NSString).deletingLastPathComponent
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            folders.insert("model/" + relative)
            for name in try FileManager.default.contentsOfDirectory(atPath: absolute).sorted() {
                let child = absolute + "/" + name
                if let l = FileSystem.linkStatus(child), (l.st_mode & S_IFMT) == S_IFLNK {
                    throw PackageError(message: "\(relative)/\(name) is a symlink: package files, not links")
                }
                try collect(child, relative: relative + "/" + name, into: &files, folders: &folders)
            }
        } else if (st.st_mode & S_IFMT) == S_IFREG {
            files.append((relative, absolute, Int64(st.st_size), st.st_mode & 0o111 != 0))
        } else {
            throw PackageError(message: "\(relative) is neither a file nor a folder")
        }
    }

    /// The commit's time (seconds since the epoch), for a reproducible `created`.
    static func commitTime(workspace: Workspace, commit: String?) -> Int64? {
        if let epoch = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"].flatMap(Int64.init) { return epoch }
        guard let commit else { return nil }
        return GitState.run(["show", "-s", "--format=%ct", commit], in: workspace.root).flatMap { Int64($0) }
    }
}
