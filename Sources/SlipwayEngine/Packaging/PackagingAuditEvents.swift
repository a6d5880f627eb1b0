import SlipwayCore
import SlipwayStore

/// What the audit trail says about images: `image.pushed`, where a version's
/// image went and as what manifest digest, composed here once for every store.
enum PackagingEvents {
    static func imagePushed(_ push: ImagePushRecord) -> AuditDraft {
        AuditDraft(actor: push.pushedBy, kind: .imagePushed, subject: "model/\(push.model)/\(push.version)",
                   payload: AuditChain.payload(["reference": push.reference, "digest": push.digest]))
    }
}

extension ModelStore {
    /// Records that a version's image is now in an image registry, audited as
    /// `image.pushed` by whoever pushed it.
    public func recordImagePush(_ push: ImagePushRecord) throws -> ImagePushRecord {
        try recordImagePush(push, audit: PackagingEvents.imagePushed)
    }
}
