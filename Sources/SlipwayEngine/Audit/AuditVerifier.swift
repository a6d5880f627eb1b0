import Foundation
import SlipwayStore

/// Checks the audit trail: the hash chain event by event, the chain head
/// kept outside the event table (so deleting the newest events shows), the
/// digest of every record an event describes (so editing a gate result, an
/// alias change, a model version, a validation report, a vote or an approval
/// request shows), every vote's signature, and that every deployment started
/// from an approval request had the valid votes behind it (``ApprovalRule``).
///
/// `slipway audit verify` runs ``verify()``; `status` and the console use
/// ``quickCheck()``, which continues from the last full verification and so
/// costs only the events added since.
public struct AuditVerifier: Sendable {
    let registry: any Registry
    /// Where the last verification's result is kept (`.slipway/audit-verified`).
    let statePath: String?

    public init(registry: any Registry, workspace: Workspace?) {
        self.registry = registry
        self.statePath = workspace.map { $0.stateDir + "/audit-verified" }
    }

    public struct Problem: Sendable, Hashable, Codable, CustomStringConvertible {
        public enum Kind: String, Sendable, Hashable, Codable {
            case altered, removed, reordered, headMissing, recordAltered, recordRemoved, recordUnaudited, signatureInvalid
            /// A deployment carried out an approval request without enough valid votes (or twice).
            case unapproved
        }
        public var kind: Kind
        /// The first event concerned.
        public var seq: Int64
        public var message: String
        public var description: String { message }
    }

    public struct Report: Sendable, Hashable, Codable {
        /// Events checked.
        public var events: Int64
        /// The newest event's seq and hash.
        public var headSeq: Int64
        public var headHash: String
        /// Record digests checked.
        public var records: Int
        public var problem: Problem?
        public var verifiedAt: Millis
        public var ok: Bool { problem == nil }
    }

    /// Failing verification, for the command line (exit 3).
    public struct Failed: SlipwayError {
        public var report: Report
        public var exitStatus: ExitStatus { .checkFailed }
        public var description: String { "the audit trail does not verify: " + (report.problem?.message ?? "") }
    }

    /// Checks everything. Never throws for tampering (that is the report's
    /// problem); throws when the registry cannot be read.
    public func verify() throws -> Report {
        var previous: (seq: Int64, hash: String)?
        var problem: Problem?
        var count: Int64 = 0
        var expectations: [(record: String, digest: String, seq: Int64)] = []
        var approvers: [[UInt8]: String] = [:]
        var approvals = ApprovalsSeen()
        var legacyAliases: Int64 = 0
        try registry.forEachAuditEvent(after: 0) { e in
            count += 1
            if let p = Self.chainProblem(e, previous: previous) { problem = p; return false }
            // Approval signatures, against the approvers in force when they were made.
            if e.kind == AuditKind.approversChanged.rawValue {
                approvers = Self.approvers(in: e.payload)
            } else if e.kind == AuditKind.approvalVoted.rawValue, let p = Self.signatureProblem(e, approvers: approvers) {
                problem = p
                return false
            }
            if let p = approvals.see(e, approvers: approvers) { problem = p; return false }
            if AuditKind(rawValue: e.kind)?.describesRecord == true,
               let key = Self.field("record", in: e.payload), let digest = Self.field("record_sha256", in: e.payload) {
                expectations.append((key, digest, e.seq))
            } else if e.kind == AuditKind.aliasChanged.rawValue {
                legacyAliases += 1
            }
            previous = (e.seq, e.hash)
            return true
        }
        let head = previous ?? (0, AuditChain.genesis)
        if problem == nil { problem = try headProblem(lastSeq: head.seq) }
        var checkedRecords = 0
        if problem == nil {
            let current = try registry.auditedRecordDigests()
            // A record that changes over its life (an approval request) is judged by its newest event.
            var newest: [String: Int] = [:]
            for (i, x) in expectations.enumerated() { newest[x.record] = i }
            expectations = expectations.enumerated().filter { newest[$0.element.record] == $0.offset }.map(\.element)
            for x in expectations {
                checkedRecords += 1
                guard let now = current[x.record] else {
                    problem = Problem(kind: .recordRemoved, seq: x.seq,
                                      message: "event \(x.seq) describes \(x.record), which is no longer in the registry")
                    break
                }
                if now != x.digest {
                    problem = Problem(kind: .recordAltered, seq: x.seq,
                                      message: "\(x.record) was altered after event \(x.seq) recorded it (its digest no longer matches)")
                    break
                }
            }
            // Promotions and votes exist only with their event: one without is forged.
            // (Alias changes recorded before events carried their record's digest
            // are the first rows of the table, one per such event, and are not judged.)
            if problem == nil {
                let described = Set(expectations.map(\.record))
                func id(_ key: String) -> Int64 { Int64(key.split(separator: "/").last ?? "") ?? 0 }
                // Requests made before they carried digests are the table's first rows.
                let firstDescribedRequest = described.filter { $0.hasPrefix("approval/") }.map(id).min() ?? .max
                if let forged = current.keys.filter({ key in
                    !described.contains(key) && (key.hasPrefix("vote/") || (key.hasPrefix("alias/") && id(key) > legacyAliases)
                                                 || (key.hasPrefix("approval/") && id(key) > firstDescribedRequest))
                }).sorted().first {
                    problem = Problem(kind: .recordUnaudited, seq: head.seq,
                                      message: "\(forged) is in the registry without the audit event that records it (added behind Slipway's back)")
                }
            }
        }
        let report = Report(events: count, headSeq: head.seq, headHash: head.hash, records: checkedRecords, problem: problem,
                            verifiedAt: SystemClock.nowMillis())
        save(report)
        return report
    }

