import ArgumentParser
import Foundation
import SlipwayConsole
import SlipwayEngine

/// The `slipway` command: thin over the engine. Each subcommand parses its
/// arguments, calls the engine and prints; errors are mapped to the exit codes
/// in docs/cli.md by ``main()``.
@main
struct SlipwayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipway",
        abstract: "CI/CD for machine-learning models.",
        discussion: "Exit codes: 0 success, 1 a stage failed, 2 usage or spec error, 3 a check or gate failed, 4 internal error.",
        version: Slipway.version,
        subcommands: [Init.self, Run.self, Cancel.self, Follow.self, Status.self, Runs.self, Show.self, Logs.self, DataCommand.self, Models.self,
                      Compare.self, ParamsCommand.self, Promote.self, Rollback.self, Abort.self, Deployments.self, AgentCommand.self, MonitorCommand.self, Drift.self, Demo.self, Approvals.self, Approve.self, Reject.self, Verify.self, Push.self, Reproduce.self, Keys.self, Audit.self, RegistryCommand.self, Console.self, Lint.self]
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        // No subcommand: the console on a terminal; `status` otherwise.
        let args = global.directory.map { ["-C", $0] } ?? []
        if isatty(0) == 1 && isatty(1) == 1 {
            try Console.parse(args).run()
            return
        }
        try Status.parse(args).run()
    }

    static func main() {
        launchTime = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        signal(SIGPIPE, SIG_IGN)
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            let code = exitCode(for: error)
            var message = fullMessage(for: error)
            if code == .success {
                print(message)
                Foundation.exit(0)
            }
            // Every error this program prints is one line starting with its name
            // (the parser's usage lines are what `--help` prints).
            if message.hasPrefix("Error: ") {
                let lines = message.split(separator: "\n")
                // The parser's own line, not the first (which may quote the argument).
                let help = lines.dropFirst().first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("See '") }.flatMap { line -> Substring? in
                    guard let open = line.firstIndex(of: "'"), let close = line[line.index(after: open)...].firstIndex(of: "'") else { return nil }
                    return line[line.index(after: open)..<close]
                }
                message = "slipway: " + lines[0].dropFirst("Error: ".count) + (help.map { " (see `\($0)`)" } ?? "")
            }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            Foundation.exit(ExitStatus.usage.rawValue)
        }
        do {
            var c = command
            try c.run()
            Foundation.exit(0)
        } catch {
            Foundation.exit(CLIError.report(error))
        }
    }
}

struct GlobalOptions: ParsableArguments {
    @Option(name: .customShort("C"), help: ArgumentHelp("Use the workspace in DIR (else $SLIPWAY_WORKSPACE, else the current folder and its parents).", valueName: "DIR"))
    var directory: String?

    /// `slipway`, with `-C DIR` when it was given: how a hint names the
    /// command, so that pasted from here it finds the same workspace.
    var commandLine: String { directory.map { "slipway -C \(Output.shellWord($0))" } ?? "slipway" }

    func workspace() throws -> Workspace {
        try Workspace.discover(explicit: directory)
    }

    /// The workspace and its registry, with dead runs already settled: marked
    /// interrupted, or their cluster jobs handed to a process that follows them.
    func open() throws -> (Workspace, RegistryConnection) {
        let ws = try workspace()
        return (ws, try Self.connectAndReap(ws))
    }

    /// ``open()`` and the workspace's spec, read on a second thread while
    /// the registry opens (for a big pipeline, each is a good part of a
    /// command that has little else to do). A registry that cannot be opened
    /// is reported before a spec with problems, as one after the other would.
    func openWithSpec() throws -> (Workspace, RegistryConnection, LoadedSpec) {
        let ws = try workspace()
        let reading = Background { try ws.loadSpec() }
        let opened = Result { try Self.connectAndReap(ws) }
        let loaded = Result { try reading.wait() }
        return (ws, try opened.get(), try loaded.get())
    }

    /// The workspace's registry, once the reaper has looked at its runs.
    static func connectAndReap(_ ws: Workspace) throws -> RegistryConnection {
        let registry = try ws.connect()
        try reaper(ws).reap(registry)
        return registry
    }

    /// The reaper every command runs: it starts `slipway follow` for runs
    /// whose process died with cluster jobs still queued or running.
    static func reaper(_ ws: Workspace) -> RunReaper {
        RunReaper(executors: Executors().all, follower: SelfLauncher(workspace: ws))
    }
}

/// A failure already explained, with the exit status to report.
struct Failure: SlipwayError {
    var status: ExitStatus
    var message: String?
    var exitStatus: ExitStatus { status }
    var description: String { message ?? "" }
}

