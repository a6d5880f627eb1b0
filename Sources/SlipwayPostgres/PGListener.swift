import CLibPQ
import Foundation

/// A `NOTIFY` received on a channel this process listens to.
public struct PGNotification: Sendable, Hashable {
    public var channel: String
    public var payload: String
    /// The server process that sent it.
    public var senderPID: Int32
}

extension PGConnection {
    /// Notifications already received on this connection (reads what the
    /// socket has without waiting).
    public func takeNotifications() throws(PGError) -> [PGNotification] {
        let conn = try live()
        guard pq.PQconsumeInput!(conn) == 1, pq.PQstatus!(conn) == CONNECTION_OK else {
            var error = connectionError()
            error.kind = .connection
            throw error
        }
        var received: [PGNotification] = []
        while let notify = pq.PQnotifies!(conn) {
            received.append(PGNotification(channel: String(cString: notify.pointee.relname),
                                           payload: notify.pointee.extra.map { String(cString: $0) } ?? "",
                                           senderPID: notify.pointee.be_pid))
            pq.PQfreemem!(notify)
        }
        return received
    }

    /// Sends a notification (delivered when the surrounding transaction commits).
    public func notify(_ channel: String, payload: String = "") throws(PGError) {
        try execute("SELECT pg_notify($1, $2)", [channel, payload])
    }

    // MARK: - Advisory locks

    /// Waits for the transaction-scoped advisory lock `key`; it is released
    /// when the transaction ends. Call inside a transaction.
    public func advisoryTransactionLock(_ key: Int64) throws(PGError) {
        try execute("SELECT pg_advisory_xact_lock($1)", [key])
    }

    /// Takes the transaction-scoped advisory lock `key` if it is free.
    public func tryAdvisoryTransactionLock(_ key: Int64) throws(PGError) -> Bool {
        try execute("SELECT pg_try_advisory_xact_lock($1)", [key]).scalar(Bool.self)
    }

    /// The advisory lock key for a name: a stable 64-bit hash computed by the
    /// server (`hashtextextended`), the same from every client.
    public func advisoryKey(_ name: String) throws(PGError) -> Int64 {
        try execute("SELECT hashtextextended($1, 0)", [name]).scalar(Int64.self)
    }

    /// Holds the session-level advisory lock `key` while `body` runs (for work
    /// spanning several transactions).
    public func withAdvisoryLock<T>(_ key: Int64, _ body: () throws -> T) throws -> T {
        try execute("SELECT pg_advisory_lock($1)", [key])
        defer { _ = try? execute("SELECT pg_advisory_unlock($1)", [key]) }
        return try body()
    }
}

/// Listens for notifications on its own connection, for live views (the
/// console, the agent): ``wait(timeout:)`` blocks until one arrives or the
/// time is up, and ``fileDescriptor`` can join a caller's own `poll` loop.
///
/// A lost connection is re-established (under the retry policy) and the
/// channels listened to again; since notifications sent meanwhile are lost,
/// the next wake-up then says ``Wakeup/resynchronise`` and the caller
/// re-reads what it shows.
public final class PGListener {
    public let url: PGURL
    public private(set) var channels: [String]
    private var connection: PGConnection?
    private let policy: PGRetryPolicy

    public struct Wakeup: Sendable, Hashable {
        public var notifications: [PGNotification]
        /// The connection was re-established: notifications may have been missed.
        public var resynchronise: Bool
    }

    public init(url: PGURL, channels: [String], policy: PGRetryPolicy = .standard) throws(PGError) {
        self.url = url
        self.channels = channels
        self.policy = policy
        connection = try connect()
    }

    private func connect() throws(PGError) -> PGConnection {
        let connection = try PGConnection(url)
        for channel in channels {
            try connection.executeScript("LISTEN \(try connection.quoteIdentifier(channel))")
        }
        return connection
    }

    /// The socket to poll for input (it changes after a reconnection; -1 while disconnected).
    public var fileDescriptor: Int32 { connection?.socket ?? -1 }

    public func listen(_ channel: String) throws(PGError) {
        guard !channels.contains(channel) else { return }
        channels.append(channel)
        if let connection { try connection.executeScript("LISTEN \(try connection.quoteIdentifier(channel))") }
    }

    /// What has arrived, without waiting.
    public func poll() throws -> Wakeup {
        try wait(timeout: 0)
    }

    /// Waits up to `timeout` seconds for notifications.
    public func wait(timeout: Double) throws -> Wakeup {
        var resynchronise = false
        let deadline = Monotonic.now + max(0, timeout)
        while true {
            let connection = try liveConnection(&resynchronise)
            let received: [PGNotification]
            do {
                received = try connection.takeNotifications()
            } catch {
                guard error.isConnectionLoss else { throw error }
                connection.close()
                continue
            }
            // After a reconnection the caller re-reads at once: what it missed is not coming.
            if !received.isEmpty || resynchronise || Monotonic.now >= deadline {
                return Wakeup(notifications: received, resynchronise: resynchronise)
            }
            try Self.waitForInput(on: connection.socket, until: deadline)
        }
    }

    /// The open connection, re-established if it was lost (which `resynchronise` records).
    private func liveConnection(_ resynchronise: inout Bool) throws -> PGConnection {
        if let connection, connection.isOpen { return connection }
        connection?.close()
        connection = nil
        resynchronise = true
        try reconnect()
        guard let connection else { throw PGError(kind: .connection, message: "not connected", context: url.redacted) }
        return connection
    }

    /// Blocks until `socket` has input or the deadline passes.
    private static func waitForInput(on socket: Int32, until deadline: Double) throws {
        var fds = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let milliseconds = max(0, (deadline - Monotonic.now) * 1000).rounded(.up)
        let ready = Foundation.poll(&fds, 1, Int32(min(milliseconds, Double(Int32.max))))
        if ready < 0, errno != EINTR {
            throw PGError(kind: .connection, message: "poll failed: \(String(cString: strerror(errno)))")
        }
    }

    private func reconnect() throws {
        connection = nil
        let start = Monotonic.now
        var attempt = 0
        while true {
            let failure: PGError
            do {
                connection = try connect()
                return
            } catch {
                failure = error
            }
            guard failure.isConnectionLoss else { throw failure }
            attempt += 1
            let elapsed = Monotonic.now - start
            guard elapsed < policy.reconnectFor else {
                throw policy.gaveUp(after: elapsed, attempts: attempt, url: url, last: failure)
            }
            policy.sleep(policy.delay(attempt: attempt))
        }
    }

    public func close() {
        connection?.close()
        connection = nil
    }
}

/// A monotonic clock in seconds, for deadlines that wall-clock changes must not move.
enum Monotonic {
    static var now: Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
