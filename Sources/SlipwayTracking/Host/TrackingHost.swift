import Foundation
import SlipwayEngine

/// The `slipway-mlflow` executable: serves one run's MLflow endpoint on the listening
/// socket the run hands it, and passes what stages log back to the run over a socket
/// pair (the frames of ``TrackingFrame``; ``HelperEndpoint`` is the run's end).
///
/// It lives as long as the run wants it: it exits when told to stop, or when the run's
/// end of the pair closes (the run ended, or was killed), never outliving it.
public enum TrackingHost {
    /// Serves until the run says stop or goes away; the exit status.
    public static func run(listening listenFD: Int32, control controlFD: Int32) -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        let channel = FrameChannel(fd: controlFD)
        guard case .hello(let root, let pipeline)? = try? channel.receive() else { return 2 }
        let service = TrackingService(workspace: Workspace(root: root), pipeline: pipeline)
        let calls = PendingCalls()
        var server: TrackingServer?
        loop: while true {
            let frame: TrackingFrame
            do {
                guard let next = try channel.receive() else { break }  // the run went away
                frame = next
            } catch {
                // On standard error, which the run keeps and quotes in the stages' logs.
                FileHandle.standardError.write(Data("slipway-mlflow: \(error)\n".utf8))
                break
            }
            switch frame {
            case .open(let call, let token, let runID, let stage):
                service.open(stage: stage, token: token, runID: runID, sink: RunSink(token: token, channel: channel, calls: calls))
                if call != 0 { try? channel.send(.done(call: call, error: nil)) }
            case .serve:
                guard server == nil else { continue }
                do { server = try TrackingServer(service: service, listening: listenFD, port: 0) } catch {
                    // Said on standard error, which the run keeps in the run's folder; the
                    // run sees the helper exit and says so in the stages' logs.
                    FileHandle.standardError.write(Data("slipway-mlflow: \(error)\n".utf8))
                    calls.abandon()
                    channel.close()
                    return 1
                }
            case .close(let call, let token):
                // Off this thread: a request of the stage may hold its scope while it
                // waits for the run's answer, which only this thread can read.
                DispatchQueue.global().async {
                    try? channel.send(.summary(call: call, service.close(token: token)))
                }
            case .done(let call, let error):
                calls.finish(call, error: error)
            case .stop:
                break loop
            case .hello, .summary, .metrics, .params, .tags, .artifact, .inputs, .note:
                break loop
            }
        }
        calls.abandon()
        server?.stop()
        channel.close()
        return 0
    }
}

/// A stage's sink in the helper: each call goes to the run, which keeps it, and returns
/// once the run has answered.
final class RunSink: TrackingSink, @unchecked Sendable {
    let token: String
    let channel: FrameChannel
    let calls: PendingCalls

    init(token: String, channel: FrameChannel, calls: PendingCalls) {
        self.token = token
        self.channel = channel
        self.calls = calls
    }

    func logMetrics(_ points: [TrackedMetric]) throws { try calls.call(channel) { .metrics(call: $0, token: token, points) } }
    func logParams(_ params: [KeyValue]) throws { try calls.call(channel) { .params(call: $0, token: token, params) } }
    func setTags(_ tags: [KeyValue]) throws { try calls.call(channel) { .tags(call: $0, token: token, tags) } }
    func recordArtifact(_ artifact: TrackedArtifact) throws { try calls.call(channel) { .artifact(call: $0, token: token, artifact) } }
    func logInputs(_ inputs: [TrackedInput]) throws { try calls.call(channel) { .inputs(call: $0, token: token, inputs) } }
    func note(_ message: String) { try? channel.send(.note(token: token, message)) }
}

/// Calls to the run awaiting its answer.
final class PendingCalls: @unchecked Sendable {
    private final class Waiter: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var error: String??
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    private let lock = NSLock()
    private var waiting: [UInt64: Waiter] = [:]
    private var next: UInt64 = 1
    private var abandoned = false

    func call(_ channel: FrameChannel, _ frame: (UInt64) -> TrackingFrame) throws {
        let waiter = Waiter()
        let id = try lock.withLock { () throws -> UInt64 in
            guard !abandoned else { throw Refused(description: "the run has ended") }
            defer { next += 1 }
            waiting[next] = waiter
            return next
        }
        do { try channel.send(frame(id)) } catch {
            _ = lock.withLock { waiting.removeValue(forKey: id) }
            throw error
        }
        waiter.done.wait()
        switch waiter.error {
        case .some(nil): return
        case .some(let message?): throw Refused(description: message)
        case nil: throw Refused(description: "the run ended before it kept this")
        }
    }

    func finish(_ id: UInt64, error: String?) {
        guard let waiter = lock.withLock({ waiting.removeValue(forKey: id) }) else { return }
        waiter.error = .some(error)
        waiter.done.signal()
    }

    /// The run is gone: every waiting call fails, and later ones at once.
    func abandon() {
        let all = lock.withLock { () -> [Waiter] in
            abandoned = true
            defer { waiting = [:] }
            return Array(waiting.values)
        }
        for w in all { w.done.signal() }
    }
}
