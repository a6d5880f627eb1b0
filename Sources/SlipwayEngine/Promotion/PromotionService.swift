import Foundation
import SlipwayStore

/// The one place a version becomes live in an environment. The command line
/// (`slipway promote`), the console and the agent call it; approvals and
/// deployments plug in here.
///
/// It checks that the environment is declared, that the version exists and
/// that its run succeeded with every gate passed, then records the alias
/// change and its audit event in one transaction.
public struct PromotionService: Sendable {
    let registry: any Registry
    let spec: WorkspaceSpec
    /// The workspace, for checking packaged versions' images (nil: not checked).
    let workspace: Workspace?

    /// How an image registry is spoken to, for versions pushed to one.
    let http: any HTTPFetcher

    public init(registry: any Registry, spec: WorkspaceSpec, workspace: Workspace? = nil, http: any HTTPFetcher = CurlFetcher()) {
        self.registry = registry
        self.spec = spec
        self.workspace = workspace
        self.http = http
    }

    public struct Request: Sendable {
        public var model: String
        public var version: Int
        public var environment: String
        public var actor: String
        public var reason: String
        /// What starts it: a person's promotion, or an automatic one
        /// (`.auto`); an approved request's is `.approval`.
        public var cause: AliasCause = .promotion

        public init(model: String, version: Int, environment: String, actor: String, reason: String) {
            self.model = model
            self.version = version
            self.environment = environment
            self.actor = actor
            self.reason = reason
        }
    }

    public enum Outcome: Sendable, Hashable {
        /// The alias moved (`event.previousVersion` was live before).
        case promoted(AliasEvent)
        /// The version was already live there; nothing was recorded.
        case alreadyLive
        /// A canary is under way (or paused); the agent drives it on.
        case inProgress(DeploymentRecord)
        /// The deploy call failed or the analysis rolled it back.
        case failed(DeploymentRecord)

        /// One line for people, the same in every face.
        public func summary(_ label: String) -> String {
            switch self {
            case .promoted(let e):
                return "\(label) → \(e.environment)" + (e.previousVersion.map { " (was :\($0))" } ?? " (first version there)")
            case .alreadyLive:
                return "\(label) is already live"
            case .inProgress(let d):
                return "\(label) → \(d.environment): canary at \(d.traffic)% (step \(d.step + 1) of \(d.stepList.count); "
                    + "\(d.state == .paused ? "paused" : "`slipway agent` takes the next steps")) · \(d.detail)"
            case .failed(let d):
                return "\(label) → \(d.environment) did not go live: \(d.state.rawValue.replacingOccurrences(of: "_", with: " ")) · \(d.detail)"
            }
        }
    }

    /// Why a promotion was refused.
    public struct Refusal: SlipwayError {
        public enum Reason: Sendable, Hashable {
            case noEnvironments
            case unknownEnvironment(suggestion: String?)
            case runDidNotSucceed(run: Int64, status: RunStatus)
            case gatesFailed([String])
            case requiresEnvironment(String)
            case packageDoesNotVerify([String])
        }
        public var request: String
        public var reason: Reason
        public var message: String
        public var exitStatus: ExitStatus {
            switch reason {
            case .gatesFailed, .packageDoesNotVerify: return .checkFailed
            default: return .usage
            }
        }
        public var description: String { message }
    }

