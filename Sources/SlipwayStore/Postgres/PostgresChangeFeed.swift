import Foundation
import SlipwayCore
import SlipwayPostgres

/// ``ChangeFeed`` over LISTEN/NOTIFY on the project's channel: every
/// committed write (from any machine) is announced by the change triggers, so
/// a console or an agent wakes within a round trip instead of at its next poll.
/// Announcements of this process's own writes (sent by its pool's
/// connections) are not news and are dropped: an agent whose pass writes must
/// not wake itself.
final class PostgresChangeFeed: ChangeFeed, @unchecked Sendable {
    private let listener: PGListener
    private let lock = NSLock()
    private var closed = false
    private let isOwn: @Sendable (Int32) -> Bool
    /// The longest single wait on the socket, so `close()` is noticed soon.
    static let slice = 0.25

    init(_ listener: PGListener, isOwn: @escaping @Sendable (Int32) -> Bool) {
        self.listener = listener
        self.isOwn = isOwn
    }

    func wait(timeout: Double) throws -> Bool {
        let deadline = Date().addingTimeInterval(max(0, timeout))
        while true {
            let waited: PGListener.Wakeup? = try lock.withLock {
                if closed { return nil }
                return try listener.wait(timeout: min(Self.slice, max(0, deadline.timeIntervalSinceNow)))
            }
            guard let waited else { return false }
            if waited.resynchronise || waited.notifications.contains(where: { !isOwn($0.senderPID) }) { return true }
            if lock.withLock({ closed }) || Date() >= deadline { return false }
        }
    }

    func close() {
        lock.withLock {
            closed = true
            listener.close()
        }
    }
}
