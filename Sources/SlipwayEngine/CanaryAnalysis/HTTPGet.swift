import Foundation

/// A plain HTTP/1.1 GET over a socket (Connection: close), enough for an
/// analysis reading a metrics endpoint such as Prometheus's query API.
enum HTTPGet {
    struct Failure: Error { var message: String }

    static func fetch(_ address: String, timeout: Double) -> Result<Data, Failure> {
        guard address.hasPrefix("http://") else { return .fail("'\(address)' is not an http:// address") }
        let rest = address.dropFirst("http://".count)
        let hostPort = rest.prefix { $0 != "/" && $0 != "?" }
        var path = String(rest.dropFirst(hostPort.count))
        if path.isEmpty { path = "/" } else if path.hasPrefix("?") { path = "/" + path }
        var host = String(hostPort), port = "80"
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            host = String(hostPort[..<colon])
            port = String(hostPort[hostPort.index(after: colon)...])
        }
        host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let deadline = Date().addingTimeInterval(timeout)
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, port, &hints, &info) == 0, let first = info else { return .fail("cannot resolve \(host)") }
        defer { freeaddrinfo(info) }
        var fd: Int32 = -1
        var ai: UnsafeMutablePointer<addrinfo>? = first
        var lastError = "cannot connect to \(host):\(port)"
        while let a = ai, fd < 0 {
            let s = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if s >= 0 {
                _ = fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK)
                var ok = connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0
                if !ok && errno == EINPROGRESS {
                    var p = pollfd(fd: s, events: Int16(POLLOUT), revents: 0)
                    let ms = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
                    var err: Int32 = 0
                    var len = socklen_t(MemoryLayout<Int32>.size)
                    ok = poll(&p, 1, ms) == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0
                    if !ok { lastError = err != 0 ? "connect to \(host):\(port): \(String(cString: strerror(err)))" : "connect to \(host):\(port) timed out" }
                }
                if ok { fd = s } else { close(s) }
            }
            ai = a.pointee.ai_next
        }
        guard fd >= 0 else { return .fail(lastError) }
        defer { close(fd) }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(hostPort)\r\nAccept: application/json\r\nUser-Agent: slipway\r\nConnection: close\r\n\r\n"
        var out = Array(request.utf8)[...]
        while !out.isEmpty {
            let n = out.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { out = out.dropFirst(n); continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if poll(&p, 1, Int32(max(0, deadline.timeIntervalSinceNow) * 1000)) != 1 { return .fail("GET timed out") }
                continue
            }
            return .fail("GET failed: \(String(cString: strerror(errno)))")
        }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
            guard poll(&p, 1, ms) == 1 else { return .fail("GET timed out after \(Durations.format(timeout))") }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            if n < 0 { if errno == EINTR || errno == EAGAIN { continue }; return .fail("GET failed: \(String(cString: strerror(errno)))") }
            response.append(contentsOf: buffer[0..<n])
            if response.count > 16 << 20 { return .fail("the answer is larger than 16 MiB") }
        }
        guard let split = response.firstRange(of: Array("\r\n\r\n".utf8)) else { return .fail("not an HTTP answer") }
        let head = String(decoding: response[..<split.lowerBound], as: UTF8.self)
        var body = Array(response[split.upperBound...])
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let code = Int(parts[1]) else { return .fail("not an HTTP answer: '\(statusLine.prefix(60))'") }
        guard (200..<300).contains(code) else { return .fail("GET answered HTTP \(code)") }
        if head.lowercased().contains("transfer-encoding: chunked") {
            var decoded = [UInt8]()
            var i = 0
            while i < body.count {
                guard let lineEnd = body[i...].firstRange(of: Array("\r\n".utf8)),
                      let size = Int(String(decoding: body[i..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? "", radix: 16) else { break }
                if size == 0 { break }
                let start = lineEnd.upperBound
                guard start + size <= body.count else { break }
                decoded.append(contentsOf: body[start..<(start + size)])
                i = start + size + 2
            }
            body = decoded
        }
        return .success(Data(body))
    }
}

extension Result where Failure == HTTPGet.Failure {
    static func fail(_ message: String) -> Result { .failure(HTTPGet.Failure(message: message)) }
}
