import Foundation

/// Follows a log file another process writes (a cluster job's output): each
/// `pump` reads what was added since the last one and hands complete lines
/// to the observer, as the local executor does with its pipe. A line longer
/// than 64 KiB stays in the log but is not parsed.
final class LogTail: @unchecked Sendable {
    let path: String
    private(set) var offset: UInt64
    private var partial: [UInt8] = []
    private var overlong = false
    private let maxLine = 64 * 1024

    init(path: String, from offset: UInt64 = 0) {
        self.path = path
        self.offset = offset
    }

    /// The file's size now (where a tail that only wants new lines starts).
    static func size(of path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_size) : 0
    }

    /// Reads what the file gained; with `final`, a last line without its
    /// newline is handed over too. Returns whether anything was read.
    @discardableResult
    func pump(_ observer: any JobObserver, final: Bool = false) -> Bool {
        var gained = false
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            defer { close(fd) }
            let size = 64 * 1024
            let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
            defer { buffer.deallocate() }
            while true {
                let n = pread(fd, buffer, size, off_t(offset))
                if n < 0 { if errno == EINTR { continue }; break }
                if n == 0 { break }
                gained = true
                offset += UInt64(n)
                split(UnsafeBufferPointer(start: buffer, count: n), observer)
            }
        }
        if final, !partial.isEmpty {
            if !overlong { observer.stdoutLine(Substring(String(decoding: partial, as: UTF8.self))) }
            partial.removeAll()
            overlong = false
        }
        return gained
    }

    private func split(_ bytes: UnsafeBufferPointer<UInt8>, _ observer: any JobObserver) {
        var start = 0
        for i in 0..<bytes.count where bytes[i] == UInt8(ascii: "\n") {
            if !overlong {
                partial.append(contentsOf: bytes[start..<i])
                observer.stdoutLine(Substring(String(decoding: partial, as: UTF8.self)))
            }
            partial.removeAll(keepingCapacity: true)
            overlong = false
            start = i + 1
        }
        if start < bytes.count, !overlong {
            partial.append(contentsOf: bytes[start..<bytes.count])
            if partial.count > maxLine { overlong = true; partial.removeAll() }
        }
    }
}
