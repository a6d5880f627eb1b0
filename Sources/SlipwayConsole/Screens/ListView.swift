import Foundation

/// A list with a header line inside a box, scrolled to keep the selection visible.
enum ListView {
    /// `rows` are (text, style) for each visible list index (already filtered).
    static func draw(_ b: inout ScreenBuffer, _ s: ConsoleState, x: Int, y: Int, w: Int, h: Int, title: String,
                     header: String, rows: [(String, Style)], focused: Bool = true) {
        Widgets.box(&b, x, y, w, h, title: title, glyphs: s.glyphs, focused: focused)
        b.put(x + 1, y + 1, Widgets.fit(header, w - 2, glyphs: s.glyphs), Style(fg: .muted, bold: true))
        let visible = h - 3
        let offset = ConsoleView.scrollOffset(row: s.row, visible: visible)
        if rows.isEmpty {
            b.put(x + 2, y + 2, s.filter.isEmpty ? "(nothing here yet)" : "(no row matches /\(s.filter))", .muted, maxWidth: w - 4)
        }
        for i in 0..<min(visible, max(0, rows.count - offset)) {
            let (text, style) = rows[offset + i]
            let selected = offset + i == s.row && focused
            b.put(x + 1, y + 2 + i, Widgets.fit(text, w - 2, glyphs: s.glyphs), selected ? .selected : style)
        }
        if rows.count > visible {
            b.put(x + w - 12, y + h - 1, " \(offset + 1)-\(min(rows.count, offset + visible))/\(rows.count) ", .muted)
        }
    }
}
