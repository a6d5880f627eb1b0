/// Rules that make outside text (stage logs, params, paths, names, comments) safe to show.
public enum TerminalText {
    /// Makes text from outside safe to print on a terminal, and honest.
    ///
    /// Nothing in it acts on the terminal and nothing in it hides: control
    /// characters are shown in caret notation (`ESC` as `^[`, so `acc\e[2J`
    /// shows as `acc^[[2J`, BEL as `^G`), C1 controls by their byte (`<9B>`),
    /// and characters that draw nothing (zero-width, bidi overrides, line
    /// separators) by their code point (`<U+202E>`). Two different texts
    /// therefore never look the same. Tabs and newlines stay; CR LF is a line
    /// end and a lone CR starts a new line (it would otherwise write over this
    /// one). Invalid UTF-8 becomes U+FFFD.
    public static func sanitize(_ text: some StringProtocol) -> String {
        var s = Sanitizer()
        var out = s.feed(Array(text.utf8))
        out += s.finish()
        return String(decoding: out, as: UTF8.self)
    }

    /// The same for one field of a line (a name, a comment, a table cell):
    /// newlines and tabs are shown too (`^J`, `^I`), so a field can never
    /// start a line of its own that passes for another record.
    public static func oneLine(_ text: some StringProtocol) -> String {
        var s = Sanitizer(oneLine: true)
        var out = s.feed(Array(text.utf8))
        out += s.finish()
        return String(decoding: out, as: UTF8.self)
    }

    /// The sanitizing rules as a byte stream filter, for output that arrives in
    /// chunks (`slipway logs`): linear in its input, whatever the line lengths,
    /// with only a pending CR or a split character carried between chunks.
    public struct Sanitizer: Sendable {
        enum State: Sendable { case normal, c2, cr }
        var state = State.normal
        let oneLine: Bool
        /// Bytes of a UTF-8 character split across chunks.
        var partial: [UInt8] = []

        public init(oneLine: Bool = false) { self.oneLine = oneLine }

        /// Filters a chunk; the result is valid UTF-8 ending on a character boundary.
        public mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
            var raw: [UInt8] = []
            raw.reserveCapacity(bytes.count)
            for b in bytes { step(b, into: &raw) }
            return Self.showInvisible(validUTF8(raw))
        }

        /// Ends the stream.
        public mutating func finish() -> [UInt8] {
            var raw: [UInt8] = []
            if state == .c2 { raw.append(0xC2) }
            if state == .cr { raw.append(0x0A) }
            state = .normal
            let rest = partial + raw
            partial = []
            return Self.showInvisible(Array(String(decoding: rest, as: UTF8.self).utf8))
        }

        static func caret(_ b: UInt8, into out: inout [UInt8]) {
            out.append(UInt8(ascii: "^"))
            out.append(b == 0x7F ? 0x3F : b + 0x40)
        }

        mutating func step(_ b: UInt8, into out: inout [UInt8]) {
            switch state {
            case .normal:
                switch b {
                case 0x09, 0x0A: if oneLine { Self.caret(b, into: &out) } else { out.append(b) }
                case 0x0D: if oneLine { Self.caret(b, into: &out) } else { state = .cr }
                case 0x00..<0x20, 0x7F: Self.caret(b, into: &out)  // ESC included: `^[`
                case 0xC2: state = .c2
                default: out.append(b)
                }
            case .cr:
                // CR LF ends a line; a lone CR starts a new one.
                state = .normal
                out.append(0x0A)
                if b != 0x0A { step(b, into: &out) }
            case .c2:
                state = .normal
                if (0x80...0x9F).contains(b) {
                    // A C1 control (U+0080–U+009F; 0x9B is a one-byte CSI on some terminals).
                    out.append(contentsOf: Array("<\(String(b, radix: 16, uppercase: true))>".utf8))
                } else {
                    out.append(0xC2)
                    step(b, into: &out)
                }
            }
        }

        /// Characters that draw nothing or break lines by themselves, as
        /// `<U+XXXX>`. `bytes` is valid UTF-8 of whole characters.
        static func showInvisible(_ bytes: [UInt8]) -> [UInt8] {
            guard bytes.contains(where: { $0 >= 0xC2 }) else { return bytes }
            var out: [UInt8] = []
            var copied = 0, i = 0
            while i < bytes.count {
                let b = bytes[i]
                let length = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
                guard b >= 0xC2, i + length <= bytes.count else { i += length; continue }
                var value = UInt32(b) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
                for k in 1..<length { value = value << 6 | UInt32(bytes[i + k] & 0x3F) }
                if value >= 0xA0, let scalar = Unicode.Scalar(value), invisible(scalar) {
                    if out.isEmpty { out.reserveCapacity(bytes.count + 16) }
                    out.append(contentsOf: bytes[copied..<i])
                    out.append(contentsOf: Array("<U+\(String(value, radix: 16, uppercase: true).leftPadded(to: 4))>".utf8))
                    copied = i + length
                }
                i += length
            }
            if copied == 0 { return bytes }
            out.append(contentsOf: bytes[copied...])
            return out
        }

        static func invisible(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.properties.generalCategory {
            case .format, .lineSeparator, .paragraphSeparator: return true
            default: return false
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

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
