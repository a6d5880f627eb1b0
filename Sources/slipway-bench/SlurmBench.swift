import Foundation
import SlipwayEngine

/// Stages on Slurm: the cost Slipway adds to a job over submitting it by
/// hand, and a no-op re-run of a pipeline on Slurm. They use the cluster
/// `SLURM_CONF` names, else start a one-node cluster with
/// `scripts/slurm-test-cluster.sh` (run from the package folder) for their
/// duration; where none can start they say so and measure nothing.
extension Bench {
    /// The cluster to use; the function that stops it if this process started it.
    static func slurmCluster() -> (ok: Bool, stop: () -> Void) {
        if let conf = ProcessInfo.processInfo.environment["SLURM_CONF"], FileManager.default.fileExists(atPath: conf) {
            return (true, {})
        }
        let script = FileManager.default.currentDirectoryPath + "/scripts/slurm-test-cluster.sh"
        guard FileManager.default.fileExists(atPath: script) else {
            report("slurm", "skipped", "no SLURM_CONF and no scripts/slurm-test-cluster.sh here (run from the package folder)")
            return (false, {})
        }
        let dir = scratch("slurm-cluster")
        let out = sh(["/bin/bash", script, "start", dir])
        guard let line = out.split(separator: "\n").last, line.hasPrefix("SLURM_CONF=") else {
            report("slurm", "skipped", "the test cluster did not start: \(out.split(separator: "\n").suffix(3).joined(separator: " | "))")
            return (false, {})
        }
        setenv("SLURM_CONF", String(line.dropFirst("SLURM_CONF=".count)), 1)
        return (true, {
            _ = sh(["/bin/bash", script, "stop", dir])
            try? FileManager.default.removeItem(atPath: dir)
        })
    }

    /// Seconds for `sbatch --parsable` of a trivial job and a tight wait
    /// (`scontrol show job` every 50 ms) until Slurm says it ended: the least
    /// a hand-written submission costs.
    static func bareSbatchAndWait(in dir: String) -> Double {
        let t = now()
        let id = sh(["sbatch", "--parsable", "--output=\(dir)/bare.log", "--chdir=\(dir)", "--wrap", "true"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        precondition(!id.isEmpty, "sbatch failed")
        while true {
            let state = sh(["scontrol", "show", "job", "-o", id])
            if let r = state.range(of: "JobState="),
               SlurmJobInfo.finalStates.contains(String(state[r.upperBound...].prefix { $0 != " " })) { break }
            usleep(50_000)
        }
        return now() - t
    }

    static func slurmSubmitOverhead() throws {
        let cluster = slurmCluster()
        guard cluster.ok else { return }
        defer { cluster.stop() }
        let dir = scratch("slurm-submit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        project: bench
        pipelines:
          one:
            stages:
              s: {cmd: "true", executor: {kind: slurm, cpus: 1}}
          three:
            stages:
              a: {cmd: "true", executor: {kind: slurm, cpus: 1}}
              b: {cmd: "true", needs: [a], executor: {kind: slurm, cpus: 1}}
              c: {cmd: "true", needs: [b], executor: {kind: slurm, cpus: 1}}
        """.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        runSlipway(["run", "one"], in: dir)
        var bare: [Double] = [], wait: [Double] = [], one: [Double] = [], three: [Double] = []
        for _ in 0..<10 {
            // Interleaved, so a busier moment of the machine weighs on both.
            bare.append(bareSbatchAndWait(in: dir))
            let t = now()
            _ = sh(["sbatch", "--wait", "--output=\(dir)/wait.log", "--chdir=\(dir)", "--wrap", "true"])
            wait.append(now() - t)
            one.append(runSlipway(["run", "one", "--force"], in: dir))
        }
        for _ in 0..<5 { three.append(runSlipway(["run", "three", "--force"], in: dir)) }
        let overhead = median(one) - median(bare)
        report("slurm: one stage, run --force", String(format: "%.2f s", median(one)),
               String(format: "min %.2f max %.2f over 10; bare sbatch + 50 ms scontrol wait %.2f s (min %.2f); sbatch --wait %.2f s; overhead %+.2f s; target <= +0.5 s",
                      one.min()!, one.max()!, median(bare), bare.min()!, median(wait), overhead))
        report("slurm: three stages in a chain", String(format: "%.2f s", median(three)),
               String(format: "min %.2f max %.2f over 5; %.2f s a stage; 3 x bare %.2f s", three.min()!, three.max()!,
                      median(three) / 3, 3 * median(bare)))
    }

    /// A no-op re-run of the 5-stage pipeline with every stage on Slurm:
    /// nothing is submitted, and it costs what the local no-op costs.
    static func slurmNoopRerun() throws {
        let cluster = slurmCluster()
        guard cluster.ok else { return }
        defer { cluster.stop() }
        let dir = scratch("slurm-noop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeFiveStagePipeline(in: dir)
        let local = try String(contentsOfFile: dir + "/slipway.yaml", encoding: .utf8)
        let slurm = local.replacingOccurrences(of: "outs: [", with: "executor: {kind: slurm}, outs: [")
        try slurm.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        let first = runSlipway(["run"], in: dir)
        let jobsBefore = sh(["squeue", "-h", "-t", "all", "-o", "%i"]).split(separator: "\n").count
        var onSlurm: [Double] = []
        for _ in 0..<15 { onSlurm.append(runSlipway(["run"], in: dir)) }
        let jobsAfter = sh(["squeue", "-h", "-t", "all", "-o", "%i"]).split(separator: "\n").count
        // The same workspace with every stage local again (the cache is the same: no stage runs).
        try local.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        var onLocal: [Double] = []
        for _ in 0..<15 { onLocal.append(runSlipway(["run"], in: dir)) }
        report("slurm: no-op re-run, 5 stages", String(format: "%.1f ms", median(onSlurm) * 1000),
               String(format: "min %.1f max %.1f over 15 (first run, 5 jobs, %.2f s); the same stages local: %.1f ms; jobs submitted by the re-runs: %d; target: none, as fast as local",
                      onSlurm.min()! * 1000, onSlurm.max()! * 1000, first, median(onLocal) * 1000, jobsAfter - jobsBefore))
    }
}
