import Foundation

/// Milliseconds since the Unix epoch: the registry's one time format, exact and
/// portable across databases.
public typealias Millis = Int64

/// Where the engine reads the time. Production uses ``SystemClock``; tests
/// use ``ManualClock`` and move time on themselves, so nothing waits in real
/// time and no test proves absence by sleeping.
///
/// It shadows the standard library's `Clock` inside Slipway's modules on
/// purpose: every reading of the time goes through this one.
public protocol Clock: Sendable {
    /// Now, in milliseconds since the epoch.
    func now() -> Millis
    /// Waits until `deadline` (or returns at once when it is past). A manual
    /// clock returns when a test advances it that far.
    func sleep(until deadline: Millis)
}

extension Clock {
    public func date() -> Date { Date(timeIntervalSince1970: Double(now()) / 1000) }
    public func sleep(seconds: Double) { sleep(until: now() + Millis((seconds * 1000).rounded())) }
}

/// The wall clock.
public struct SystemClock: Clock {
    public init() {}

    public func now() -> Millis { Millis((Date().timeIntervalSince1970 * 1000).rounded()) }

    public func sleep(until deadline: Millis) {
        let wait = deadline - now()
        if wait > 0 { usleep(useconds_t(min(wait, 3_600_000) * 1000)) }
    }
}

/// A clock that moves only when told to: `advance(by:)` or `set(_:)`.
/// `sleep(until:)` blocks the sleeping thread until another thread advances
/// the clock past the deadline (the test drives time; nothing really waits).
public final class ManualClock: Clock, @unchecked Sendable {
    private let condition = NSCondition()
    private var current: Millis
    /// Threads blocked in `sleep(until:)`, for tests that wait for a sleeper.
    private var sleepers = 0

    public init(_ start: Millis = 1_700_000_000_000) { current = start }

    public func now() -> Millis { condition.withLock { current } }

    public func advance(by ms: Millis) {
        condition.withLock {
            current += ms
            condition.broadcast()
        }
    }

    public func advance(seconds: Double) { advance(by: Millis((seconds * 1000).rounded())) }

    public func set(_ ms: Millis) {
        condition.withLock {
            current = ms
            condition.broadcast()
        }
    }

    public func sleep(until deadline: Millis) {
        condition.withLock {
            sleepers += 1
            condition.broadcast()
            while current < deadline { condition.wait() }
            sleepers -= 1
        }
    }

    /// Blocks until at least `count` threads sleep on this clock (bounded by a
    /// real-time `timeout`, which only a broken test reaches); true when they do.
    @discardableResult
    public func waitForSleepers(_ count: Int = 1, timeout: Double = 10) -> Bool {
        let limit = Date().addingTimeInterval(timeout)
        return condition.withLock {
            while sleepers < count {
                if !condition.wait(until: limit) { return sleepers >= count }
            }
            return true
        }
    }
}

/// Turning registry times into text and dates.
public enum TimeFormat {
    public static func date(_ ms: Millis) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }

    /// `2026-11-30T19:16:39Z`.
    public static func iso(_ ms: Millis) -> String { ISO8601DateFormatter().string(from: date(ms)) }

    /// `2026-11-30T19:16:39.123Z`.
    public static func isoFractional(_ ms: Millis) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date(ms))
    }
}

extension SystemClock {
    /// The wall clock's time, for code that is not handed a clock (the
    /// store's stamps, one-shot commands). Services take an injected ``Clock``.
    public static func nowMillis() -> Millis { SystemClock().now() }
    public static func date(_ ms: Millis) -> Date { TimeFormat.date(ms) }
}
