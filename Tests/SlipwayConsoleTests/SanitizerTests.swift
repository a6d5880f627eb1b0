import Foundation
import Testing
@testable import SlipwayConsole

@Suite struct SanitizerTests {
    @Test func escapesAreRemovedAndControlsShown() {
        #expect(TerminalText.sanitize("a\u{1B}[31mred\u{1B}[0m b") == "ared b")
        #expect(TerminalText.sanitize("x\u{1B}]0;title\u{07}y") == "xy")
        #expect(TerminalText.sanitize("bell\u{07} c1\u{9B}") == "bell^G c1<9B>")
        #expect(TerminalText.sanitize("tab\tnew\nline\r") == "tab\tnew\nline")
        #expect(TerminalText.sanitize("é ✓ ⣿") == "é ✓ ⣿")
    }

    @Test func anUnterminatedSequenceEndsWithItsLine() {
        let text = "before\u{1B}]52;c;AAAA no terminator\nafter 1\nafter 2\n"
        #expect(TerminalText.sanitize(text) == "before\nafter 1\nafter 2\n")
    }

    @Test func chunksSplitAnywhereGiveTheSameResult() {
        let text = "a\u{1B}[1;31mé\u{1B}]0;t\u{1B}\\b\u{9B}c ✓\nnext\u{07}\n"
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
