import Foundation

/// How a pool rides out trouble: transactions that lose a conflict with
/// another (serialisation failure, deadlock) run again a few times, and a
/// lost connection (a server restart, a network blip) is re-established with
/// growing pauses, for a bounded time, after which the operation fails with
/// a message saying so. Nothing is half-written either way: an interrupted
/// transaction is rolled back by the server, and one whose COMMIT was cut
/// off is looked up (`pg_xact_status`) before it is run again.
public struct PGRetryPolicy: Sendable {
    /// Extra runs of a transaction that lost a conflict.
    public var conflictRetries: Int
    /// Seconds to keep reconnecting after a connection is lost.
    public var reconnectFor: Double
    /// The first pause after a loss; each next one doubles, up to `maxDelay`.
    public var initialDelay: Double
    public var maxDelay: Double
    /// How the pool pauses (tests pass a recording or shortened sleep).
    public var sleep: @Sendable (Double) -> Void

    public init(conflictRetries: Int = 10, reconnectFor: Double = 30, initialDelay: Double = 0.05, maxDelay: Double = 2,
                sleep: @escaping @Sendable (Double) -> Void = { seconds in
                    if seconds > 0 { usleep(UInt32(min(seconds, 60) * 1_000_000)) }
                }) {
        self.conflictRetries = conflictRetries
        self.reconnectFor = reconnectFor
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.sleep = sleep
    }

    public static let standard = PGRetryPolicy()

    /// The pause before reconnection attempt `attempt` (1, 2, …): exponential
    /// with jitter, so clients cut off together do not return together.
    public func delay(attempt: Int) -> Double {
        let base = min(maxDelay, initialDelay * Double(1 << min(max(attempt - 1, 0), 20)))
        return base * Double.random(in: 0.5...1)
    }

    /// The pause before running a transaction again after its `attempt`-th conflict.
    public func conflictDelay(attempt: Int) -> Double {
        min(0.2, 0.002 * Double(1 << min(attempt, 8))) * Double.random(in: 0.5...1)
    }

    func gaveUp(after seconds: Double, attempts: Int, url: PGURL, last: PGError) -> PGError {
        PGError(kind: .connection, sqlState: last.sqlState,
                message: "lost the connection to PostgreSQL at \(url) and could not re-establish it within "
                    + "\(Int(seconds.rounded())) s (\(attempts) attempts); nothing of the interrupted write was kept. "
                    + "Last error: \(last.message)")
    }
}
