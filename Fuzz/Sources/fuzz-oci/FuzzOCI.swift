import Foundation
import FuzzSupport
import SlipwayCore
import SlipwayEngine

// An OCI image layout as `slipway verify`, promotion and `push` read it:
// INDEX.json \0 BLOB1 \0 BLOB2 … In any part, `@N` stands for the digest
// (`sha256:…`) of blob N, `%N` for its bare hex and `#N` for its size, so the
// fuzzer can build indexes and manifests that point at real blobs (a part
// names only parts after it). The version checked is the index's first tagged
// manifest (else blob 1).
let signer = try! SSHSig.PublicKey(line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfWjwVRh8EShI4ydc9J7i0GC9N8y+ARzKzQE66pKQJl fuzz")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOCI(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var parts = Fuzz.parts(data, size, limit: 12)
    // Fill the placeholders from the last blob back, so each part can name the ones after it.
    var digests: [Int: String] = [:], sizes: [Int: String] = [:]
    for i in stride(from: parts.count - 1, through: 0, by: -1) {
        var text = String(decoding: parts[i], as: UTF8.self)
        if text.contains("@") || text.contains("#") || text.contains("%") {
            for j in digests.keys.sorted(by: >) {
                text = text.replacingOccurrences(of: "@\(j)", with: digests[j]!).replacingOccurrences(of: "#\(j)", with: sizes[j]!)
                    .replacingOccurrences(of: "%\(j)", with: String(digests[j]!.dropFirst(7)))
            }
            parts[i] = Array(text.utf8)
        }
        digests[i] = OCI.sha256(Data(parts[i]))
        sizes[i] = String(parts[i].count)
    }
    let workspace = Workspace(root: Fuzz.scratch + "/ws")
    let layout = ImageCatalog(workspace: workspace).layout(model: "m")
    try? FileManager.default.removeItem(atPath: workspace.root)
    do { try layout.create() } catch { Fuzz.fail("cannot create the layout: \(error)") }
    Fuzz.write(parts[0], to: layout.path + "/index.json")
    for i in parts.indices.dropFirst() { Fuzz.write(parts[i], to: layout.blobPath(digests[i]!)) }
    // Something outside the layout that no digest may reach.
    Fuzz.write(Array("outside".utf8), to: workspace.root + "/outside")

    let index: OCI.Index
    do { index = try layout.index() } catch {
        Fuzz.requireClear(error, inputSize: size)
        return 0
    }
    for tag in Set(index.manifests.compactMap { $0.annotations?[OCI.refName] } + ["latest"]) {
        do { _ = try layout.manifest(tagged: tag) } catch { Fuzz.requireClear(error, inputSize: size) }
    }
    do {
        let (_, problems) = try layout.verifyBlobs()
        // A descriptor whose digest is not `sha256:` and 64 hex digits names no blob: it must be a problem, never a path.
        for d in descriptors(index.manifests, in: layout) where !isDigest(d.digest) {
            if !problems.contains(where: { $0.contains(d.digest) && $0.contains("not a sha256 digest") }) {
                Fuzz.fail("verifyBlobs took the malformed digest '\(d.digest)' for a path")
            }
        }
        for p in problems where p.isEmpty { Fuzz.fail("an empty problem") }
    } catch {
        Fuzz.requireClear(error, inputSize: size)
    }
    _ = try? ImageCatalog.built(in: layout)
    let image = index.manifests.first { $0.annotations?[OCI.refName] != nil }?.digest ?? (parts.count > 1 ? digests[1]! : nil)
    if let image, isDigest(image) {
        let fields: [String: Any] = ["id": 1, "model": "m", "version": 1, "runID": 1, "pipeline": "p", "artifactDigest": image, "createdAt": 0,
                                     "createdBy": "fuzz", "description": "", "tags": [String: String](), "imageDigest": image]
        let version = try! JSONDecoder().decode(ModelVersionRecord.self, from: try! JSONSerialization.data(withJSONObject: fields))
        let verifier = PackageVerifier(workspace: workspace, signing: SigningSpec(signers: [Located(signer, at: nil)]))
        do {
            let report = try verifier.verify(version)
            // The fuzzer holds no signer's private key: nothing it makes may verify.
            if report.ok { Fuzz.fail("a package the fuzzer made verifies") }
        } catch {
            Fuzz.requireClear(error, inputSize: size)
        }
    }
    return 0
}

func isDigest(_ s: String) -> Bool {
    s.hasPrefix("sha256:") && s.utf8.count == 71 && s.utf8.dropFirst(7).allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
}

/// Every descriptor reachable from `top` (through manifests and nested indexes), each once.
func descriptors(_ top: [OCI.Descriptor], in layout: OCILayoutDirectory) -> [OCI.Descriptor] {
    var out: [OCI.Descriptor] = [], seen: Set<String> = [], queue = top
    while let d = queue.popLast() {
        guard seen.insert(d.digest).inserted else { continue }
        out.append(d)
        if let m = try? layout.readJSON(OCI.Manifest.self, d.digest) { queue += [m.config] + m.layers }
        else if let i = try? layout.readJSON(OCI.Index.self, d.digest) { queue += i.manifests }
    }
    return out
}
