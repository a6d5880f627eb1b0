import Dispatch
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import SlipwayEngine

/// Serves a ``TrackingService`` over HTTP/1.1 on 127.0.0.1 (SwiftNIO).
///
/// Binding is all that happens up front: a socket on a free loopback port,
/// listening, watched by a dispatch source. The event loops start when the
/// first connection arrives, so a run whose stages never call MLflow costs
/// one socket and no threads.
public final class TrackingServer: @unchecked Sendable {
    public let port: Int
    let service: TrackingService
    private let lock = NSLock()
    private var listenFD: Int32
    private var watcher: DispatchSourceRead?
    private var group: MultiThreadedEventLoopGroup?
    private var channel: (any Channel)?
    private var stopped = false
    private let closeOnCancel = Flag(true)
    private let cancelled = DispatchSemaphore(value: 0)

    /// Binds 127.0.0.1 on a free port (nothing else: serving starts on demand).
    public init(service: TrackingService) throws {
        self.service = service
        let (fd, port) = try LoopbackListener.open()
        listenFD = fd
        self.port = port
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: .global(qos: .userInitiated))
        source.setEventHandler { [weak self] in self?.startServing() }
        // A source's descriptor may be closed only once it is cancelled: the
        // socket is closed here unless the event loops took it over.
        let closing = closeOnCancel, cancelled = self.cancelled
        source.setCancelHandler {
            if closing.value { close(fd) }
            cancelled.signal()
        }
        watcher = source
        source.resume()
    }

    /// Serves at once on a socket already listening (the `slipway-mlflow` helper's, which
    /// the run bound and handed over when a stage first connected).
    public init(service: TrackingService, listening fd: Int32, port: Int) throws {
        self.service = service
        self.port = port
        listenFD = fd
        if let failure = lock.withLock({ serve() }) {
            throw ServerError("cannot serve on the run's socket: \(failure)")
        }
    }

    deinit { stop() }

    struct ServerError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// Whether the event loops were started (a client connected).
    public var isServing: Bool { lock.withLock { group != nil } }

    /// The first connection is waiting: the event loops take the socket over.
    private func startServing() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped, group == nil, let watcher else { return }
        closeOnCancel.value = false
        watcher.cancel()
        self.watcher = nil
        serve()
    }

    /// Starts the event loops on the listening socket (the lock is held); why it could not.
    @discardableResult
    private func serve() -> (any Error)? {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, min(2, System.coreCount)))
        self.group = group
        let service = self.service
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 128)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.eventLoop.makeCompletedFuture(withResultOf: {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(TrackingHTTPHandler(service: service))
                })
            }
        do {
            channel = try bootstrap.withBoundSocket(listenFD).wait()
            listenFD = -1  // the channel owns it now
            return nil
        } catch {
            // Waiting clients are refused rather than left waiting.
            close(listenFD)
            listenFD = -1
            return error
        }
    }

    /// Stops serving: open connections are closed, the port is released.
    public func stop() {
        let (channel, group, watcher, fd) = lock.withLock { () -> ((any Channel)?, MultiThreadedEventLoopGroup?, DispatchSourceRead?, Int32) in
            guard !stopped else { return (nil, nil, nil, -1) }
            stopped = true
            defer { self.channel = nil; self.group = nil; self.watcher = nil; self.listenFD = -1 }
            return (self.channel, self.group, self.watcher, self.listenFD)
        }
        if let watcher {
            watcher.cancel()
            cancelled.wait()  // the port is free when stop returns
        } else if fd >= 0 {
            close(fd)
        }
        try? channel?.close().wait()
        try? group?.syncShutdownGracefully()
    }
}

/// A boolean shared across threads.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var _value: Bool
    init(_ value: Bool) { _value = value }
    var value: Bool {
        get { lock.withLock { _value } }
        set { lock.withLock { _value = newValue } }
    }
}
