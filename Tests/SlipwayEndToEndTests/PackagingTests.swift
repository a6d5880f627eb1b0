import Foundation
import Testing

/// Runs an outside tool; returns its exit status and output.
@discardableResult
func tool(_ args: [String], in dir: String? = nil, stdin: String? = nil) -> (status: Int32, out: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    if let dir { p.currentDirectoryURL = URL(fileURLWithPath: dir) }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    let input = Pipe()
    p.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try! p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)); try? input.fileHandleForWriting.close() }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

@discardableResult
func gitIn(_ args: String..., in dir: String) -> String {
    tool(["git", "-C", dir, "-c", "user.email=t@example.org", "-c", "user.name=T"] + args).out.trimmingCharacters(in: .whitespacesAndNewlines)
}

func installed(_ name: String) -> Bool {
    ["/usr/bin/", "/usr/local/bin/"].contains { FileManager.default.isExecutableFile(atPath: $0 + name) }
}

@Suite(.serialized) struct PackagingTests {
    /// A git repository with a pipeline that trains (deterministically) and packages.
    func packaged(signing: Bool = false) throws -> Sandbox {
        let s = Sandbox()
        s.write("train.sh", "#!/bin/sh\nmkdir -p model && cat params.yaml data.csv > model/weights.txt && echo 'print(\"serve\")' > predict.py\n", executable: true)
        s.write("data.csv", "a,b\n1,2\n")
        s.write("requirements.txt", "numpy==2.1\n")
        s.write("params.yaml", "train:\n  lr: 0.1\n")
        s.write(".gitignore", ".slipway/\nimage/\nmodel/\npredict.py\nkeys/\ndata.csv\n")
        var yaml = """
        project: pk
        pipelines:
          main:
            model: clf
            stages:
              train: {cmd: ./train.sh, deps: [train.sh, params.yaml, data.csv], params: [train.lr], outs: [model, predict.py]}
              package:
                uses: package
                model: model
                include: [predict.py, requirements.txt]
                needs: [train]
                config: {entrypoint: [python3, /model/predict.py], env: {MODE: serve}, exposed_ports: [8080], labels: {team: ml}}
        environments:
          production: {requires: none}

        """
        try FileManager.default.createDirectory(atPath: s.root + "/keys", withIntermediateDirectories: true)
        if signing {
            let key = tool(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ana@example.org", "-f", s.root + "/keys/ana"])
            _ = key
            yaml += "signing:\n  key: keys/ana\n  signers: [\"\(s.read("keys/ana.pub")!.trimmingCharacters(in: .whitespacesAndNewlines))\"]\n"
        }
        s.write("slipway.yaml", yaml)
        gitIn("init", "-q", in: s.root)
        gitIn("add", "-A", in: s.root)
        gitIn("commit", "-q", "-m", "init", in: s.root)
        // The data is not in git: versioned in the store, so reproduce can bring it back.
        #expect(s.run("data", "add", "data.csv").status == 0)
        let r = s.run("run")
        #expect(r.status == 0, "\(r.stderr)")
        return s
    }

    func manifestDigest(_ s: Sandbox) throws -> String {
        let show = try #require(try s.json("models", "show", "clf", "--json") as? [String: Any])
        return try #require(show["imageDigest"] as? String)
    }

    /// A package whose image cannot be read when the run ends registers no
    /// version: a version without its image digest would skip the package
    /// and signature checks at promotion.
    @Test func anUnreadableImageRegistersNoVersion() throws {
        let s = Sandbox()
        s.write("model.txt", "weights\n")
        s.write("slipway.yaml", """
        project: pk
        pipelines:
          main:
            model: clf
            stages:
              package: {uses: package, model: model.txt}
              spoil: {cmd: "printf '{' > image/index.json", needs: [package]}

        """)
        let r = s.run("run")
        #expect(r.status != 0, "\(r.stdout)")
        #expect((r.stdout + r.stderr).contains("image in image cannot be read"), "\(r.stdout) \(r.stderr)")
        #expect((r.stdout + r.stderr).contains("no version registered"), "\(r.stdout) \(r.stderr)")
        let models = try #require(try s.json("models", "--json") as? [[String: Any]])
        #expect(models.isEmpty, "\(models)")
    }

    @Test func theImageIsAnOCILayoutThatStandardToolsRead() throws {
        let s = try packaged()
        let digest = try manifestDigest(s)
        let tag = "1-" + digest.dropFirst(7).prefix(12)
        let index = try #require(try JSONSerialization.jsonObject(with: Data(s.read("image/index.json")!.utf8)) as? [String: Any])
        let manifests = try #require(index["manifests"] as? [[String: Any]])
        #expect(manifests.contains { ($0["annotations"] as? [String: String])?["org.opencontainers.image.ref.name"] == tag })
        #expect(manifests.contains { $0["artifactType"] as? String == "application/vnd.in-toto+json" })
        // Every blob's name is its SHA-256, recomputed here independently.
        for name in try FileManager.default.contentsOfDirectory(atPath: s.root + "/image/blobs/sha256") {
            let sum = tool(["sha256sum", s.root + "/image/blobs/sha256/" + name]).out.prefix(64)
            #expect(String(sum) == name)
        }
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s.root + "/image/blobs/sha256/" + digest.dropFirst(7)))) as? [String: Any])
        let annotations = try #require(manifest["annotations"] as? [String: String])
        #expect(annotations["org.opencontainers.image.version"] == "1")
        #expect(annotations["org.opencontainers.image.revision"] == gitIn("rev-parse", "HEAD", in: s.root))
        #expect(annotations["org.opencontainers.image.title"] == "clf")
        if installed("skopeo") {
            let inspect = tool(["skopeo", "inspect", "oci:\(s.root)/image:\(tag)"])
            #expect(inspect.status == 0, "\(inspect.out)")
            #expect(inspect.out.contains(digest) && inspect.out.contains("MODE=serve"))
            let copied = tool(["skopeo", "copy", "oci:\(s.root)/image:\(tag)", "oci-archive:\(s.root)/copy.tar"])
            #expect(copied.status == 0, "\(copied.out)")
        }
        if installed("umoci") {
            let stat = tool(["umoci", "stat", "--image", "\(s.root)/image:\(tag)"])
            #expect(stat.status == 0, "\(stat.out)")
            let unpacked = tool(["umoci", "unpack", "--rootless", "--image", "\(s.root)/image:\(tag)", s.root + "/bundle"])
            #expect(unpacked.status == 0, "\(unpacked.out)")
            #expect(s.read("bundle/rootfs/model/model/weights.txt")?.contains("lr: 0.1") == true)
            #expect(s.read("bundle/rootfs/model/requirements.txt") == "numpy==2.1\n")
        }
        let verify = s.run("verify", "clf:1")
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains("provenance  attached, about this image"))
        #expect(s.run("models", "show", "clf:1").stdout.contains("image       \(tag)"))
    }

    @Test func buildsAreByteForByteReproducible() throws {
        let s = try packaged()
        let first = try manifestDigest(s)
        let layerFiles = Set(try FileManager.default.contentsOfDirectory(atPath: s.root + "/image/blobs/sha256"))
        // Everything again from scratch: the same image, and no new version.
        let again = s.run("run", "--force")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(s.read("image/index.json")!.contains(String(first.dropFirst(7))))
        let models = try #require(try s.json("models", "--json") as? [[String: Any]])
        #expect(models[0]["latestVersion"] as? Int == 1)
        let now = Set(try FileManager.default.contentsOfDirectory(atPath: s.root + "/image/blobs/sha256"))
        // The image's blobs are the same; only the provenance of the new run differs.
        #expect(now.intersection(layerFiles).count >= 3)
        // A changed param makes a different image and version 2.
        s.write("params.yaml", "train:\n  lr: 0.2\n")
        #expect(s.run("run").status == 0)
        #expect(try manifestDigest(s) != first)
        #expect(try #require(try s.json("models", "--json") as? [[String: Any]])[0]["latestVersion"] as? Int == 2)
    }

    @Test func verifyCatchesAChangedByteAndUnlistedKeys() throws {
        let s = try packaged(signing: true)
        let ok = s.run("verify", "clf", "--json")
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any])
        let sigs = try #require(report["signatures"] as? [[String: Any]])
        #expect(Set(sigs.compactMap { $0["signed"] as? String }) == ["manifest", "provenance"])
        #expect(sigs.allSatisfy { $0["valid"] as? Bool == true })

        // stock ssh-keygen accepts Slipway's signature of the manifest digest.
        let digest = try manifestDigest(s)
        let layout = s.root + "/.slipway/images/clf"
        let index = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout + "/index.json"))) as? [String: Any])
        let sigEntry = try #require((index["manifests"] as? [[String: Any]])?.first {
            ($0["annotations"] as? [String: String])?["dev.slipway.signed"] == "manifest"
        })
        let art = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout + "/blobs/sha256/" + (sigEntry["digest"] as! String).dropFirst(7)))) as? [String: Any])
        let sigDigest = try #require(((art["layers"] as? [[String: Any]])?.first?["digest"] as? String)?.dropFirst(7))
        s.write("allowed", "ana@example.org " + s.read("keys/ana.pub")!.split(separator: " ").prefix(2).joined(separator: " ") + "\n")
        let checked = tool(["ssh-keygen", "-Y", "verify", "-f", s.root + "/allowed", "-I", "ana@example.org", "-n", "slipway-package",
                            "-s", layout + "/blobs/sha256/" + sigDigest], stdin: digest)
        #expect(checked.status == 0, "\(checked.out)")

        // A signer not listed: the signatures no longer count.
        let yaml = s.read("slipway.yaml")!
        let other = tool(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "eve", "-f", s.root + "/keys/eve"])
        _ = other
        let eve = s.read("keys/eve.pub")!.trimmingCharacters(in: .whitespacesAndNewlines)
        s.write("slipway.yaml", yaml.replacingOccurrences(of: s.read("keys/ana.pub")!.trimmingCharacters(in: .whitespacesAndNewlines), with: eve))
        let unlisted = s.run("verify", "clf")
        #expect(unlisted.status == 3)
        #expect(unlisted.stderr.contains("no valid signature of the manifest by a listed signer"), "\(unlisted.stderr)")
        let refused = s.run("promote", "clf:1", "--to", "production")
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("package does not verify"), "\(refused.stderr)")
        s.write("slipway.yaml", yaml)

        // One changed byte in the layer.
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout + "/blobs/sha256/" + digest.dropFirst(7)))) as? [String: Any])
        let layer = try #require(((manifest["layers"] as? [[String: Any]])?.last?["digest"] as? String)?.dropFirst(7))
        let path = layout + "/blobs/sha256/" + layer
        chmod(path, 0o644)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[600] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let broken = s.run("verify", "clf")
        #expect(broken.status == 3)
        #expect(broken.stderr.contains("its bytes changed"), "\(broken.stderr)")
    }

    @Test func pushCopiesTheImageToALayoutOrThroughSkopeo() throws {
        let s = try packaged(signing: true)
        let digest = try manifestDigest(s)
        let tag = "1-" + digest.dropFirst(7).prefix(12)
        // Into a new directory, then merged into it again beside another image.
        let first = s.run("push", "clf:1", s.root + "/pushed")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(s.run("verify", "clf").status == 0)
        s.write("params.yaml", "train:\n  lr: 0.3\n")
        #expect(s.run("run").status == 0)
        #expect(s.run("push", "clf:2", "pushed").status == 0)
        let index = s.read("pushed/index.json")!
        #expect(index.contains(tag) && index.contains("\"2-"))
        #expect(index.contains("application/vnd.in-toto+json") && index.contains("application/vnd.slipway.sshsig"))
        if installed("umoci") {
            #expect(tool(["umoci", "stat", "--image", s.root + "/pushed:" + tag]).status == 0)
        }
        if installed("skopeo") {
            let archive = s.run("push", "clf:1", "oci-archive:" + s.root + "/clf.tar")
            #expect(archive.status == 0, "\(archive.stderr)")
            #expect(tool(["skopeo", "inspect", "oci-archive:" + s.root + "/clf.tar"]).out.contains(digest))
        }
        let unknown = s.run("push", "clf:9", s.root + "/x")
        #expect(unknown.status == 2)
    }

    /// The layer blob of the version's image, in the catalog.
    func layerPath(_ s: Sandbox) throws -> String {
        let layout = s.root + "/.slipway/images/clf"
        let digest = try manifestDigest(s)
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout + "/blobs/sha256/" + digest.dropFirst(7)))) as? [String: Any])
        let layer = try #require(((manifest["layers"] as? [[String: Any]])?.last?["digest"] as? String)?.dropFirst(7))
        return layout + "/blobs/sha256/" + layer
    }

    /// Push once exported with hard links (link count 4: the export shared
    /// inodes with the store, so a change to one corrupted both) and pushed a
    /// layer replaced by a symlink to /etc/shadow with exit 0.
    @Test func pushVerifiesFirstCopiesBlobsReadOnlyAndNeverFollowsASymlink() throws {
        let s = try packaged(signing: true)
        let pushed = s.run("push", "clf:1", s.root + "/pushed")
        #expect(pushed.status == 0, "\(pushed.stderr)")
        let blobs = try FileManager.default.contentsOfDirectory(atPath: s.root + "/pushed/blobs/sha256")
        #expect(blobs.count >= 5)
        for blob in blobs {
            var st = stat(), source = stat()
            #expect(lstat(s.root + "/pushed/blobs/sha256/" + blob, &st) == 0)
            #expect(st.st_mode & S_IFMT == S_IFREG && st.st_nlink == 1, "\(blob) has \(st.st_nlink) links")
            #expect(st.st_mode & 0o222 == 0, "\(blob) is writable: \(String(st.st_mode & 0o777, radix: 8))")
            if lstat(s.root + "/.slipway/images/clf/blobs/sha256/" + blob, &source) == 0 { #expect(st.st_ino != source.st_ino) }
        }
        #expect(tool(["cmp", s.root + "/pushed/blobs/sha256/" + (try layerPath(s) as NSString).lastPathComponent, try layerPath(s)]).status == 0)

        // The layer swapped for a symlink to a secret outside: refused, nothing copied.
        let secret = NSTemporaryDirectory() + "slipway-secret-\(UUID().uuidString.prefix(6))"
        try "root:secret-hash:19000:0:99999:7:::\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let layer = try layerPath(s)
        chmod(layer, 0o644)
        unlink(layer)
        symlink(secret, layer)
        let refused = s.run("push", "clf:1", s.root + "/pushed-again")
        #expect(refused.status == 3, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("symlink"), "\(refused.stderr)")
        let copied = (try? FileManager.default.subpathsOfDirectory(atPath: s.root + "/pushed-again")) ?? []
        for file in copied { #expect(!(s.read("pushed-again/" + file) ?? "").contains("secret-hash"), "\(file)") }
        if installed("skopeo") {
            let archive = s.run("push", "clf:1", "oci-archive:" + s.root + "/clf.tar")
            #expect(archive.status == 3, "\(archive.stderr)")
            #expect(!s.exists("clf.tar"))
        }
        let verify = s.run("verify", "clf")
        #expect(verify.status == 3)
        #expect(verify.stderr.contains("symlink"), "\(verify.stderr)")
    }

    @Test func verifyAndPushExplainABrokenLayoutOrDestination() throws {
        let s = try packaged()
        // push to a path that is a regular file: a usage error, the file untouched.
        s.write("afile", "keep\n")
        let toFile = s.run("push", "clf:1", s.root + "/afile")
        #expect(toFile.status == 2, "\(toFile.stderr)")
        #expect(toFile.stderr.contains("afile") && toFile.stderr.contains("not a directory"), "\(toFile.stderr)")
        #expect(s.read("afile") == "keep\n")

        // The layout's oci-layout file removed: no longer an OCI layout.
        let layout = s.root + "/.slipway/images/clf"
        let marker = try String(contentsOfFile: layout + "/oci-layout", encoding: .utf8)
        unlink(layout + "/oci-layout")
        let noMarker = s.run("verify", "clf")
        #expect(noMarker.status == 3, "\(noMarker.stdout)\(noMarker.stderr)")
        #expect(noMarker.stderr.contains("oci-layout"), "\(noMarker.stderr)")
        try marker.write(toFile: layout + "/oci-layout", atomically: true, encoding: .utf8)
        #expect(s.run("verify", "clf").status == 0)

        // Garbage in index.json: exit 3 with the reason, not an internal error.
        let index = try String(contentsOfFile: layout + "/index.json", encoding: .utf8)
        try "{\"schemaVersion\": 2, \"manifests\": [{\"oops\"".write(toFile: layout + "/index.json", atomically: true, encoding: .utf8)
        let garbage = s.run("verify", "clf")
        #expect(garbage.status == 3, "\(garbage.stdout)\(garbage.stderr)")
        #expect(garbage.stderr.contains("index.json") && !garbage.stderr.contains("internal error"), "\(garbage.stderr)")
        try index.write(toFile: layout + "/index.json", atomically: true, encoding: .utf8)
        #expect(s.run("verify", "clf").status == 0)
    }

    /// Reproducing a version rebuilds it to compare, and deploys nothing: the
    /// environment's deploy command runs for the real run only.
    @Test func reproduceNeverDeploys() throws {
        let s = try packaged()
        // Outside the workspace, as a real deploy's effects are.
        let marker = NSTemporaryDirectory() + "slipway-deployed-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: marker) }
        func deployed() -> String? { try? String(contentsOfFile: marker, encoding: .utf8) }
        s.write("slipway.yaml", (s.read("slipway.yaml") ?? "")
            .replacingOccurrences(of: "environments:\n  production: {requires: none}",
                                  with: "environments:\n  production: {requires: none, deploy: 'echo $SLIPWAY_VERSION >> \(marker)'}")
            .replacingOccurrences(of: "    stages:\n", with: "    stages:\n      ship: {uses: deploy, model: clf, needs: [package]}\n"))
        gitIn("commit", "-q", "-am", "a deploy stage", in: s.root)
        s.write("params.yaml", "train:\n  lr: 0.2\n")
        gitIn("commit", "-q", "-am", "lr 0.2", in: s.root)
        let r = s.run("run")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(deployed() == "2\n", "\(r.stdout)\(r.stderr)")
        let again = s.run("reproduce", "clf:2")
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        #expect(deployed() == "2\n")
    }

    /// A version whose run was given a value on the command line (`run --set`,
    /// a sweep member) is rebuilt with that value again, not params.yaml's.
    @Test func reproduceGivesTheRunItsOverridesAgain() throws {
        let s = try packaged()
        s.write("train.sh", "#!/bin/sh\nmkdir -p model && echo \"lr=$SLIPWAY_PARAM_TRAIN_LR\" > model/weights.txt && cat data.csv >> model/weights.txt && echo 'print(1)' > predict.py\n",
                executable: true)
        gitIn("commit", "-q", "-am", "lr from the environment", in: s.root)
        let set = s.run("run", "--set", "train.lr=0.7", "--json")
        #expect(set.status == 0, "\(set.stderr)")
        #expect(s.read("model/weights.txt")?.hasPrefix("lr=0.7\n") == true)
        let again = s.run("reproduce", "clf:2")
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        #expect(again.stdout.contains("reproduced: every output identical"), "\(again.stdout)")
        #expect(s.read("params.yaml") == "train:\n  lr: 0.1\n")
    }

    /// A param set back to an earlier value takes the package from the
    /// cache, built as that value's version: the run makes that version again
    /// (exit 0), not a conflict over its number, nor a copy of it.
    @Test func goingBackToAnEarlierParamMakesItsVersionAgain() throws {
        let s = try packaged()
        s.write("train.sh", "#!/bin/sh\nmkdir -p model && echo \"lr=$SLIPWAY_PARAM_TRAIN_LR\" > model/weights.txt && echo 'print(1)' > predict.py\n",
                executable: true)
        gitIn("commit", "-q", "-am", "lr from the environment", in: s.root)
        #expect(s.run("run", "--set", "train.lr=0.7").status == 0)
        #expect(s.run("run", "--set", "train.lr=0.9").status == 0)
        let newest = { (try? s.json("models", "show", "clf", "--json") as? [String: Any])?["version"] as? Int }
        #expect(newest() == 3)
        let back = s.run("run", "--set", "train.lr=0.7", "--json")
        #expect(back.status == 0, "\(back.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(back.stdout.utf8)) as? [String: Any])
        #expect(j["status"] as? String == "succeeded" && j["registered"] == nil, "\(back.stdout)")
        #expect(s.read("model/weights.txt") == "lr=0.7\n")
        #expect(newest() == 3)
    }

    @Test func reproduceRebuildsFromTheRecordedCommitAndData() throws {
        let s = try packaged()
        // Data outside git, restored from the store by reproduce.
        let ok = s.run("reproduce", "clf:1")
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("✓ identical  image manifest"))
        #expect(ok.stdout.contains("reproduced: every output identical"))
        let j = try #require(try s.json("reproduce", "clf:1", "--json") as? [String: Any])
        #expect((j["outputs"] as? [[String: Any]])?.isEmpty == false)
        #expect(j["nondeterministicStages"] as? [String] == [])
        // A worktree is left behind by neither.
        #expect(gitIn("worktree", "list", in: s.root).split(separator: "\n").count == 1)

        // A stage that writes the time into the model: named as not deterministic.
        s.write("train.sh", "#!/bin/sh\nmkdir -p model && date +%s%N > model/weights.txt && echo 'print(1)' > predict.py\n", executable: true)
        gitIn("commit", "-q", "-am", "stamp the time", in: s.root)
        #expect(s.run("run").status == 0)
        let bad = s.run("reproduce", "clf:2")
        #expect(bad.status == 3)
        #expect(bad.stdout.contains("✗ differs") && bad.stdout.contains("(stage train)"), "\(bad.stdout)")
        #expect(bad.stderr.contains("not deterministic: stage train"), "\(bad.stderr)")

        // Uncommitted changes at the run: not reproducible, with the reason.
        s.write("params.yaml", "train:\n  lr: 0.5\n")
        #expect(s.run("run").status == 0)
        let dirty = s.run("reproduce", "clf")
        #expect(dirty.status == 3)
        #expect(dirty.stderr.contains("uncommitted changes"), "\(dirty.stderr)")
    }

    @Test func aBaseImageLendsItsLayersAndConfig() throws {
        let a = Sandbox()
        a.write("base.txt", "from the base\n")
        a.write("slipway.yaml", """
        project: a
        pipelines:
          main:
            model: base
            stages:
              package: {uses: package, model: base.txt, config: {env: {FROM_BASE: "1"}, entrypoint: [/bin/sh]}}
        """)
        #expect(a.run("run").status == 0)
        let b = Sandbox()
        let push = a.run("push", "base:1", b.root + "/base-layout")
        #expect(push.status == 0, "\(push.stderr)")
        let tag = try #require(push.stdout.split(separator: " ").first { $0.hasPrefix("1-") }.map { String($0.dropLast()) })
        b.write("model.txt", "the model\n")
        b.write("slipway.yaml", """
        project: b
        pipelines:
          main:
            model: clf
            stages:
              package: {uses: package, model: model.txt, base: "base-layout:\(tag)", config: {env: {MODE: serve}}}
        """)
        let r = b.run("run")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(b.run("verify", "clf").status == 0)
        let show = try #require(try b.json("models", "show", "clf", "--json") as? [String: Any])
        let digest = try #require(show["imageDigest"] as? String)
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: b.root + "/image/blobs/sha256/" + digest.dropFirst(7)))) as? [String: Any])
        #expect((manifest["layers"] as? [[String: Any]])?.count == 2)
        if installed("umoci") {
            let imageTag = "1-" + digest.dropFirst(7).prefix(12)
            let unpacked = tool(["umoci", "unpack", "--rootless", "--image", b.root + "/image:" + imageTag, b.root + "/bundle"])
            #expect(unpacked.status == 0, "\(unpacked.out)")
            #expect(b.read("bundle/rootfs/model/base.txt") == "from the base\n")
            #expect(b.read("bundle/rootfs/model/model.txt") == "the model\n")
            let config = b.read("bundle/config.json") ?? ""
            #expect(config.contains("FROM_BASE=1") && config.contains("MODE=serve"), "\(config)")
        }
    }
}
