import Foundation
import SlipwayCore

/// What every fuzz target shares: turning the fuzzer's bytes into inputs, and
/// the rule that a rejection is a clear error — a message that says what is
/// wrong (and, for files, names the file), never a crash, never silence.
public enum Fuzz {
    /// The bytes as text, as Slipway reads files (invalid UTF-8 replaced).
    public static func text(_ data: UnsafePointer<UInt8>, _ size: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    }

    public static func bytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
        Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// The input cut at NUL bytes into at most `limit` parts (several inputs in one).
    public static func parts(_ data: UnsafePointer<UInt8>, _ size: Int, limit: Int) -> [[UInt8]] {
        var parts: [[UInt8]] = [[]]
        for b in UnsafeBufferPointer(start: data, count: size) {
            if b == 0, parts.count < limit { parts.append([]) } else { parts[parts.count - 1].append(b) }
        }
        return parts
    }

    /// Stops the fuzzer with a finding (libFuzzer keeps the input as a crash).
    public static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("FUZZ FINDING: \(message)\n".utf8))
        abort()
    }

    /// A rejection must say what is wrong, in a message no larger than a
    /// constant plus the input (an error that multiplies its input is a
    /// finding too), and name `file` when it is about one.
    public static func requireClear(_ error: any Error, file: String? = nil, inputSize: Int) {
        let message = "\(error)"
        if message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            fail("an empty error message (\(type(of: error)))")
        }
        if message.utf8.count > 4096 + 2 * inputSize {
            fail("a \(message.utf8.count)-byte error message for a \(inputSize)-byte input: \(message.prefix(300))")
        }
        if let specErrors = error as? SpecErrors {
            if specErrors.issues.isEmpty { fail("SpecErrors without an issue") }
            for issue in specErrors.issues {
                if let file, issue.file != file { fail("an issue about '\(issue.file)', not \(file): \(issue)") }
                if issue.message.isEmpty { fail("an issue without a message: \(issue)") }
                if let line = issue.line, line < 1 { fail("an issue at line \(line): \(issue)") }
                if let column = issue.column, column < 1 { fail("an issue at column \(column): \(issue)") }
            }
        } else if let file, !message.contains(file) {
            fail("the error does not name \(file): \(message.prefix(300))")
        }
    }

    /// A private scratch folder for targets that read files (in /dev/shm when there is one).
    public static let scratch: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let path = base + "/slipway-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: "/dev/shm/slipway-fuzz-\(getpid())") }
        return path
    }()

    public static func write(_ bytes: [UInt8], to path: String) {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { fail("cannot write \(path)") }
    }
}
