import Dispatch
import Synchronization

/// Connections to one database, shared by the threads of a process, with the
/// retries of a ``PGRetryPolicy``.
///
/// ``read(_:)`` runs statements outside a transaction, ``snapshot(_:)`` in a
/// read-only transaction, ``write(_:_:)`` in a read-write transaction. Their
/// bodies may run more than once (after a conflict or a lost connection), so
/// they only talk to the database and return what they computed.
public final class PGPool: Sendable {
    public let url: PGURL
    public let policy: PGRetryPolicy
    public let maxConnections: Int
    /// Runs on every new connection before it is used (session settings).
    private let setUp: @Sendable (PGConnection) throws -> Void
    private let state = Mutex(State())
    private let permits: DispatchSemaphore

    private struct State {
        var idle: [PGConnection] = []
        /// Once a connection succeeded, failing to connect means the server is
        /// away (restarting, unreachable) and is retried; before that it is
        /// reported at once (a wrong host or password should not hang for the
        /// retry period).
        var everConnected = false
        /// The server-side process ids of this pool's connections: a
        /// notification sent by one of them announces this process's own write.
        var backends: Set<Int32> = []
    }

    public enum Isolation: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }

    public init(url: PGURL, maxConnections: Int = 8, policy: PGRetryPolicy = .standard,
                setUp: @escaping @Sendable (PGConnection) throws -> Void = { _ in }) {
        self.url = url
        self.policy = policy
        self.maxConnections = max(1, maxConnections)
        self.permits = DispatchSemaphore(value: max(1, maxConnections))
        self.setUp = setUp
    }

    deinit {
        state.withLock { s in
            for c in s.idle { c.close() }
            s.idle.removeAll()
        }
    }

    /// Whether `backendPID` (a notification's sender) is one of this pool's connections.
    public func isOwnBackend(_ backendPID: Int32) -> Bool {
        state.withLock { $0.backends.contains(backendPID) }
    }

    /// Closes the idle connections (busy ones close when returned).
    public func closeIdle() {
        let idle = state.withLock { s in defer { s.idle.removeAll() }; return s.idle }
        for c in idle { c.close() }
    }

    /// Runs `body` on a connection, outside any transaction; runs it again on
    /// a new connection if the connection is lost meanwhile.
    @discardableResult
    public func read<T>(_ body: (PGConnection) throws -> T) throws -> T {
        try run(begin: nil, body)
    }

    /// Runs `body` in a read-only transaction, so every statement sees the same snapshot.
    public func snapshot<T>(_ body: (PGConnection) throws -> T) throws -> T {
        try run(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", trackCommit: false, body)
    }

    /// Runs `body` in a transaction and commits it, running it again after a
    /// conflict (serialisation failure, deadlock) or a lost connection.
    @discardableResult
    public func write<T>(_ isolation: Isolation = .readCommitted, _ body: (PGConnection) throws -> T) throws -> T {
        try run(begin: "BEGIN ISOLATION LEVEL \(isolation.rawValue)", trackCommit: true, body)
    }

    /// A connection for the caller's own use, without retries; returned to the pool afterwards.
    public func withConnection<T>(_ body: (PGConnection) throws -> T) throws -> T {
        let connection = try checkout()
        defer { checkin(connection) }
        return try body(connection)
    }

    // MARK: - Retries

    private enum Attempt<T> {
        case done(T)
        /// The COMMIT's answer was lost with the connection: the outcome is to be looked up.
        case commitUnknown(T, transactionID: String, loss: PGError)
    }

    private func run<T>(begin: String?, trackCommit: Bool = false, _ body: (PGConnection) throws -> T) throws -> T {
        var conflicts = 0
        var outage = Outage()
        while true {
            let connection: PGConnection
            do {
                connection = try checkout()
            } catch let error as PGError where error.isConnectionLoss && state.withLock({ $0.everConnected }) {
                try outage.wait(after: error, policy: policy, url: url)
                continue
            }
            let attempt: Attempt<T>
            do {
                attempt = try self.attempt(connection, begin: begin, trackCommit: trackCommit, body)
            } catch let error as PGError where error.isTransactionConflict && begin != nil {
                connection.rollbackQuietly()
                checkin(connection)
                conflicts += 1
                guard conflicts <= policy.conflictRetries else {
                    var e = error
                    e.context = "gave up after \(conflicts) conflicting attempts"
                    throw e
                }
                policy.sleep(policy.conflictDelay(attempt: conflicts))
                continue
            } catch let error as PGError where error.isConnectionLoss {
                connection.close()
                checkin(connection)
                // The idle connections went the same way, most likely.
                closeIdle()
                try outage.wait(after: error, policy: policy, url: url)
                continue
            } catch {
                connection.rollbackQuietly()
                checkin(connection)
                throw error
            }
            checkin(connection)
            switch attempt {
            case .done(let value):
                return value
            case .commitUnknown(let value, let transactionID, let loss):
                closeIdle()
                if try committed(transactionID, after: loss, outage: &outage) { return value }
            }
        }
    }

    /// One run of `body` on `connection`, in a transaction when `begin` is given.
    private func attempt<T>(_ connection: PGConnection, begin: String?, trackCommit: Bool,
                            _ body: (PGConnection) throws -> T) throws -> Attempt<T> {
        guard let begin else { return .done(try body(connection)) }
        var transactionID: String?
        if trackCommit {
            // One round trip: BEGIN, and the transaction's id, by which a
            // COMMIT whose answer is lost can be looked up.
            transactionID = try connection.executeScript(begin + "; SELECT pg_current_xact_id()::text").scalar(String.self)
        } else {
            try connection.executeScript(begin)
        }
        let value = try body(connection)
        let failure: PGError
        do {
            try connection.executeScript("COMMIT")
            return .done(value)
        } catch {
            failure = error
        }
        guard failure.isConnectionLoss, let transactionID else { throw failure }
        connection.close()
        return .commitUnknown(value, transactionID: transactionID, loss: failure)
    }

    /// After a COMMIT whose answer was lost: whether the transaction committed.
    func committed(_ transactionID: String, after loss: PGError, outage: inout Outage) throws -> Bool {
        while true {
            do {
                let status = try withConnection { c in
                    try c.execute("SELECT pg_xact_status($1::xid8)", [transactionID]).scalar(String?.self)
                }
                switch status {
                case "committed": return true
                case "aborted": return false
                case "in progress":
                    // The old session is still finishing its COMMIT.
                    policy.sleep(policy.initialDelay)
                default:
                    throw PGError(kind: .connection, message: "the connection was lost during COMMIT and the outcome of "
                                  + "transaction \(transactionID) cannot be known", context: url.redacted)
                }
            } catch let error as PGError where error.isConnectionLoss {
                try outage.wait(after: error, policy: policy, url: url)
            }
        }
    }

    /// The time since a connection was first lost, to bound reconnecting.
    struct Outage {
        var start: Double?
        var attempts = 0

        mutating func wait(after error: PGError, policy: PGRetryPolicy, url: PGURL) throws(PGError) {
            let now = Monotonic.now
            let began = start ?? now
            start = began
            attempts += 1
            guard now - began < policy.reconnectFor else {
                throw policy.gaveUp(after: now - began, attempts: attempts, url: url, last: error)
            }
            policy.sleep(min(policy.delay(attempt: attempts), max(0, began + policy.reconnectFor - now)))
        }
    }

    // MARK: - Connections

    private func checkout() throws -> PGConnection {
        permits.wait()
        if let idle = state.withLock({ $0.idle.popLast() }) { return idle }
        do {
            let connection = try PGConnection(url)
            try setUp(connection)
            let backend = connection.backendPID
            state.withLock { $0.everConnected = true; $0.backends.insert(backend) }
            return connection
        } catch {
            permits.signal()
            throw error
        }
    }

    private func checkin(_ connection: PGConnection) {
        if connection.isOpen, !connection.inTransaction {
            state.withLock { $0.idle.append(connection) }
        } else {
            connection.close()
        }
        permits.signal()
    }
}
