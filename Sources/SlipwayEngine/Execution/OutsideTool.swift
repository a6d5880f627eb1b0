import Foundation

/// Runs a short-lived outside tool (`git`, `ssh-keygen`, `skopeo`) found on
/// PATH and waits for it. Stage commands go through an ``Executor`` instead.
public enum OutsideTool {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var succeeded: Bool { status == 0 }
    }

    public struct NotFound: SlipwayError {
        public var tool: String
        public var reason: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String { "cannot run \(tool): \(reason)" }
    }

    /// Where `name` is found on PATH, if it is (a path is taken as is).
    public static func locate(_ name: String) -> String? { ToolProcess.locate(name) }

    /// Runs `args` (the tool first). Standard input is `/dev/null` unless
    /// `inheritInput`; with `capture` false the tool writes to this process's
    /// own output (a progress display), and the result's texts are empty.
    /// With `input`, standard input is a pipe that gets those bytes and is
    /// then closed (a secret for the tool that never touches the disk).
    public static func run(_ args: [String], in dir: String? = nil, inheritInput: Bool = false, capture: Bool = true,
                           input: Data? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        if let dir { p.currentDirectoryURL = URL(fileURLWithPath: dir) }
        let inPipe = input.map { _ in Pipe() }
        if let inPipe { p.standardInput = inPipe } else if !inheritInput { p.standardInput = FileHandle.nullDevice }
        let out = Pipe(), err = Pipe()
        if capture {
            p.standardOutput = out
            p.standardError = err
        }
        do { try p.run() } catch { throw NotFound(tool: args.first ?? "?", reason: "\(error)") }
        if let inPipe, let input {
            // Written from another thread, so input larger than the pipe's buffer never blocks the reading below.
            let writer = inPipe.fileHandleForWriting
            DispatchQueue.global().async {
                try? writer.write(contentsOf: input)
                try? writer.close()
            }
        }
        guard capture else {
            p.waitUntilExit()
            return Result(status: p.terminationStatus, stdout: "", stderr: "")
        }
        // Both pipes are read at once, so a tool filling one never blocks on it.
        let errData = Mutex(Data())
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            let d = err.fileHandleForReading.readDataToEndOfFile()
            errData.withLock { $0 = d }
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData.withLock { $0 }, as: UTF8.self))
    }
}

import Synchronization
