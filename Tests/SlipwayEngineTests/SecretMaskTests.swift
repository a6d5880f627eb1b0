import Foundation
import Testing
@testable import SlipwayEngine

/// A stage's tracking token never reaches its log, however its output is split.
struct SecretMaskTests {
    static let token = String(repeating: "ab12", count: 16)

    /// The output cut into reads at `cuts`, through a mask.
    func masked(_ text: String, cuts: [Int], secrets: [String] = [token]) -> String {
        var mask = SecretMask(secrets)
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var from = 0
        for cut in cuts.sorted() + [bytes.count] where cut >= from {
            out += bytes[from..<cut].withUnsafeBufferPointer { mask.pass($0) }
            from = cut
        }
        out += mask.finish()
        return String(decoding: out, as: UTF8.self)
    }

    @Test func theTokenIsMaskedWhereverTheReadsSplitIt() {
        let line = "WARNING urllib3: Retrying ... url: http://127.0.0.1:4242/\(Self.token)/api/2.0/mlflow/runs/get\n"
        let expected = "WARNING urllib3: Retrying ... url: http://127.0.0.1:4242/***/api/2.0/mlflow/runs/get\n"
        for cut in 0...line.utf8.count {
            #expect(masked(line, cuts: [cut]) == expected, "cut at \(cut)")
        }
        // Twice, back to back, read a byte at a time.
        let twice = Self.token + Self.token + "\n"
        #expect(masked(twice, cuts: Array(0..<twice.utf8.count)) == "******\n")
    }

    @Test func whatOnlyBeginsLikeTheTokenIsWrittenWhole() {
        let start = String(Self.token.prefix(40))
        #expect(masked("\(start)zz\n", cuts: [20, 41]) == "\(start)zz\n")
        // The output ends inside what could have been the token: it was not.
        #expect(masked("tail \(start)", cuts: [3, 30]) == "tail \(start)")
    }

    @Test func outputWithoutSecretsIsNotHeldBack() {
        var mask = SecretMask([Self.token])
        let text = Array("epoch 3 loss=0.25 (no newline yet)".utf8)
        let passed = text.withUnsafeBufferPointer { mask.pass($0) }
        #expect(passed == text)
        #expect(SecretMask([]).isEmpty && SecretMask([""]).isEmpty)
    }

    /// Where one secret may begin and another is whole, the whole one is masked.
    @Test func aWholeSecretIsMaskedThoughALongerOneMayBeginThere() {
        #expect(masked("x abc", cuts: [], secrets: ["abcdef", "abc"]) == "x ***")
        for cut in [0, 3, 4, 5, 8] { #expect(masked("x abcdef y", cuts: [cut], secrets: ["abcdef", "abc"]) == "x *** y", "cut at \(cut)") }
        #expect(masked("x ab", cuts: [], secrets: ["abcdef", "abc"]) == "x ab")
    }

    /// Through the executor's pump: the log and the lines read for metrics.
    @Test func theLogAndTheMetricLinesGetTheMaskedText() throws {
        var fds: [Int32] = [0, 0]
        // Close-on-exec: other suites spawn stages meanwhile, which must not hold the write end.
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        let log = NSTemporaryDirectory() + "mask-\(UUID().uuidString).log"
        let logFD = open(log, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0o644)
        defer { close(logFD); unlink(log) }
        let lines = LineRecorder()
        let text = "::metric loss=0.5\nurl http://127.0.0.1:1/\(Self.token)/api\n"
        let writeEnd = fds[1]
        let writer = Thread {
            for b in Array(text.utf8) { _ = withUnsafeBytes(of: b) { write(writeEnd, $0.baseAddress, 1) } }
            close(writeEnd)
        }
        writer.start()
        ProcessExecutor.pump(fd: fds[0], log: logFD, lines: lines, secrets: [Self.token])
        close(fds[0])
        let logged = try String(contentsOfFile: log, encoding: .utf8)
        #expect(logged == "::metric loss=0.5\nurl http://127.0.0.1:1/***/api\n")
        #expect(lines.all == ["::metric loss=0.5", "url http://127.0.0.1:1/***/api"])
    }
}

final class LineRecorder: JobObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var all: [String] { lock.withLock { lines } }
    func started(handle: JobHandle) {}
    func stdoutLine(_ line: Substring) { lock.withLock { lines.append(String(line)) } }
}
