import Foundation

/// The time an executor that polls (a cluster's queue, a log file) reads and
/// waits on. Production waits for real; tests use a clock that moves only
/// when waited on, so following a job for an hour takes no time.
public protocol PollClock: Sendable {
    /// Seconds on a monotonic scale.
    func now() -> Double
    /// Waits `seconds` (or until the clock says so).
    func sleep(_ seconds: Double)
}

/// The machine's monotonic clock and real sleeps.
public struct SystemPollClock: PollClock {
    public init() {}
    public func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    public func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        usleep(useconds_t(min(seconds, 3600) * 1e6))
    }
}

/// How often a job is polled: from `minimum`, growing by `growth` after each
/// poll that finds nothing new, up to `maximum`; back to `minimum` when the
/// job changes state.
public struct PollInterval: Sendable, Hashable {
    public var minimum: Double
    public var maximum: Double
    public var growth: Double

    public init(minimum: Double = 0.1, maximum: Double = 2, growth: Double = 1.5) {
        self.minimum = max(0.001, minimum)
        self.maximum = max(self.minimum, maximum)
        self.growth = max(1, growth)
    }

    /// `SLIPWAY_SLURM_POLL_MAX` (seconds) sets the longest wait between polls.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> PollInterval {
        var p = PollInterval()
        if let text = env["SLIPWAY_SLURM_POLL_MAX"], let s = Durations.seconds(from: text), s > 0 { p = PollInterval(maximum: s) }
        return p
    }

    public func next(after current: Double) -> Double { min(maximum, max(minimum, current * growth)) }
}
