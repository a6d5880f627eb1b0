import Foundation

/// A scrollable page of wrapped text over the body of the console: what Enter
/// opens on a tab (an audit event, a version, an eval row, a drift item, an
/// approval request) and the `?` help. Nothing is cut off: long lines wrap,
/// and the frame says which lines are shown and how many there are.
public struct Pager: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        public var text: String
        public var style: Style
        /// Continuation lines of a wrapped line start this many columns in.
        public var indent: Int

        public init(_ text: String, _ style: Style = .plain, indent: Int = 0) {
            self.text = text
            self.style = style
            self.indent = indent
        }
    }

    public var title: String
    public var lines: [Line]
    /// The first shown row of the wrapped text.
    public var scroll = 0

    public init(title: String, lines: [Line]) {
        self.title = title
        self.lines = lines
    }

    /// Where the pager is drawn: the whole body, under the header and tabs.
    static func frame(width: Int, height: Int) -> (x: Int, y: Int, w: Int, h: Int) { (0, 2, width, height - 4) }

    /// The text wrapped to the pager's width, with each row's style.
    func rows(width: Int) -> [(String, Style)] {
        lines.flatMap { l in TextLayout.wrap(TerminalText.oneLine(l.text), width: width, indent: l.indent).map { ($0, l.style) } }
    }

    static func textWidth(_ width: Int) -> Int { width - 4 }
    static func visibleRows(_ height: Int) -> Int { frame(width: 0, height: height).h - 2 }

    /// The largest useful scroll for a screen of this size.
    func maxScroll(width: Int, height: Int) -> Int {
        max(0, rows(width: Self.textWidth(width)).count - Self.visibleRows(height))
    }

    /// Moves the page for a key; returns false when the key closes the pager.
    mutating func key(_ key: Key, width: Int, height: Int) -> Bool {
        let page = max(1, Self.visibleRows(height) - 1)
        let last = maxScroll(width: width, height: height)
        switch key {
        case .escape, .char("q"), .enter: return false
        case .char("j"), .down: scroll += 1
        case .char("k"), .up: scroll -= 1
        case .pageDown, .ctrl("f"), .char(" "), .char("]"): scroll += page
        case .pageUp, .ctrl("b"), .char("["): scroll -= page
        case .char("g"), .home: scroll = 0
        case .char("G"), .end: scroll = last
        default: break
        }
        scroll = min(max(0, scroll), last)
        return true
    }

    static func render(_ b: inout ScreenBuffer, _ p: Pager, _ s: ConsoleState) {
        let f = frame(width: s.width, height: s.height)
        b.fill(f.x, f.y, f.w, f.h)
        Widgets.box(&b, f.x, f.y, f.w, f.h, title: TerminalText.oneLine(p.title), glyphs: s.glyphs, focused: true)
        let rows = p.rows(width: textWidth(s.width))
        let visible = visibleRows(s.height)
        let top = min(p.scroll, max(0, rows.count - visible))
        for (i, row) in rows.dropFirst(top).prefix(visible).enumerated() {
            b.put(f.x + 2, f.y + 1 + i, row.0, row.1, maxWidth: f.w - 4)
        }
        // Where the page is, and that there is more: always said.
        let more = rows.count > visible
        let position = more ? " lines \(top + 1)–\(min(rows.count, top + visible)) of \(rows.count)"
            + (top + visible < rows.count ? " · j/PgDn more" : " · end") + " · Esc closes " : " Esc closes "
        b.put(f.x + max(2, f.w - ScreenBuffer.width(of: position) - 2), f.y + f.h - 1, position, more ? .accent : .muted)
    }
}
