import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayTracking

/// Sends `request` over a fresh loopback connection and reads until the server closes
/// it (or `timeout` seconds pass); nil when it cannot connect.
func rawExchange(port: Int, _ request: [UInt8], timeout: Int = 20) -> [UInt8]? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let ok = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard ok == 0 else { return nil }
    var limit = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    var sent = 0
    while sent < request.count {
        let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n <= 0 { break }
        sent += n
    }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += buffer.prefix(n)
    }
    return response
}

/// One HTTP/1.1 exchange over a fresh loopback connection (Connection: close).
func exchange(port: Int, _ head: String, body: [UInt8] = []) -> (status: Int, body: String) {
    let request = Array((head + "Connection: close\r\nContent-Length: \(body.count)\r\n\r\n").utf8) + body
    guard let response = rawExchange(port: port, request) else { return (-1, "connect failed") }
    let text = String(decoding: response, as: UTF8.self)
    let status = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? -1
    let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return (status, body)
}

@Suite struct TrackingServerTests {
    @Test func servesOnlyOnceAClientConnectsAndOnlyWithTheToken() throws {
        let f = try ServiceFixture()
        let server = try TrackingServer(service: f.service)
        defer { server.stop() }
        #expect(!server.isServing)

        let noToken = exchange(port: server.port, "GET /api/2.0/mlflow/runs/get?run_id=\(f.runID) HTTP/1.1\r\nHost: x\r\n")
        #expect(noToken.status == 401)
        #expect(noToken.body.contains("UNAUTHENTICATED"))
        #expect(server.isServing)

        let body = Array(#"{"run_id":"\#(f.runID)","key":"loss","value":0.5,"timestamp":12,"step":3}"#.utf8)
        let refused = exchange(port: server.port, "POST /api/2.0/mlflow/runs/log-metric HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n", body: body)
        #expect(refused.status == 401)
        #expect(f.sink.metrics.isEmpty)

        let logged = exchange(port: server.port, "POST /\(f.token)/api/2.0/mlflow/runs/log-metric HTTP/1.1\r\nHost: x\r\n", body: body)
        #expect(logged.status == 200)
        #expect(f.sink.metrics == [TrackedMetric(key: "loss", value: 0.5, timestamp: 12, step: 3)])
        let viaBearer = exchange(port: server.port, "GET /api/2.0/mlflow/runs/get?run_id=\(f.runID) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(f.token)\r\n")
        #expect(viaBearer.status == 200)
        #expect(viaBearer.body.contains("\"loss\""))
    }

    @Test func bodiesAreBounded() throws {
        let f = try ServiceFixture()
        let server = try TrackingServer(service: f.service)
        defer { server.stop() }
        let huge = [UInt8](repeating: UInt8(ascii: " "), count: TrackingService.maxJSONBody + 1)
        let r = exchange(port: server.port, "POST /\(f.token)/api/2.0/mlflow/runs/log-batch HTTP/1.1\r\nHost: x\r\n", body: huge)
        #expect(r.status == 413)
        #expect(r.body.contains("INVALID_PARAMETER_VALUE"))
    }

    @Test func artifactsGoUpAndComeBackOverHTTP() throws {
        let f = try ServiceFixture()
        let server = try TrackingServer(service: f.service)
        defer { server.stop() }
        let content = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let put = exchange(port: server.port, "PUT /\(f.token)/api/2.0/mlflow-artifacts/artifacts/train/data/blob%20one.bin HTTP/1.1\r\nHost: x\r\n", body: content)
        #expect(put.status == 200)
        let onDisk = try Data(contentsOf: URL(fileURLWithPath: f.root + "/mlflow-artifacts/train/data/blob one.bin"))
        #expect(Array(onDisk) == content)
        #expect(f.sink.artifacts.first?.size == 300_000)
        let get = exchange(port: server.port, "GET /\(f.token)/api/2.0/mlflow-artifacts/artifacts/train/data/blob%20one.bin HTTP/1.1\r\nHost: x\r\n")
        #expect(get.status == 200)
        let escape = exchange(port: server.port, "PUT /\(f.token)/api/2.0/mlflow-artifacts/artifacts/train/%2E%2E/%2E%2E/x HTTP/1.1\r\nHost: x\r\n", body: [1])
        #expect(escape.status == 400)
        #expect(!FileManager.default.fileExists(atPath: f.root + "/x"))
    }

    @Test func stopReleasesThePortWhetherOrNotItServed() throws {
        let f = try ServiceFixture()
        let idle = try TrackingServer(service: f.service)
        let port = idle.port
        idle.stop()
        #expect(exchange(port: port, "GET / HTTP/1.1\r\nHost: x\r\n").status == -1)
        let busy = try TrackingServer(service: f.service)
        _ = exchange(port: busy.port, "GET / HTTP/1.1\r\nHost: x\r\n")
        busy.stop()
        #expect(exchange(port: busy.port, "GET / HTTP/1.1\r\nHost: x\r\n").status == -1)
    }
}

/// A refusal does not wait for the body it refuses.
@Suite struct EarlyRefusalTests {
    /// Sends only a request's head, promising `length` bytes of body; what comes back
    /// before any of the body is sent (nil if nothing within 10 s).
    func headOnly(port: Int, _ head: String, length: Int64) -> String? {
        let response = rawExchange(port: port, Array((head + "Content-Length: \(length)\r\n\r\n").utf8), timeout: 10) ?? []
        return response.isEmpty ? nil : String(decoding: response, as: UTF8.self)
    }

    @Test func aRequestWithoutTheTokenIsRefusedBeforeItsBody() throws {
        let f = try ServiceFixture()
        let server = try TrackingServer(service: f.service)
        defer { server.stop() }
        let refused = headOnly(port: server.port, "POST /api/2.0/mlflow/runs/log-batch HTTP/1.1\r\nHost: x\r\n", length: 1_000_000_000)
        #expect(refused?.hasPrefix("HTTP/1.1 401") == true, "\(refused ?? "nothing")")
        #expect(refused?.lowercased().contains("connection: close") == true)
        let tooLarge = headOnly(port: server.port, "POST /\(f.token)/api/2.0/mlflow/runs/log-batch HTTP/1.1\r\nHost: x\r\n", length: 1_000_000_000)
        #expect(tooLarge?.hasPrefix("HTTP/1.1 413") == true, "\(tooLarge ?? "nothing")")
        // The server goes on answering.
        let body = Array(#"{"run_id":"\#(f.runID)","key":"loss","value":0.5,"timestamp":12,"step":3}"#.utf8)
        #expect(exchange(port: server.port, "POST /\(f.token)/api/2.0/mlflow/runs/log-metric HTTP/1.1\r\nHost: x\r\n", body: body).status == 200)
    }
}
