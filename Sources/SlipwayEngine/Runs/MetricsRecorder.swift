import Foundation
import SlipwayStore

/// Buffers metric points and writes them in batches while stages run, so a
/// stage printing thousands of `::metric` lines a second costs few
/// transactions, and points still reach the registry (and the console) within
/// a fraction of a second.
///
/// One writer: every write happens on one serial queue, so batches commit in
/// the order their points were accepted, and a caller never writes on its own
/// thread (the MLflow endpoint's event loop answers while the writer commits).
/// The writer starts at once when ``soon`` points wait (a 1,000-metric
/// `log-batch`), else at the next tick; while it commits, what arrives waits
/// for the next transaction (group commit). ``flush()`` and ``close()`` wait
/// for the write in progress too: when they return, every point accepted
/// before is in the registry.
public final class MetricsRecorder: @unchecked Sendable {
    private let store: any MetricStore
    private let lock = NSLock()
    private var buffer: [MetricRecord] = []
    private var lastError: (any Error)?
    private var drainQueued = false
    private let interval: Double
    private let soon: Int
    private let maxBatch: Int
    private let maxBuffered: Int
    private let writer = DispatchQueue(label: "slipway.metrics.writer", qos: .utility)
    private var timer: DispatchSourceTimer?

    /// - Parameters:
    ///   - interval: how often the writer writes what waits.
    ///   - soon: this many waiting points start the writer without waiting for the tick.
    ///   - maxBatch: the most points one transaction holds (a writer that fell
    ///     behind commits in steps of this size, so readers see points arrive).
    ///   - maxBuffered: beyond this many waiting points, ``enqueue(_:)`` waits for the writer (back-pressure).
    public init(store: any MetricStore, interval: Double = 0.2, soon: Int = 1_000, maxBatch: Int = 20_000,
                maxBuffered: Int = 200_000) {
        self.store = store
        self.interval = interval
        self.soon = max(1, soon)
        self.maxBatch = max(1, maxBatch)
        self.maxBuffered = max(self.soon, maxBuffered)
        let t = DispatchSource.makeTimerSource(queue: writer)
        t.schedule(deadline: .now() + interval, repeating: interval)
        t.setEventHandler { [weak self] in self?.drain() }
        t.resume()
        timer = t
    }

    deinit { timer?.cancel() }

    public func record(_ point: MetricRecord) {
        accepted(lock.withLock { buffer.append(point); return starts() })
    }

    /// Buffers points as they arrive; the writer commits them. Returns at
    /// once unless more than `maxBuffered` points wait (then it waits for the
    /// writer to catch up). Never call it from the writer's queue.
    public func enqueue(_ points: [MetricRecord]) {
        guard !points.isEmpty else { return }
        accepted(lock.withLock { buffer.append(contentsOf: points); return starts() })
    }

    /// Holding `lock`: whether the writer is to start now, and whether the caller is to wait for it.
    private func starts() -> (start: Bool, wait: Bool) {
        let start = buffer.count >= soon && !drainQueued
        if start { drainQueued = true }
        return (start, buffer.count > maxBuffered)
    }

    private func accepted(_ next: (start: Bool, wait: Bool)) {
        if next.start { writer.async { [self] in drain() } }
        if next.wait { writer.sync {} }
    }

    /// Buffers points and writes them before returning.
    public func record(_ points: [MetricRecord]) {
        lock.withLock { buffer.append(contentsOf: points) }
        flush()
    }

    /// On the writer's queue: commits what waits now. Errors are kept and reported by ``close()``.
    private func drain() {
        let batch = lock.withLock { () -> [MetricRecord] in
            drainQueued = false
            defer { buffer.removeAll(keepingCapacity: true) }
            return buffer
        }
        var start = 0
        while start < batch.count {
            let end = min(batch.count, start + maxBatch)
            do {
                try store.appendMetrics(start == 0 && end == batch.count ? batch : Array(batch[start..<end]))
            } catch {
                lock.withLock { lastError = error }
            }
            start = end
        }
    }

    /// Writes what is buffered now, after the write in progress: every point
    /// accepted before the call is in the store when it returns.
    public func flush() {
        writer.sync { drain() }
    }

    /// Writes what is buffered now, and reports any write that failed so far.
    public func flushReportingErrors() throws {
        flush()
        if let e = lock.withLock({ lastError }) { throw e }
    }

    /// Stops the timer and writes the rest.
    public func close() throws {
        timer?.cancel()
        timer = nil
        flush()
        if let e = lock.withLock({ lastError }) { throw e }
    }
}
