import Foundation
import SlipwayEngine
import SlipwayStore

/// Production monitoring: ingest, drift, the idle agent.
extension Bench {
    /// A CSV of `rows` × `features` numbers (`f0`…), shifted by `shift`.
    static func writeFeatures(_ path: String, rows: Int, features: Int, seed: UInt64, shift: Double) {
        var state = seed | 1
        var out = (0..<features).map { "f\($0)" }.joined(separator: ",") + "\n"
        out.reserveCapacity(rows * features * 8)
        for _ in 0..<rows {
            for f in 0..<features {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                let v = Double(state % 100_000) / 1000 + shift * Double(f % 3)
                out += String(format: "%.3f", v)
                out += f == features - 1 ? "\n" : ","
            }
        }
        try! out.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static let monitorSpec = """
    project: bench
    pipelines:
      retrain:
        model: clf
        triggers: [commit, {drift: inputs}]
        stages:
          train: {cmd: 'true'}
    environments: {staging: {}, production: {}}
    monitors:
      inputs: {reference: data/reference.csv, method: psi, threshold: 0.2, cooldown: 6h, incoming: incoming}
    """

    /// A workspace with a monitor whose reference is 100,000 × 20, and
    /// `history` batches of 20 scores already recorded.
    static func monitorWorkspace(_ name: String, history: Int) throws -> (String, any Registry) {
        let dir = scratch(name)
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        try monitorSpec.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        writeFeatures(dir + "/data/reference.csv", rows: 100_000, features: 20, seed: 7, shift: 0)
        let registry = try Workspace(root: dir).openRegistry()
        for i in 0..<history {
            let scores = (0..<20).map { f in
                MonitorScoreRecord(monitor: "inputs", feature: "f\(f)", method: "PSI", score: Double((i * 7 + f) % 50) / 100, threshold: 0.2,
                                   drifted: (i * 7 + f) % 50 >= 20, histogram: "{}")
            }
            _ = try registry.recordBatch(NewBatch(batch: MonitorBatchRecord(monitor: "inputs", contentHash: "history-\(i)", source: "h\(i).csv", rows: 1000,
                                                                            receivedAt: SystemClock.nowMillis() - Millis(history - i) * 60_000, status: .calm,
                                                                            driftedFeatures: 0, features: 20, driftShare: 0, reason: "", performance: "{}"),
                                                  scores: scores))
        }
        return (dir, registry)
    }

    /// `monitor ingest` of a 100,000-row × 20-feature batch, whole process,
    /// its scores stored, against a 100,000-row reference, 1,000 batches of history.
    static func ingestBatch() throws {
        let (dir, _) = try monitorWorkspace("ingest", history: 1_000)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var times: [Double] = []
        for i in 0..<5 {
            let batch = dir + "/batch\(i).csv"
            writeFeatures(batch, rows: 100_000, features: 20, seed: UInt64(100 + 2 * i), shift: 0.05)  // seeds differ after `| 1`
            times.append(runSlipway(["monitor", "ingest", "inputs", batch], in: dir))
        }
        report("monitor ingest 100k × 20", String(format: "%.0f ms", median(times) * 1000),
               String(format: "min %.0f max %.0f over 5 whole-process runs, reference 100k × 20, 1,000 batches of history; target <= 500 ms",
                      times.min()! * 1000, times.max()! * 1000))
    }

    /// `drift --json` over 10,000 batches of 20 features.
    static func driftJSON() throws {
        let (dir, _) = try monitorWorkspace("drift-json", history: 10_000)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var times: [Double] = []
        for _ in 0..<9 { times.append(runSlipway(["drift", "--json"], in: dir)) }
        report("drift --json, 10,000 batches", String(format: "%.1f ms", median(times) * 1000),
               String(format: "min %.1f max %.1f over 9 whole-process runs, 20 features, 50 batches of history each; target <= 50 ms",
                      times.min()! * 1000, times.max()! * 1000))
    }

    /// The agent idle for 30 s in a git work tree with a monitor's drop
    /// folder, a commit trigger and environments: its CPU time over wall time.
    static func agentIdle() throws {
        let (dir, _) = try monitorWorkspace("agent-idle", history: 1_000)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for args in [["init", "-q"], ["add", "-A"], ["-c", "user.email=b@x", "-c", "user.name=b", "commit", "-q", "-m", "bench"]] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["git", "-C", dir] + args
            try p.run()
            p.waitUntilExit()
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: slipway)
        p.arguments = ["-C", dir, "agent", "--quiet"]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        func cpu() -> Double {
            let text = (try? String(contentsOfFile: "/proc/\(p.processIdentifier)/stat", encoding: .utf8)) ?? ""
            let fields = text.split(separator: ")").last?.split(separator: " ") ?? []
            // utime and stime are fields 14 and 15; after ")" they are at 11 and 12.
            guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
            return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
        sleep(3)  // started, first passes done
        let c0 = cpu(), t0 = now()
        sleep(30)
        let used = cpu() - c0, wall = now() - t0
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        report("agent idle", String(format: "%.2f %% CPU", used / wall * 100),
               String(format: "%.2f s CPU over %.0f s, a pass a second: git HEAD, a drop folder, a monitor, environments; target <= 1 %%", used, wall))
    }
}
