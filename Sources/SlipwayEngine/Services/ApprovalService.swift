import Foundation

/// Tiered promotion: every promotion is classified by `policy:`; a low-risk
/// one goes ahead at once, a high-risk one waits for signed approvals by
/// named approvers. The command line, the console and (later) the agent call
/// this service; `PromotionService` still makes the final checks and the move.
public struct ApprovalService: Sendable {
    public static let namespace = "slipway-approval"

    let workspace: Workspace
    let registry: any Registry
    let spec: WorkspaceSpec

    public init(workspace: Workspace, registry: any Registry, spec: WorkspaceSpec) {
        self.workspace = workspace
        self.registry = registry
        self.spec = spec
    }

    var promotion: PromotionService { PromotionService(registry: registry, spec: spec, workspace: workspace) }
    var policy: PolicySpec { spec.rules }

    public enum Outcome: Sendable {
        /// Low risk: the promotion went ahead (or started its canary).
        case decided(PromotionService.Outcome, reasons: [String])
        case alreadyLive
        case queued(ApprovalRequestRecord, superseded: [Int64])
    }

    /// A vote or request refused, with why.
    public struct Refusal: SlipwayError {
        public enum Reason: String, Sendable, Codable {
            case unknownRequest, notPending, notAnApprover, selfApproval, alreadyVoted, packageChanged, noApprovers, commentRequired
        }
        public var reason: Reason
        public var message: String
        public var exitStatus: ExitStatus { reason == .unknownRequest || reason == .commentRequired ? .usage : .checkFailed }
        public var description: String { message }
    }

    // MARK: - Requesting

    public func requestPromotion(_ request: PromotionService.Request) throws -> Outcome {
        let version = try promotion.check(request)
        let live = try registry.alias(model: version.model, environment: request.environment, at: nil)
        if live == version.version { return .alreadyLive }
        let liveVersion = try live.flatMap { try registry.modelVersion(model: version.model, version: $0) }
        let facts = try facts(candidate: version, live: liveVersion, environment: request.environment)
        let (risk, reasons) = RiskClassifier.classify(facts, policy: policy)
        try registry.appendAudit(AuditDraft(actor: request.actor, kind: .riskClassified, subject: "model/\(version.model)/\(version.version)",
                                            payload: AuditChain.payload(["environment": request.environment, "risk": risk.rawValue,
                                                                         "reasons": reasons.joined(separator: "; ")])))
        if risk == .low {
            return .decided(try promotion.promote(request), reasons: reasons)
        }
        guard !policy.approvers.isEmpty else {
            throw Refusal(reason: .noApprovers, message: "\(version.label) → \(request.environment) is high risk (\(reasons.joined(separator: "; "))) "
                          + "but slipway.yaml lists no policy.approvers to sign it off")
        }
        try syncApprovers(actor: request.actor)
        let evidence = try evidence(candidate: version, live: liveVersion, facts: facts, reasons: reasons)
        let expires = Clock.nowMillis() + Millis(policy.expiresSeconds(for: request.environment) * 1000)
        let (record, superseded) = try registry.createApprovalRequest(
            NewApprovalRequest(model: version.model, version: version.version, environment: request.environment,
                               packageDigest: version.imageDigest ?? version.artifactDigest, reasons: reasons, evidence: evidence,
                               requester: request.actor, expiresAt: expires,
                               requiredApprovals: policy.requiredApprovals(for: request.environment)),
            actor: request.actor)
        return .queued(record, superseded: superseded)
    }

    func facts(candidate: ModelVersionRecord, live: ModelVersionRecord?, environment: String) throws -> PromotionFacts {
        func data(_ run: Int64) throws -> [String: String] {
            var d: [String: String] = [:]
            for r in try registry.runDatasets(runID: run) { d[r.path] = r.hash }
            return d
        }
        return PromotionFacts(
            environment: environment, candidateParams: try registry.params(runID: candidate.runID),
            liveParams: try live.map { try registry.params(runID: $0.runID) }, tags: candidate.tags,
            candidateMetrics: GateEvaluator.lastValues(try registry.metrics(runID: candidate.runID)),
            liveMetrics: try live.map { GateEvaluator.lastValues(try registry.metrics(runID: $0.runID)) },
            candidateData: try data(candidate.runID), liveData: try live.map { try data($0.runID) })
    }

