import Dispatch
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

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
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound == 0 { bound = listen(fd, 128) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        if bound == 0 {
            bound = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
            }
        }
        guard bound == 0 else {
            let e = errno
            close(fd)
            throw ServerError("cannot listen on 127.0.0.1: \(String(cString: strerror(e)))")
        }
        listenFD = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
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
        } catch {
            close(listenFD)
            listenFD = -1
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