    /// The chain's state for `status` and the console: the last full result,
    /// extended over the events added since (at most `budget` of them; more
    /// than that is reported as not verified rather than read on every call).
    public enum QuickState: Sendable, Hashable {
        case verified(headSeq: Int64)
        case broken(Problem)
        /// Never fully verified, or too many events since: run `slipway audit verify`.
        case unverified(events: Int64)
    }

    public func quickCheck(budget: Int64 = 50_000) throws -> QuickState {
        let latest = try registry.latestAuditSeq()
        // Never verified: a short trail is checked from its start now.
        guard let saved = load() ?? (latest <= budget ? Self.start : nil) else {
            return .unverified(events: latest)
        }
        if let p = saved.problem { return .broken(p) }
        if latest - saved.headSeq > budget { return .unverified(events: latest - saved.headSeq) }
        let (state, reached) = try extend(saved, slice: nil)
        if reached.headSeq != saved.headSeq { save(reached) }
        return state ?? .unverified(events: latest - saved.headSeq)
    }

    /// How far a verifier that keeps its own place (the console) has checked
    /// the chain: it starts from the first event, so an edit anywhere in the
    /// trail shows in a console opened after it.
    public struct Progress: Sendable {
        var checked = AuditVerifier.start
        public init() {}
    }

    /// The same rules as ``quickCheck(budget:)`` (the chain event by event,
    /// then the head witness), reached a slice at a time however long the
    /// trail: each call checks at most `slice` more events from `progress`
    /// and returns nil while events remain. Once at the head, each call
    /// costs only the events added since.
    public func checkStep(_ progress: inout Progress, slice: Int) throws -> QuickState? {
        // What the last full verification found (a record altered, a vote
        // that does not verify) stands until `audit verify` passes again.
        if let p = load()?.problem { return .broken(p) }
        let (state, reached) = try extend(progress.checked, slice: max(1, slice))
        progress.checked = reached
        return state
    }

    /// Where a trail never verified starts.
    static let start = Report(events: 0, headSeq: 0, headHash: AuditChain.genesis, records: 0, problem: nil, verifiedAt: 0)

    /// Checks the events after the saved result (all of them, or `slice`),
    /// then the head witness once the newest event is reached. Returns the
    /// verdict (nil: `slice` events checked, more remain) and how far the
    /// chain is verified now.
    func extend(_ saved: Report, slice: Int?) throws -> (QuickState?, Report) {
        // The event the last verification ended on must still be there, unchanged.
        var previous: (seq: Int64, hash: String)?
        let gone = Problem(kind: .removed, seq: saved.headSeq, message: "event \(saved.headSeq), verified before, is gone")
        let changed = Problem(kind: .altered, seq: saved.headSeq, message: "event \(saved.headSeq) changed since it was verified")
        if saved.headSeq > 0, slice != nil {
            guard let anchor = try registry.auditEvents(after: saved.headSeq - 1, limit: 1).first, anchor.seq == saved.headSeq else {
                return (.broken(gone), saved)
            }
            guard anchor.hash == saved.headHash else { return (.broken(changed), saved) }
            previous = (anchor.seq, anchor.hash)
        }
        var problem: Problem?
        var more = false
        if saved.headSeq > 0, slice == nil {
            // The anchor and every event after it in one pass (one read when few are new).
            var sawAnchor = false
            var anchorProblem: Problem?
            try registry.forEachAuditEvent(after: saved.headSeq - 1) { e in
                if !sawAnchor {
                    sawAnchor = true
                    if e.seq != saved.headSeq { anchorProblem = gone; return false }
                    if e.hash != saved.headHash { anchorProblem = changed; return false }
                    previous = (e.seq, e.hash)
                    return true
                }
                if let p = Self.chainProblem(e, previous: previous) { problem = p; return false }
                previous = (e.seq, e.hash)
                return true
            }
            if !sawAnchor { return (.broken(gone), saved) }
            if let anchorProblem { return (.broken(anchorProblem), saved) }
        } else if let slice {
            let batch = try registry.auditEvents(after: saved.headSeq, limit: slice)
            for e in batch {
                if let p = Self.chainProblem(e, previous: previous) { problem = p; break }
                previous = (e.seq, e.hash)
            }
            more = problem == nil && batch.count == slice
        } else {
            try registry.forEachAuditEvent(after: saved.headSeq) { e in
                if let p = Self.chainProblem(e, previous: previous) { problem = p; return false }
                previous = (e.seq, e.hash)
                return true
            }
        }
        if problem == nil && !more { problem = try headProblem(lastSeq: previous?.seq ?? 0, lastHash: previous?.hash) }
        if let problem { return (.broken(problem), saved) }
        var reached = saved
        if let previous, previous.seq != saved.headSeq {
            reached.events += previous.seq - saved.headSeq
            reached.headSeq = previous.seq
            reached.headHash = previous.hash
        }
        return (more ? nil : .verified(headSeq: previous?.seq ?? 0), reached)
    }

