import Foundation

/// `canary-5xx`: a real canary (scripts/canary-test-rig.sh: model servers,
/// HAProxy, Prometheus scraping every second, 40 requests/s of load) whose
/// candidate answers 503 on one request in five, judged by an error-rate
/// query with `measure: {every: 2s, count: 5}`.
///
/// - time to detect: from the first moment Prometheus answers the breaching
///   value (the bench polls the same query every 100 ms) to the failing
///   measurement's time in the registry;
/// - time to restore: from that verdict to HAProxy giving the candidate
///   weight 0 and the stable version 100 (the bench polls the admin socket
///   every 20 ms).
extension Bench {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func canaryFiveHundreds() throws {
        let dir = scratch("canary")
        let rigDir = dir + "/rig"
        let runs = 3
        let versions = ["1"] + (2...(runs + 1)).map { "\($0):0.2" }
        let rig = package + "/scripts/canary-test-rig.sh"
        let started = sh(["bash", rig, "start", rigDir] + versions)
        guard started.contains("PROMETHEUS_URL=") else {
            report("canary-5xx", "skipped", "the rig did not start (haproxy, prometheus installed?): \(started.suffix(200))")
            return
        }
        defer {
            sh(["bash", rig, "stop", rigDir])
            if !keep { try? FileManager.default.removeItem(atPath: dir) }
        }
        var env: [String: String] = [:]
        for line in ((try? String(contentsOfFile: rigDir + "/rig.env", encoding: .utf8)) ?? "").split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 2 { env[kv[0]] = kv[1] }
        }
        let prometheus = env["PROMETHEUS_URL"]!, socket = env["HAPROXY_SOCKET"]!
        let errorRate = "sum by (server) (rate(haproxy_server_http_responses_total{proxy=\"models\",code=\"5xx\"}[10s]))"
            + " / sum by (server) (rate(haproxy_server_http_responses_total{proxy=\"models\"}[10s]))"
        let ws = dir + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try """
        project: bench-canary
        pipelines:
          p:
            model: clf
            stages:
              train: {cmd: '. ./scores.env && echo "$LR" > model.txt', deps: [scores.env], outs: [model.txt]}
        environments:
          production:
            deploy: ./deploy.sh
            canary:
              steps: [10, 50, 100]
              interval: 2s
              measure: {every: 2s, count: 5, inconclusive_limit: 2}
              analysis:
                error_rate:
                  prometheus:
                    address: \(prometheus)
                    query: '\(errorRate)'
                    version_label: server
                    version_value: 'v${SLIPWAY_ANALYSIS_VERSION}'
                  fail_if: "> 0.05"

        """.write(toFile: ws + "/slipway.yaml", atomically: true, encoding: .utf8)
        try "#!/bin/sh\nHAPROXY_SOCKET='\(socket)' exec '\(package)/examples/deploy/haproxy/deploy.sh'\n"
            .write(toFile: ws + "/deploy.sh", atomically: true, encoding: .utf8)
        chmod(ws + "/deploy.sh", 0o755)
        for n in 1...(runs + 1) {
            try "LR=\(n)\n".write(toFile: ws + "/scores.env", atomically: true, encoding: .utf8)
            runSlipway(["run"], in: ws)
        }
        runSlipway(["promote", "clf:1", "--to", "production"], in: ws)
        sh(["bash", rig, "load", rigDir, "40", "600", "30000"])
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: slipway)
        agent.arguments = ["-C", ws, "agent", "--interval", "0.2", "--quiet"]
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        defer { kill(agent.processIdentifier, SIGTERM); var s: Int32 = 0; waitpid(agent.processIdentifier, &s, 0) }

        var detect: [Double] = [], restore: [Double] = [], measurements: [Int] = []
        for k in 2...(runs + 1) {
            runSlipway(["promote", "clf:\(k)", "--to", "production"], in: ws)
            let promoted = Date().timeIntervalSince1970
            var breach: Double?, restored: Double?
            var verdict: Double?, number: Int?
            let deadline = promoted + 90
            var lastPoll = 0.0
            // Tight loop on what is cheap (the admin socket, from here); the
            // registry is read only every half second, the verdict's time is
            // the failing measurement's own.
            var lastRead = 0.0
            while Date().timeIntervalSince1970 < deadline {
                let t = Date().timeIntervalSince1970
                if breach == nil, t - lastPoll >= 0.1 {
                    lastPoll = t
                    if let v = promValue(prometheus, errorRate, server: "v\(k)"), v > 0.05 { breach = Date().timeIntervalSince1970 }
                }
                if restored == nil, breach != nil, haproxyWeight(socket, "v\(k)") == 0, haproxyWeight(socket, "v1") == 100 {
                    restored = Date().timeIntervalSince1970
                }
                if verdict == nil, restored != nil || t - lastRead >= 0.5 {
                    lastRead = t
                    if let (at, n) = failingMeasurement(ws) { verdict = at; number = n }
                }
                if restored != nil && verdict != nil { break }
                usleep(5_000)
            }
            guard let b = breach, let v = verdict, let r = restored, let n = number else {
                report("canary-5xx run \(k - 1)", "incomplete", "breach \(String(describing: breach)) verdict \(String(describing: verdict)) restored \(String(describing: restored))")
                continue
            }
            detect.append(v - b)
            restore.append(r - v)
            measurements.append(n)
            usleep(500_000)
        }
        guard !detect.isEmpty else { return }
        report("canary-5xx time to detect", String(format: "%.1f s", median(detect)),
               String(format: "min %.1f max %.1f over %d canaries; decided by measurement %@ (every 2 s); target: within 3 measurements",
                      detect.min()!, detect.max()!, detect.count, measurements.map(String.init).joined(separator: ", ")))
        report("canary-5xx time to restore", String(format: "%.2f s", median(restore)),
               String(format: "min %.2f max %.2f: verdict → HAProxy weights v1=100, candidate=0; target <= 1 s", restore.min()!, restore.max()!))
    }

    /// The failing measurement's time (s) and number, once there is one.
    static func failingMeasurement(_ ws: String) -> (Double, Int)? {
        let out = sh([slipway, "-C", ws, "deployments", "production", "--explain", "--json"])
        guard let json = try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
              let e = json["explanation"] as? [String: Any], let d = e["deployment"] as? [String: Any], d["state"] as? String == "rolled_back",
              let rows = json["rows"] as? [[String: Any]],
              let row = rows.last(where: { $0["verdict"] as? String == "fail" }), let at = row["at"] as? Double,
              let deciding = e["deciding"] as? [String: Any], let n = deciding["measurement"] as? Int else { return nil }
        return (at / 1000, n)
    }

    static func promValue(_ address: String, _ query: String, server: String) -> Double? {
        let out = sh(["curl", "-sf", "--max-time", "2", address + "/api/v1/query", "--data-urlencode", "query=" + query])
        guard let json = try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
              let result = (json["data"] as? [String: Any])?["result"] as? [[String: Any]] else { return nil }
        for s in result where (s["metric"] as? [String: Any])?["server"] as? String == server {
            if let pair = s["value"] as? [Any], let text = pair.last as? String { return Double(text) }
        }
        return nil
    }

    /// `get weight models/SERVER` on HAProxy's admin socket, from this process.
    static func haproxyWeight(_ socketPath: String, _ server: String) -> Int? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
            raw[path.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return nil }
        let command = Array("get weight models/\(server)\n".utf8)
        guard write(fd, command, command.count) == command.count else { return nil }
        var answer = [UInt8](repeating: 0, count: 256)
        var got = 0
        while got < answer.count {
            let n = answer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, $0.count - got) }
            if n <= 0 { break }
            got += n
        }
        let text = String(decoding: answer.prefix(got), as: UTF8.self)
        return text.split(separator: " ").first.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}
