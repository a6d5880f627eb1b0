import ArgumentParser
import Foundation
import SlipwayEngine

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", 
        abstract: "Check a version's package: every digest in its image, its provenance, its signatures.",
        discussion: "Exit 0 when all hold; 3 with what failed. Signatures count when made by a key under signing.signers in slipway.yaml. "
            + "docker://HOST/REPO:TAG (or @sha256:…) reads the image from the registry (skopeo) and its provenance and signatures "
            + "(OCI 1.1 referrers: the referrers API, else the sha256-<hex> tag) and checks them the same way, with the login "
            + "`skopeo login HOST` keeps (docs/packaging.md); exit 1 when the registry cannot be read or refuses the login.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "MODEL:VERSION, MODEL for its newest version, or an image in a registry: docker://HOST/REPO:TAG or docker://HOST/REPO@sha256:….")
    var ref: String
    @Flag(help: "Print as JSON.") var json = false

    func run() throws {
        let (ws, registry) = try global.open()
        let spec = try ws.loadSpec().spec
        let verifier = PackageVerifier(workspace: ws, signing: spec.signing)
        let report: PackageVerifier.Report
        if ref.hasPrefix(ImageReference.scheme) {
            report = try verifier.verify(remote: try ImageReference.parse(ref))
        } else {
            guard let model = ModelRef(argument: ref) else {
                throw Failure(status: .usage, message: "'\(TerminalText.oneLine(ref))' is not MODEL, MODEL:VERSION or docker://HOST/REPO:TAG")
            }
            report = try verifier.verify(try model.resolve(in: registry))
        }
        if json {
            try Output.json(report)
        } else {
            Output.say("\(report.version)  image \(report.tag ?? "") \(report.manifest)")
            Output.say("  blobs       \(report.blobs) checked")
            Output.say("  provenance  " + (report.provenance ? "attached, about this image" : "missing or about another image"))
            if report.signatures.isEmpty {
                Output.say("  signatures  none" + (spec.signing.signers.isEmpty ? " (no signing.signers declared)" : ""))
            }
            for s in report.signatures {
                Output.say("  signature   \(s.signed): \(s.valid ? "✓" : "✗") \(s.key)" + (s.signer.map { " (\($0))" } ?? "") + (s.problem.map { " — \($0)" } ?? ""))
            }
            if report.ok { Output.say("verified") }
        }
        if !report.ok { throw PackageVerifier.Failed(report: report) }
    }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", 
        abstract: "SSH signing keys (the kind git signs commits with).",
        subcommands: [Generate.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "generate", 
            abstract: "Make an Ed25519 key pair and print its public line for signing.signers (or policy.approvers).")
        @Option(help: ArgumentHelp("Where to write the private key (the public one goes beside it, .pub).", valueName: "FILE"))
        var out: String = (ProcessInfo.processInfo.environment["HOME"] ?? ".") + "/.config/slipway/key"
        @Option(help: "The comment in the public line (default: USER@HOST).") var comment: String?

        func run() throws {
            let key = try SSHSigner.generate(at: out, comment: comment ?? "\(Provenance.currentUser())@\(Provenance.hostName())")
            Output.err("wrote \(out) and \(out).pub (fingerprint \(key.fingerprint))")
            print(key.line)
        }
    }
}

struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "push", 
        abstract: "Copy a version's image (with its provenance and signatures) to an OCI layout or, through skopeo, a registry.",
        discussion: """
        DEST is a directory (an OCI image layout, created or merged into), or any skopeo transport: \
        docker://registry.example.org/team/clf:3, oci-archive:/tmp/clf.tar, … (skopeo must be installed; \
        it copies the image). To docker://HOST/REPO[:TAG] the provenance and signatures go too, as OCI 1.1 \
        referrers (the referrers API where the registry has it, else the index at tag sha256-<hex of the image \
        digest>); `slipway verify docker://…` reads them back. Plain http only to a loopback registry. A registry \
        that wants a login gets the one `skopeo login HOST` (or podman/docker login) keeps: $REGISTRY_AUTH_FILE, \
        $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, ~/.docker/config.json (docs/packaging.md). \
        Other transports carry the image alone. The version is \
        verified first, as `slipway verify` does. Blobs pushed to a directory are new read-only files \
        (reflinked where the file system can, else copied), never hard links into the store. \
        Exit status: 0 pushed; 1 the registry cannot be reached or refuses the login (nothing pushed); \
        2 a bad destination (a file, say); 3 the image does not verify.
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "MODEL:VERSION, or MODEL for its newest version.") var ref: ModelRef
    @Argument(help: "A directory, or a skopeo destination (TRANSPORT:NAME).") var destination: String

    func run() throws {
        let (ws, registry) = try global.open()
        let spec = try ws.loadSpec().spec
        let version = try ref.resolve(in: registry)
        let catalog = ImageCatalog(workspace: ws)
        let transports = ["docker://", "oci-archive:", "docker-archive:", "containers-storage:", "dir:", "oci:", "docker-daemon:"]
        let transport = transports.first(where: destination.hasPrefix)
        let path = destination.hasPrefix("/") ? destination : FileManager.default.currentDirectoryPath + "/" + destination
        if transport == nil { try ImageCatalog.checkDestination(path) }
        if transport == "docker://" {
            // Verified first, pushed, and recorded (where, as what digest) for promotion to read back.
            let destination = try ImageReference.parse(self.destination)
            let done = try PushedImages(workspace: ws, registry: registry, signing: spec.signing)
                .push(version, to: destination, actor: Provenance.currentUser())
            let pushed = done.transfer
            Output.say("\(version.label) (\(pushed.manifest)) → \(pushed.destination), with \(pushed.referrers.count) referrers"
                       + (pushed.fallbackTag.map { " (listed at tag \($0): the registry has no referrers API)" } ?? ""))
            return
        }
        // Nothing leaves unverified: every digest, the provenance, the signatures.
        try PackageVerifier(workspace: ws, signing: spec.signing).require(version)
        if let transport {
            let (layout, manifest, _) = try catalog.image(of: version)
            let source = "oci:\(layout.path):\(version.imageTag ?? "")"
            // --preserve-digests: the image arrives as signed, or the copy fails.
            let r: OutsideTool.Result
            do { r = try OutsideTool.run(["skopeo", "copy", "--preserve-digests", source, destination], capture: false) } catch {
                throw Failure(status: .usage, message: "\(transport) needs skopeo (apt-get install skopeo): \(error)")
            }
            guard r.succeeded else {
                throw Failure(status: .stageFailed, message: "skopeo copy \(source) \(destination) failed (exit \(r.status))")
            }
            Output.say("\(version.label) (\(manifest.digest)) → \(destination)")
            return
        }
        let tag = try catalog.push(version, toLayout: path)
        Output.say("\(version.label) → \(destination) (tag \(tag), with its provenance and signatures)")
    }
}

struct Reproduce: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reproduce", 
        abstract: "Rebuild a version from its recorded commit, data and params, and say whether every output is identical.",
        discussion: """
        Checks out the recorded commit in a temporary git worktree, restores the recorded dataset versions from the \
        store, runs the pipeline with no cache, and compares each output and the image manifest with the recorded \
        digests. Exit 0 when all are identical; 3 otherwise, naming the stages that are not deterministic, or why the \
        version cannot be reproduced (a run made with uncommitted changes, say).
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "MODEL:VERSION, or MODEL for its newest version.") var ref: ModelRef
    @Flag(help: "Print as JSON.") var json = false

    func run() throws {
        let (ws, registry) = try global.open()
        let spec = try ws.loadSpec().spec
        let version = try ref.resolve(in: registry)
        if Output.stderrIsTTY && !json { Output.err("rebuilding \(version.label) from commit \(version.gitCommit?.prefix(12) ?? "?")…") }
        let report = try ReproduceService(workspace: ws, registry: registry, tracking: HelperEndpointFactory.besideRunningExecutable()).reproduce(version, spec: spec)
        if json {
            try Output.json(report)
        } else if let reason = report.reason {
            Output.say("\(report.version): not reproducible: \(reason)")
        } else {
            for o in report.outputs + (report.image.map { [$0] } ?? []) {
                Output.say("\(o.identical ? "✓ identical" : "✗ differs  ")  \(o.path)" + (o.stage.map { "  (stage \($0))" } ?? "")
                           + (o.identical ? "" : "  \(o.recorded.prefix(12)) → \(o.reproduced?.prefix(12) ?? "missing")"))
            }
            if report.identical { Output.say("\(report.version) reproduced: every output identical") }
        }
        if !report.identical { throw ReproduceService.NotReproduced(report: report) }
    }
}
