import Foundation
import SlipwayStore

/// Tiered promotion: every promotion is classified by `policy:`; a low-risk
/// one goes ahead at once, a high-risk one waits for signed approvals by
/// named approvers. The command line, the console and (later) the agent call
/// this service; `PromotionService` still makes the final checks and the move.
public struct ApprovalService: Sendable {
    public static let namespace = "slipway-approval"

    let workspace: Workspace
    let registry: any Registry
    let spec: WorkspaceSpec

    /// The time requests are stamped and judged by.
    public var clock: any Clock = SystemClock()

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
            /// An approved request whose votes do not add up (see ``ApprovalRule``).
            case notApproved
        }
        public var reason: Reason
        public var message: String
        public var exitStatus: ExitStatus { reason == .unknownRequest || reason == .commentRequired ? .usage : .checkFailed }
        public var description: String { message }
    }

    // MARK: - Requesting

    /// Classifies the promotion and, in one transaction with that
    /// classification's audit event, starts it (low risk) or queues it for
    /// approval (high risk). Every refusal comes before anything is written.
    public func requestPromotion(_ request: PromotionService.Request) throws -> Outcome {
        let version = try promotion.check(request)
        let live = try registry.alias(model: version.model, environment: request.environment, at: nil)
        if live == version.version { return .alreadyLive }
        let liveVersion = try live.flatMap { try registry.modelVersion(model: version.model, version: $0) }
        let facts = try facts(candidate: version, live: liveVersion, environment: request.environment)
        let (risk, reasons) = RiskClassifier.classify(facts, policy: policy)
        let classified = AuditDraft(actor: request.actor, kind: .riskClassified, subject: "model/\(version.model)/\(version.version)",
                                    payload: AuditChain.payload(["environment": request.environment, "risk": risk.rawValue,
                                                                 "reasons": reasons.joined(separator: "; ")]))
        if risk == .low {
            return .decided(try promotion.start(version, request, audit: [classified]), reasons: reasons)
        }
        guard !policy.approvers.isEmpty else {
            throw Refusal(reason: .noApprovers, message: "\(version.label) → \(request.environment) is high risk (\(reasons.joined(separator: "; "))) "
                          + "but slipway.yaml lists no policy.approvers to sign it off")
        }
        let evidence = try evidence(candidate: version, live: liveVersion, facts: facts, reasons: reasons)
        let expires = clock.now() + Millis(policy.expiresSeconds(for: request.environment) * 1000)
        var new = NewApprovalRequest(model: version.model, version: version.version, environment: request.environment,
                                     packageDigest: version.imageDigest ?? version.artifactDigest, reasons: reasons, evidence: evidence,
                                     requester: request.actor, expiresAt: expires,
                                     requiredApprovals: policy.requiredApprovals(for: request.environment))
        new.reason = request.reason
        new.audit = [classified] + (try approversChanged(actor: request.actor).map { [$0] } ?? [])
        let (record, superseded) = try registry.createApprovalRequest(new, actor: request.actor)
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
            var data: [String]; var outputs: [String]; var commits: [String]; var package: String
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
        // Datasets the run read apart from what its stages wrote (a model file is no dataset).
        let outs = Set(spec.pipeline(named: candidate.pipeline)?.stages.flatMap { $0.outs.map(\.value) } ?? [])
        let changed = facts.changedData
        func describe(_ p: String) -> String { "\(p) \(facts.liveData?[p]?.prefix(8) ?? "—") → \(facts.candidateData[p]?.prefix(8) ?? "—")" }
        let e = Evidence(candidate: candidate.label, live: live?.label, reasons: reasons,
                         params: facts.changedParams.map { ParamChange(param: $0, live: facts.liveParams?[$0], candidate: facts.candidateParams[$0]) },
                         metrics: rows, data: changed.filter { !outs.contains($0) }.map(describe),
                         outputs: changed.filter(outs.contains).map(describe), commits: commits, package: candidate.imageDigest ?? candidate.artifactDigest)
        return String(decoding: try OCI.encode(e), as: UTF8.self)
    }

    /// The audit event recording the approvers in force, when they differ
    /// from the last recorded set (so signatures are checked against the keys
    /// of their time); written with the request or vote it comes before.
    func approversChanged(actor: String) throws -> AuditDraft? {
        let current = policy.approvers.map { "\($0.name)=\($0.key.line.split(separator: " ").prefix(2).joined(separator: " "))" }.sorted()
        let text = current.joined(separator: "\n")
        let last = try registry.auditEvents(matching: AuditQuery(kinds: [AuditKind.approversChanged.rawValue], limit: 1)).last
        if let last, AuditVerifier.field("approvers", in: last.payload).map(Self.unescape) == text { return nil }
        if last == nil && current.isEmpty { return nil }
        return AuditDraft(actor: actor, kind: .approversChanged, subject: "policy", payload: AuditChain.payload(["approvers": text]))
    }

    /// The listed approvers' keys (raw public key → name), from slipway.yaml.
    var approverKeys: [[UInt8]: String] {
        var keys: [[UInt8]: String] = [:]
        for a in policy.approvers { keys[a.key.raw] = a.name }
        return keys
    }

    static func unescape(_ s: String) -> String { s.replacingOccurrences(of: "\\n", with: "\n") }

    // MARK: - Voting

    public enum VoteOutcome: Sendable {
        case recorded(ApprovalVoteRecord, approvals: Int, of: Int)
        /// The vote approved the request; `promotion` says what became of the
        /// promotion it then carried out (the vote stands either way).
        case approved(ApprovalVoteRecord, promotion: CarriedOut)
        case rejected(ApprovalVoteRecord)
    }

    /// What became of the promotion an approving vote carried out.
    public enum CarriedOut: Sendable {
        case promotion(PromotionService.Outcome)
        /// This command did not carry it out (another driver had it, or it
        /// was refused), in words; the vote and the approval are recorded.
        case notCarriedOut(String)

        public func summary(_ label: String) -> String {
            switch self {
            case .promotion(let outcome): return outcome.summary(label)
            case .notCarriedOut(let why): return "\(label) is approved; the promotion was not carried out here: \(why)"
            }
        }

        public var failed: Bool {
            if case .promotion(.failed) = self { return true }
            return false
        }
    }

    /// The exact text an approver signs.
    public static func payload(request: ApprovalRequestRecord, decision: ApprovalVoteRecord.Decision, comment: String, at: Millis) -> String {
        AuditChain.payload(["request": String(request.id), "model": request.model, "version": String(request.version),
                            "environment": request.environment, "package": request.packageDigest ?? "",
                            "decision": decision.rawValue, "comment": comment, "time": String(at)])
    }

    /// Refuses a vote on a request that is no longer open.
    static func checkOpen(_ request: ApprovalRequestRecord, now: Millis) throws {
        guard request.status == .pending else {
            throw Refusal(reason: .notPending, message: "approval request \(request.id) is \(request.status.rawValue): nothing to vote on")
        }
        guard request.expiresAt > now else {
            throw Refusal(reason: .notPending, message: "approval request \(request.id) is expired: nothing to vote on")
        }
    }

    /// Signs and records a vote. The vote counts only once its signature
    /// verifies against a listed approver's key; that approver is the voter.
    /// Every check (including, for an approval, everything the promotion
    /// checks: gates, the package) comes before anything is written; the vote
    /// is recorded in the transaction that checks the request is still open
    /// and counts the valid votes. The vote that completes the approvals then
    /// carries the promotion out.
    public func vote(requestID: Int64, decision: ApprovalVoteRecord.Decision, keyPath: String, comment: String,
                     voter: String = Provenance.currentUser()) throws -> VoteOutcome {
        if decision == .reject, comment.trimmingCharacters(in: .whitespaces).isEmpty {
            throw Refusal(reason: .commentRequired, message: "a rejection needs --comment saying why")
        }
        guard let request = try registry.approvalRequest(id: requestID) else {
            throw Refusal(reason: .unknownRequest, message: "no approval request \(requestID) (see `slipway approvals --all`)")
        }
        try Self.checkOpen(request, now: clock.now())
        guard let version = try registry.modelVersion(model: request.model, version: request.version) else {
            throw Refusal(reason: .packageChanged, message: "\(request.model):\(request.version) is no longer in the registry")
        }
        let digest = version.imageDigest ?? version.artifactDigest
        guard request.packageDigest == nil || request.packageDigest == digest else {
            throw Refusal(reason: .packageChanged, message: "\(version.label)'s package changed since the request (\(request.packageDigest!.prefix(19)) → \(digest.prefix(19)))")
        }
        if decision == .approve {
            // An approval signs off this package for this environment: it must be promotable now.
            _ = try promotion.check(PromotionService.Request(model: request.model, version: request.version, environment: request.environment,
                                                            actor: voter, reason: ""))
        }
        let at = clock.now()
        let payload = Self.payload(request: request, decision: decision, comment: comment, at: at)
        let armored = try SSHSigner(keyPath: keyPath).sign(Array(payload.utf8), namespace: Self.namespace)
        let sig = try SSHSig.verify(armored: armored, message: Array(payload.utf8), namespace: Self.namespace)
        guard let approver = policy.approver(withKey: sig.publicKey.raw) else {
            throw Refusal(reason: .notAnApprover, message: "key \(sig.publicKey.fingerprint) belongs to no approver in policy.approvers")
        }
        // No self-approval: whoever asked for the promotion, started the run or authored its commit.
        if try registry.approvalVotes(requestID: requestID).contains(where: { $0.approver == approver.name }) {
            throw Refusal(reason: .alreadyVoted, message: "\(approver.name) already voted on request \(requestID)")
        }
        if let hit = Self.selfApproval(approver, try involvement(request, version: version)) {
            throw Refusal(reason: .selfApproval, message: "\(approver.name) cannot sign off \(version.label): they \(hit.role), as \(hit.identity)")
        }
        let vote = ApprovalVoteRecord(requestID: requestID, approver: approver.name, keyFingerprint: sig.publicKey.fingerprint,
                                      decision: decision, comment: comment, at: at, payload: payload, signature: armored)
        let required = max(policy.requiredApprovals(for: request.environment), request.requiredApprovals, 1)
        let keys = approverKeys
        let checked = RecordDigest.of(request)
        var resolved: ApprovalStatus?
        var tally = ApprovalRule.Tally()
        let recorded = try registry.recordApprovalVote(vote, audit: try approversChanged(actor: voter).map { [$0] } ?? []) { current, votes in
            guard RecordDigest.of(current) == checked else {
                try Self.checkOpen(current, now: at)
                throw RegistryConflict(reason: "approval request \(requestID) changed while the vote was being signed; nothing was recorded, vote again")
            }
            try Self.checkOpen(current, now: at)
            if votes.contains(where: { $0.approver == approver.name || $0.keyFingerprint == sig.publicKey.fingerprint }) {
                throw Refusal(reason: .alreadyVoted, message: "\(approver.name) already voted on request \(requestID)")
            }
            if decision == .reject {
                resolved = .rejected
            } else {
                tally = ApprovalRule.tally((votes + [vote]).map(ApprovalRule.Ballot.init), for: ApprovalRule.Subject(current), approvers: keys)
                resolved = ApprovalRule.suffices(tally, required: required) ? .approved : nil
            }
            return resolved
        }
        switch resolved {
        case .rejected?: return .rejected(recorded)
        case .approved?:
            CrashPoint.reach("approve.after-vote")
            let names = tally.approvers.joined(separator: ", ")
            // The vote stands whatever happens next: the promotion's fate is reported as such.
            let fate: CarriedOut
            do {
                let approved = try registry.approvalRequest(id: requestID) ?? request
                fate = .promotion(try carryOut(approved, actor: names, reason: Self.historyReason(approved, approvers: names)))
            } catch {
                fate = .notCarriedOut("\(error)")
            }
            return .approved(recorded, promotion: fate)
        default:
            return .recorded(recorded, approvals: tally.approvers.count, of: required)
        }
    }

    // MARK: - Carrying out

    /// What the live-version history says about an approved promotion: the
    /// requester's own reason first (kept, not replaced), then who approved it.
    public static func historyReason(_ request: ApprovalRequestRecord, approvers: String) -> String {
        let approved = "approved by \(approvers) (request \(request.id))"
        guard let why = request.reason?.trimmingCharacters(in: .whitespaces), !why.isEmpty else { return approved }
        return "\(why) · \(approved)"
    }

    /// The approvers whose valid signatures stand behind `request` now,
    /// judged by ``ApprovalRule`` against slipway.yaml's approvers: at least
    /// the number the policy (and the request) requires, for exactly the
    /// request's model, version, environment and package, which must still be
    /// the version's. The request's row must also be as the audit trail last
    /// recorded it. Throws a `notApproved` refusal otherwise.
    public func verifiedApprovers(of request: ApprovalRequestRecord) throws -> [String] {
        let subject = ApprovalRule.Subject(request)
        func refuse(_ why: String) -> Refusal {
            Refusal(reason: .notApproved, message: "approval request \(request.id) (\(subject.label)) is not carried out: \(why)")
        }
        var problems: [String] = []
        let required = max(policy.requiredApprovals(for: request.environment), request.requiredApprovals, 1)
        let tally = ApprovalRule.tally(try registry.approvalVotes(requestID: request.id).map(ApprovalRule.Ballot.init), for: subject,
                                       approvers: approverKeys)
        if !ApprovalRule.suffices(tally, required: required) { problems.append("it has " + tally.summary(required: required)) }
        if let altered = try alteredSinceAudited(request) { problems.append(altered) }
        if let version = try registry.modelVersion(model: request.model, version: request.version) {
            let digest = version.imageDigest ?? version.artifactDigest
            if let signed = request.packageDigest, signed != digest {
                problems.append("the version's package is \(digest.prefix(19)), not the \(signed.prefix(19)) the approvers signed")
            }
        } else {
            problems.append("\(request.model):\(request.version) is no longer in the registry")
        }
        guard problems.isEmpty else { throw refuse(problems.joined(separator: "; ")) }
        return tally.approvers
    }

    /// Why the request's row is not what the audit trail last recorded of it
    /// (nil when it is, or when the trail predates request digests).
    func alteredSinceAudited(_ request: ApprovalRequestRecord) throws -> String? {
        let key = RecordDigest.key(request: request.id)
        let events = try registry.auditEvents(matching: AuditQuery(subject: "approval/\(request.id)"))
        guard let last = events.last(where: { AuditVerifier.field("record", in: $0.payload) == key }) else { return nil }
        if AuditVerifier.field("record_sha256", in: last.payload) == RecordDigest.of(request) { return nil }
        return "its registry row was altered after event \(last.seq) recorded it"
    }

    /// Carries out an approved request: verifies its votes now (refusing,
    /// audited as `approval.refused`, when they do not add up), then starts
    /// the promotion, using the request up in the transaction that starts it
    /// (a request is carried out once; RegistryConflict when another driver
    /// got there first).
    public func carryOut(_ request: ApprovalRequestRecord, actor: String, reason: String) throws -> PromotionService.Outcome {
        if let used = request.deploymentID {
            throw RegistryConflict(reason: "approval request \(request.id) was already carried out" + (used > 0 ? " by deployment \(used)" : ""))
        }
        guard request.status == .approved else {
            throw Refusal(reason: .notApproved, message: "approval request \(request.id) is \(request.status.rawValue), not approved")
        }
        do {
            _ = try verifiedApprovers(of: request)
        } catch let refusal as Refusal {
            try registry.appendAudit(AuditDraft(actor: actor, kind: .approvalRefused, subject: "approval/\(request.id)",
                                                payload: AuditChain.payload(["model": request.model, "version": String(request.version),
                                                                             "environment": request.environment, "why": refusal.message])))
            throw refusal
        }
        return try promotion.promote(PromotionService.Request(model: request.model, version: request.version, environment: request.environment,
                                                              actor: actor, reason: reason),
                                     approval: ApprovalUse(requestID: request.id, digest: RecordDigest.of(request)))
    }
}