    /// What an approver sees: params diff, eval comparison with gate arithmetic,
    /// data that changed, the commits between the live and the candidate version,
    /// the risk reasons, the package digest.
    func evidence(candidate: ModelVersionRecord, live: ModelVersionRecord?, facts: PromotionFacts, reasons: [String]) throws -> String {
        struct ParamChange: Encodable { var param: String; var live: String?; var candidate: String? }
        struct Row: Encodable { var metric: String; var live: Double?; var candidate: Double?; var delta: Double?; var gate: String? }
        struct Evidence: Encodable {
            var candidate: String; var live: String?; var reasons: [String]; var params: [ParamChange]; var metrics: [Row]
            var data: [String]; var commits: [String]; var package: String
        }
        var rows: [Row] = []
        if let live {
            let pipeline = spec.pipeline(named: candidate.pipeline)
            let c = try ComparisonService(registry: registry, spec: spec).versions(live, candidate, pipeline: pipeline)
            rows = c.comparison.rows.map {
                Row(metric: $0.metric, live: $0.baseline.flatMap { $0.isFinite ? $0 : nil }, candidate: $0.candidate.flatMap { $0.isFinite ? $0 : nil },
                    delta: $0.delta, gate: $0.gate?.explanation)
            }
        } else {
            rows = facts.candidateMetrics.keys.sorted().map { Row(metric: $0, live: nil, candidate: facts.candidateMetrics[$0], delta: nil, gate: nil) }
        }
        var commits: [String] = []
        if let from = live?.gitCommit, let to = candidate.gitCommit, from != to,
           let log = GitState.run(["log", "--oneline", "--no-decorate", "\(from)..\(to)"], in: workspace.root) {
            commits = log.split(separator: "\n").map(String.init)
        }
        let e = Evidence(candidate: candidate.label, live: live?.label, reasons: reasons,
                         params: facts.changedParams.map { ParamChange(param: $0, live: facts.liveParams?[$0], candidate: facts.candidateParams[$0]) },
                         metrics: rows, data: facts.changedData.map { p in "\(p) \(facts.liveData?[p]?.prefix(8) ?? "—") → \(facts.candidateData[p]?.prefix(8) ?? "—")" },
                         commits: commits, package: candidate.imageDigest ?? candidate.artifactDigest)
        return String(decoding: try OCI.encode(e), as: UTF8.self)
    }

    /// Records the approvers in force as an audit event when they differ from
    /// the last recorded set, so signatures are checked against the keys of their time.
    public func syncApprovers(actor: String) throws {
        let current = policy.approvers.map { "\($0.name)=\($0.key.line.split(separator: " ").prefix(2).joined(separator: " "))" }.sorted()
        let text = current.joined(separator: "\n")
        let last = try registry.auditEvents(matching: AuditQuery(kinds: [AuditKind.approversChanged.rawValue], limit: 1)).last
        if let last, AuditVerifier.field("approvers", in: last.payload).map(Self.unescape) == text { return }
        if last == nil && current.isEmpty { return }
        try registry.appendAudit(AuditDraft(actor: actor, kind: .approversChanged, subject: "policy",
                                            payload: AuditChain.payload(["approvers": text])))
    }

    static func unescape(_ s: String) -> String { s.replacingOccurrences(of: "\\n", with: "\n") }

    // MARK: - Voting

    public enum VoteOutcome: Sendable {
        case recorded(ApprovalVoteRecord, approvals: Int, of: Int)
        case approved(ApprovalVoteRecord, promotion: PromotionService.Outcome)
        case rejected(ApprovalVoteRecord)
    }

    /// The exact text an approver signs.
    public static func payload(request: ApprovalRequestRecord, decision: ApprovalVoteRecord.Decision, comment: String, at: Millis) -> String {
        AuditChain.payload(["request": String(request.id), "model": request.model, "version": String(request.version),
                            "environment": request.environment, "package": request.packageDigest ?? "",
                            "decision": decision.rawValue, "comment": comment, "time": String(at)])
    }

