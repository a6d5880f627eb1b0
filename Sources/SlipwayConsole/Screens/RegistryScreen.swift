import Foundation

enum RegistryScreen {
    static func render(_ b: inout ScreenBuffer, _ s: ConsoleState, y: Int, h: Int) {
        let g = s.glyphs
        let snap = s.snapshot
        let model = snap.versions.first?.model ?? snap.models.first?.name
        let live = snap.models.first { $0.name == model }?.environments ?? [:]
        let rows = s.visibleIndices.map { i -> (String, Style) in
            let v = snap.versions[i]
            let envs = live.filter { $0.value == v.version }.map(\.key).sorted().joined(separator: ",")
            let text = Widgets.fit(":\(v.version)", 6, glyphs: g) + " " + Widgets.fit("run \(v.runID)", 9, glyphs: g) + " "
                + Widgets.fit(v.gitCommit.map { String($0.prefix(7)) } ?? "—", 8, glyphs: g) + " "
                + Widgets.fit(Widgets.age(v.createdAt, now: snap.now), 5, glyphs: g, alignRight: true) + " "
                + Widgets.fit(v.createdBy, 10, glyphs: g) + " " + Widgets.fit(String(v.artifactDigest.prefix(12)), 12, glyphs: g) + " " + envs
            return (text, envs.isEmpty ? .plain : Style(fg: .success, bold: true))
        }
        let leftW = max(60, s.width * 58 / 100)
        let title = model.map { "Registry · \($0) (\(snap.models.count) model\(snap.models.count == 1 ? "" : "s"))" } ?? "Registry"
        ListView.draw(&b, s, x: 0, y: y, w: leftW, h: h, title: title,
                      header: "version run       commit     age by         digest       live", rows: rows)
        Widgets.box(&b, leftW, y, s.width - leftW, h, title: "lineage", glyphs: g)
        guard let v = s.selectedVersion else {
            b.put(leftW + 2, y + 2, model == nil ? "No model yet: a successful run registers one." : "", .muted, maxWidth: s.width - leftW - 4)
            return
        }
        var yy = y + 1
        let w = s.width - leftW - 4
        func line(_ text: String, _ style: Style = .plain) { if yy < y + h - 1 { b.put(leftW + 2, yy, TerminalText.oneLine(text), style, maxWidth: w); yy += 1 } }
        line("\(v.model):\(v.version)", .accent)
        line("run \(v.runID) · pipeline \(v.pipeline)")
        line("commit \(v.gitCommit ?? "—")")
        line("by \(v.createdBy) · \(Widgets.age(v.createdAt, now: snap.now)) ago")
        line("digest \(v.artifactDigest.prefix(24))")
        if let tag = v.imageTag { line("image \(tag) · .slipway/images/\(v.model)") }
        if !v.description.isEmpty { line(v.description) }
        let envs = snap.environments.map { "\($0) \(live[$0].map { ":\($0)" } ?? "—")" }.joined(separator: "  ")
        if !envs.isEmpty { line("live: " + envs) }
        if v.version == snap.versions.first?.version {
            if !snap.versionParams.isEmpty { line("params", .muted) }
            for (k, val) in snap.versionParams.sorted(by: { $0.key < $1.key }) { line("  \(k) = \(val)") }
            if !snap.versionMetrics.isEmpty { line("metrics", .muted) }
            for (k, val) in snap.versionMetrics.sorted(by: { $0.key < $1.key }) { line("  \(k) = \(Gates.format(val))") }
            if !snap.versionDatasets.isEmpty { line("inputs", .muted) }
            for ds in snap.versionDatasets { line("  \(ds.stage): \(ds.path) \(ds.hash.prefix(12))") }
        } else {
            line("(params and metrics: `slipway models show \(v.model):\(v.version)`)", .muted)
        }
    }

    /// The whole version, as Enter opens it.
    static func versionLines(_ v: ModelVersionRecord, _ s: ConsoleState) -> [Pager.Line] {
        let snap = s.snapshot
        let live = snap.models.first { $0.name == v.model }?.environments ?? [:]
        var out: [Pager.Line] = [
            .init("run \(v.runID) · pipeline \(v.pipeline)"),
            .init("commit \(v.gitCommit ?? "—")"),
            .init("by \(v.createdBy) · \(Widgets.age(v.createdAt, now: snap.now)) ago"),
            .init("digest \(v.artifactDigest)", .plain, indent: 2),
        ]
        if let tag = v.imageTag { out.append(.init("image \(tag)")) }
        if !v.description.isEmpty { out.append(.init(v.description, .plain, indent: 2)) }
        let envs = snap.environments.map { "\($0) \(live[$0].map { ":\($0)" } ?? "—")" }.joined(separator: "  ")
        if !envs.isEmpty { out.append(.init("live: " + envs)) }
        if v.version == snap.versions.first?.version {
            if !snap.versionParams.isEmpty { out.append(.init("params", .accent)) }
            for (k, val) in snap.versionParams.sorted(by: { $0.key < $1.key }) { out.append(.init("  \(k) = \(val)", .plain, indent: 4)) }
            if !snap.versionMetrics.isEmpty { out.append(.init("metrics", .accent)) }
            for (k, val) in snap.versionMetrics.sorted(by: { $0.key < $1.key }) { out.append(.init("  \(k) = \(Gates.format(val))")) }
            if !snap.versionDatasets.isEmpty { out.append(.init("inputs", .accent)) }
            for ds in snap.versionDatasets { out.append(.init("  \(ds.stage): \(ds.path) \(ds.hash)", .plain, indent: 4)) }
        } else {
            out.append(.init("params and metrics: `slipway models show \(v.model):\(v.version)`", .muted))
        }
        return out
    }
}
