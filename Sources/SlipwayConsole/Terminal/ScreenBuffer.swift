import Foundation

/// Semantic colour roles; themes give them colours.
public enum ColorRole: String, Sendable, CaseIterable, Hashable, Codable {
    case background, foreground, muted, accent, selection, border, success, warning, error, series1, series2, series3
}

/// How a cell looks, in roles rather than colours.
public struct Style: Sendable, Hashable {
    public var fg: ColorRole
    public var bg: ColorRole
    public var bold: Bool
    public var reverse: Bool
    public var underline: Bool

    public init(fg: ColorRole = .foreground, bg: ColorRole = .background, bold: Bool = false, reverse: Bool = false, underline: Bool = false) {
        self.fg = fg
        self.bg = bg
        self.bold = bold
        self.reverse = reverse
        self.underline = underline
    }

    public static let plain = Style()
    public static let muted = Style(fg: .muted)
    public static let accent = Style(fg: .accent, bold: true)
    public static let border = Style(fg: .border)
    public static let selected = Style(fg: .foreground, bg: .selection, bold: true)
    public static let success = Style(fg: .success)
    public static let warning = Style(fg: .warning, bold: true)
    public static let error = Style(fg: .error, bold: true)
}

public struct Cell: Sendable, Hashable {
    public var text: String   // one grapheme; "" for the right half of a wide character
    public var style: Style

    public init(_ text: String = " ", _ style: Style = .plain) {
        self.text = text
        self.style = style
    }
}

/// A frame: a grid of cells that screens draw into; the renderer sends only
/// the cells that changed since the previous frame.
public struct ScreenBuffer: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var cells: [Cell]

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: Cell(), count: self.width * self.height)
    }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set { cells[y * width + x] = newValue }
    }

    /// Display width of a grapheme (wide CJK and emoji take two columns).
    /// (Independent of the locale, so tests and terminals agree.)
    public static func width(of ch: Character) -> Int {
        // Printable ASCII (most of every frame) takes one column, no look-up.
        if let a = ch.asciiValue { return a >= 0x20 && a != 0x7F ? 1 : 0 }
        guard let s = ch.unicodeScalars.first else { return 0 }
        let v = s.value
        if v < 0x20 || (0x7F..<0xA0).contains(v) { return 0 }
        // Box drawing, blocks, shapes, symbols, dingbats, arrows, braille (borders, bars,
        // charts): one column, none a mark; a following combining mark is still measured.
        if (0x2500...0x28FF).contains(v), ch.unicodeScalars.count == 1 { return 1 }
        switch s.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        return wideRanges.contains { $0.contains(v) } ? 2 : 1
    }

    static let wideRanges: [ClosedRange<UInt32>] = [0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
                                                    0xA000...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60,
                                                    0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x3FFFD]

    /// Whether every byte is printable ASCII: one column each, one character each.
    static func isPrintableASCII(_ text: some StringProtocol) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    public static func width(of text: some StringProtocol) -> Int {
        if isPrintableASCII(text) { return text.utf8.count }
        return text.reduce(0) { $0 + width(of: $1) }
    }

    /// Cell texts for printable ASCII, made once.
    static let asciiTexts: [String] = (0..<128).map { String(UnicodeScalar(UInt8($0))) }

    /// Writes text at (x, y), clipped to `maxWidth` columns (and the screen);
    /// returns the column after the last one written.
    @discardableResult
    public mutating func put(_ x: Int, _ y: Int, _ text: some StringProtocol, _ style: Style = .plain, maxWidth: Int? = nil) -> Int {
        guard y >= 0, y < height else { return x }
        let limit = min(width, x + (maxWidth ?? width))
        var col = x
        if Self.isPrintableASCII(text) {
            for byte in text.utf8 {
                if col + 1 > limit { break }
                if col >= 0 { self[col, y] = Cell(Self.asciiTexts[Int(byte)], style) }
                col += 1
            }
            return col
        }
        for ch in text {
            let w = Self.width(of: ch)
            if w == 0 { continue }
            if col + w > limit { break }
            if col >= 0 {
                self[col, y] = Cell(String(ch), style)
                if w == 2 { self[col + 1, y] = Cell("", style) }
            }
            col += w
        }
        return col
    }

    /// Fills a rectangle with a style (spaces).
    public mutating func fill(_ x: Int, _ y: Int, _ w: Int, _ h: Int, _ style: Style = .plain) {
        for yy in max(0, y)..<min(height, y + h) {
            for xx in max(0, x)..<min(width, x + w) { self[xx, yy] = Cell(" ", style) }
        }
    }

    /// Sets the style of existing cells (keeps their text).
    public mutating func restyle(_ x: Int, _ y: Int, _ w: Int, _ style: Style) {
        guard y >= 0, y < height else { return }
        for xx in max(0, x)..<min(width, x + w) { self[xx, y].style = style }
    }

    /// The text of the screen, one line per row, trailing spaces removed.
    public var text: String {
        (0..<height).map { y in
            var line = ""
            for x in 0..<width { line += self[x, y].text }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }
}