    /// Checks the request without changing anything; the version it names.
    public func check(_ request: Request) throws -> ModelVersionRecord {
        let label = "\(request.model):\(request.version) → \(request.environment)"
        let envs = spec.environments.map(\.name)
        guard !envs.isEmpty else {
            throw Refusal(request: label, reason: .noEnvironments,
                          message: "slipway.yaml declares no environments: add `environments: {\(request.environment): {}}` first")
        }
        guard envs.contains(request.environment) else {
            let hint = Suggestions.closest(to: request.environment, in: envs)
            throw Refusal(request: label, reason: .unknownEnvironment(suggestion: hint),
                          message: "no environment '\(request.environment)'" + (hint.map { " (did you mean '\($0)'?)" } ?? "")
                              + "; environments: \(envs.joined(separator: ", "))")
        }
        let version = try ModelLookup(registry: registry).version(model: request.model, request.version)
        if let run = try registry.run(id: version.runID), run.status != .succeeded {
            throw Refusal(request: label, reason: .runDidNotSucceed(run: run.id, status: run.status),
                          message: "\(version.label) came from run \(run.id), which \(run.status.rawValue): only a succeeded run's version can be promoted")
        }
        if let required = spec.environments.first(where: { $0.name == request.environment })?.plan.requires,
           try !registry.aliasHistory(model: version.model, environment: required, until: nil).contains(where: { $0.version == version.version }) {
            throw Refusal(request: label, reason: .requiresEnvironment(required),
                          message: "\(version.label) has not been live in \(required), which \(request.environment) requires first: "
                              + "slipway promote \(version.label) --to \(required)")
        }
        let failed = try registry.gateResults(runID: version.runID).filter { !$0.passed }
        if !failed.isEmpty {
            throw Refusal(request: label, reason: .gatesFailed(failed.map(\.explanation)),
                          message: "\(version.label) failed its gates: " + failed.map(\.explanation).joined(separator: "; "))
        }
        if version.imageDigest != nil, let workspace {
            let images = PushedImages(workspace: workspace, registry: registry, signing: spec.signing, http: http)
            if let pushed = try images.lastPush(of: version) {
                // Pushed to an image registry: what goes live is what that
                // registry holds under the digest, so that is what is checked.
                let remote = images.check(version, pushed: pushed)
                guard remote.ok else {
                    let why = "\(version.label)'s image in \(remote.reference) does not verify: " + remote.problems.joined(separator: "; ")
                    _ = try registry.appendAudit(AuditDraft(actor: request.actor, kind: .packageRefused, subject: "model/\(version.model)/\(version.version)",
                                                        payload: AuditChain.payload(["environment": request.environment, "reference": remote.reference,
                                                                                     "why": why])))
                    throw Refusal(request: label, reason: .packageDoesNotVerify(remote.problems), message: why)
                }
                return version
            }
            let report = try PackageVerifier(workspace: workspace, signing: spec.signing).verify(version)
            if !report.ok {
                throw Refusal(request: label, reason: .packageDoesNotVerify(report.problems),
                              message: "\(version.label)'s package does not verify: " + report.problems.joined(separator: "; "))
            }
        }
        return version
    }

    /// Checks the request, then makes the version live (recorded and audited).
    /// With `approval`, the deployment carries out that approved request
    /// (already verified by ``ApprovalService/carryOut(_:actor:reason:)``),
    /// which the store checks and uses up in the transaction that starts it.
    public func promote(_ request: Request, approval: ApprovalUse? = nil) throws -> Outcome {
        try start(try check(request), request, approval: approval)
    }

    /// Makes a version already checked live: starts its deployment, with
    /// `audit` (the decision that led to it) recorded in the same transaction.
    func start(_ version: ModelVersionRecord, _ request: Request, approval: ApprovalUse? = nil, audit: [AuditDraft] = []) throws -> Outcome {
        if try registry.alias(model: version.model, environment: request.environment, at: nil) == version.version {
            return .alreadyLive
        }
        let cause: AliasCause = approval != nil ? .approval : request.cause
        guard let workspace else {
            try registry.appendAudit(audit)
            return .promoted(try registry.setAlias(model: version.model, environment: request.environment, version: version.version,
                                                   actor: request.actor, reason: request.reason, cause: cause))
        }
        let progress = try DeploymentService(workspace: workspace, registry: registry, spec: spec)
            .start(model: version.model, version: version.version, environment: request.environment, actor: request.actor, reason: request.reason,
                   cause: cause, approval: approval, audit: audit)
        return Self.outcome(progress)
    }

    public static func outcome(_ progress: DeploymentService.Progress) -> Outcome {
        if let e = progress.promoted { return .promoted(e) }
        switch progress.deployment.state {
        case .progressing, .paused: return .inProgress(progress.deployment)
        case .succeeded, .watching: return .alreadyLive
        case .rolledBack, .aborted, .failed: return .failed(progress.deployment)
        }
    }
}
