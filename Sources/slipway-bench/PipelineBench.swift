import Foundation
import SlipwayEngine
import SlipwayStore

/// The pipeline: hashing, no-op re-runs, packaging.
extension Bench {
    static func hashLargeFile() throws {
        let dir = scratch("hash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let size = 1 << 30
        makeFile(dir + "/big.bin", bytes: size, seed: 42)
        var rates: [Double] = []
        for _ in 0..<5 {
            let t = now()
            _ = try FileHasher.sha256(file: dir + "/big.bin")
            rates.append(Double(size) / (now() - t) / 1e9)
        }
        report("hash 1 GiB file (SHA-256)", String(format: "%.2f GB/s", median(rates)),
               String(format: "min %.2f max %.2f over 5; target >= 1.1 GB/s (file in page cache)", rates.min()!, rates.max()!))
    }

    /// Five stages in a chain, each reading a 205 MiB input (1 GiB in all) and writing a small out.
    static func makeFiveStagePipeline(in dir: String) throws {
        var stages = ""
        for i in 1...5 {
            makeFile(dir + "/input\(i).bin", bytes: 205 << 20, seed: UInt64(i))
            let needs = i > 1 ? ", needs: [s\(i - 1)]" : ""
            stages += "      s\(i): {cmd: \"wc -c < input\(i).bin > out\(i).txt\", deps: [input\(i).bin], outs: [out\(i).txt]\(needs)}\n"
        }
        try "project: bench\npipelines:\n  main:\n    stages:\n\(stages)".write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
    }

    static func noopRerun() throws {
        let dir = scratch("noop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeFiveStagePipeline(in: dir)
        let first = runSlipway(["run"], in: dir)
        var times: [Double] = []
        for _ in 0..<15 { times.append(runSlipway(["run"], in: dir)) }
        report("no-op re-run, 5 stages, 1 GiB deps", String(format: "%.1f ms", median(times) * 1000),
               String(format: "min %.1f max %.1f over 15 whole-process runs (first run %.2f s); target <= 50 ms",
                      times.min()! * 1000, times.max()! * 1000, first))
    }

    /// The no-op re-run again, in the case users meet: the workspace inside a
    /// git repository with 2,000 tracked files and 50 commits of history.
    static func noopRerunInGit() throws {
        let dir = scratch("noop-git")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeFiveStagePipeline(in: dir)
        try "*.bin\nout*.txt\n.slipway/\n".write(toFile: dir + "/.gitignore", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        let git = ["git", "-C", dir, "-c", "user.email=b@example.org", "-c", "user.name=B"]
        _ = sh(git + ["init", "-q"])
        for c in 0..<50 {
            for f in stride(from: c, to: 2_000, by: 50) {
                try "file \(f) at commit \(c)\n".write(toFile: dir + "/src/f\(f).py", atomically: false, encoding: .utf8)
            }
            _ = sh(git + ["add", "-A"])
            _ = sh(git + ["commit", "-q", "-m", "commit \(c)"])
        }
        let first = runSlipway(["run"], in: dir)
        var times: [Double] = []
        for _ in 0..<15 { times.append(runSlipway(["run"], in: dir)) }
        let t0 = now()
        for _ in 0..<100 { _ = GitState.read(workspace: Workspace(root: dir)) }
        let provenance = (now() - t0) / 100
        report("no-op re-run in a git work tree", String(format: "%.1f ms", median(times) * 1000),
               String(format: "min %.1f max %.1f over 15 runs (first %.2f s); provenance %.2f ms; 2,000 tracked files; target <= 50 ms, provenance <= 10 ms",
                      times.min()! * 1000, times.max()! * 1000, first, provenance * 1000))
    }

    /// Packaging a 1 GiB model (the package stage forced to run) and verifying
    /// the image, against `openssl dgst -sha256` over the same file.
    static func packageGiB() throws {
        let dir = scratch("package")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        makeFile(dir + "/model.bin", bytes: 1 << 30, seed: 7)
        try """
        project: bench
        pipelines:
          main:
            model: big
            stages:
              package: {uses: package, model: model.bin}
        """.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        runSlipway(["run"], in: dir)
        var openssl: [Double] = [], package: [Double] = [], verify: [Double] = []
        for _ in 0..<5 {
            openssl.append(timedWithRSS(["/usr/bin/openssl", "dgst", "-sha256", dir + "/model.bin"], expect: [0]).0)
            package.append(runSlipway(["run", "--force"], in: dir))
            verify.append(runSlipway(["verify", "big"], in: dir))
        }
        var noop: [Double] = []
        for _ in 0..<9 { noop.append(runSlipway(["run"], in: dir)) }
        let base = median(openssl)
        report("no-op re-run, cached 1 GiB package stage", String(format: "%.1f ms", median(noop) * 1000),
               String(format: "min %.1f max %.1f over 9; target <= 50 ms", noop.min()! * 1000, noop.max()! * 1000))
        report("package a 1 GiB model", String(format: "%.2f s (%.2f×)", median(package), median(package) / base),
               String(format: "openssl dgst %.2f s; whole `run --force` of a one-stage pipeline, 5 runs; target <= 1.5×", base))
        report("verify that image", String(format: "%.2f s (%.2f×)", median(verify), median(verify) / base),
               "whole `slipway verify`, 5 runs; target <= 1.2×")
    }
}