enum CLIError {
    /// Prints the error as one line (or one per spec issue) and returns the exit code.
    static func report(_ error: any Error) -> Int32 {
        func say(_ text: String) { FileHandle.standardError.write(Data(("slipway: " + text + "\n").utf8)) }
        switch error {
        case let f as Failure:
            if let m = f.message { say(m) }
            return f.status.rawValue
        case let e as SpecErrors:
            for issue in e.issues { FileHandle.standardError.write(Data((issue.description + "\n").utf8)) }
            let n = e.issues.count
            say("\(n) problem\(n == 1 ? "" : "s") in the spec; nothing was run")
            return e.exitStatus.rawValue
        case let e as any SlipwayError:
            // Every error of the project says its own exit status.
            say(e.description)
            return e.exitStatus.rawValue
        case let e as ExitCode:
            return e.rawValue
        default:
            // --help and --version arrive as errors that mean "done".
            if SlipwayCommand.exitCode(for: error) == .success {
                print(SlipwayCommand.fullMessage(for: error))
                return 0
            }
            say("internal error: \(error)")
            return ExitStatus.internalError.rawValue
        }
    }
}

enum Output {
    static let stdoutIsTTY = isatty(1) == 1
    static let stderrIsTTY = isatty(2) == 1

    static func json<T: Encodable>(_ value: T) throws {
        print(String(decoding: try JSONEncoder.pretty.encode(value), as: UTF8.self))
    }

    static func err(_ text: String) {
        FileHandle.standardError.write(Data((safeErr(text) + "\n").utf8))
    }

    /// Prints a line of a listing or report. Names, paths and messages in it
    /// come from outside (slipway.yaml, the registry, stages), so on a
    /// terminal the whole line is sanitised.
    static func say(_ text: String, terminator: String = "\n") {
        print(safe(text), terminator: terminator)
    }

    /// Text from outside, made safe when it goes to a terminal.
    static func safe(_ text: String) -> String {
        stdoutIsTTY ? TerminalText.sanitize(text) : text
    }

    /// Text from outside, made safe when it goes to standard error on a terminal.
    static func safeErr(_ text: String) -> String {
        stderrIsTTY ? TerminalText.sanitize(text) : text
    }

    /// One field of a line (a name, a comment, a cell), terminal or not: its
    /// newlines, tabs and escapes are shown, so it can never pass for a line
    /// (or a record) of its own.
    static func field(_ text: String) -> String {
        TerminalText.oneLine(text)
    }

    /// A word for a command line shown to be copied: single-quoted when a
    /// shell would read it otherwise (`'train[lr=0.1]'` is not a glob).
    static func shellWord(_ text: String) -> String {
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_./:=,@%+".unicodeScalars.contains($0)
        }
        return plain ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func age(_ ms: Millis, now: Millis = SystemClock.nowMillis()) -> String {
        let s = max(0, (now - ms) / 1000)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86400 { return "\(s / 3600)h" }
        return "\(s / 86400)d"
    }

    /// Local time, `2026-11-24 09:00:12`.
    /// A one-line chart of values (▁▂▃▄▅▆▇█).
    static func sparkline(_ values: [Double]) -> String {
        let vs = values.suffix(24).filter(\.isFinite)
        guard let lo = vs.min(), let hi = vs.max() else { return "" }
        let levels = Array("▁▂▃▄▅▆▇█")
        return String(vs.map { v in levels[min(7, Int((hi > lo ? (v - lo) / (hi - lo) : 0.5) * 7 + 0.5))] })
    }

    static func timestamp(_ ms: Millis) -> String {
        format(ms, utc: false)
    }

    /// UTC with milliseconds, `2026-11-24T09:00:12.345Z` (RFC 3339).
    static func iso(_ ms: Millis?) -> String? {
        ms.map { format($0, utc: true) }
    }

    /// Formats with the C library (a Foundation formatter per call costs more
    /// than the rest of a 100,000-row listing).
    private static func format(_ ms: Millis, utc: Bool) -> String {
        var seconds = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        let millis = Int((ms % 1000 + 1000) % 1000)
        var parts = tm()
        if utc { gmtime_r(&seconds, &parts) } else { localtime_r(&seconds, &parts) }
        var out: [UInt8] = []
        out.reserveCapacity(24)
        func digits(_ v: Int, _ width: Int) {
            var d = [UInt8](repeating: UInt8(ascii: "0"), count: width)
            var x = v
            for i in stride(from: width - 1, through: 0, by: -1) { d[i] = UInt8(ascii: "0") + UInt8(x % 10); x /= 10 }
            out.append(contentsOf: d)
        }
        digits(Int(parts.tm_year) + 1900, 4); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2); out.append(utc ? UInt8(ascii: "T") : UInt8(ascii: " "))
        digits(Int(parts.tm_hour), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        if utc {
            out.append(UInt8(ascii: "."))
            digits(millis, 3)
            out.append(UInt8(ascii: "Z"))
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func symbol(_ s: StageStatus) -> String {
        switch s {
        case .pending: return "○"
        case .running: return "●"
        case .succeeded: return "✓"
        case .failed: return "✗"
        case .cached: return "≡"
        case .cancelled: return "⊘"
        case .interrupted: return "!"
        }
    }

    static func symbol(_ s: RunStatus) -> String {
        switch s {
        case .running: return "●"
        case .succeeded: return "✓"
        case .failed: return "✗"
        case .cancelled: return "⊘"
        case .interrupted: return "!"
        }
    }

    /// Left-aligned columns, two spaces apart; each cell is one ``field(_:)``.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows.map { $0.map(field) }
        var widths = Array(repeating: 0, count: header.count)
        for row in all { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
