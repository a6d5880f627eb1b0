import Foundation
import SlipwayStore

/// Versions whose images live in an image registry: `slipway push …
/// docker://` (the image and its referrers, then where it went and the
/// digest, recorded in the registry so every clone knows), and the check
/// promotion makes before such a version goes live: the image read back from
/// that registry by its digest (never by tag), its referrers verified as a
/// local version's are, and the pushed tag still naming that digest.
public struct PushedImages: Sendable {
    let workspace: Workspace
    let registry: any Registry
    let signing: SigningSpec
    let transfer: RegistryPush
    let http: any HTTPFetcher

    public init(workspace: Workspace, registry: any Registry, signing: SigningSpec, http: any HTTPFetcher = CurlFetcher(),
                transfer: RegistryPush? = nil) {
        self.workspace = workspace
        self.registry = registry
        self.signing = signing
        self.http = http
        self.transfer = transfer ?? RegistryPush(http: http)
    }

    public struct Pushed: Sendable {
        public var transfer: RegistryPush.Pushed
        public var record: ImagePushRecord
    }

    /// Verifies the version (nothing leaves unverified), pushes its image and
    /// referrers to `destination`, and records (audited) where and as what digest.
    public func push(_ version: ModelVersionRecord, to destination: ImageReference, actor: String) throws -> Pushed {
        try PackageVerifier(workspace: workspace, signing: signing).require(version)
        let (layout, manifest, referrers) = try ImageCatalog(workspace: workspace).image(of: version)
        let pushed = try transfer.push(layout: layout, tag: version.imageTag ?? "", manifest: manifest, referrers: referrers, to: destination)
        let record = try registry.recordImagePush(ImagePushRecord(model: version.model, version: version.version, reference: pushed.destination,
                                                                  digest: pushed.manifest, pushedAt: 0, pushedBy: actor))
        return Pushed(transfer: pushed, record: record)
    }

    /// Where the version's image was last pushed; nil when it never was (the
    /// local content store is then what promotion checks).
    public func lastPush(of version: ModelVersionRecord) throws -> ImagePushRecord? {
        guard version.imageDigest != nil else { return nil }
        return try registry.imagePushes(model: version.model, version: version.version).last
    }

    /// What the registry holds of a pushed version, checked.
    public struct RemoteCheck: Sendable {
        /// `docker://HOST/REPO@sha256:…`: what was read.
        public var reference: String
        public var report: PackageVerifier.Report?
        public var problems: [String]
        public var ok: Bool { problems.isEmpty }
    }

    /// Reads the version's image back from the registry it was pushed to, by
    /// the version's digest, with its referrers, and checks them; the pushed
    /// tag must still name that digest. Never throws for what the registry
    /// holds or cannot answer: those are problems (a check that cannot be
    /// made does not pass).
    public func check(_ version: ModelVersionRecord, pushed: ImagePushRecord) -> RemoteCheck {
        let shownPush = TerminalText.oneLine(pushed.reference)
        guard let digest = version.imageDigest else {
            return RemoteCheck(reference: shownPush, report: nil, problems: ["\(version.label) has no image, yet was pushed to \(shownPush)"])
        }
        let ref: ImageReference
        do { ref = try ImageReference.parse(pushed.reference) } catch {
            return RemoteCheck(reference: shownPush, report: nil, problems: ["the recorded push \(shownPush) is not an image reference"])
        }
        let byDigest = ref.with(digest: digest)
        var problems: [String] = []
        if pushed.digest != digest {
            problems.append("\(ref) was recorded as \(TerminalText.oneLine(pushed.digest)), not the version's image \(digest)")
        }
        if let tag = ref.tag {
            do {
                if let bytes = try RegistryClient(reference: ref, auth: transfer.auth).manifest(tag) {
                    let now = OCI.sha256(bytes)
                    if now != digest { problems.append("\(ref) now names \(now), not the pushed \(digest)") }
                } else {
                    problems.append("\(ref) is no longer in the registry")
                }
            } catch let denied as RegistryAccessDenied {
                // No login, or a refused one: said once, with how to log in.
                return RemoteCheck(reference: byDigest.description, report: nil, problems: problems + [denied.message])
            } catch {
                problems.append("\(ref) cannot be read: \(TerminalText.oneLine("\(error)"))")
            }
        }
        let report: PackageVerifier.Report?
        do {
            report = try PackageVerifier(workspace: workspace, signing: signing).verify(remote: byDigest, http: http, transfer: transfer)
        } catch {
            return RemoteCheck(reference: byDigest.description, report: nil,
                               problems: problems + ["\(byDigest) cannot be read back: \(TerminalText.oneLine("\(error)"))"])
        }
        if let report { problems += report.problems }
        return RemoteCheck(reference: byDigest.description, report: report, problems: problems)
    }
}
