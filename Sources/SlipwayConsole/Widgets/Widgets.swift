import Foundation

/// Box drawing, bars and charts, in Unicode or plain ASCII.
public struct Glyphs: Sendable {
    public var ascii: Bool

    public var h: String { ascii ? "-" : "─" }
    public var v: String { ascii ? "|" : "│" }
    public var tl: String { ascii ? "+" : "┌" }
    public var tr: String { ascii ? "+" : "┐" }
    public var bl: String { ascii ? "+" : "└" }
    public var br: String { ascii ? "+" : "┘" }
    public var barFull: String { ascii ? "#" : "█" }
    public var barEmpty: String { ascii ? "." : "░" }
    public var ellipsis: String { ascii ? "~" : "…" }

    public func symbol(_ s: StageStatusSymbol) -> String {
        switch s {
        case .pending: return ascii ? "o" : "○"
        case .running: return ascii ? "*" : "●"
        case .succeeded: return ascii ? "+" : "✓"
        case .failed: return ascii ? "x" : "✗"
        case .cached: return ascii ? "=" : "≡"
        case .cancelled: return ascii ? "-" : "⊘"
        case .interrupted: return "!"
        }
    }
}

public enum StageStatusSymbol: String { case pending, running, succeeded, failed, cached, cancelled, interrupted }

public enum Widgets {
    /// A bordered box with a title in the top edge.
    public static func box(_ b: inout ScreenBuffer, _ x: Int, _ y: Int, _ w: Int, _ h: Int, title: String, glyphs g: Glyphs, focused: Bool = false) {
        guard w >= 2, h >= 2 else { return }
        let style = focused ? Style(fg: .accent) : Style.border
        b.put(x, y, g.tl, style)
        b.put(x + w - 1, y, g.tr, style)
        b.put(x, y + h - 1, g.bl, style)
        b.put(x + w - 1, y + h - 1, g.br, style)
        for xx in (x + 1)..<(x + w - 1) {
            b.put(xx, y, g.h, style)
            b.put(xx, y + h - 1, g.h, style)
        }
        for yy in (y + 1)..<(y + h - 1) {
            b.put(x, yy, g.v, style)
            b.put(x + w - 1, yy, g.v, style)
        }
        if !title.isEmpty { b.put(x + 2, y, " \(title) ", focused ? Style.accent : Style(fg: .foreground, bold: true), maxWidth: w - 4) }
    }

    /// `████████░░░░ 64%`
    public static func progress(_ fraction: Double, width: Int, glyphs g: Glyphs) -> String {
        let f = max(0, min(1, fraction.isFinite ? fraction : 0))
        let filled = Int((f * Double(width)).rounded())
        return String(repeating: g.barFull, count: filled) + String(repeating: g.barEmpty, count: width - filled)
    }

    /// A one-line chart of the last `width` values.
    public static func sparkline(_ values: [Double], width: Int, ascii: Bool) -> String {
        let vs = Array(values.suffix(width)).filter(\.isFinite)
        guard let lo = vs.min(), let hi = vs.max() else { return "" }
        let levels = ascii ? Array("_.-=+*#%@") : Array("▁▂▃▄▅▆▇█")
        return String(vs.map { v in
            let t = hi > lo ? (v - lo) / (hi - lo) : 0.5
            return levels[min(levels.count - 1, Int(t * Double(levels.count - 1) + 0.5))]
        })
    }

    /// A line chart with its axes labelled: the value range on the left (the
    /// top and bottom of the plotted range), and along the bottom the first
    /// and last x labels with a caption between them (`versions`, `runs`).
    public static func labeledLineChart(_ b: inout ScreenBuffer, _ x: Int, _ y: Int, _ w: Int, _ h: Int, values: [Double],
                                        threshold: Double?, ascii: Bool, xFirst: String, xLast: String, xCaption: String) {
        let vs = values.filter(\.isFinite)
        guard h >= 3, !vs.isEmpty else {
            lineChart(&b, x, y, w, h, values: values, threshold: threshold, ascii: ascii)
            return
        }
        let range = chartRange(vs, threshold: threshold)
        let top = axisLabel(range.hi), bottom = axisLabel(range.lo)
        let axisW = max(top.count, bottom.count) + 1
        guard w > axisW + 8 else {
            lineChart(&b, x, y, w, h, values: values, threshold: threshold, ascii: ascii)
            return
        }
        let chartH = h - 1
        let edge = ascii ? "|" : "┤"
        b.put(x, y, fit(top, axisW - 1, glyphs: Glyphs(ascii: ascii), alignRight: true) + edge, .muted)
        b.put(x, y + chartH - 1, fit(bottom, axisW - 1, glyphs: Glyphs(ascii: ascii), alignRight: true) + edge, .muted)
        for row in 1..<max(1, chartH - 1) { b.put(x + axisW - 1, y + row, ascii ? "|" : "│", .muted) }
        lineChart(&b, x + axisW, y, w - axisW, chartH, values: values, threshold: threshold, ascii: ascii)
        // The threshold line says what it is, at its right end.
        if let t = threshold, t.isFinite, w - axisW > 16 {
            let dotsH = ascii ? chartH : chartH * 4
            let row = dotsH - 1 - Int(((t - range.lo) / (range.hi - range.lo) * Double(dotsH - 1)).rounded())
            let label = " threshold \(axisLabel(t)) "
            b.put(x + w - label.count, y + (ascii ? row : row / 4), label, Style(fg: .warning))
        }
        // The x axis: first and last labels at the ends, the caption in the middle.
        let plotW = w - axisW
        b.put(x + axisW, y + chartH, xFirst, .muted, maxWidth: plotW)
        let mid = x + axisW + max(xFirst.count + 2, (plotW - xCaption.count) / 2)
        if mid + xCaption.count < x + w - xLast.count - 1 { b.put(mid, y + chartH, xCaption, .muted) }
        if xLast != xFirst, plotW > xFirst.count + xLast.count + 2 { b.put(x + w - xLast.count, y + chartH, xLast, .muted) }
    }

