
/// An event to append: who did what to which thing, with its evidence.
public struct AuditDraft: Sendable, Hashable {
    public var actor: String
    public var kind: AuditKind
    public var subject: String
    /// Canonical JSON with the details (see ``AuditChain/payload(_:)``).
    public var payload: String

    public init(actor: String, kind: AuditKind, subject: String, payload: String = "{}") {
        self.actor = actor
        self.kind = kind
        self.subject = subject
        self.payload = payload
    }
}

/// One event of the append-only log. `hash` covers every field and the hash
/// of the event before it, so altering or removing any event breaks the chain
/// from that point on.
public struct AuditEvent: Codable, Sendable, Hashable {
    public var seq: Int64
    public var timestamp: Millis
    public var actor: String
    public var kind: String
    public var subject: String
    public var payload: String
    public var prevHash: String
    public var hash: String

    /// The kind, when this build knows it (a newer Slipway may log kinds this one does not).
    public var knownKind: AuditKind? { AuditKind(rawValue: kind) }

    public init(seq: Int64, timestamp: Millis, actor: String, kind: String, subject: String, payload: String, prevHash: String, hash: String) {
        self.seq = seq
        self.timestamp = timestamp
        self.actor = actor
        self.kind = kind
        self.subject = subject
        self.payload = payload
        self.prevHash = prevHash
        self.hash = hash
    }
}

/// The rules of the chain, shared by every store implementation.
public enum AuditChain {
    /// The `prevHash` of the first event.
    public static let genesis = String(repeating: "0", count: 64)

    /// SHA-256 (hex) of `slipway-audit/1\n` followed by each field as
    /// `<utf-8 length>:<field>\n`: seq, timestamp, actor, kind, subject,
    /// payload, prevHash. Built in one byte buffer: verifying a million
    /// events is mostly this.
    public static func hash(seq: Int64, timestamp: Millis, actor: String, kind: String,
                            subject: String, payload: String, prevHash: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64 + actor.utf8.count + kind.utf8.count + subject.utf8.count + payload.utf8.count + prevHash.utf8.count)
        bytes.append(contentsOf: "slipway-audit/1\n".utf8)
        func field(_ text: String) {
            bytes.append(contentsOf: String(text.utf8.count).utf8)
            bytes.append(UInt8(ascii: ":"))
            bytes.append(contentsOf: text.utf8)
            bytes.append(UInt8(ascii: "\n"))
        }
        field(String(seq)); field(String(timestamp)); field(actor); field(kind); field(subject); field(payload); field(prevHash)
        return Digests.sha256Hex(bytes)
    }

    public static func expectedHash(of e: AuditEvent) -> String {
        hash(seq: e.seq, timestamp: e.timestamp, actor: e.actor, kind: e.kind,
             subject: e.subject, payload: e.payload, prevHash: e.prevHash)
    }

    /// Canonical JSON for a flat payload (keys sorted, strings escaped).
    /// The same text as the fields' ``SpecValue/canonical`` form, written
    /// directly: a run restoring 1,000 stages from the cache composes 1,000.
    /// Written as UTF-8 bytes and made text once: appending to a `String`
    /// piece by piece costs more than the quoting.
    public static func payload(_ fields: [String: String]) -> String {
        payload(ascending: fields.sorted(by: { $0.key < $1.key }).map { ($0.key, $0.value) })
    }

    /// ``payload(_:)`` for fields already in ascending key order, nil values
    /// left out: the same text, without a dictionary made and sorted per event.
    public static func payload(ascending fields: KeyValuePairs<String, String?>) -> String {
        payload(ascending: fields.compactMap { field in field.value.map { (field.key, $0) } })
    }

    private static func payload(ascending fields: [(key: String, value: String)]) -> String {
        precondition(zip(fields, fields.dropFirst()).allSatisfy { $0.key < $1.key }, "payload keys out of order or repeated")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(fields.reduce(2) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 })
        bytes.append(UInt8(ascii: "{"))
        for (i, field) in fields.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            SpecValue.appendQuoted(field.key, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            SpecValue.appendQuoted(field.value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    public enum Problem: Sendable, Hashable, CustomStringConvertible {
        case altered(seq: Int64)
        case brokenLink(seq: Int64)
        case missing(afterSeq: Int64, foundSeq: Int64)

        public var description: String {
            switch self {
            case .altered(let s): return "event \(s) was altered (its hash does not match its contents)"
            case .brokenLink(let s): return "event \(s) does not follow the event before it (an event was altered or removed)"
            case .missing(let a, let f): return "events \(a + 1)…\(f - 1) are missing"
            }
        }
    }

    /// Checks events in sequence order, continuing from `previous` (nil at the
    /// start of the log). Returns the first problem found.
    public static func verify(_ events: [AuditEvent], after previous: AuditEvent? = nil) -> Problem? {
        var prev = previous
        for e in events {
            if let p = prev, e.seq != p.seq + 1 { return .missing(afterSeq: p.seq, foundSeq: e.seq) }
            if prev == nil, e.seq != 1 { return .missing(afterSeq: 0, foundSeq: e.seq) }
            if e.prevHash != (prev?.hash ?? genesis) { return .brokenLink(seq: e.seq) }
            if expectedHash(of: e) != e.hash { return .altered(seq: e.seq) }
            prev = e
        }
        return nil
    }
}

/// A filter over the audit log; nil fields match everything.
public struct AuditQuery: Sendable, Hashable {
    public var since: Millis?
    public var kinds: Set<String>?
    /// A subject, or a prefix of one ending in `/` (`run/12/` matches every stage of run 12).
    public var subject: String?
    /// The newest `limit` matching events.
    public var limit: Int?

    public init(since: Millis? = nil, kinds: Set<String>? = nil, subject: String? = nil, limit: Int? = nil) {
        self.since = since
        self.kinds = kinds
        self.subject = subject
        self.limit = limit
    }
}
