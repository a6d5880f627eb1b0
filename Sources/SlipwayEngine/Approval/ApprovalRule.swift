import Foundation

/// What counts as a valid approval: the one rule, applied by whoever carries
/// out an approved promotion (``ApprovalService/carryOut(_:actor:reason:)``)
/// and by `slipway audit verify` (``AuditVerifier``). A request's status is
/// never trusted alone.
///
/// A vote counts when its SSHSIG signature (namespace `slipway-approval`)
/// verifies over its signed text with the key of a listed approver, that
/// approver is the one the vote is credited to, and the signed text names
/// exactly the request, model, version, environment and package digest being
/// promoted, with the decision `approve`. Each approver counts once.
public enum ApprovalRule {
    /// The promotion a request asks for, as the approvers signed it.
    public struct Subject: Sendable, Hashable {
        public var requestID: Int64
        public var model: String
        public var version: Int
        public var environment: String
        public var packageDigest: String?

        public init(requestID: Int64, model: String, version: Int, environment: String, packageDigest: String?) {
            self.requestID = requestID
            self.model = model
            self.version = version
            self.environment = environment
            self.packageDigest = packageDigest
        }

        public init(_ r: ApprovalRequestRecord) {
            self.init(requestID: r.id, model: r.model, version: r.version, environment: r.environment, packageDigest: r.packageDigest)
        }

        public var label: String { "\(model):\(version) → \(environment)" }
    }

    /// One vote as recorded: who it is credited to, the text and its signature.
    public struct Ballot: Sendable, Hashable {
        public var approver: String
        public var signedPayload: String
        public var signature: String

        public init(approver: String, signedPayload: String, signature: String) {
            self.approver = approver
            self.signedPayload = signedPayload
            self.signature = signature
        }

        public init(_ v: ApprovalVoteRecord) {
            self.init(approver: v.approver, signedPayload: v.payload, signature: v.signature)
        }
    }

    /// Why a vote does not count.
    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// The approver who validly approved `subject` with this ballot, given
    /// the approvers' keys (raw public key → name) in force.
    public static func approver(of ballot: Ballot, for subject: Subject, approvers: [[UInt8]: String]) -> Result<String, Invalid> {
        let sig: SSHSig.Signature
        do {
            sig = try SSHSig.verify(armored: ballot.signature, message: Array(ballot.signedPayload.utf8), namespace: ApprovalService.namespace)
        } catch {
            return .failure(Invalid(description: "\(ballot.approver)'s vote: the signature does not verify"))
        }
        guard let name = approvers[sig.publicKey.raw] else {
            return .failure(Invalid(description: "\(ballot.approver)'s vote is signed by \(sig.publicKey.fingerprint), no listed approver"))
        }
        guard name == ballot.approver else {
            return .failure(Invalid(description: "a vote credited to \(ballot.approver) is signed by \(name)"))
        }
        guard let data = ballot.signedPayload.data(using: .utf8),
              let fields = (try? JSONSerialization.jsonObject(with: data)) as? [String: String] else {
            return .failure(Invalid(description: "\(name)'s signed text is not a vote"))
        }
        let expected = ["request": String(subject.requestID), "model": subject.model, "version": String(subject.version),
                        "environment": subject.environment, "package": subject.packageDigest ?? "", "decision": "approve"]
        for (key, value) in expected.sorted(by: { $0.key < $1.key }) where fields[key] != value {
            return .failure(Invalid(description: "\(name) signed \(key) \(fields[key].map { "'\($0)'" } ?? "nothing"), not '\(value)'"))
        }
        return .success(name)
    }

    /// The distinct approvers behind a subject, and why the other votes do not count.
    public struct Tally: Sendable, Hashable {
        public var approvers: [String] = []
        public var invalid: [String] = []

        /// `N valid approvals of the M required`, with the reasons others do not count.
        public func summary(required: Int) -> String {
            "\(approvers.count) valid approval\(approvers.count == 1 ? "" : "s") of the \(required) required"
                + (invalid.isEmpty ? "" : " (" + invalid.joined(separator: "; ") + ")")
        }
    }

    /// Counts the ballots, each judged against the approvers in force for it.
    public static func tally(_ ballots: [(ballot: Ballot, approvers: [[UInt8]: String])], for subject: Subject) -> Tally {
        var t = Tally()
        for (ballot, keys) in ballots {
            switch approver(of: ballot, for: subject, approvers: keys) {
            case .success(let name): if !t.approvers.contains(name) { t.approvers.append(name) }
            case .failure(let why): t.invalid.append(why.description)
            }
        }
        return t
    }

    public static func tally(_ ballots: [Ballot], for subject: Subject, approvers: [[UInt8]: String]) -> Tally {
        tally(ballots.map { ($0, approvers) }, for: subject)
    }

    /// Whether the approvers suffice (at least one is always needed).
    public static func suffices(_ t: Tally, required: Int) -> Bool { t.approvers.count >= max(required, 1) }
}
