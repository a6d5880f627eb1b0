import Foundation
import Synchronization
import Testing
import SlipwayStore
@testable import SlipwayEngine

/// A metric store that keeps what it is given, in the order it commits,
/// and can hold a write open until the test lets it go.
final class RecordingMetricStore: MetricStore, @unchecked Sendable {
    let committed = Mutex<[[MetricRecord]]>([])
    let entered = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    let holdFirst: Bool
    private let writes = Mutex(0)

    init(holdFirst: Bool = false) { self.holdFirst = holdFirst }

    func appendMetrics(_ points: [MetricRecord]) throws {
        let n = writes.withLock { $0 += 1; return $0 }
        if holdFirst && n == 1 {
            entered.signal()
            release.wait()
        }
        committed.withLock { $0.append(points) }
    }

    func metrics(runID: Int64) throws -> [MetricRecord] { committed.withLock { $0.flatMap { $0 } } }
    func copyMetrics(fromStageRun source: Int64, to target: StageRunRecord) throws {}

    var steps: [Int64] { committed.withLock { $0.flatMap { $0.compactMap(\.step) } } }
}

@Suite struct MetricsRecorderTests {
    static func points(_ range: Range<Int>) -> [MetricRecord] {
        range.map { MetricRecord(runID: 1, stageRunID: 1, stage: "train", key: "loss", step: Int64($0), value: 1, timestamp: 0) }
    }

    /// Batches accepted from several threads (the endpoint's event loop, a
    /// stage's `::metric` lines, a flush before the gates) commit in the
    /// order they were accepted, each point once, and all before close returns.
    @Test func batchesCommitInTheOrderAcceptedAndAllBeforeClose() throws {
        let store = RecordingMetricStore()
        let recorder = MetricsRecorder(store: store, interval: 0.001, soon: 700)
        let flusher = Thread { for _ in 0..<50 { recorder.flush() } }
        flusher.start()
        for b in 0..<100 {
            recorder.enqueue(Self.points(b * 500..<(b + 1) * 500))
            recorder.record(MetricRecord(runID: 1, stageRunID: 1, stage: "train", key: "loss", step: Int64(50_000 + b), value: 1, timestamp: 0))
        }
        try recorder.close()
        let steps = store.steps
        #expect(steps.count == 50_100)
        // Each producer's points in its order: the batches, and the single points between them.
        let batchSteps = steps.filter { $0 < 50_000 }
        #expect(batchSteps == (0..<50_000).map(Int64.init))
        #expect(steps.filter { $0 >= 50_000 } == (50_000..<50_100).map(Int64.init))
    }

    /// A flush waits for the write already in progress: when it returns, the
    /// points the writer had taken are committed too (a gate reads them).
    @Test func flushWaitsForTheWriteInProgress() throws {
        let store = RecordingMetricStore(holdFirst: true)
        let recorder = MetricsRecorder(store: store, interval: 60, soon: 1_000)
        recorder.enqueue(Self.points(0..<1_000))  // the writer starts at once and is held
        store.entered.wait()
        let seen = Mutex(-1)
        let done = DispatchSemaphore(value: 0)
        Thread {
            recorder.flush()
            seen.withLock { $0 = store.steps.count }
            done.signal()
        }.start()
        store.release.signal()
        done.wait()
        #expect(seen.withLock { $0 } == 1_000)
        try recorder.close()
        #expect(store.steps == (0..<1_000).map(Int64.init))
    }
}
