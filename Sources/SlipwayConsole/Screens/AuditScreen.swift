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
        let rows = s.visibleIndices.map { i -> (String, Style) in
            let e = snap.audit[i]
            let text = Widgets.fit(String(e.seq), 6, glyphs: g, alignRight: true) + " "
                + f.string(from: Date(timeIntervalSince1970: Double(e.timestamp) / 1000)) + " " + Widgets.fit(TerminalText.oneLine(e.actor), 10, glyphs: g) + " "
                + Widgets.fit(e.kind, 16, glyphs: g) + " " + Widgets.fit(TerminalText.oneLine(e.subject), 24, glyphs: g) + " " + TerminalText.oneLine(e.payload)
            return (text, e.kind.contains("interrupted") || e.payload.contains("\"failed\"") ? .warning : .plain)
        }
        let verified = snap.auditProblem == nil ? (snap.auditVerified ? " · chain verified" : " · verifying the chain…") : " · chain BROKEN"
        ListView.draw(&b, s, x: 0, y: top, w: s.width, h: h - (top - y), title: "Audit (\(snap.audit.count) newest\(verified))",
                      header: "   seq time           actor      kind             subject                  details", rows: rows)
    }
}
