import ArgumentParser
import Foundation
import SlipwayEngine

/// The key an approver signs with: --key, else $SLIPWAY_KEY, else ~/.ssh/id_ed25519, else ~/.config/slipway/key.
func approverKey(_ explicit: String?) -> String {
    if let explicit { return explicit.hasPrefix("/") ? explicit : FileManager.default.currentDirectoryPath + "/" + explicit }
    let env = ProcessInfo.processInfo.environment
    if let k = env["SLIPWAY_KEY"], !k.isEmpty { return k }
    let home = env["HOME"] ?? NSHomeDirectory()
    for candidate in [home + "/.ssh/id_ed25519", home + "/.config/slipway/key"] where FileManager.default.fileExists(atPath: candidate) {
        return candidate
    }
    return home + "/.ssh/id_ed25519"
}

struct Approvals: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "approvals", abstract: "The approvals queue: high-risk promotions waiting for sign-off.")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Every request, not only pending ones.") var all = false
    @Flag(help: "Print as JSON.") var json = false

    struct RequestJSON: Encodable {
        var id: Int64; var status: String; var model: String; var version: Int; var environment: String
        var reasons: [String]; var requester: String
        /// Why the requester asked (`promote --reason`); empty when none was given.
        var reason: String
        var createdAt: String?; var expiresAt: String?
        var votes: Int; var required: Int; var package: String?
        var decisions: [[String: String]]
        /// The deployment that carried out the approved request (used once).
        var deployment: Int64?
    }

    func run() throws {
        let (_, registry) = try global.open()
        let queue = ApprovalQueue(registry: registry)
        let requests = all ? try queue.history(now: SystemClock.nowMillis()) : try queue.pending(now: SystemClock.nowMillis())
        var rows: [RequestJSON] = []
        for r in requests {
            let votes = try registry.approvalVotes(requestID: r.id)
            rows.append(RequestJSON(id: r.id, status: r.status.rawValue, model: r.model, version: r.version, environment: r.environment,
                                    reasons: r.reasonList, requester: r.requester, reason: r.reason ?? "", createdAt: Output.iso(r.createdAt),
                                    expiresAt: Output.iso(r.expiresAt), votes: votes.filter { $0.decision == .approve }.count,
                                    required: r.requiredApprovals, package: r.packageDigest,
                                    decisions: votes.map { ["approver": $0.approver, "decision": $0.decision.rawValue, "comment": $0.comment,
                                                            "at": Output.iso($0.at) ?? "", "key": $0.keyFingerprint] },
                                    deployment: r.deploymentID))
        }
        if json { try Output.json(rows); return }
        if rows.isEmpty { Output.say(all ? "No approval requests yet." : "No approvals pending."); return }
        Output.say(Output.table(["id", "status", "version", "env", "risk", "requester", "age", "votes"], rows.map { r in
            [String(r.id), r.status, "\(r.model):\(r.version)", r.environment, r.reasons.joined(separator: "; "), r.requester,
             Output.age(requests.first { $0.id == r.id }!.createdAt), "\(r.votes) of \(r.required)"]
        }))
        for r in rows where !r.reason.isEmpty { Output.say("  #\(r.id) requested by \(Output.field(r.requester)): \(Output.field(r.reason))") }
        for r in rows where !r.decisions.isEmpty {
            for d in r.decisions {
                Output.say("  #\(r.id) \(d["decision"]!) by \(Output.field(d["approver"]!)) at \(d["at"]!)" + (d["comment"]!.isEmpty ? " (no comment)" : ": \(Output.field(d["comment"]!))"))
            }
        }
    }
}

struct Approve: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "approve", 
        abstract: "Sign off a pending high-risk promotion with your SSH key.",
        discussion: """
        Exit 3 when refused: not an approver's key, self-approval, a second vote, an expired or superseded request, a changed \
        package, a package that does not verify; a refused vote records nothing. Exit 0 once the vote is recorded: the \
        message then says what became of the promotion it carried out.
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The request id (see `slipway approvals`).") var id: Int64
    @Option(help: "Your private key (default: $SLIPWAY_KEY, ~/.ssh/id_ed25519, ~/.config/slipway/key).") var key: String?
    @Option(help: "Why (signed with the decision).") var comment: String = ""

    func run() throws {
        let (ws, registry) = try global.open()
        let service = ApprovalService(workspace: ws, registry: registry, spec: try ws.loadSpec().spec)
        switch try service.vote(requestID: id, decision: .approve, keyPath: approverKey(key), comment: comment) {
        case .recorded(let v, let n, let of):
            Output.say("approved by \(v.approver) (\(n) of \(of)); request \(id) waits for \(of - n) more")
        case .approved(let v, let promotion):
            // The vote is recorded (exit 0); what became of the promotion is reported as such.
            let r = try registry.approvalRequest(id: id)
            Output.say("approved by \(v.approver): " + promotion.summary(r.map { "\($0.model):\($0.version)" } ?? "request \(id)"))
        case .rejected: break
        }
    }
}

struct Reject: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reject", abstract: "Reject a pending high-risk promotion, signed with your SSH key.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The request id.") var id: Int64
    @Option(help: "Your private key (default: $SLIPWAY_KEY, ~/.ssh/id_ed25519, ~/.config/slipway/key).") var key: String?
    @Option(help: "Why (required; signed with the decision).") var comment: String

    func run() throws {
        let (ws, registry) = try global.open()
        let service = ApprovalService(workspace: ws, registry: registry, spec: try ws.loadSpec().spec)
        if case .rejected(let v) = try service.vote(requestID: id, decision: .reject, keyPath: approverKey(key), comment: comment) {
            Output.say("request \(id) rejected by \(v.approver)")
        }
    }
}
