import Foundation
import Testing

/// Stages on a real one-node Slurm 22.05 cluster (slurmctld, slurmd, munge on
/// loopback), driven through the `slipway` binary.
@Suite(.slurmCluster) struct SlurmTests {
    /// A workspace whose `train` stage runs with `executor` (YAML flow text);
    /// every stage counts its executions in `.count-STAGE`.
    func workspace(train: String = "echo run >> .count-train && echo m > model.txt", executor: String? = "{kind: slurm, cpus: 1, mem: 100M, time: \"5\"}",
                   evaluate: Bool = true) -> Sandbox {
        let s = Sandbox()
        var yaml = """
        project: slurm-e2e
        pipelines:
          main:
            stages:
              train:
                cmd: \(train.contains("\n") ? "|\n          " + train.replacingOccurrences(of: "\n", with: "\n          ") : "'" + train.replacingOccurrences(of: "'", with: "''") + "'")
                outs: [model.txt]

        """
        if let executor { yaml += "        executor: \(executor)\n" }
        if evaluate {
            yaml += "      evaluate: {cmd: \"echo run >> .count-evaluate && wc -c < model.txt > score.txt\", deps: [model.txt], outs: [score.txt]}\n"
        }
        s.write("slipway.yaml", yaml)
        try! FileManager.default.createDirectory(atPath: s.root + "/.slipway", withIntermediateDirectories: true)
        return s
    }

