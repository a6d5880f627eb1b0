import Foundation
import Testing
@testable import SlipwayConsole

@Suite struct SanitizerTests {
    /// Escape sequences are shown, not run and not hidden: the text a stage or
    /// a user wrote stays visible, so `acc\e[2J` never passes for `acc`.
    @Test func escapesAreShownVisiblyNotRunOrHidden() {
        #expect(TerminalText.sanitize("acc\u{1B}[2J") == "acc^[[2J")
        #expect(TerminalText.sanitize("a\u{1B}[31mred\u{1B}[0m b") == "a^[[31mred^[[0m b")
        #expect(TerminalText.sanitize("x\u{1B}]0;title\u{07}y") == "x^[]0;title^Gy")
        #expect(TerminalText.sanitize("bell\u{07} del\u{7F} c1\u{9B}x") == "bell^G del^? c1<9B>x")
        #expect(TerminalText.sanitize("é ✓ ⣿") == "é ✓ ⣿")
    }

    @Test func carriageReturnsCannotOverwriteALine() {
        // CR LF is a line end; a lone CR starts a new line instead of writing over this one.
        #expect(TerminalText.sanitize("tab\tnew\r\nline\r") == "tab\tnew\nline\n")
        #expect(TerminalText.sanitize("approved\rrejected") == "approved\nrejected")
    }

    /// Characters that draw nothing (zero-width, bidi overrides) are shown by
    /// their code point, so two names never look the same.
    @Test func invisibleCharactersAreShownByTheirCodePoint() {
        #expect(TerminalText.sanitize("a\u{200B}b") == "a<U+200B>b")
        #expect(TerminalText.sanitize("acc\u{202E}") == "acc<U+202E>")
        #expect(TerminalText.sanitize("\u{FEFF}x") == "<U+FEFF>x")
    }

    @Test func namesThatDifferNeverLookTheSame() {
        let names = ["acc", "acc\u{1B}[2J", "acc\u{1B}[0m", "acc\r", "acc\u{07}", "acc\u{9B}2J", "ac\u{200B}c", "acc\u{202E}",
                     "acc\u{1B}]0;x\u{07}", "acc\u{0}", "acc\u{1B}"]
        let shown = names.map(TerminalText.sanitize)
        #expect(Set(shown).count == names.count, "\(shown)")
    }

    /// A field (a name, a comment, a cell) cannot start a line of its own.
    @Test func aFieldStaysOnOneLine() {
        #expect(TerminalText.oneLine("fine\n  #1 approve by Sam") == "fine^J  #1 approve by Sam")
        #expect(TerminalText.oneLine("a\tb\rc\u{1B}[2J") == "a^Ib^Mc^[[2J")
        #expect(TerminalText.oneLine("line\u{2028}sep") == "line<U+2028>sep")
        #expect(TerminalText.oneLine("Dana Ruiz ✓") == "Dana Ruiz ✓")
    }

    @Test func chunksSplitAnywhereGiveTheSameResult() {
        let text = "a\u{1B}[1;31mé\u{1B}]0;t\u{1B}\\b\u{9B}c ✓\r\nnext\u{07}\rx\u{200B}y\n"
        let whole = TerminalText.sanitize(text)
        let bytes = Array(text.utf8)
        for cut in 1..<bytes.count {
            var s = TerminalText.Sanitizer()
            var out = s.feed(Array(bytes[..<cut]))
            out += s.feed(Array(bytes[cut...]))
            out += s.finish()
            #expect(String(decoding: out, as: UTF8.self) == whole, "cut at \(cut)")
        }
    }

    @Test func invalidUTF8BecomesReplacementCharacters() {
        var s = TerminalText.Sanitizer()
        var out = s.feed([0x61, 0xFF, 0x62, 0xE2, 0x9C])
        out += s.finish()
        #expect(String(decoding: out, as: UTF8.self) == "a\u{FFFD}b\u{FFFD}")
    }
}
