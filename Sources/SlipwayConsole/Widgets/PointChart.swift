import Foundation

/// A chart of points against an x axis of labelled positions, in braille dots
/// (ASCII `o`): a metric against a swept param, one point per run.
extension Widgets {
    public struct ChartPoint: Sendable, Equatable {
        /// Where along the x axis, from 0 (left) to 1 (right).
        public var x: Double
        public var value: Double
        /// Drawn in the accent style (the selected row's run).
        public var highlighted: Bool

        public init(x: Double, value: Double, highlighted: Bool = false) {
            self.x = x
            self.value = value
            self.highlighted = highlighted
        }
    }

    /// The value range on the left, the points, an optional threshold line,
    /// the x labels under their positions (a label that would overlap the one
    /// before is left out) and the caption under them.
    public static func pointChart(_ b: inout ScreenBuffer, _ x: Int, _ y: Int, _ w: Int, _ h: Int, points: [ChartPoint],
                                  xLabels: [(at: Double, text: String)], xCaption: String, threshold: Double?, ascii: Bool) {
        let vs = points.map(\.value).filter(\.isFinite)
        guard h >= 4, !vs.isEmpty else { return }
        let range = chartRange(vs, threshold: threshold)
        let top = axisLabel(range.hi), bottom = axisLabel(range.lo)
        let axisW = max(top.count, bottom.count) + 1
        let plotW = w - axisW, chartH = h - 2
        guard plotW >= 8 else { return }
        let g = Glyphs(ascii: ascii)
        b.put(x, y, fit(top, axisW - 1, glyphs: g, alignRight: true) + (ascii ? "|" : "┤"), .muted)
        b.put(x, y + chartH - 1, fit(bottom, axisW - 1, glyphs: g, alignRight: true) + (ascii ? "|" : "┤"), .muted)
        for row in 1..<max(1, chartH - 1) { b.put(x + axisW - 1, y + row, ascii ? "|" : "│", .muted) }
        let px = x + axisW
        let dotsW = ascii ? plotW : plotW * 2, dotsH = ascii ? chartH : chartH * 4
        func dotRow(_ v: Double) -> Int { dotsH - 1 - Int(((v - range.lo) / (range.hi - range.lo) * Double(dotsH - 1)).rounded()) }
        func dotCol(_ f: Double) -> Int { Int((max(0, min(1, f)) * Double(dotsW - 1)).rounded()) }
        var dots = Array(repeating: Array(repeating: false, count: dotsW), count: dotsH)
        var hot = Set<Int>()  // cells holding a highlighted point: row * plotW + column
        for p in points where p.value.isFinite {
            let r = dotRow(p.value), c = dotCol(p.x)
            // A point is a 2×2 block of dots in braille, so one run reads as a mark, not a speck.
            let rows = ascii ? [r] : [r, r == 0 ? 1 : r - 1], cols = ascii ? [c] : [c, c == dotsW - 1 ? c - 1 : c + 1]
            for rr in rows { for cc in cols { dots[rr][cc] = true } }
            if p.highlighted { for rr in rows { for cc in cols { hot.insert((ascii ? rr : rr / 4) * plotW + (ascii ? cc : cc / 2)) } } }
        }
        let thresholdRow = threshold.flatMap { $0.isFinite ? dotRow($0) / (ascii ? 1 : 4) : nil }
        let bits: [[UInt32]] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]
        for cy in 0..<chartH {
            for cx in 0..<plotW {
                let style = hot.contains(cy * plotW + cx) ? Style.accent : Style(fg: .series1)
                if ascii {
                    if dots[cy][cx] { b.put(px + cx, y + cy, hot.contains(cy * plotW + cx) ? "@" : "o", style) }
                    else if thresholdRow == cy { b.put(px + cx, y + cy, "-", Style(fg: .warning)) }
                    continue
                }
                var code: UInt32 = 0
                for ry in 0..<4 { for rx in 0..<2 where dots[cy * 4 + ry][cx * 2 + rx] { code |= bits[ry][rx] } }
                if code != 0 { b.put(px + cx, y + cy, String(UnicodeScalar(0x2800 + code)!), style) }
                else if thresholdRow == cy { b.put(px + cx, y + cy, "┄", Style(fg: .warning)) }
            }
        }
        if let t = threshold, t.isFinite, let row = thresholdRow, plotW > 24 {
            let label = " threshold \(axisLabel(t)) "
            b.put(x + w - label.count, y + row, label, Style(fg: .warning))
        }
        // The x labels, each centred under its position, none overlapping.
        var free = 0
        for label in xLabels.sorted(by: { $0.at < $1.at }) {
            let text = TerminalText.oneLine(label.text)
            let width = ScreenBuffer.width(of: text)
            guard width <= plotW else { continue }
            let centre = ascii ? dotCol(label.at) : dotCol(label.at) / 2
            let start = max(0, min(plotW - width, centre - width / 2))
            guard start >= free else { continue }
            b.put(px + start, y + chartH, text, .muted)
            free = start + width + 1
        }
        let caption = TerminalText.oneLine(xCaption)
        b.put(px + max(0, (plotW - ScreenBuffer.width(of: caption)) / 2), y + chartH + 1, caption, .muted, maxWidth: plotW)
    }
}
