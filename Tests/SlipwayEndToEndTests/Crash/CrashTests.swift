import Foundation
import Testing

/// `kill -9` of the real binary inside runs, promotions, approvals, canary
/// steps, rollbacks and the agent. A handful of fixed points run with every
/// `swift test`; the long, random run is `.ci/crash-harness` (docs/security.md).
@Suite struct CrashTests {
    /// Records a point's violations: known issues as such, the rest as failures.
    static func judge(_ points: [CrashHarness.Point], report: String) {
        for p in points {
            for v in p.violations {
                let reproducer = p.kept.map { " — reproducer: \($0)" } ?? ""
                if let known = v.knownIssue {
                    withKnownIssue("\(known): \(v.detail)", isIntermittent: true) {
                        Issue.record("\(p.op), \(p.kill): \(v)\(reproducer)")
                    }
                } else {
                    Issue.record("\(p.op), \(p.kill): \(v)\(reproducer)\n\(report)")
                }
            }
        }
    }

    @Test func everyFixedKillPointRecovers() throws {
        let verbose = ProcessInfo.processInfo.environment["SLIPWAY_CRASH_VERBOSE"] != nil
        let harness = CrashHarness(seed: 17, keepFolder: NSTemporaryDirectory() + "slipway-crash-kept", log: { if verbose { print($0) } })
        harness.varyOutcomes = false
        let w = CrashWorkspace(canaryInterval: "0s")
        defer { w.remove() }
        typealias Step = (CrashHarness.Op, CrashHarness.Kill)
        let steps: [Step] = [
            // A stage command in flight.
            (.run(archChange: false), .hold("stage:train", releaseOrphan: false)),
            // v1 registered; its deploy stage's promotion to staging is high risk (nothing live yet): one approval.
            (.run(archChange: false), .none),
            // The approval's promotion killed inside its deploy call; the orphaned call finishes on its own.
            // The agent's pass then asks for production (two approvals).
            (.approve, .hold("deploy:staging", releaseOrphan: true)),
            (.approve, .none),
            // The deciding vote's command dies before the promotion: the agent carries it out.
            (.approve, .at("approve.after-vote")),
            // v2's deploy stage killed inside its call to staging.
            (.run(archChange: false), .hold("deploy:staging", releaseOrphan: false)),
            // v3 into staging; the agent's canary step into production killed mid-call.
            (.run(archChange: false), .none),
            (.agentOnce, .hold("deploy:production", releaseOrphan: false)),
            // Staging back to v2, then v3 promoted again by hand, killed inside its deploy call.
            (.rollback("staging"), .none),
            (.promote("staging"), .hold("deploy:staging", releaseOrphan: false)),
            // Rollbacks killed inside their deploy call (issue 17 item 5), and between the alias and the call.
            (.rollback("production"), .hold("deploy:production", releaseOrphan: true)),
            (.rollback("staging"), .at("rollback.after-alias")),
            // A run killed between registering its version and publishing its image.
            (.run(archChange: false), .at("run.after-register")),
        ]
        for (i, (op, kill)) in steps.enumerated() {
            try harness.execute(op, kill: kill, in: w, episode: 1, step: i + 1)
        }
        let report = harness.report()
        Self.judge(harness.points, report: report)
        // Every kill was meant to land: a point that stops landing no longer tests anything.
        let missed = harness.points.filter { $0.kill != .none && !$0.landed }
        #expect(missed.isEmpty, "points that did not land: \(missed.map { "\($0.op), \($0.kill)" })\n\(report)")
        // After all of it the workspace still works end to end.
        let final = w.run(["run"])
        #expect(final.status == 0, "\(final.stderr)")
        #expect(w.run(["audit", "verify"]).status == 0)
    }

    static var longRunPoints: Int? { ProcessInfo.processInfo.environment["SLIPWAY_CRASH_POINTS"].flatMap(Int.init) }

    /// The long run: `SLIPWAY_CRASH_POINTS=60 [SLIPWAY_CRASH_SEED=N] swift test --filter CrashTests/longRun`
    /// (or `.ci/crash-harness`). Prints every point and a report; keeps a reproducer for each violation.
    @Test(.enabled(if: longRunPoints != nil)) func longRun() throws {
        let env = ProcessInfo.processInfo.environment
        let seed = env["SLIPWAY_CRASH_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...999_999)
        let keep = env["SLIPWAY_CRASH_KEEP"] ?? NSTemporaryDirectory() + "slipway-crash-\(seed)"
        print("crash harness: seed \(seed), target \(Self.longRunPoints ?? 0) kills; reproducers go to \(keep)")
        // Progress goes to stderr at once (stdout is buffered when it is not a terminal).
        let harness = CrashHarness(seed: seed, keepFolder: keep, log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
        try harness.randomRun(target: Self.longRunPoints ?? 50)
        let report = harness.report()
        print(report)
        if let path = env["SLIPWAY_CRASH_REPORT"] { try report.write(toFile: path, atomically: true, encoding: .utf8) }
        Self.judge(harness.points, report: "seed \(seed)")
    }
}