    // MARK: - Rules

    static func chainProblem(_ e: AuditEvent, previous: (seq: Int64, hash: String)?) -> Problem? {
        let expectedSeq = (previous?.seq ?? 0) + 1
        if e.seq > expectedSeq {
            return Problem(kind: .removed, seq: expectedSeq,
                           message: expectedSeq == e.seq - 1 ? "event \(expectedSeq) was removed" : "events \(expectedSeq)…\(e.seq - 1) were removed")
        }
        if e.seq < expectedSeq {
            return Problem(kind: .reordered, seq: e.seq, message: "event \(e.seq) appears out of order")
        }
        if e.prevHash != (previous?.hash ?? AuditChain.genesis) {
            return Problem(kind: .reordered, seq: e.seq,
                           message: "event \(e.seq) does not follow event \(e.seq - 1) (an event before it was altered, replaced or moved)")
        }
        if AuditChain.expectedHash(of: e) != e.hash {
            return Problem(kind: .altered, seq: e.seq, message: "event \(e.seq) was altered (its hash does not match its contents)")
        }
        return nil
    }

    /// Compares the newest event with the head kept in the store's second place.
    /// `lastHash`: the hash of event `lastSeq` as just read (not read again).
    func headProblem(lastSeq: Int64, lastHash: String? = nil) throws -> Problem? {
        guard let witness = try registry.auditHeadWitness() else {
            return Problem(kind: .headMissing, seq: lastSeq,
                           message: "the record of the chain head (kept outside the event table) is missing: the newest events cannot be vouched for")
        }
        if witness.seq > lastSeq {
            // The witness moves after each commit: events appended since the
            // table was read are there now, and the witness names one of them.
            if let e = try registry.auditEvents(after: witness.seq - 1, limit: 1).first, e.seq == witness.seq, e.hash == witness.hash {
                return nil
            }
            return Problem(kind: .removed, seq: lastSeq + 1,
                           message: witness.seq == lastSeq + 1 ? "event \(witness.seq), the newest, was removed"
                               : "events \(lastSeq + 1)…\(witness.seq), the newest, were removed")
        }
        if witness.seq > 0 {
            if witness.seq == lastSeq, let lastHash {
                return lastHash == witness.hash ? nil
                    : Problem(kind: .altered, seq: witness.seq, message: "event \(witness.seq) is not the one recorded as the chain head")
            }
            guard let e = try registry.auditEvents(after: witness.seq - 1, limit: 1).first, e.seq == witness.seq,
                  e.hash == witness.hash else {
                return Problem(kind: .altered, seq: witness.seq, message: "event \(witness.seq) is not the one recorded as the chain head")
            }
        }
        return nil
    }

