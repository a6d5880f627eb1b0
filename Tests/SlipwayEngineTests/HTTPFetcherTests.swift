import Foundation
import Testing
@testable import SlipwayEngine

/// A loopback HTTP server (python3's http.server) that redirects, answers
/// chunked, answers slowly and fails on request; it binds port 0 and says
/// which port it got.
final class LoopbackHTTP {
    let process = Process()
    let port: Int

    init() throws {
        let script = """
        import http.server, socketserver, sys, time, os, urllib.parse
        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *a): pass
            def do_GET(self):
                if self.path == "/headers":
                    body = ("%s|%s" % (self.headers.get("Authorization"), self.headers.get("Accept"))).encode()
                    self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body); return
                if self.path.startswith("/scan?"):
                    # While the request is open: any file under the temporary folder holding its Authorization?
                    top = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["dir"][0]
                    secret = self.headers.get("Authorization", "").encode()
                    found = []
                    for entry in os.listdir(top):
                        if not entry.startswith("slipway-http-"): continue
                        for root, dirs, files in os.walk(os.path.join(top, entry)):
                            for f in files:
                                try:
                                    with open(os.path.join(root, f), "rb") as h:
                                        if secret and secret in h.read(): found.append(f)
                                except OSError: pass
                    body = ("found " + ",".join(found) if found else "clean").encode()
                    self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body); return
                if self.path == "/old":
                    self.send_response(302); self.send_header("Location", "/value?x=1"); self.send_header("Content-Length", "0"); self.end_headers(); return
                if self.path.startswith("/value"):
                    body = b'{"data":{"result":[{"value":[1,"0.25"]}]}}'
                    self.send_response(200); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body); return
                if self.path == "/chunked":
                    self.send_response(200); self.send_header("Content-Type", "application/json"); self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
                    for part in [b'{"p99":', b' 12', b'.5}']:
                        self.wfile.write(b"%x\\r\\n%s\\r\\n" % (len(part), part))
                    self.wfile.write(b"0\\r\\n\\r\\n"); return
                if self.path == "/slow":
                    time.sleep(5)
                self.send_response(500); self.send_header("Content-Length", "4"); self.end_headers(); self.wfile.write(b"oops")
        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
        s = S(("127.0.0.1", 0), H)
        print(s.server_address[1], flush=True)
        s.serve_forever()
        """
        let out = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            line.append(d)
        }
        guard let p = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            throw HTTPFailure("the loopback server did not start")
        }
        port = p
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// SIGKILL: a child of the test process may inherit a mask that blocks SIGTERM.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

@Suite struct HTTPFetcherTests {
    @Test func curlFollowsRedirectsAndReadsChunkedBodies() throws {
        let server = try LoopbackHTTP()
        let http = CurlFetcher()
        let redirected = try http.get(server.base + "/old", timeout: 10)
        #expect(String(decoding: redirected, as: UTF8.self).contains("0.25"))
        let chunked = try http.get(server.base + "/chunked", timeout: 10)
        #expect(String(decoding: chunked, as: UTF8.self) == #"{"p99": 12.5}"#)
    }

    /// Request headers reach curl through a pipe: not its command line, and
    /// no file holds them while the request is open (a killed slipway leaves
    /// none behind).
    @Test func requestHeadersArriveThroughAPipe() throws {
        let server = try LoopbackHTTP()
        let r = try CurlFetcher().fetch(HTTPRequest(url: server.base + "/headers", headers: ["Authorization": "Bearer abc", "Accept": "a/b, c/d"]))
        #expect(String(decoding: r.body, as: UTF8.self) == "Bearer abc|a/b, c/d")
        let secret = "Bearer secret-\(UUID().uuidString)"
        let tmp = (NSTemporaryDirectory() as NSString).standardizingPath
        let dir = tmp.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? tmp
        let scan = try CurlFetcher().fetch(HTTPRequest(url: server.base + "/scan?dir=" + dir, method: "GET", headers: ["Authorization": secret], body: Data("b".utf8)))
        #expect(String(decoding: scan.body, as: UTF8.self) == "clean")
        #expect(throws: HTTPFailure.self) { try CurlFetcher().fetch(HTTPRequest(url: server.base + "/headers", headers: ["X": "a\nb"])) }
    }

    @Test func failuresSayWhy() throws {
        let server = try LoopbackHTTP()
        let http = CurlFetcher()
        #expect(throws: HTTPFailure.self) { try http.get(server.base + "/missing", timeout: 10) }
        do {
            _ = try http.get(server.base + "/missing", timeout: 10)
        } catch {
            #expect(error.message.contains("HTTP 500"), "\(error)")
        }
        do {
            _ = try http.get(server.base + "/slow", timeout: 0.5)
            Issue.record("a slow answer was waited for")
        } catch {
            #expect(error.message.contains("no answer within"), "\(error)")
        }
        do {
            _ = try http.get("file:///etc/passwd", timeout: 1)
            Issue.record("a file: address was fetched")
        } catch {
            #expect(error.message.contains("not an http"), "\(error)")
        }
    }

    /// The analysis runner, driven by a scripted fetcher: values read at
    /// their paths, production from the stable version's answer, a failed
    /// fetch an inconclusive measurement that says why.
    @Test func analysisRunnerReadsThroughTheFetcher() throws {
        let dir = NSTemporaryDirectory() + "slipway-analysis-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = FakeHTTP { request throws(HTTPFailure) in
            if request.url.contains("broken") { throw HTTPFailure("connection refused") }
            let body = request.url.hasSuffix("v=2") ? #"{"err": 0.01}"# : #"{"err": 0.02}"#
            return HTTPResponse(status: 200, body: Data(body.utf8))
        }
        let runner = AnalysisRunner(workspace: Workspace(root: dir), timeout: 5, http: fake)
        let checks = [
            AnalysisCheck(metric: "err", source: .http("http://metrics.test/q?v=${SLIPWAY_ANALYSIS_VERSION}"), failIf: try GateCondition(parsing: "> 0.05")),
            AnalysisCheck(metric: "other", source: .http("http://broken.test/q"), failIf: try GateCondition(parsing: "> 1")),
        ]
        let measured = runner.measure(checks, context: .init(environment: "production", model: "m", candidate: 2, stable: 1,
                                                             traffic: 10, log: dir + "/analysis.log"))
        #expect(measured.count == 2)
        #expect(measured[0].verdict == .pass)
        #expect(measured[1].verdict != .pass)
        #expect(measured[1].explanation.contains("connection refused"), "\(measured[1].explanation)")
        #expect(!fake.requests.isEmpty)
    }
}
