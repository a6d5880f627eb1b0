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
    /// stay. A sequence never runs past the end of its line, so an unterminated
    /// one hides nothing after it. Invalid UTF-8 becomes U+FFFD.
    public static func sanitize(_ text: some StringProtocol) -> String {
        var s = Sanitizer()
        var out = s.feed(Array(text.utf8))
        out += s.finish()
        return String(decoding: out, as: UTF8.self)
    }

    /// The sanitizing rules as a byte stream filter, for output that arrives in
    /// chunks (`slipway logs`): linear in its input, whatever the line lengths,
    /// with only the state of an unfinished sequence carried between chunks.
    public struct Sanitizer: Sendable {
        enum State: Sendable { case normal, escape, csi, string, stringEscape, c2 }
        var state = State.normal
        /// Bytes of a UTF-8 character split across chunks.
        var partial: [UInt8] = []

        public init() {}

        /// Filters a chunk; the result is valid UTF-8 ending on a character boundary.
        public mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
            var raw: [UInt8] = []
            raw.reserveCapacity(bytes.count)
            for b in bytes { step(b, into: &raw) }
            return validUTF8(raw)
        }

        /// Ends the stream.
        public mutating func finish() -> [UInt8] {
            var raw: [UInt8] = []
            if state == .c2 { raw.append(0xC2) }
            state = .normal
            let rest = partial + raw
            partial = []
            return Array(String(decoding: rest, as: UTF8.self).utf8)
        }

        mutating func step(_ b: UInt8, into out: inout [UInt8]) {
            switch state {
            case .normal:
                switch b {
                case 0x1B: state = .escape
                case 0x09, 0x0A: out.append(b)
                case 0x0D: break // a lone carriage return would overwrite the line
                case 0x00..<0x20, 0x7F:
                    out.append(UInt8(ascii: "^"))
                    out.append(b == 0x7F ? 0x3F : b + 0x40)
                case 0xC2: state = .c2
                default: out.append(b)
                }
            case .c2:
                state = .normal
                if (0x80...0x9F).contains(b) {
                    // A C1 control (U+0080–U+009F; 0x9B is a one-byte CSI on some terminals).
                    out.append(contentsOf: Array("<\(String(b, radix: 16, uppercase: true))>".utf8))
                } else {
                    out.append(0xC2)
                    step(b, into: &out)
                }
            case .escape:
                switch b {
                case UInt8(ascii: "["): state = .csi
                case UInt8(ascii: "]"), UInt8(ascii: "P"), UInt8(ascii: "X"), UInt8(ascii: "^"), UInt8(ascii: "_"): state = .string
                case 0x0A: state = .normal; out.append(b)
                case 0x1B: state = .escape
                default:
                    // A two-byte escape such as ESC c (reset); a non-ASCII byte is kept.
                    state = .normal
                    if b >= 0x80 { step(b, into: &out) }
                }
            case .csi:
                if (0x40...0x7E).contains(b) { state = .normal } else if b == 0x0A { state = .normal; out.append(b) }
            case .string:
                if b == 0x07 { state = .normal } else if b == 0x1B { state = .stringEscape } else if b == 0x0A { state = .normal; out.append(b) }
            case .stringEscape:
                if b == UInt8(ascii: "\\") { state = .normal } else if b == 0x0A { state = .normal; out.append(b) } else if b != 0x1B { state = .string }
            }
        }

        /// Holds back an incomplete trailing character; replaces invalid bytes.
        mutating func validUTF8(_ raw: [UInt8]) -> [UInt8] {
            var bytes = partial + raw
            partial = []
            // Find where the last (possibly incomplete) character starts.
            var i = bytes.count - 1
            var back = 0
            while i >= 0, back < 4, bytes[i] & 0xC0 == 0x80 { i -= 1; back += 1 }
            if i >= 0 {
                let lead = bytes[i]
                let need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
                if need > bytes.count - i {
                    partial = Array(bytes[i...])
                    bytes.removeSubrange(i...)
                }
            }
            return Array(String(decoding: bytes, as: UTF8.self).utf8)
        }
    }
}
