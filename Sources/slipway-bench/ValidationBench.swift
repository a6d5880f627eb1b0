import Foundation
import SlipwayEngine
import SlipwayStore

/// Data validation of a million rows.
extension Bench {
    /// Writes `rows` × `columns` CSV of numbers with six decimals.
    static func makeCSV(_ path: String, rows: Int, columns: Int, seed: UInt64, shift: Double) {
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        precondition(fd >= 0)
        var out = [UInt8]()
        out.reserveCapacity(1 << 22)
        out += Array((0..<columns).map { "f\($0)" }.joined(separator: ",").utf8) + [10]
        var state = seed | 1
        var digits = [UInt8](repeating: 0, count: 24)
        for _ in 0..<rows {
            for c in 0..<columns {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                // A value with six decimals, in [-500, 500) plus a per-column offset.
                let micro = Int64(state % 1_000_000_000) - 500_000_000 + Int64((Double(c) + shift) * 1_000_000)
                var v = micro < 0 ? -micro : micro
                var n = 0
                repeat { digits[n] = UInt8(48 + v % 10); v /= 10; n += 1 } while v > 0 || n < 7
                if micro < 0 { out.append(45) }
                for k in stride(from: n - 1, through: 6, by: -1) { out.append(digits[k]) }
                out.append(46)
                for k in stride(from: 5, through: 0, by: -1) { out.append(digits[k]) }
                out.append(c == columns - 1 ? 10 : 44)
            }
            if out.count > 1 << 22 { _ = out.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }; out.removeAll(keepingCapacity: true) }
        }
        _ = out.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    static func validateMillionRows() throws {
        let dir = scratch("validate")
        defer { if !keep { try? FileManager.default.removeItem(atPath: dir) } }
        makeCSV(dir + "/ref.csv", rows: 1_000_000, columns: 20, seed: 1, shift: 0)
        makeCSV(dir + "/cur.csv", rows: 1_000_000, columns: 20, seed: 2, shift: 0.2)
        var schema = "columns:\n"
        for c in 0..<20 { schema += "  f\(c): {type: float, min: -1000, max: 1000, max_missing: 0, drift: {method: ks}}\n" }
        try schema.write(toFile: dir + "/schema.yaml", atomically: true, encoding: .utf8)
        let size = (try FileManager.default.attributesOfItem(atPath: dir + "/cur.csv")[.size] as? Int) ?? 0
        var times: [Double] = []
        var rss: [Int] = []
        for _ in 0..<3 {
            let (t, maxrss) = timedWithRSS([slipway, "data", "check", dir + "/cur.csv", "--schema", dir + "/schema.yaml",
                                            "--reference", dir + "/ref.csv", "--json"], expect: [0, 3])
            times.append(t)
            rss.append(maxrss)
        }
        report("validate 1M x 20 vs 1M x 20", String(format: "%.2f s", median(times)),
               String(format: "min %.2f max %.2f over 3 whole-process runs; 2 x %.0f MB CSV; peak RSS %d MB; target <= 3 s, <= 400 MB",
                      times.min()!, times.max()!, Double(size) / 1e6, rss.max()! / 1024))
    }
}