    /// Signs and records a vote. The vote counts only once its signature
    /// verifies against a listed approver's key; that approver is the voter.
    public func vote(requestID: Int64, decision: ApprovalVoteRecord.Decision, keyPath: String, comment: String,
                     voter: String = Provenance.currentUser()) throws -> VoteOutcome {
        if decision == .reject, comment.trimmingCharacters(in: .whitespaces).isEmpty {
            throw Refusal(reason: .commentRequired, message: "a rejection needs --comment saying why")
        }
        _ = try registry.expireApprovalRequests(now: Clock.nowMillis())
        guard let request = try registry.approvalRequest(id: requestID) else {
            throw Refusal(reason: .unknownRequest, message: "no approval request \(requestID) (see `slipway approvals --all`)")
        }
        guard request.status == .pending else {
            throw Refusal(reason: .notPending, message: "approval request \(requestID) is \(request.status.rawValue): nothing to vote on")
        }
        guard let version = try registry.modelVersion(model: request.model, version: request.version) else {
            throw Refusal(reason: .packageChanged, message: "\(request.model):\(request.version) is no longer in the registry")
        }
        let digest = version.imageDigest ?? version.artifactDigest
        guard request.packageDigest == nil || request.packageDigest == digest else {
            throw Refusal(reason: .packageChanged, message: "\(version.label)'s package changed since the request (\(request.packageDigest!.prefix(19)) → \(digest.prefix(19)))")
        }
        try syncApprovers(actor: voter)
        let at = Clock.nowMillis()
        let payload = Self.payload(request: request, decision: decision, comment: comment, at: at)
        let armored = try SSHSigner(keyPath: keyPath).sign(Array(payload.utf8), namespace: Self.namespace)
        let sig = try SSHSig.verify(armored: armored, message: Array(payload.utf8), namespace: Self.namespace)
        guard let approver = policy.approver(withKey: sig.publicKey.raw) else {
            throw Refusal(reason: .notAnApprover, message: "key \(sig.publicKey.fingerprint) belongs to no approver in policy.approvers")
        }
        // No self-approval: whoever asked for the promotion, started the run or authored its commit.
        let run = try registry.run(id: version.runID)
        var involved: Set<String> = [request.requester]
        if let u = run?.user { involved.insert(u) }
        if let commit = version.gitCommit, let author = GitState.run(["log", "-1", "--format=%ae%n%an", commit], in: workspace.root) {
            for line in author.split(separator: "\n") { involved.insert(String(line)) }
        }
        let identities = Set(approver.users + [approver.name])
        if let who = identities.intersection(involved).first {
            throw Refusal(reason: .selfApproval, message: "\(approver.name) cannot sign off \(version.label): they are \(who), who requested it, ran it or authored its commit")
        }
        let votes = try registry.approvalVotes(requestID: requestID)
        if votes.contains(where: { $0.approver == approver.name || $0.keyFingerprint == sig.publicKey.fingerprint }) {
            throw Refusal(reason: .alreadyVoted, message: "\(approver.name) already voted on request \(requestID)")
        }
        let approvals = votes.filter { $0.decision == .approve }.count + (decision == .approve ? 1 : 0)
        let resolving: ApprovalStatus? = decision == .reject ? .rejected : (approvals >= request.requiredApprovals ? .approved : nil)
        let recorded = try registry.recordApprovalVote(
            ApprovalVoteRecord(requestID: requestID, approver: approver.name, keyFingerprint: sig.publicKey.fingerprint,
                               decision: decision, comment: comment, at: at, payload: payload, signature: armored),
            resolving: resolving)
        switch resolving {
        case .rejected?: return .rejected(recorded)
        case .approved?:
            CrashPoint.reach("approve.after-vote")
            let names = (votes.filter { $0.decision == .approve }.map(\.approver) + [approver.name]).joined(separator: ", ")
            let outcome = try promotion.promote(PromotionService.Request(
                model: request.model, version: request.version, environment: request.environment, actor: names,
                reason: "approved by \(names) (request \(requestID))"))
            return .approved(recorded, promotion: outcome)
        default:
            return .recorded(recorded, approvals: approvals, of: request.requiredApprovals)
        }
    }
}
