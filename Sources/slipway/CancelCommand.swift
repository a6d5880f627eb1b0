import ArgumentParser
import Foundation
import SlipwayEngine

struct Cancel: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel",
        abstract: "Cancel a running run: its stages are stopped (cluster jobs with scancel).",
        discussion: """
        The request is recorded (audited); the run's process stops its jobs, wherever it runs. If that process \
        died, its jobs are cancelled here. Waits for the run to end (up to --timeout seconds). \
        Exit status: 0 the run is cancelled (or had ended), 1 it did not end in time, 2 no such run.
        """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The run id, or `latest`.") var runID: String
    @Option(help: "Seconds to wait for the run to end.") var timeout: Double = 60
    @Flag(help: "Ask, and do not wait.") var noWait = false

    func run() throws {
        let (ws, registry) = try global.open()
        let run = try resolveRun(runID, in: registry)
        let service = RunCancellation(registry: registry, reaper: GlobalOptions.reaper(ws))
        switch try service.cancel(runID: run.id, actor: Provenance.currentUser()) {
        case .notRunning(let status):
            Output.say("run \(run.id) is already \(status.rawValue)")
            return
        case .settled:
            break
        case .ownerSignalled(let pid):
            Output.err("cancelling run \(run.id): its process (pid \(pid)) is stopping its stages")
        case .requested(let host):
            Output.err("cancelling run \(run.id): its process on \(host) stops its stages when it next checks (within seconds)")
        }
        if noWait { return }
        guard let after = try service.wait(runID: run.id, timeout: timeout), after.status != .running else {
            throw Failure(status: .stageFailed, message: "run \(run.id) is still running after \(Durations.format(timeout)); it stops when its process next checks")
        }
        Output.say("run \(run.id) \(after.status.rawValue)" + (after.message.map { ": \($0)" } ?? ""))
    }
}

/// `slipway follow RUN`, started in the background by whichever command finds
/// a run whose process died with cluster jobs still queued or running: takes
/// the run over and follows those jobs to their end (not listed in --help).
struct Follow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "follow", abstract: "Take over an orphaned run and follow its jobs.",
                                                    shouldDisplay: false)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The run id.") var runID: Int64

    func run() throws {
        let ws = try global.workspace()
        let registry = try ws.connect()
        let cancellation = CancellationFlag()
        let signals = SignalTrap(signals: [SIGINT, SIGTERM, SIGHUP]) { cancellation.cancel() }
        defer { signals.release() }
        let takeover = RunTakeover(workspace: ws, registry: registry, say: { line in
            FileHandle.standardError.write(Data("\(Output.timestamp(SystemClock.nowMillis())) \(line)\n".utf8))
        })
        guard let result = try takeover.takeOver(runID: runID, holdingLock: false, cancellation: cancellation) else {
            FileHandle.standardError.write(Data("run \(runID): nothing to take over (it ended, its process lives, or another process follows it)\n".utf8))
            return
        }
        print("run \(result.runID) \(result.status.rawValue)")
    }
}
