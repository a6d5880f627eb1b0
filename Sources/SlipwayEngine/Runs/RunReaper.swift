import Foundation

/// Finds runs whose `slipway` process died (kill -9, a crash, a lost machine)
/// and marks them `interrupted`, keeping everything they recorded. Every
/// command calls it when it opens the registry.
public struct RunReaper: Sendable {
    /// A run on another host is presumed dead after this long without a heartbeat.
    public var remoteStaleAfter: Millis = 120_000
    /// A run on this host whose pid is alive but whose heartbeat is this old is
    /// presumed dead (its pid was reused).
    public var localStaleAfter: Millis = 30_000

    public init() {}

    /// Returns the ids of the runs it marked.
    @discardableResult
    public func reap(_ store: any RunStore, host: String = Provenance.hostName(), now: Millis = Clock.nowMillis()) throws -> [Int64] {
        var reaped: [Int64] = []
        for run in try store.activeRuns() {
            let age = now - run.heartbeatAt
            let dead: Bool
            if run.host == host {
                let alive = kill(run.pid, 0) == 0 || errno == EPERM
                dead = !alive || age > localStaleAfter
            } else {
                dead = age > remoteStaleAfter
            }
            guard dead else { continue }
            // Stop commands the dead process left behind in their process groups.
            if run.host == host {
                for stage in try store.stageRuns(runID: run.id) where stage.status == .running {
                    if let pgid = stage.pid, pgid > 1 { kill(-pgid, SIGKILL) }
                }
            }
            try store.markInterrupted(runID: run.id, reason: "the slipway process (pid \(run.pid) on \(run.host)) stopped without finishing the run")
            reaped.append(run.id)
        }
        return reaped
    }
}
