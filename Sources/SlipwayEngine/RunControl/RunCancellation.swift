import Foundation
import SlipwayStore

/// Cancelling a run, from the command line or the console: the request is
/// recorded in the registry (audited), so the run's owner stops its jobs
/// wherever it runs (it reads the request with its heartbeat); an owner on
/// this host is also sent SIGTERM so it stops at once. A run whose owner
/// died is settled here: its cluster jobs cancelled through their handles
/// (`scancel`), the run `cancelled`.
public struct RunCancellation: Sendable {
    let registry: any Registry
    let reaper: RunReaper

    public init(registry: any Registry, reaper: RunReaper = RunReaper()) {
        self.registry = registry
        self.reaper = reaper
    }

    public enum Outcome: Sendable, Equatable {
        /// The run had already ended.
        case notRunning(RunStatus)
        /// Its owner on this host was told (SIGTERM, and the request).
        case ownerSignalled(pid: Int32)
        /// Its owner runs on another host: it reads the request within a second or two.
        case requested(host: String)
        /// Its owner had died: settled here.
        case settled
    }

    public struct NoSuchRun: SlipwayError {
        public var id: Int64
        public var exitStatus: ExitStatus { .usage }
        public var description: String { "no run \(id)" }
    }

    public func cancel(runID: Int64, actor: String) throws -> Outcome {
        guard let run = try registry.requestCancel(runID: runID, actor: actor) else { throw NoSuchRun(id: runID) }
        guard run.status == .running else { return .notRunning(run.status) }
        if reaper.isDead(run) {
            try reaper.reap(registry)
            return .settled
        }
        guard run.host == Provenance.hostName() else { return .requested(host: run.host) }
        kill(run.pid, SIGTERM)
        return .ownerSignalled(pid: run.pid)
    }

    /// Waits (polling the registry) until the run is no longer running, up to
    /// `timeout` seconds; the run as it is then.
    public func wait(runID: Int64, timeout: Double, clock: any PollClock = SystemPollClock()) throws -> RunRecord? {
        let end = clock.now() + timeout
        var interval = 0.02
        while true {
            let run = try registry.run(id: runID)
            if run == nil || run?.status != .running || clock.now() >= end { return run }
            // An owner that died while cancelling leaves the run to be settled here.
            if let run, reaper.isDead(run) { try reaper.reap(registry) }
            clock.sleep(interval)
            interval = min(0.25, interval * 1.5)
        }
    }
}
