/// What an audit event records. The raw value is what the log stores and
/// what `slipway audit --kind` takes; a value never changes meaning.
public enum AuditKind: String, Sendable, CaseIterable, Codable {
    case workspaceCreated = "workspace.created"
    case runStarted = "run.started"
    case runFinished = "run.finished"
    case runInterrupted = "run.interrupted"
    case runCancelRequested = "run.cancel_requested"
    case runTakenOver = "run.taken_over"
    case stageFinished = "stage.finished"
    case datasetAdded = "dataset.added"
    case dataValidated = "data.validated"
    case gateDecided = "gate.decided"
    case modelRegistered = "model.registered"
    case modelEdited = "model.edited"
    /// A version's image (with its referrers) was pushed to an image registry.
    case imagePushed = "image.pushed"
    /// A promotion was refused because the image in the registry it was
    /// pushed to does not verify (digest, provenance or signatures).
    case packageRefused = "package.refused"
    case aliasChanged = "alias.changed"
    case riskClassified = "risk.classified"
    case approvalRequested = "approval.requested"
    case approvalVoted = "approval.voted"
    case approvalResolved = "approval.resolved"
    /// A deployment carries out an approved request (which is then used up).
    case approvalUsed = "approval.used"
    /// An approved request was not carried out: its votes do not add up.
    case approvalRefused = "approval.refused"
    case approversChanged = "policy.approvers"
    case deployRan = "deploy.ran"
    case deploymentStarted = "deployment.started"
    case deploymentStep = "deployment.step"
    case deploymentAnalysed = "deployment.analysed"
    case deploymentPaused = "deployment.paused"
    case deploymentResumed = "deployment.resumed"
    case deploymentEnded = "deployment.ended"
    case batchRecorded = "monitor.batch"
    case monitorAlert = "monitor.alert"
    case triggerFired = "trigger.fired"

    /// The kinds whose payload carries `record_sha256`, the digest of the
    /// registry record the decision stands on (see ``RecordDigest``).
    public var describesRecord: Bool {
        switch self {
        case .gateDecided, .modelRegistered, .aliasChanged, .dataValidated, .approvalVoted,
             .approvalRequested, .approvalResolved, .approvalUsed: return true
        default: return false
        }
    }
}
