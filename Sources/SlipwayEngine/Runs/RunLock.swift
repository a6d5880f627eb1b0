import Foundation

/// An exclusive `flock` on `.slipway/locks/run-PIPELINE.lock`. The kernel
/// drops it when the process ends, however it ends, so a killed run never
/// leaves a stale lock behind.
public final class RunLock: @unchecked Sendable {
    private var fd: Int32

    private init(fd: Int32) { self.fd = fd }

    public static func acquire(workspace: Workspace, pipeline: String, onWait: () -> Void) throws -> RunLock {
        let (fd, path) = try openLockFile(workspace: workspace, pipeline: pipeline)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            onWait()
            while flock(fd, LOCK_EX) != 0 {
                if errno != EINTR { let e = errno; close(fd); throw FileSystem.Failure(path: path, operation: "lock", code: e) }
            }
        }
        return RunLock(fd: fd)
    }

    /// The lock if no one holds it now, else nil (without waiting).
    public static func attempt(workspace: Workspace, pipeline: String) throws -> RunLock? {
        let (fd, path) = try openLockFile(workspace: workspace, pipeline: pipeline)
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return RunLock(fd: fd) }
        let e = errno
        close(fd)
        if e == EWOULDBLOCK || e == EINTR { return nil }
        throw FileSystem.Failure(path: path, operation: "lock", code: e)
    }

    static func openLockFile(workspace: Workspace, pipeline: String) throws -> (Int32, String) {
        let dir = workspace.stateDir + "/locks"
        try FileSystem.makeDirectory(dir)
        let safe = String(pipeline.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" ? Character($0) : "_" })
        let path = dir + "/run-\(safe).lock"
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileSystem.Failure(path: path, operation: "open", code: errno) }
        return (fd, path)
    }

    public func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }
}
