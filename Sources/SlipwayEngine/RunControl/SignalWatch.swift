import Foundation

/// The write end of the pipe the signal handler writes to; set once, before
/// the first handler is installed.
nonisolated(unsafe) private var signalPipeWrite: Int32 = -1

/// Async-signal-safe: one byte (the signal's number) into the pipe.
private func forwardSignal(_ sig: Int32) {
    var byte = UInt8(truncatingIfNeeded: sig)
    let saved = errno
    _ = write(signalPipeWrite, &byte, 1)
    errno = saved
}

/// SIGTERM, SIGINT and SIGHUP turned into calls on a background thread, with
/// no moment in which one is lost: a real handler is installed at once (no
/// `SIG_IGN` while a dispatch source gets ready), and it only writes the
/// signal's number into a pipe that one thread reads; and the signals are
/// unblocked in the calling thread, in case the parent started this process
/// with them blocked. While a watch is held
/// the signal no longer kills the process; once the last watch of a signal
/// is released its default action is back.
public enum SignalWatch {
    /// Keeps calls coming until released.
    public final class Token: @unchecked Sendable {
        let id: Int
        let signals: [Int32]
        private var released = false
        init(id: Int, signals: [Int32]) { self.id = id; self.signals = signals }

        public func release() {
            guard !released else { return }
            released = true
            SignalWatch.remove(self)
        }

        deinit { release() }
    }

    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var handlers: [Int: (signals: [Int32], call: @Sendable (Int32) -> Void)] = [:]
        var nextID = 0
        var readFD: Int32 = -1
    }

    private static let state = State()

    /// Calls `handler` (on a background thread) for every one of `signals`
    /// that arrives from now until the token is released.
    public static func watch(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) -> Token {
        let s = state
        s.lock.lock()
        defer { s.lock.unlock() }
        if s.readFD < 0 { startReader(s) }
        s.nextID += 1
        s.handlers[s.nextID] = (signals, handler)
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for sig in signals {
            signal(sig, forwardSignal)
            sigaddset(&unblock, sig)
        }
        // A parent may hand its mask down: a process started from a thread
        // that blocks every signal (libdispatch's workers, Swift's
        // cooperative pool) would otherwise never see one. A signal already
        // pending is delivered now, to the handler just installed.
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        return Token(id: s.nextID, signals: signals)
    }

    fileprivate static func remove(_ token: Token) {
        let s = state
        s.lock.lock()
        defer { s.lock.unlock() }
        s.handlers[token.id] = nil
        let watched = Set(s.handlers.values.flatMap(\.signals))
        for sig in token.signals where !watched.contains(sig) { signal(sig, SIG_DFL) }
    }

    private static func startReader(_ s: State) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // A signal storm never blocks the handler: extra bytes are dropped.
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        s.readFD = fds[0]
        signalPipeWrite = fds[1]
        let fd = fds[0]
        let thread = Thread {
            var byte: UInt8 = 0
            while true {
                let n = read(fd, &byte, 1)
                if n < 0 && errno == EINTR { continue }
                guard n == 1 else { return }
                let sig = Int32(byte)
                s.lock.lock()
                let calls = s.handlers.values.filter { $0.signals.contains(sig) }.map(\.call)
                s.lock.unlock()
                for call in calls { call(sig) }
            }
        }
        thread.name = "slipway-signals"
        thread.start()
    }
}
