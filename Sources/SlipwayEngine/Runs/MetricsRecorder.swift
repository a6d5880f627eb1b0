import Foundation
import SlipwayStore

/// Buffers metric points and writes them in batches while stages run, so a
/// stage printing thousands of `::metric` lines a second costs few
/// transactions, and points still reach the registry (and the console) within
/// a fraction of a second.
public final class MetricsRecorder: @unchecked Sendable {
    private let store: any MetricStore
    private let lock = NSLock()
    private var buffer: [MetricRecord] = []
    private var lastError: (any Error)?
    private let interval: Double
    private let maxBatch: Int
    private var timer: DispatchSourceTimer?

    public init(store: any MetricStore, interval: Double = 0.2, maxBatch: Int = 20_000) {
        self.store = store
        self.interval = interval
        self.maxBatch = maxBatch
        let t = DispatchSource.makeTimerSource(queue: DispatchQueue.global(qos: .utility))
        t.schedule(deadline: .now() + interval, repeating: interval)
        t.setEventHandler { [weak self] in self?.flush() }
        t.resume()
        timer = t
    }

    deinit { timer?.cancel() }

    public func record(_ point: MetricRecord) {
        let full = lock.withLock { () -> Bool in
            buffer.append(point)
            return buffer.count >= maxBatch
        }
        if full { flush() }
    }

    /// Buffers points as they arrive (the timer writes them), writing at
    /// once only when the buffer is full.
    public func enqueue(_ points: [MetricRecord]) {
        let full = lock.withLock { () -> Bool in
            buffer.append(contentsOf: points)
            return buffer.count >= maxBatch
        }
        if full { flush() }
    }

    public func record(_ points: [MetricRecord]) {
        lock.withLock { buffer.append(contentsOf: points) }
        flush()
    }

    /// Writes what is buffered now. Errors are kept and reported by ``close()``.
    public func flush() {
        let batch = lock.withLock { () -> [MetricRecord] in
            defer { buffer.removeAll(keepingCapacity: true) }
            return buffer
        }
        guard !batch.isEmpty else { return }
        do { try store.appendMetrics(batch) } catch { lock.withLock { lastError = error } }
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
