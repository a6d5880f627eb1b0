import Foundation

enum AuditScreen {
    static func render(_ b: inout ScreenBuffer, _ s: ConsoleState, y: Int, h: Int) {
        let g = s.glyphs
        let snap = s.snapshot
        var top = y
        if let problem = snap.auditProblem {
            b.fill(0, y, s.width, 1, Style(fg: .background, bg: .error, bold: true))
            b.put(1, y, "AUDIT CHAIN DOES NOT VERIFY: \(problem)", Style(fg: .background, bg: .error, bold: true, reverse: true), maxWidth: s.width - 2)
            top += 1
        }
        let f = DateFormatter()
        f.dateFormat = "MM-dd HH:mm:ss"
        // Who did what to what stays whole; the time, then the sequence number, give way to the details (Enter shows all).
        let layout = ColumnLayout([Column("seq", 6, priority: 2, alignRight: true), Column("time", 14, priority: 3),
                                   Column("actor", 11, priority: 0), Column("kind", 19, priority: 0), Column("subject", 16, priority: 1),
                                   Column("details", 24, priority: 0, flexible: true)], width: s.width - 2)
        let rows = s.visibleIndices.map { i -> (String, Style) in
            let e = snap.audit[i]
            let text = layout.line([String(e.seq), f.string(from: Date(timeIntervalSince1970: Double(e.timestamp) / 1000)), TerminalText.oneLine(e.actor),
                                    TerminalText.oneLine(e.kind), TerminalText.oneLine(e.subject), TerminalText.oneLine(e.payload)], glyphs: g)
            return (text, e.kind.contains("interrupted") || e.payload.contains("\"failed\"") ? .warning : .plain)
        }
        let verified = snap.auditProblem == nil ? (snap.auditVerified ? " · chain verified" : " · verifying the chain…") : " · chain BROKEN"
        ListView.draw(&b, s, x: 0, y: top, w: s.width, h: h - (top - y), title: "Audit (\(snap.audit.count) newest\(verified))",
                      header: layout.header(glyphs: g), rows: rows)
    }

    /// The whole event, as Enter opens it: every payload field on its own
    /// lines (a vote's signed payload and its armored signature line by line).
    static func eventLines(_ e: AuditEvent) -> [Pager.Line] {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        f.timeZone = TimeZone(identifier: "UTC")
        var out: [Pager.Line] = [
            .init("seq      \(e.seq)", .plain, indent: 9),
            .init("time     \(f.string(from: Date(timeIntervalSince1970: Double(e.timestamp) / 1000))) UTC", .plain, indent: 9),
            .init("actor    \(e.actor)", .plain, indent: 9),
            .init("kind     \(e.kind)", .plain, indent: 9),
            .init("subject  \(e.subject)", .plain, indent: 9),
            .init(""), .init("payload", .accent),
        ]
        if let data = e.payload.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            for key in object.keys.sorted() {
                let value = object[key]!
                let text: String
                if let str = value as? String { text = str }
                else if let d = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) { text = String(decoding: d, as: UTF8.self) }
                else { text = "\(value)" }
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                if lines.count == 1 { out.append(.init("  \(key): \(text)", .plain, indent: 4)) }
                else {
                    out.append(.init("  \(key):", .muted))
                    for l in lines { out.append(.init("    " + l, .plain, indent: 4)) }
                }
            }
        } else {
            out.append(.init("  " + e.payload, .plain, indent: 2))
        }
        out += [.init(""), .init("hash     \(e.hash)", .muted, indent: 9), .init("previous \(e.prevHash)", .muted, indent: 9)]
        return out
    }
}
