import Foundation
import SlipwayStore

extension ApprovalService {
    /// What one pass of automatic promotion did.
    public struct FollowUp: Sendable {
        public var model: String
        public var version: Int
        public var environment: String
        /// The outcome, or why it was refused.
        public var result: Result<Outcome, FollowUpError>
    }

    public struct FollowUpError: Error, Sendable { public var message: String }

    /// Environments with `auto: true` follow the one they require once a
    /// version is live and healthy there (no deployment in flight); the policy
    /// decides whether that waits for approval. Approved requests whose
    /// promotion did not happen are carried out. A version is tried once per
    /// environment: one rolled back, refused or rejected there is not retried.
    public func followUp(actor: String) throws -> [FollowUp] {
        var done: [FollowUp] = []
        let models = try registry.models()
        let requests = try registry.approvalRequests(all: true, limit: 500)
        for env in spec.environments where env.plan.auto {
            guard let required = env.plan.requires else { continue }
            let inFlight = try registry.activeDeployment(environment: required)
            for model in models {
                guard let version = model.environments[required], model.environments[env.name] != version else { continue }
                // Not healthy yet while its deployment (canary, watch) is still going.
                if inFlight?.model == model.name { continue }
                if try attempted(model: model.name, version: version, environment: env.name, requests: requests) { continue }
                var request = PromotionService.Request(model: model.name, version: version, environment: env.name, actor: actor,
                                                       reason: "auto: live and healthy in \(required)")
                request.cause = .auto
                do {
                    done.append(FollowUp(model: model.name, version: version, environment: env.name, result: .success(try requestPromotion(request))))
                } catch {
                    // Remember the refusal in the audit trail so it is not tried again.
                    try registry.appendAudit(AuditDraft(actor: actor, kind: .riskClassified, subject: "model/\(model.name)/\(version)",
                                                        payload: AuditChain.payload(["environment": env.name, "risk": "refused",
                                                                                     "reasons": "\(error)"])))
                    done.append(FollowUp(model: model.name, version: version, environment: env.name,
                                         result: .failure(FollowUpError(message: "\(error)"))))
                }
            }
        }
        // Approved, but the promotion never happened (its command died, say):
        // carried out once, after its votes are verified again.
        for r in requests where r.status == .approved && r.deploymentID == nil {
            guard try registry.alias(model: r.model, environment: r.environment, at: nil) != r.version else { continue }
            if try attemptedAfterApproval(r) { continue }
            do {
                let outcome = try carryOut(r, actor: actor, reason: r.reason.map { "\($0) · approved (request \(r.id))" } ?? "approved (request \(r.id))")
                done.append(FollowUp(model: r.model, version: r.version, environment: r.environment,
                                     result: .success(.decided(outcome, reasons: r.reasonList))))
            } catch is RegistryConflict {
                continue  // another driver carries it out
            } catch let refusal as Refusal where refusal.reason == .notApproved {
                // Audited by carryOut (approval.refused), so not tried again.
                done.append(FollowUp(model: r.model, version: r.version, environment: r.environment,
                                     result: .failure(FollowUpError(message: refusal.message))))
            } catch {
                try registry.appendAudit(AuditDraft(actor: actor, kind: .riskClassified, subject: "model/\(r.model)/\(r.version)",
                                                    payload: AuditChain.payload(["environment": r.environment, "risk": "refused",
                                                                                 "request": String(r.id), "reasons": "\(error)"])))
                done.append(FollowUp(model: r.model, version: r.version, environment: r.environment,
                                     result: .failure(FollowUpError(message: "\(error)"))))
            }
        }
        return done
    }

    /// Whether carrying out an approved request was already refused (so it is not tried on every pass).
    func attemptedAfterApproval(_ r: ApprovalRequestRecord) throws -> Bool {
        if try !registry.auditEvents(matching: AuditQuery(kinds: [AuditKind.approvalRefused.rawValue], subject: "approval/\(r.id)", limit: 1)).isEmpty {
            return true
        }
        let refused = try registry.auditEvents(matching: AuditQuery(kinds: [AuditKind.riskClassified.rawValue], subject: "model/\(r.model)/\(r.version)"))
        return refused.contains { AuditVerifier.field("request", in: $0.payload) == String(r.id) }
    }

    func attempted(model: String, version: Int, environment: String, requests: [ApprovalRequestRecord]) throws -> Bool {
        if requests.contains(where: { $0.model == model && $0.version == version && $0.environment == environment }) { return true }
        if try registry.deployments(environment: environment, limit: 200).contains(where: { $0.model == model && $0.version == version }) { return true }
        if try registry.aliasHistory(model: model, environment: environment, until: nil).contains(where: { $0.version == version }) { return true }
        let refused = try registry.auditEvents(matching: AuditQuery(kinds: [AuditKind.riskClassified.rawValue], subject: "model/\(model)/\(version)"))
        return refused.contains { AuditVerifier.field("risk", in: $0.payload) == "refused" && AuditVerifier.field("environment", in: $0.payload) == environment }
    }
}
