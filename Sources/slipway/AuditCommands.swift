import ArgumentParser
import Foundation
import SlipwayEngine

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", 
        abstract: "The audit trail: every run, stage result, gate decision, registration and promotion.",
        subcommands: [List.self, Verify.self, Export.self],
        defaultSubcommand: List.self)

    struct EventJSON: Encodable {
        var seq: Int64
        var time: String?
        var actor: String
        var kind: String
        var subject: String
        var payload: String
        var prevHash: String
        var hash: String
        /// For a signed event: the exact text signed, and the armored SSHSIG signature.
        var signedPayload: String?
        var signature: String?

        init(_ e: AuditEvent) {
            seq = e.seq; time = Output.iso(e.timestamp); actor = e.actor; kind = e.kind; subject = e.subject
            payload = e.payload; prevHash = e.prevHash; hash = e.hash
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls",
            abstract: "List audit events, oldest first.",
            discussion: """
            --since takes a time (2026-11-24, '2026-11-24 03:00', 2026-11-24T03:00:00Z) or an age (30m, 24h, 7d). \
            --subject takes a subject (run/12) or a prefix ending in / (run/12/ for every stage of run 12). \
            Kinds: \(AuditKind.allCases.map(\.rawValue).joined(separator: ", ")).
            """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only events at or after this time.") var since: String?
        @Option(help: "Only events of this kind (repeatable).") var kind: [String] = []
        @Option(help: "Only events about this subject.") var subject: String?
        @Option(help: "The newest N matching events.") var limit: Int?
        @Flag(help: "Print as JSON.") var json = false

        func validate() throws {
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
            let known = AuditKind.allCases.map(\.rawValue)
            for k in kind where !known.contains(k) {
                let hint = Suggestions.closest(to: k, in: known).map { " (did you mean '\($0)'?)" } ?? ""
                throw ValidationError("no audit event kind '\(k)'\(hint); kinds: \(known.joined(separator: ", "))")
            }
        }

        func run() throws {
            let (_, registry) = try global.open()
            let time = try since.map { text -> Millis in
                if text.contains(where: \.isLetter), let seconds = Durations.seconds(from: text) { return SystemClock.nowMillis() - Millis(seconds * 1000) }
                guard let t = TimeParsing.millis(text) else {
                    throw Failure(status: .usage, message: "'\(text)' is not a time or an age: write 2026-11-24, '2026-11-24 03:00', 24h or 7d")
                }
                return t
            }
            let events = try registry.auditEvents(matching: AuditQuery(since: time, kinds: kind.isEmpty ? nil : Set(kind),
                                                                       subject: subject, limit: limit))
            if json { try Output.json(events.map(EventJSON.init)); return }
            if events.isEmpty { Output.say("No audit events match."); return }
            let rows = events.map { e in
                [String(e.seq), Output.timestamp(e.timestamp), Output.safe(e.actor), Output.safe(e.kind), Output.safe(e.subject),
                 Output.safe(e.payload)]
            }
            Output.say(Output.table(["seq", "time", "actor", "kind", "subject", "details"], rows))
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "export", 
            abstract: "Write every audit event, one JSON object a line (for an auditor or a SIEM).",
            discussion: """
            A signed event (an approval vote) carries the exact signed text (signed_payload) beside its armored \
            SSHSIG signature, so it can be checked with `ssh-keygen -Y verify -n slipway-approval` alone (docs/audit.md).
            """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The format: jsonl.") var format: String = "jsonl"

        func validate() throws {
            if format != "jsonl" { throw ValidationError("--format: only jsonl is supported") }
        }

        func run() throws {
            let (_, registry) = try global.open()
            let e = JSONEncoder.canonical
            var buffer = Data()
            try registry.forEachAuditEvent(after: 0) { event in
                var line = EventJSON(event)
                if let object = try? JSONSerialization.jsonObject(with: Data(event.payload.utf8)) as? [String: String] {
                    line.signedPayload = object["signed_payload"]
                    line.signature = object["signature"]
                }
                buffer.append(try e.encode(line))
                buffer.append(10)
                if buffer.count > 1 << 20 { FileHandle.standardOutput.write(buffer); buffer.removeAll(keepingCapacity: true) }
                return true
            }
            FileHandle.standardOutput.write(buffer)
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "verify", 
            abstract: "Re-check the audit trail: the hash chain, its head, and the records its events describe.",
            discussion: "Exit status 0 when everything holds; 3 with the first event that was altered, removed or reordered.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print as JSON.") var json = false

        struct ReportJSON: Encodable {
            var ok: Bool
            var events: Int64
            var headSeq: Int64
            var headHash: String
            var records: Int
            var problem: AuditVerifier.Problem?
        }

        func run() throws {
            let (ws, registry) = try global.open()
            let report = try AuditVerifier(registry: registry, workspace: ws).verify()
            if json {
                try Output.json(ReportJSON(ok: report.ok, events: report.events, headSeq: report.headSeq, headHash: report.headHash,
                                           records: report.records, problem: report.problem))
            } else if report.ok {
                Output.say("audit trail verified: \(report.events) events, chain head \(report.headSeq) (\(report.headHash.prefix(12))), \(report.records) records")
            }
            if !report.ok {
                throw Failure(status: .checkFailed, message: "the audit trail does not verify: " + (report.problem?.message ?? ""))
            }
        }
    }
}