    /// An axis value to three significant digits: 0.00251361 reads 0.00251.
    static func axisLabel(_ v: Double) -> String {
        guard v.isFinite, v != 0 else { return Gates.format(v) }
        if abs(v) >= 1000 || abs(v) < 0.001 { return String(format: "%.3g", v) }
        var s = String(format: "%.3g", v)
        if s.contains("e") { s = Gates.format(v) }
        return s
    }

    /// The value range a chart plots: the values and the threshold, never empty.
    static func chartRange(_ vs: [Double], threshold: Double?) -> (lo: Double, hi: Double) {
        var lo = vs.min()!, hi = vs.max()!
        if let t = threshold, t.isFinite { lo = min(lo, t); hi = max(hi, t) }
        if hi == lo { hi = lo + 1 }
        return (lo, hi)
    }

    /// A line chart in braille dots (2 × 4 dots a cell), with an optional
    /// horizontal threshold line; ASCII draws `*` points and `-` for the threshold.
    public static func lineChart(_ b: inout ScreenBuffer, _ x: Int, _ y: Int, _ w: Int, _ h: Int, values: [Double],
                                 threshold: Double?, ascii: Bool) {
        let vs = values.filter(\.isFinite)
        guard w > 0, h > 0, !vs.isEmpty else { return }
        let (lo, hi) = chartRange(vs, threshold: threshold)
        let dotsW = ascii ? w : w * 2, dotsH = ascii ? h : h * 4
        var dots = Array(repeating: Array(repeating: false, count: dotsW), count: dotsH)
        func row(_ v: Double) -> Int { dotsH - 1 - Int(((v - lo) / (hi - lo) * Double(dotsH - 1)).rounded()) }
        var thresholdRow: Int?
        if let t = threshold { thresholdRow = row(t) }
        let n = vs.count
        var previous: (Int, Int)?
        for dx in 0..<dotsW {
            let i = n == 1 ? 0 : Int((Double(dx) / Double(max(1, dotsW - 1)) * Double(n - 1)).rounded())
            let r = row(vs[i])
            if let (px, pr) = previous, px == dx - 1 {
                for rr in min(pr, r)...max(pr, r) { dots[rr][dx] = true }
            }
            dots[r][dx] = true
            previous = (dx, r)
        }
        if ascii {
            for cy in 0..<h {
                for cx in 0..<w {
                    if dots[cy][cx] { b.put(x + cx, y + cy, "*", Style(fg: .series1)) }
                    else if thresholdRow == cy { b.put(x + cx, y + cy, "-", Style(fg: .warning)) }
                }
            }
            return
        }
        let bits: [[UInt32]] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]
        for cy in 0..<h {
            for cx in 0..<w {
                var code: UInt32 = 0
                for ry in 0..<4 { for rx in 0..<2 where dots[cy * 4 + ry][cx * 2 + rx] { code |= bits[ry][rx] } }
                if code != 0 {
                    b.put(x + cx, y + cy, String(UnicodeScalar(0x2800 + code)!), Style(fg: .series1))
                } else if let tr = thresholdRow, tr / 4 == cy {
                    b.put(x + cx, y + cy, "┄", Style(fg: .warning))
                }
            }
        }
    }

    /// Pads or cuts text to exactly `width` columns.
    public static func fit(_ text: String, _ width: Int, glyphs g: Glyphs, alignRight: Bool = false) -> String {
        let w = ScreenBuffer.width(of: text)
        if w <= width {
            let pad = String(repeating: " ", count: width - w)
            return alignRight ? pad + text : text + pad
        }
        var out = "", used = 0
        for ch in text {
            let cw = ScreenBuffer.width(of: ch)
            if used + cw > width - 1 { break }
            out.append(ch)
            used += cw
        }
        return out + g.ellipsis + String(repeating: " ", count: max(0, width - used - 1))
    }

    /// A time ahead, in words: "in 7 days", "in 5 hours", "in 12 min", "now".
    public static func inWords(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        func n(_ v: Int, _ unit: String) -> String { "in \(v) \(unit)\(v == 1 ? "" : "s")" }
        if s <= 0 { return "now" }
        if s < 90 { return n(s, "second") }
        if s < 5400 { return "in \(Int((Double(s) / 60).rounded())) min" }
        if s < 129_600 { return n(Int((Double(s) / 3600).rounded()), "hour") }
        return n(Int((Double(s) / 86400).rounded()), "day")
    }

    /// "approved", "rejected": a vote's decision as something done.
    public static func pastTense(_ d: ApprovalVoteRecord.Decision) -> String {
        switch d {
        case .approve: return "approved"
        case .reject: return "rejected"
        }
    }

    public static func age(_ ms: Millis, now: Millis) -> String {
        let s = max(0, (now - ms) / 1000)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86400 { return "\(s / 3600)h" }
        return "\(s / 86400)d"
    }
}