    /// The approvers an `policy.approvers` event lists (key → name).
    static func approvers(in payload: String) -> [[UInt8]: String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: String],
              let text = object["approvers"] else { return [:] }
        var result: [[UInt8]: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "="), let key = try? SSHSig.PublicKey(line: String(line[line.index(after: eq)...])) else { continue }
            result[key.raw] = String(line[..<eq])
        }
        return result
    }

    static func signatureProblem(_ e: AuditEvent, approvers: [[UInt8]: String]) -> Problem? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(e.payload.utf8)) as? [String: String],
              let signed = object["signed_payload"], let armored = object["signature"] else {
            return Problem(kind: .signatureInvalid, seq: e.seq, message: "event \(e.seq) records a vote without its signed payload and signature")
        }
        do {
            let sig = try SSHSig.verify(armored: armored, message: Array(signed.utf8), namespace: ApprovalService.namespace)
            guard let name = approvers[sig.publicKey.raw] else {
                return Problem(kind: .signatureInvalid, seq: e.seq,
                               message: "event \(e.seq): the vote was signed by \(sig.publicKey.fingerprint), no approver at that time")
            }
            if name != e.actor {
                return Problem(kind: .signatureInvalid, seq: e.seq, message: "event \(e.seq): the vote is credited to \(e.actor) but signed by \(name)")
            }
            return nil
        } catch {
            return Problem(kind: .signatureInvalid, seq: e.seq, message: "event \(e.seq): the approval signature does not verify (\(error))")
        }
    }

    /// What the trail says about approval requests so far: enough to judge,
    /// when a deployment says it carries one out, whether the valid votes
    /// (by the rule every carrier applies) were there, and that it is the first.
    struct ApprovalsSeen {
        var requests: [Int64: (subject: ApprovalRule.Subject, required: Int)] = [:]
        var ballots: [Int64: [(ballot: ApprovalRule.Ballot, approvers: [[UInt8]: String])]] = [:]
        var carriedOutBy: [Int64: String] = [:]

        mutating func see(_ e: AuditEvent, approvers: [[UInt8]: String]) -> Problem? {
            switch e.kind {
            case AuditKind.approvalRequested.rawValue:
                guard let id = AuditVerifier.requestID(e.subject), let f = AuditVerifier.fields(e.payload),
                      let model = f["model"], let version = f["version"].flatMap(Int.init), let env = f["environment"] else { return nil }
                requests[id] = (ApprovalRule.Subject(requestID: id, model: model, version: version, environment: env, packageDigest: f["package"]),
                                f["required"].flatMap(Int.init) ?? 1)
            case AuditKind.approvalVoted.rawValue:
                guard let id = AuditVerifier.requestID(e.subject), let f = AuditVerifier.fields(e.payload),
                      let signed = f["signed_payload"], let signature = f["signature"] else { return nil }
                ballots[id, default: []].append((ApprovalRule.Ballot(approver: e.actor, signedPayload: signed, signature: signature), approvers))
            case AuditKind.deploymentStarted.rawValue:
                guard let f = AuditVerifier.fields(e.payload), let id = f["request"].flatMap(Int64.init) else { return nil }
                let what = "event \(e.seq): \(e.subject) (\(f["model"] ?? "?"):\(f["version"] ?? "?") → \(f["environment"] ?? "?"))"
                guard let request = requests[id] else {
                    return Problem(kind: .unapproved, seq: e.seq, message: "\(what) was started from approval request \(id), which the trail never recorded")
                }
                let s = request.subject
                guard f["model"] == s.model, f["version"] == String(s.version), f["environment"] == s.environment else {
                    return Problem(kind: .unapproved, seq: e.seq, message: "\(what) was started from approval request \(id), which asked for \(s.label)")
                }
                if let earlier = carriedOutBy[id] {
                    return Problem(kind: .unapproved, seq: e.seq, message: "\(what) was started from approval request \(id), already carried out by \(earlier)")
                }
                let tally = ApprovalRule.tally(ballots[id] ?? [], for: s)
                guard ApprovalRule.suffices(tally, required: request.required) else {
                    return Problem(kind: .unapproved, seq: e.seq,
                                   message: "\(what) was started from approval request \(id), which has \(tally.summary(required: request.required))")
                }
                carriedOutBy[id] = e.subject
            default: break
            }
            return nil
        }
    }

    /// The request id of an `approval/N` subject.
    static func requestID(_ subject: String) -> Int64? {
        subject.hasPrefix("approval/") ? Int64(subject.dropFirst("approval/".count)) : nil
    }

    /// A flat payload's fields.
    static func fields(_ payload: String) -> [String: String]? {
        (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: String]
    }

    /// A string field of a canonical flat JSON payload.
    static func field(_ name: String, in payload: String) -> String? {
        guard let start = payload.range(of: "\"\(name)\":\"") else { return nil }
        let rest = payload[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    // MARK: - The saved result

    func load() -> Report? {
        guard let statePath, let data = FileManager.default.contents(atPath: statePath) else { return nil }
        return try? JSONDecoder().decode(Report.self, from: data)
    }

    func save(_ report: Report) {
        guard let statePath, let data = try? JSONEncoder.sorted.encode(report) else { return }
        try? FileSystem.writeFile(statePath, data, mode: 0o600)
    }
}
