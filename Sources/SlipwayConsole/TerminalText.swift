/// SlipwayConsole: the full-screen console.
///
/// Layers, one way: a terminal device (ncursesw, or in memory for tests) →
/// a screen buffer of cells, diffed so only changed cells are written →
/// screens, pure functions of ``ConsoleState`` → ``ConsoleState/update(_:)``,
/// which turns events into a new state and effects. Registry reads happen on
/// a background thread (``ConsoleLoader``). It uses the engine and the store,
/// never the command line.
@_exported import SlipwayEngine

/// Rules that make outside text (stage logs, params, paths) safe to show.
public enum TerminalText {
    /// Makes text from outside safe to print on a terminal.
    ///
    /// Escape sequences (CSI, OSC, DCS, …) are removed whole, so a stage cannot
    /// retitle the window, write the clipboard or move the cursor; other control
    /// characters become visible (`^G`, `\u{9B}` as `<9B>`). Tabs and newlines
    /// stay. Invalid UTF-8 has already become U+FFFD when the bytes were decoded.
    public static func sanitize(_ text: some StringProtocol) -> String {
        var out = String.UnicodeScalarView()
        var scalars = Array(text.unicodeScalars)[...]
        while let s = scalars.first {
            scalars.removeFirst()
            switch s.value {
            case 0x1B: // ESC
                guard let next = scalars.first else { continue }
                switch next {
                case "[": // CSI: parameters and intermediates, then a final byte 0x40–0x7E
                    scalars.removeFirst()
                    while let c = scalars.first {
                        scalars.removeFirst()
                        if (0x40...0x7E).contains(c.value) { break }
                    }
                case "]", "P", "X", "^", "_": // OSC, DCS, SOS, PM, APC: up to BEL or ST
                    scalars.removeFirst()
                    while let c = scalars.first {
                        scalars.removeFirst()
                        if c.value == 0x07 { break }
                        if c.value == 0x1B, scalars.first == "\\" { scalars.removeFirst(); break }
                    }
                default: // a two-byte escape such as ESC c (reset)
                    scalars.removeFirst()
                }
            case 0x09, 0x0A:
                out.append(s)
            case 0x0D:
                // A lone carriage return would overwrite the line: drop it.
                continue
            case 0x00..<0x20, 0x7F:
                out.append(contentsOf: "^".unicodeScalars)
                out.append(Unicode.Scalar(UInt8(s.value == 0x7F ? 0x3F : s.value + 0x40)))
            case 0x80..<0xA0:
                // C1 controls (0x9B is a one-byte CSI on some terminals).
                let hex = String(s.value, radix: 16, uppercase: true)
                out.append(contentsOf: "<\(hex)>".unicodeScalars)
            default:
                out.append(s)
            }
        }
        return String(out)
    }
}