    @Test func aTrainStageRunsOnSlurmWithItsParamsAndReportsMetrics() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: slurm-e2e
        pipelines:
          main:
            stages:
              prepare: {cmd: "echo run >> .count-prepare && echo 1,2 > data.csv", outs: [data.csv]}
              train:
                cmd: echo run >> .count-train && printf '%s' "$SLIPWAY_PARAM_TRAIN_NOTE" > note.txt && for i in 1 2 3; do echo "::metric name=loss step=$i value=0.$i"; done && echo "::progress step=3 total=3" && printf '{"acc":0.9}' > train.json && cp data.csv model.txt
                deps: [data.csv]
                params: [train.note]
                outs: [model.txt, note.txt]
                metrics: [train.json]
                executor: {kind: slurm, partition: debug, cpus: 1, mem: 100M, time: "5"}
              evaluate: {cmd: "echo run >> .count-evaluate && wc -l < model.txt > score.txt", deps: [model.txt], outs: [score.txt]}
        """)
        // A value a shell would mangle if it were not quoted exactly.
        s.write("params.yaml", "train:\n  note: \"it's \\\"quoted\\\" $HOME `date`\\nsecond line\"\n")
        let first = s.slurm("run")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(s.read("note.txt") == "it's \"quoted\" $HOME `date`\nsecond line")
        #expect([s.count(".count-prepare"), s.count(".count-train"), s.count(".count-evaluate")] == [1, 1, 1] as [Int])

        let shown = try s.shown("1")
        let train = try #require(shown.stages["train"])
        #expect((train["job"] as? String)?.hasPrefix("slurm:slipwaytest:") == true)
        let job = try #require(train["jobStatus"] as? [String: Any])
        #expect(job["executor"] as? String == "slurm" && job["state"] as? String == "COMPLETED")
        #expect(job["exitCode"] as? String == "0:0")
        #expect(job["node"] as? String == ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init))
        #expect((job["requested"] as? String) == "partition=debug cpus=1 mem=100M time=5")
        #expect((job["allocated"] as? String)?.contains("cpu=1") == true)
        // The local stages say where they ran too.
        #expect((shown.stages["prepare"]?["jobStatus"] as? [String: Any])?["executor"] as? String == "local")

        // Metrics streamed from the job's output file, and its metrics file.
        let metrics = try #require(try JSONSerialization.jsonObject(with: Data(s.slurm("show", "1", "--json").stdout.utf8)) as? [String: Any])["metrics"] as? [[String: Any]]
        let loss = (metrics ?? []).filter { $0["key"] as? String == "loss" }.compactMap { $0["value"] as? Double }
        #expect(loss == [0.1, 0.2, 0.3])
        #expect((metrics ?? []).contains { $0["key"] as? String == "acc" && $0["value"] as? Double == 0.9 })
        let log = s.slurm("logs", "1", "train").stdout
        #expect(log.contains("[slipway] submitted as slurm job"))
        #expect(log.contains("::metric name=loss step=3 value=0.3"))
        let text = s.slurm("show", "1").stdout
        #expect(text.contains("resources") && text.contains("slurm job") && text.contains("asked partition=debug cpus=1 mem=100M time=5"), "\(text)")
        #expect(FileManager.default.fileExists(atPath: s.root + "/.slipway/runs/run-1"))

        // Nothing changed: nothing is submitted again.
        let again = s.slurm("run")
        #expect(again.status == 0, "\(again.stderr)")
        #expect([s.count(".count-prepare"), s.count(".count-train"), s.count(".count-evaluate")] == [1, 1, 1] as [Int])
        #expect(try s.shown("2").stages["train"]?["job"] == nil)
    }

    @Test func aFailingJobFailsTheStageWithItsExitCode() throws {
        let s = workspace(train: "echo boom; exit 3")
        let r = s.slurm("run")
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("exit code 3"))
        let train = try #require(try s.shown("1").stages["train"])
        #expect(train["status"] as? String == "failed" && train["exitCode"] as? Int == 3)
        let job = try #require(train["jobStatus"] as? [String: Any])
        #expect(job["state"] as? String == "FAILED" && job["exitCode"] as? String == "3:0")
        #expect(try s.shown("1").stages["evaluate"]?["status"] as? String == "cancelled")
        #expect(s.slurm("logs", "1", "train").stdout.contains("boom"))
    }

    /// Slurm's time limit is a timeout (it counts minutes, and checks them every 30 s).
    @Test func aJobOverItsTimeLimitTimesOut() throws {
        let s = workspace(train: "echo started; sleep 600", executor: "{kind: slurm, time: \"1\"}", evaluate: false)
        let r = s.slurm("run")
        #expect(r.status == 1)
        let train = try #require(try s.shown("1").stages["train"])
        #expect((train["message"] as? String)?.contains("timed out after 1:00") == true, "\(train)")
        #expect((train["jobStatus"] as? [String: Any])?["state"] as? String == "TIMEOUT")
        #expect(s.slurm("logs", "1", "train").stdout.contains("DUE TO TIME LIMIT"))
    }

    @Test func cancelFromTheCommandLineCancelsTheJob() throws {
        let s = workspace(train: "echo started > started.txt; sleep 600")
        let run = try s.startOnSlurm(["run"])
        #expect(s.waitUntil(timeout: 60) { s.exists("started.txt") })
        let id = try #require(s.slurmJobID("1", "train"))
        let cancel = s.slurm("cancel", "latest")
        #expect(cancel.status == 0, "\(cancel.stderr)")
        #expect(cancel.stdout.contains("run 1 cancelled"))
        let status = s.reap(run)
        #expect(status >> 8 == 1)
        let shown = try s.shown("1")
        #expect(shown.run["status"] as? String == "cancelled")
        #expect(shown.stages["train"]?["status"] as? String == "cancelled")
        #expect(s.waitUntil(timeout: 30) { SlurmTestCluster.shared.state(ofJob: id) == "CANCELLED" })
        #expect(s.slurm("audit", "--kind", "run.cancel_requested").stdout.contains("run/1"))
    }

    /// `kill -9` of `slipway run` while its job runs: the next `slipway run`
    /// follows the job to its end, then reuses its result.
    @Test func theNextRunReattachesToAJobWhoseRunWasKilled() throws {
        let s = workspace(train: "echo run >> .count-train; touch started.txt; while [ ! -f release ]; do sleep 0.1; done; echo '::metric name=acc value=0.9'; echo m > model.txt")
        let first = try s.startOnSlurm(["run"])
        #expect(s.waitUntil(timeout: 60) { s.exists("started.txt") })
        kill(first.processIdentifier, SIGKILL)
        s.reap(first)
        let jobID = try #require(s.slurmJobID("1", "train"))

        let second = try s.startOnSlurm(["run"])
        // Run 1 is taken over by a live follower before run 2 may start.
        #expect(s.waitUntil(timeout: 30) { (try? s.shown("1").run["pid"] as? Int) != Int(first.processIdentifier) })
        #expect(try s.shown("1").run["status"] as? String == "running")
        #expect(s.count(".count-train") == 1)
        s.write("release", "")
        #expect(s.reap(second, timeout: 120) >> 8 == 0)

        let one = try s.shown("1")
        #expect(one.run["status"] as? String == "interrupted")
        #expect(one.stages["train"]?["status"] as? String == "succeeded")
        #expect((one.stages["train"]?["jobStatus"] as? [String: Any])?["state"] as? String == "COMPLETED")
        let two = try s.shown("2")
        #expect(two.run["status"] as? String == "succeeded")
        #expect(two.stages["train"]?["status"] as? String == "cached")
        #expect((two.stages["train"]?["reason"] as? String)?.hasPrefix("same inputs as run 1") == true)
        // Submitted once, run once; its metric recorded once.
        #expect(s.count(".count-train") == 1 && s.count(".count-evaluate") == 1)
        #expect(SlurmTestCluster.shared.state(ofJob: jobID) == "COMPLETED")
        let metrics = try #require(try JSONSerialization.jsonObject(with: Data(s.slurm("show", "1", "--json").stdout.utf8)) as? [String: Any])["metrics"] as? [[String: Any]]
        #expect(metrics?.filter { $0["key"] as? String == "acc" }.count == 1)
        #expect(s.slurm("audit", "--kind", "run.taken_over").stdout.contains("run/1"))
    }

    /// The same, found by `slipway status`: the run is followed in the background.
    @Test func statusFindsAnOrphanedJobAndItIsFollowedToItsEnd() throws {
        let s = workspace(train: "echo run >> .count-train; touch started.txt; while [ ! -f release ]; do sleep 0.1; done; echo m > model.txt")
        let first = try s.startOnSlurm(["run"])
        #expect(s.waitUntil(timeout: 60) { s.exists("started.txt") })
        kill(first.processIdentifier, SIGKILL)
        s.reap(first)

        let status = s.slurm("status")
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("● run 1 main") && status.stdout.contains("slurm job"), "\(status.stdout)")
        s.write("release", "")
        #expect(s.waitUntil(timeout: 60) { (try? s.shown("1").run["status"] as? String) != "running" })
        let one = try s.shown("1")
        #expect(one.run["status"] as? String == "interrupted")
        #expect(one.stages["train"]?["status"] as? String == "succeeded")
        #expect(one.stages["evaluate"]?["status"] as? String == "interrupted")

        let again = s.slurm("run")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(s.count(".count-train") == 1 && s.count(".count-evaluate") == 1)
    }

    /// A run killed and then cancelled: its job is cancelled, not followed.
    @Test func cancellingAnOrphanedRunCancelsItsJob() throws {
        let s = workspace(train: "touch started.txt; sleep 600")
        let first = try s.startOnSlurm(["run"])
        #expect(s.waitUntil(timeout: 60) { s.exists("started.txt") })
        let jobID = try #require(s.slurmJobID("1", "train"))
        kill(first.processIdentifier, SIGKILL)
        s.reap(first)
        let cancel = s.slurm("cancel", "1")
        #expect(cancel.status == 0, "\(cancel.stderr)")
        #expect(s.waitUntil(timeout: 30) { SlurmTestCluster.shared.state(ofJob: jobID) == "CANCELLED" })
        #expect(try s.shown("1").run["status"] as? String == "cancelled")
    }

    @Test func aResultFromOneExecutorIsACacheHitForTheOther() throws {
        let s = workspace(executor: nil)
        #expect(s.slurm("run").status == 0)
        #expect(try s.shown("1").stages["train"]?["job"] as? String != nil)
        // The same stage, now on Slurm: same inputs, so the local result is reused.
        let onSlurm = (s.read("slipway.yaml") ?? "").replacingOccurrences(of: "    outs: [model.txt]\n", with: "    outs: [model.txt]\n        executor: {kind: slurm}\n")
        s.write("slipway.yaml", onSlurm)
        #expect(s.slurm("lint").status == 0)
        let second = s.slurm("run", "--explain")
        #expect(second.status == 0, "\(second.stderr)")
        let train = try #require(try s.shown("2").stages["train"])
        #expect(train["status"] as? String == "cached")
        #expect((train["reason"] as? String)?.contains("which ran on local; the executor is not part of the cache key") == true, "\(train)")
        #expect(s.count(".count-train") == 1)
    }

    /// A request no node can meet waits in the queue: its reason is shown, and
    /// it can be cancelled.
    @Test func aJobPendingOnAGPUNoNodeHasShowsWhyAndCanBeCancelled() throws {
        let s = workspace(executor: "{kind: slurm, partition: gpu, gres: \"gpu:1\"}")
        let run = try s.startOnSlurm(["run"])
        #expect(s.waitUntil(timeout: 60) {
            guard let j = s.jobStatus("1", "train") else { return false }
            return j["state"] as? String == "PENDING" && (j["reason"] as? String).map { $0 != "submitted" && $0 != "not yet examined by the scheduler" } == true
        })
        let reason = try #require(s.jobStatus("1", "train")?["reason"] as? String)
        #expect(reason.contains("DOWN") || reason.contains("ReqNodeNotAvail") || reason.contains("Resources"), "\(reason)")
        // Slurm words it one way, then another as it re-evaluates: any reason is shown.
        let id = try #require(s.slurmJobID("1", "train"))
        let status = s.slurm("status").stdout
        #expect(status.contains("now: train (slurm job \(id) PENDING ("), "\(status)")
        #expect(s.slurm("show", "1").stdout.contains("slurm job \(id) PENDING ("))
        #expect(s.slurm("cancel", "1").status == 0)
        #expect(s.reap(run) >> 8 == 1)
        #expect(s.waitUntil(timeout: 30) { SlurmTestCluster.shared.state(ofJob: id) == "CANCELLED" })
        #expect(s.count(".count-train") == 0)
        #expect(try s.shown("1").stages["train"]?["status"] as? String == "cancelled")
    }
}
