import Foundation

/// Wrapping and sideways slicing by display width, so long text is read in
/// full rather than cut at the pane's edge.
public enum TextLayout {
    /// Word-wraps `text` to `width` columns; a word longer than the width is
    /// broken. Continuation lines start with `indent` spaces. Never empty.
    public static func wrap(_ text: String, width: Int, indent: Int = 0) -> [String] {
        let width = max(4, width)
        let pad = String(repeating: " ", count: min(indent, width / 2))
        // The first line keeps its indentation (a traceback's `  File …`).
        let lead = String(text.prefix { $0 == " " }.prefix(width / 2))
        var out: [String] = [], line = lead, used = lead.count, hasText = false
        func flush() { out.append(line); line = pad; used = pad.count; hasText = false }
        for word in text.dropFirst(text.prefix { $0 == " " }.count).split(separator: " ", omittingEmptySubsequences: false) {
            let w = ScreenBuffer.width(of: word)
            if hasText && used + 1 + w <= width { line += " " + word; used += 1 + w; continue }
            if !hasText && used + w <= width { line += word; used += w; hasText = !word.isEmpty || used > pad.count; continue }
            if hasText { flush() }
            if used + w <= width { line += word; used += w; hasText = true; continue }
            // A word wider than the line: broken where it reaches the edge.
            for ch in word {
                let cw = ScreenBuffer.width(of: ch)
                if used + cw > width { flush() }
                line.append(ch)
                used += cw
                hasText = true
            }
        }
        out.append(line)
        return out.map { l in var l = l; while l.hasSuffix(" ") { l.removeLast() }; return l }
    }

    /// The columns `from ..< from + width` of `text` (for scrolling sideways).
    public static func slice(_ text: String, from: Int, width: Int) -> String {
        var out = "", col = 0
        for ch in text {
            let cw = ScreenBuffer.width(of: ch)
            if col >= from + width { break }
            if col >= from { out.append(ch) }
            col += cw
        }
        return out
    }
}
