import Foundation
import Testing
@testable import SlipwayEngine

/// The frames between a run and its `slipway-mlflow` helper.
struct TrackingFramesTests {
    static let stage = TrackedStageInfo(runID: 7, stageRunID: 42, pipeline: "train", stage: "fit[lr=0.1]", user: "ana",
                                        artifactArea: "mlflow-artifacts/fit[lr=0.1]", startedAt: 1_700_000_000_123)

    static let every: [TrackingFrame] = [
        .hello(root: "/work/ws", pipeline: "train"),
        .open(call: 0, token: String(repeating: "a", count: 64), runID: "0123456789abcdef0123456789abcdef", stage: stage),
        .open(call: 9, token: "t", runID: "r", stage: stage),
        .serve,
        .close(call: 3, token: "t"),
        .stop,
        .summary(call: 3, TrackedStageSummary(params: [KeyValue("lr", "0.1"), KeyValue("ünï", "")], requests: 12)),
        .metrics(call: 4, token: "t", [TrackedMetric(key: "loss", value: -0.0, timestamp: -5, step: Int64.max),
                                       TrackedMetric(key: "nan", value: .nan, timestamp: 0, step: 0),
                                       TrackedMetric(key: "inf", value: .infinity, timestamp: 1, step: -1)]),
        .metrics(call: 5, token: "t", []),
        .params(call: 6, token: "t", [KeyValue("a", "b")]),
        .tags(call: 7, token: "t", [KeyValue("mlflow.runName", "fold a")]),
        .artifact(call: 8, token: "t", TrackedArtifact(path: "mlflow-artifacts/fit/model.pkl", digest: "sha256:00", size: 1 << 40)),
        .inputs(call: 10, token: "t", [TrackedInput(name: "train-set", digest: "8be7b4a3", source: "{\"uri\": \"x\"}")]),
        .note(token: "t", "line\nwith a newline"),
        .done(call: 11, error: nil),
        .done(call: 12, error: "the registry is locked"),
    ]

    /// Two ends of a socket pair.
    func pair() -> (FrameChannel, FrameChannel) {
        var fds: [Int32] = [0, 0]
        // Close-on-exec: other suites spawn stages meanwhile, which must not hold an end.
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        return (FrameChannel(fd: fds[0]), FrameChannel(fd: fds[1]))
    }

    /// Frames compare by their bytes (a NaN metric is not equal to itself).
    @Test func everyFrameCrossesTheSocketAsItWasSent() throws {
        let (a, b) = pair()
        defer { a.close(); b.close() }
        for frame in Self.every { try a.send(frame) }
        for frame in Self.every {
            let got = try #require(try b.receive())
            #expect(got.encoded == frame.encoded)
        }
    }

    @Test func aBatchLargerThanOneReadArrivesWhole() throws {
        let (a, b) = pair()
        defer { a.close(); b.close() }
        let points = (0..<1000).map { TrackedMetric(key: String(repeating: "k", count: 200) + "\($0)", value: Double($0), timestamp: 1, step: Int64($0)) }
        // Written from another thread: the socket's buffer is smaller than the frame.
        let sender = Thread { try! a.send(.metrics(call: 1, token: "t", points)); try! a.send(.stop) }
        sender.start()
        guard case .metrics(1, "t", let got)? = try b.receive() else { Issue.record("not the batch"); return }
        #expect(got == points)
        #expect(try b.receive() == .stop)
    }

    @Test func theOtherEndClosingBetweenFramesEndsTheStream() throws {
        let (a, b) = pair()
        try a.send(.serve)
        a.close()
        defer { b.close() }
        #expect(try b.receive() == .serve)
        #expect(try b.receive() == nil)
    }

    @Test func aBrokenFrameIsRefusedNotGuessed() throws {
        let good = TrackingFrame.params(call: 1, token: "t", [KeyValue("a", "b")]).encoded
        var bad: [[UInt8]] = []
        bad.append(Array(good.dropLast()))                   // the socket closes inside a frame
        // A string's length runs past the end of a frame that is whole.
        bad.append([14, 0, 0, 0, 4] + Array(repeating: 0, count: 8) + [200, 0, 0, 0, 0x74])
        var extra = good; extra.append(0); extra[0] &+= 1    // a byte after the fields
        bad.append(extra)
        bad.append([1, 0, 0, 0, 99])                         // an unknown kind
        // A count of 2^32-1 pairs in a frame a few bytes long: refused before anything is reserved.
        bad.append([18, 0, 0, 0, 8] + Array(repeating: 0, count: 8) + [1, 0, 0, 0, 0x74] + [0xff, 0xff, 0xff, 0xff])
        bad.append([0xff, 0xff, 0xff, 0x7f])                 // longer than any frame may be
        for bytes in bad {
            let (a, b) = pair()
            _ = bytes.withUnsafeBytes { write(a.fd, $0.baseAddress, $0.count) }
            a.close()
            #expect(throws: (any Error).self, "\(bytes.prefix(16))") { _ = try b.receive() }
            b.close()
        }
    }

    /// The variables a stage gets name its scope and no one else's.
    @Test func aScopesVariablesCarryItsTokenInThePath() {
        let env = TrackingAddress.environment(port: 5000, token: "abc", runID: "r1", pipeline: "train")
        #expect(env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000/abc")
        #expect(env["MLFLOW_RUN_ID"] == "r1")
        #expect(env["MLFLOW_EXPERIMENT_ID"] == TrackingAddress.experimentID("train"))
        #expect(env["MLFLOW_TRACKING_TOKEN"] == nil)
        #expect(TrackingAddress.newToken().count == 64 && TrackingAddress.newToken() != TrackingAddress.newToken())
    }
}
