import Foundation

/// The Deployments tab: one lane per environment.
enum DeploymentsScreen {
    static func render(_ b: inout ScreenBuffer, _ s: ConsoleState, y: Int, h: Int) {
        let g = s.glyphs
        let snap = s.snapshot
        let lanes = s.visibleIndices.map { snap.lanes[$0] }
        guard !lanes.isEmpty else {
            Widgets.box(&b, 0, y, s.width, h, title: "Deployments", glyphs: g)
            if let problem = snap.lanesProblem {
                b.put(2, y + 2, TerminalText.oneLine(problem), .error, maxWidth: s.width - 4)
                return
            }
            b.put(2, y + 2, snap.lanes.isEmpty ? "slipway.yaml declares no environments (environments: {dev: {}, staging: {}, production: {}})."
                  : "(no environment matches /\(s.filter))", .muted, maxWidth: s.width - 4)
            return
        }
        let n = lanes.count
        let gap = 3
        let laneW = max(24, (s.width - gap * (n - 1)) / n)
        let laneH = max(10, min(h - 6, 15))
        for (i, lane) in lanes.enumerated() {
            let x = i * (laneW + gap)
            guard x + laneW <= s.width else { break }
            let selected = i == s.row
            let title = lane.environment + (lane.auto ? " · auto" : "") + (lane.hasCanary ? " · canary" : "")
            Widgets.box(&b, x, y, laneW, laneH, title: TerminalText.oneLine(title), glyphs: g, focused: selected)
            if i < n - 1 { b.put(x + laneW, y + laneH / 2, g.ascii ? " ->" : " → ", .muted) }
            drawLane(&b, lane, s, x: x + 2, y: y + 1, w: laneW - 4, h: laneH - 2)
        }
        let lowerY = y + laneH, lowerH = h - laneH
        guard lowerH >= 3, let lane = s.selectedLane ?? lanes.last else { return }
        Widgets.box(&b, 0, lowerY, s.width, lowerH, title: "\(lane.environment): history", glyphs: g)
        var lines: [(String, Style)] = lane.unfinishedCalls.map { ($0.summary, $0.interrupted ? .error : .accent) }
        if let d = lane.deployment {
            // A finished deployment that a later change (a rollback) overtook is not the headline any more.
            let overtaken = !d.state.isActive && lane.history.contains { $0.at > d.updatedAt }
            lines.append(((overtaken ? "earlier: " : "") + "deployment \(d.id): \(d.model):\(d.version) \(d.state.rawValue.replacingOccurrences(of: "_", with: " ")) · \(d.detail)",
                          overtaken ? .muted : d.state == .rolledBack || d.state == .failed ? .error : d.state == .paused ? .warning : .plain))
        }
        // One row per change, its columns apart: who (several approvers) never runs into why.
        let columns = ColumnLayout([Column("when", 8, priority: 0), Column("change", 11, priority: 0), Column("by", 16, priority: 0),
                                    Column("why", 20, priority: 0, flexible: true)], width: s.width - 4)
        for e in lane.history {
            let change = "\(e.previousVersion.map { ":\($0)" } ?? "—") → \(e.version.map { ":\($0)" } ?? "none")"
            lines.append((columns.line([Widgets.age(e.at, now: snap.now) + " ago", change, TerminalText.oneLine(e.actor), TerminalText.oneLine(e.reason)], glyphs: g),
                          e.why.undoesPrevious ? .warning : .plain))
        }
        if lines.isEmpty { lines.append(("nothing has been live here yet: `slipway promote MODEL:VERSION --to \(lane.environment)` (or p in the Registry tab)", .muted)) }
        for (k, (text, style)) in lines.prefix(lowerH - 2).enumerated() {
            b.put(2, lowerY + 1 + k, TerminalText.oneLine(text), style, maxWidth: s.width - 4)
        }
    }

