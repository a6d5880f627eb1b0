import Foundation

/// What names a stage's scope on a run's tracking endpoint, wherever the endpoint
/// runs (in this process in tests, in the `slipway-mlflow` helper in a run).
public enum TrackingAddress {
    /// 32 lowercase hex digits, as MLflow's run ids.
    public static func hex128() -> String {
        var g = SystemRandomNumberGenerator()
        return [g.next(), g.next()].map { (v: UInt64) in
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }.joined()
    }

    /// A scope's secret: 64 hex digits, the first part of its address's path.
    public static func newToken() -> String { hex128() + hex128() }

    /// The same experiment id for the same pipeline, in every run: a number, as MLflow's are.
    public static func experimentID(_ pipeline: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in pipeline.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h % 1_000_000_000_000 + 1)
    }

    /// The address a stage's client uses: the token is the first part of the path. Not
    /// `MLFLOW_TRACKING_TOKEN`: the client lets a user name and password (from the
    /// environment or `~/.mlflow/credentials`) replace that header, and a stage that sends
    /// its data to another server by setting only `MLFLOW_TRACKING_URI` would send it there.
    public static func uri(port: Int, token: String) -> String { "http://127.0.0.1:\(port)/\(token)" }

    /// The variables that point a stage's MLflow client at its scope.
    public static func environment(port: Int, token: String, runID: String, pipeline: String) -> [String: String] {
        [
            "MLFLOW_TRACKING_URI": uri(port: port, token: token),
            "MLFLOW_RUN_ID": runID,
            "MLFLOW_EXPERIMENT_ID": experimentID(pipeline),
            "MLFLOW_EXPERIMENT_NAME": pipeline,
            // The client prints "View run … at: URI" when a run ends: a link to a UI
            // this endpoint does not have, and the token in the stage's log.
            "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        ]
    }
}

/// A TCP socket listening on 127.0.0.1.
public enum LoopbackListener {
    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    /// Binds a free port and listens (close-on-exec): the socket and its port.
    public static func open() throws -> (fd: Int32, port: Int) {
        // Close-on-exec from the start: stages are spawned on other threads meanwhile.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failed(description: "socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc == 0 { rc = listen(fd, 128) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        if rc == 0 {
            rc = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
            }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw Failed(description: "cannot listen on 127.0.0.1: \(String(cString: strerror(e)))")
        }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }
}
