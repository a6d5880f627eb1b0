import Foundation

/// The Approvals tab: pending requests first, with the evidence an approver signs off on.
enum ApprovalsScreen {
    static func render(_ b: inout ScreenBuffer, _ s: ConsoleState, y: Int, h: Int) {
        let g = s.glyphs
        let snap = s.snapshot
        // The request, its state and its votes always fit; the age, then the requester, give way.
        // The version and environment column is as wide as its widest entry (within reason), so "production" is never cut when there is room.
        let targetW = min(48, max(21, s.visibleIndices.map { ScreenBuffer.width(of: TerminalText.oneLine("\(snap.approvals[$0].model):\(snap.approvals[$0].version) → \(snap.approvals[$0].environment)")) }.max() ?? 0))
        let layout = ColumnLayout([Column("id", 5, priority: 0), Column("status", 10, priority: 0), Column("version → environment", targetW, priority: 0),
                                   Column("requester", 10, priority: 2), Column("age", 4, priority: 3, alignRight: true),
                                   Column("votes", 7, priority: 0), Column("risk", 12, priority: 0, flexible: true)], width: s.width - 2)
        let rows = s.visibleIndices.map { i -> (String, Style) in
            let r = snap.approvals[i]
            let votes = snap.approvalVotes[r.id] ?? []
            let approvals = votes.filter { $0.decision == .approve }.count
            let text = layout.line(["#\(r.id)", r.status.rawValue, TerminalText.oneLine("\(r.model):\(r.version) → \(r.environment)"),
                                    TerminalText.oneLine(r.requester), Widgets.age(r.createdAt, now: snap.now), "\(approvals) of \(r.requiredApprovals)",
                                    TerminalText.oneLine(r.reasonList.joined(separator: "; "))], glyphs: g)
            let style: Style = r.status == .pending ? Style(fg: .accent) : r.status == .approved ? .success : r.status == .rejected ? .error : .muted
            return (text, style)
        }
        let listH = max(5, min(h / 2, rows.count + 3))
        let pending = snap.pendingApprovals
        ListView.draw(&b, s, x: 0, y: y, w: s.width, h: listH, title: "Approvals (\(pending) pending)",
                      header: layout.header(glyphs: g), rows: rows)
        let lowerY = y + listH, lowerH = h - listH
        Widgets.box(&b, 0, lowerY, s.width, lowerH, title: "evidence", glyphs: g)
        guard let r = s.selectedRequest else {
            let hint = snap.approvals.isEmpty
                ? "Nothing to sign off. High-risk promotions (policy: in slipway.yaml) wait here for a named approver."
                : ""
            for (i, l) in TextLayout.wrap(hint, width: s.width - 4).prefix(max(0, lowerH - 2)).enumerated() { b.put(2, lowerY + 1 + i, l, .muted) }
            return
        }
        // Wrapped, so a gate's arithmetic is read to its verdict; what does not fit is said (Enter shows all).
        let lines = evidence(r, s).flatMap { e in TextLayout.wrap(TerminalText.oneLine(e.0), width: s.width - 4, indent: 2).map { ($0, e.1) } }
        let room = max(0, lowerH - 2)
        for (i, (text, style)) in lines.prefix(room).enumerated() {
            b.put(2, lowerY + 1 + i, text, style, maxWidth: s.width - 4)
        }
        if lines.count > room {
            let more = " \(lines.count - room) more line\(lines.count - room == 1 ? "" : "s") · Enter shows all "
            b.put(max(2, s.width - ScreenBuffer.width(of: more) - 2), lowerY + lowerH - 1, more, .accent)
        }
    }

    /// What an approver reads about a request: who signs, the risk, the params
    /// diff, the eval comparison with gate arithmetic, data and commits, the
    /// package, and the votes so far (the pane, and the dialog Enter opens).
    static func evidence(_ r: ApprovalRequestRecord, _ s: ConsoleState, full: Bool = false) -> [(String, Style)] {
        let snap = s.snapshot
        var out: [(String, Style)] = []
        out.append(("Signing as: " + (snap.signer ?? "no key found (start the console with --key FILE)"),
                    snap.signer?.contains("no approver") == true ? .error : .muted))
        if let why = snap.voteBlocks[r.id] { out.append(("You cannot vote: " + why, .error)) }
        out.append(("requested by \(r.requester) \(Widgets.age(r.createdAt, now: snap.now)) ago: "
                    + (r.reason.flatMap { $0.isEmpty ? nil : $0 } ?? "(no reason given)"), .plain))
        if let o = snap.requestOrigins[r.id] {
            out.append(("from " + TerminalText.oneLine(o.summary) + " · commit " + (o.commit.map { String($0.prefix(7)) } ?? "none") + (o.dirty ? " (dirty)" : ""), .plain))
            if full { for c in o.causes.dropFirst() { out.append(("  " + c, .muted)) } }
        }
        for reason in r.reasonList { out.append(("risk: " + reason, .warning)) }
        if let object = try? JSONSerialization.jsonObject(with: Data(r.evidence.utf8)) as? [String: Any] {
            for p in object["params"] as? [[String: Any]] ?? [] {
                out.append(("param \(p["param"] as? String ?? ""): \(p["live"] as? String ?? "—") → \(p["candidate"] as? String ?? "—")", .plain))
            }
            for m in object["metrics"] as? [[String: Any]] ?? [] {
                // Each side named, and the change.
                let live = (m["live"] as? Double).map(Gates.format) ?? "—", cand = (m["candidate"] as? Double).map(Gates.format) ?? "—"
                let delta = (m["delta"] as? Double).map { " (\(MetricComparison.signed($0)))" } ?? ""
                let sides = object["live"] is String ? "production \(live) → candidate \(cand)\(delta)" : "candidate \(cand) (nothing live to compare)"
                out.append(("metric \(m["metric"] as? String ?? ""): \(sides)" + ((m["gate"] as? String).map { " · gate: \($0)" } ?? ""), .plain))
            }
            for d in object["data"] as? [String] ?? [] { out.append(("data " + d, .plain)) }
            for d in object["outputs"] as? [String] ?? [] { out.append(("output " + d, .muted)) }
            for c in object["commits"] as? [String] ?? [] { out.append(("commit " + c, .muted)) }
            if let p = object["package"] as? String {
                out.append(("package " + p + (r.packageDigest == p ? " (the digest the votes sign)" : ""), .muted))
                if full {
                    let check = s.packageChecks["\(r.model):\(r.version)"]
                    out.append(("verification: " + (check?.text ?? "checking…"), check.map { $0.ok ? .success : .error } ?? .muted))
                }
            }
        }
        for v in snap.approvalVotes[r.id] ?? [] {
            out.append(("\(v.decision == .approve ? (s.ascii ? "+" : "✓") : (s.ascii ? "x" : "✗")) \(v.approver) \(Widgets.pastTense(v.decision)) \(Widgets.age(v.at, now: snap.now)) ago" + (v.comment.isEmpty ? " (no comment)" : ": \(v.comment)"),
                        v.decision == .approve ? .success : .error))
        }
        return out
    }

    /// Each environment as a lane, in order (dev → staging → production):
    /// live and stable version, the canary's bar with step and traffic, the
    /// analysis values with their conditions and a small chart over time;
    /// below, the selected lane's history of changes.
}