    static func drawLane(_ b: inout ScreenBuffer, _ lane: DeploymentLane, _ s: ConsoleState, x: Int, y: Int, w: Int, h: Int) {
        let g = s.glyphs
        let now = s.snapshot.now
        var yy = y
        func line(_ text: String, _ style: Style = .plain) {
            guard yy < y + h else { return }
            b.put(x, yy, TerminalText.oneLine(text), style, maxWidth: w)
            yy += 1
        }
        guard let model = lane.model else {
            line("nothing live yet", .muted)
            if let r = lane.requires { line("requires: \(r)", .muted) }
            return
        }
        // The live version is what on-call needs: the model's name gives way, never the version.
        let version = ":" + (lane.live.map(String.init) ?? "none")
        let room = w - 8 - version.count
        let name = ScreenBuffer.width(of: TerminalText.oneLine(model)) <= room ? TerminalText.oneLine(model)
            : Widgets.fit(TerminalText.oneLine(model), max(2, room), glyphs: g)
        line("live    \(name)\(version)", Style(fg: .foreground, bold: true))
        if let image = lane.image { line("image   \(image)", .muted) }
        if let since = lane.since { line("since   \(Widgets.age(since, now: now)) ago · \(lane.by ?? "")", .muted) }
        if let why = lane.reason { line("why     \(why)", lane.history.first?.why.undoesPrevious == true ? .warning : .muted) }
        for c in lane.unfinishedCalls {
            line("call    \(c.callID)", c.interrupted ? .error : .accent)
            line("        " + (c.interrupted ? "INTERRUPTED: driver gone" : "in flight"), c.interrupted ? .error : .accent)
        }
        if let d = lane.deployment, d.state.isActive {
            let steps = d.stepList
            if d.state == .watching {
                line("watch   :\(d.version) live · rollback_when until \(d.watchUntil.map { Widgets.age(now, now: $0) } ?? "?")", .accent)
            } else {
                let barW = max(6, w - 22)
                line("canary  :\(d.version) " + Widgets.progress(Double(d.traffic) / 100, width: barW, glyphs: g) + " \(d.traffic)%",
                     d.state == .paused ? .warning : .accent)
                line("        step \(d.step + 1)/\(steps.count) · stable :\(d.stableVersion.map(String.init) ?? "—")", .muted)
                if d.state == .paused {
                    line("        PAUSED · c go on · x abort", .warning)
                } else if !s.snapshot.agentRunning {
                    // Nothing advances the canary without an agent: said, with how to start one.
                    line("        no agent: analysis waits", .warning)
                    line("        start it: slipway agent", .warning)
                } else if let due = d.dueAt, due > now {
                    line("        analysis in \(Widgets.age(now, now: due))", .muted)
                }
            }
        } else if let d = lane.deployment, d.state == .rolledBack || d.state == .failed || d.state == .aborted {
            line("last    :\(d.version) \(d.state.rawValue.replacingOccurrences(of: "_", with: " "))", d.state == .aborted ? .warning : .error)
        }
        // The analysis: the latest value of each metric, its condition, and its values over time.
        var order: [String] = []
        var series: [String: [AnalysisSampleRecord]] = [:]
        for sample in lane.samples {
            if series[sample.metric] == nil { order.append(sample.metric) }
            series[sample.metric, default: []].append(sample)
        }
        for metric in order {
            guard let last = series[metric]?.last, yy < y + h else { continue }
            let style: Style = last.verdict == "fail" ? .error : last.verdict == "pass" ? .success : .warning
            let value = last.value.map(Gates.format) ?? "no data"
            let spark = Widgets.sparkline(series[metric]!.compactMap(\.value), width: 8, ascii: g.ascii)
            line(Widgets.fit("\(metric) \(value)", max(8, w - 10), glyphs: g) + " " + spark, style)
            line("  " + last.condition, .muted)
        }
        if let target = lane.rollbackTarget, yy < y + h {
            yy = max(yy, y + h - 1)
            line("r: roll back to :\(target)", .muted)
        }
    }

    /// Enter on a lane: its deployment's analysis, measurement by measurement
    /// (what `slipway deployments ENV --explain` lists), the deciding one
    /// marked; bounded to `maxLines` (the newest values, up to the deciding
    /// ones, are kept; the rest is one command away).
    static func measurementsDialog(_ lane: DeploymentLane, maxLines: Int = 40) -> Dialog {
        let e = DeploymentExplanation(environment: lane.environment, deployment: lane.deployment, measurements: lane.samples)
        guard let d = e.deployment else {
            return Dialog(title: "\(lane.environment): no deployment yet", lines: ["Nothing has been deployed here."], purpose: .info, buttons: ["Close"])
        }
        var lines = [TerminalText.oneLine(d.detail)]
        var rows = e.rows
        if rows.isEmpty { lines.append("no analysis measurements") }
        if let last = rows.lastIndex(where: \.deciding) { rows = Array(rows[...last]) }
        let fit = max(1, (maxLines - 2) / 3)
        if rows.count > fit {
            lines.append("… \(rows.count - fit) earlier values: slipway deployments \(TerminalText.oneLine(lane.environment)) --explain")
            rows = Array(rows.suffix(fit))
        }
        for r in rows {
            lines.append((r.deciding ? "▶ " : "  ") + TerminalText.oneLine("\(r.place) \(r.metric) \(r.value) · \(r.verdict) · \(r.explanation)"))
            lines.append("    " + TerminalText.oneLine("query \(r.query)"))
            lines.append("    " + TerminalText.oneLine("answer \(r.answer.prefix(160))"))
        }
        return Dialog(title: TerminalText.oneLine("Analysis of deployment \(d.id): \(d.label) (\(d.state.rawValue.replacingOccurrences(of: "_", with: " ")))"),
                      lines: lines, purpose: .info, buttons: ["Close"])
    }
}
