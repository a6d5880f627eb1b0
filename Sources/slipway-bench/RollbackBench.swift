import Foundation
import SlipwayEngine
import SlipwayStore

/// Rolling production back.
extension Bench {
    /// `slipway rollback production` with the local target, 1,000 versions promoted in turn.
    static func rollbackCommand() throws {
        let dir = scratch("rollback")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        project: bench
        pipelines:
          main:
            model: clf
            stages:
              evaluate: {cmd: 'true'}
        environments: {staging: {}, production: {}}
        """.write(toFile: dir + "/slipway.yaml", atomically: true, encoding: .utf8)
        let registry = try Workspace(root: dir).openRegistry()
        let provenance = Provenance(gitCommit: "abc", gitDirty: false, user: "bench", host: "h", slipwayVersion: "0")
        for i in 1...1_000 {
            let run = try registry.startRun(NewRun(pipeline: "main", trigger: "bench", provenance: provenance, pid: 1, params: [:]))
            try registry.finishRun(id: run.id, status: .succeeded, message: nil,
                                   registering: NewModelVersion(model: "clf", runID: run.id, pipeline: "main", gitCommit: "abc",
                                                                artifactDigest: "d\(i)", createdBy: "bench"))
            try registry.setAlias(model: "clf", environment: "production", version: i, actor: "bench", reason: "promoted", cause: .promotion)
        }
        var times: [Double] = []
        for i in 0..<10 {
            times.append(runSlipway(i % 2 == 0 ? ["rollback", "production"] : ["rollback", "production", "--to", "1000"], in: dir))
        }
        report("slipway rollback production", String(format: "%.1f ms", median(times) * 1000),
               String(format: "min %.1f max %.1f over 10 whole-process runs, 1,000 versions in the history; target <= 100 ms",
                      times.min()! * 1000, times.max()! * 1000))
    }
}
