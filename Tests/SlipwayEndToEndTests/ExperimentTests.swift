import Foundation
import Testing

/// Experiments through the real binary: one-off param values (`run --set`),
/// sweeps (`run --sweep`) and runs ranked by a metric (`compare --runs`).
@Suite struct ExperimentTests {
    /// A pipeline whose `auc` depends on `train.lr` (best at 0.03) and whose
    /// gate asks for at least 0.8; `prepare` reads no param, so a sweep runs it once.
    static func workspace() -> Sandbox {
        let s = Sandbox()
        let counter = s.root + "/.count-train"
        s.write("slipway.yaml", """
        project: e2e
        pipelines:
          main:
            model: clf
            stages:
              prepare:
                cmd: echo run >> .count-prepare && echo rows > data.txt
                outs: [data.txt]
              train:
                cmd: |
                  echo "$SLIPWAY_PARAM_TRAIN_LR" >> \(counter)
                  echo "lr=$SLIPWAY_PARAM_TRAIN_LR arch=$SLIPWAY_PARAM_MODEL_ARCH" > model.txt
                  case "$SLIPWAY_PARAM_TRAIN_LR" in 0.03) auc=0.91;; 0.1) auc=0.84;; *) auc=0.7;; esac
                  printf '{"auc": %s, "loss": %s}' "$auc" "$SLIPWAY_PARAM_TRAIN_LR" > eval.json
                deps: [data.txt]
                params: [train.lr, model.arch]
                outs: [model.txt]
                metrics: [eval.json]
                gates:
                  auc: ">= 0.8"
        environments:
          production: {requires: none}
        """)
        s.write("params.yaml", "train:\n  lr: 0.1\nmodel:\n  arch: small\n")
        try! FileManager.default.createDirectory(atPath: s.root + "/.slipway", withIntermediateDirectories: true)
        return s
    }

    @Test func setChangesOneRunOnlyAndIsRecordedAsAnOverride() throws {
        let s = Self.workspace()
        let params = s.read("params.yaml")
        let r = s.run("run", "--set", "train.lr=0.03", "--set", "arch=large")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(s.read("model.txt") == "lr=0.03 arch=large\n")
        #expect(s.read("params.yaml") == params)
        let shown = try #require(try s.json("show", "1", "--json") as? [String: Any])
        #expect(shown["overrides"] as? [String: String] == ["train.lr": "0.03", "model.arch": "large"])
        #expect((shown["params"] as? [String: String])?["train.lr"] == "0.03")
        #expect(s.run("show", "1").stdout.contains("train.lr = 0.03  (set for this run by --set or --sweep; not from params.yaml)"))
        // The audit trail says so too.
        #expect(s.run("audit", "--json").stdout.contains("model.arch=large train.lr=0.03"))

        // The next plain run reads params.yaml again: train runs, with 0.1.
        let plain = s.run("run")
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(s.read("model.txt") == "lr=0.1 arch=small\n")
        let second = try #require(try s.json("show", "2", "--json") as? [String: Any])
        #expect((second["overrides"] as? [String: String])?.isEmpty == true)
        // The same override again: its stage comes from the cache (its own key).
        #expect(s.run("run", "--set", "train.lr=0.03", "--set", "arch=large").status == 0)
        #expect(s.read(".count-train")?.split(separator: "\n").count == 2)
    }

    @Test func aBadSetIsRefusedAndRunsNothing() {
        let s = Self.workspace()
        for (arg, words) in [("lr", "expected KEY=VALUE"), ("nosuch=1", "no param named 'nosuch'"),
                             ("train.lr=", "no value after '='"), ("train.lr=1\u{1B}[2J", "control character")] {
            let r = s.run("run", "--set", arg)
            #expect(r.status == 2, "\(arg): \(r.stderr)")
            #expect(r.stderr.contains(words), "\(arg): \(r.stderr)")
            #expect(!r.stderr.contains("\u{1B}"))
        }
        #expect(!s.exists(".count-prepare"))
        // Mistakes the argument parser finds are told as the program's own.
        for args in [["run", "--jobs", "0"], ["run", "--sweep", "train.lr=0.1,0.2", "--explain"], ["run", "--nope"]] {
            let r = s.run(args)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(r.stderr.hasPrefix("slipway: ") && !r.stderr.contains("Error:"), "\(args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("(see `slipway run --help`)"), "\(args): \(r.stderr)")
        }
        // What a sweep is ranked by is checked before any member runs.
        let badBy = s.run("run", "--sweep", "train.lr=0.1,0.2", "--by", "")
        #expect(badBy.status == 2 && badBy.stderr.contains("--by ''"), "\(badBy.stderr)")
        #expect((try? s.json("runs", "--json") as? [Any])??.isEmpty == true)
    }

    @Test func aSweepRunsEachValueRanksThemAndNamesTheBestThatPassed() throws {
        let s = Self.workspace()
        let r = s.run("run", "--sweep", "train.lr=0.1,0.03,0.5", "--jobs", "1")
        // One member fails its gate (auc 0.7): the sweep says so in its status.
        #expect(r.status == 3, "\(r.stderr)\n\(r.stdout)")
        #expect(r.stderr.contains("sweep 1/3: train.lr=0.1") && r.stderr.contains("sweep 3/3: train.lr=0.5"), "\(r.stderr)")
        #expect(r.stdout.contains("ranked by auc (high first)"), "\(r.stdout)")
        #expect(r.stdout.contains("best that passed every gate: clf:2 (run 2)"), "\(r.stdout)")
        #expect(r.stdout.contains("1 of 3") || r.stderr.contains("1 of 3 sweep runs did not succeed"), "\(r.stderr)")
        // prepare reads no swept param: it ran once, train three times.
        #expect(s.count(".count-prepare") == 1)
        #expect(s.read(".count-train") == "0.1\n0.03\n0.5\n")
        let runs = try #require(try s.json("runs", "--json") as? [[String: Any]])
        #expect(runs.count == 3)
        #expect(runs.allSatisfy { $0["trigger"] as? String == "sweep" })

        // compare --runs ranks them again, as JSON too.
        let board = try #require(try s.json("compare", "--runs", "1-3", "--json") as? [String: Any])
        #expect(board["winner"] as? Int == 2)
        let entries = try #require(board["entries"] as? [[String: Any]])
        #expect(entries.map { $0["run"] as? Int } == [2, 1, 3])
        #expect(entries.map { ($0["overrides"] as? [String: String])?["train.lr"] } == ["0.03", "0.1", "0.5"])
        #expect((entries[2]["failed"] as? [String])?.first?.contains("auc") == true)
        // Ranked low first on request.
        let asc = try #require(try s.json("compare", "--runs", "1,2,3", "--by", "auc", "--order", "asc", "--json") as? [String: Any])
        #expect((asc["entries"] as? [[String: Any]])?.first?["run"] as? Int == 3)
    }

    /// The deploy stage follows the version a run makes when the run before
    /// made another: a new one, or an earlier one made again by a param set
    /// back. A re-run deploys nothing, so it never undoes a rollback; a
    /// sweep's members are candidates and deploy nothing; ranking shows a
    /// member that made an earlier version again as that version.
    @Test func theDeployStageFollowsARunButNotASweepMember() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: d
        pipelines:
          p:
            stages:
              train:
                cmd: |
                  echo "$SLIPWAY_PARAM_LR" > model.txt && printf '{"auc": %s}' "$SLIPWAY_PARAM_LR" > m.json
                params: [lr]
                outs: [model.txt]
                metrics: [m.json]
                gates: {auc: ">= 0"}
              deploy: {uses: deploy, model: clf, needs: [train]}
        environments: {dev: {}, production: {}}
        """)
        s.write("params.yaml", "lr: 0.1\n")
        func live() throws -> Int? {
            let lanes = try #require(try s.json("deployments", "--json") as? [[String: Any]])
            return lanes.first { $0["environment"] as? String == "dev" }?["live"] as? Int
        }
        #expect(s.run("run").status == 0)
        #expect(try live() == 1)
        #expect(s.run("run", "--set", "lr=0.2").status == 0)
        #expect(try live() == 2)
        // lr back to 0.1: the run makes clf:1 again, and dev follows it.
        let back = s.run("run", "--set", "lr=0.1")
        #expect(back.status == 0, "\(back.stderr)")
        #expect(try live() == 1)
        let started = { (try s.json("audit", "--kind", "deployment.started", "--json") as? [[String: Any]])?.count }
        #expect(try started() == 3)
        // Rolled back, then the same run again: the rollback stands.
        #expect(s.run("rollback", "dev", "--reason", "clf:1 is bad").status == 0)
        #expect(try live() == 2)
        let again = s.run("run", "--set", "lr=0.1", "--json")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try live() == 2)
        let said = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect(said["madeAgain"] as? String == "clf:1")
        let deployReason = (said["stages"] as? [[String: Any]])?.first { $0["stage"] as? String == "deploy" }?["reason"] as? String
        #expect(deployReason?.contains("not deployed to dev again: run 3 made it too") == true, "\(String(describing: deployReason))")

        // A plain run with params.yaml's lr (0.1) is the same run again: nothing deployed.
        #expect(s.run("run").status == 0)
        #expect(try live() == 2)

        // The sweep's last member makes the newest version: were members deploying, it would be live.
        let sweep = s.run("run", "--sweep", "lr=0.2,0.3", "--jobs", "1")
        #expect(sweep.status == 0, "\(sweep.stderr)")
        #expect(try live() == 2)
        #expect(try started() == 3)
        #expect(sweep.stderr.contains("made clf:2 again"), "\(sweep.stderr)")
        // The member with lr=0.2 ranks as clf:2, made again.
        #expect(sweep.stdout.contains("clf:2 again"), "\(sweep.stdout)")
        #expect(sweep.stdout.contains("best that passed every gate: clf:3"), "\(sweep.stdout)")
        let member = try #require(try s.json("show", "7", "--json") as? [String: Any])
        let deployStage = ((member["run"] as? [String: Any])?["stages"] as? [[String: Any]])?.first { $0["stage"] as? String == "deploy" }
        #expect((deployStage?["reason"] as? String)?.contains("sweep member") == true, "\(String(describing: deployStage))")
        let ranked = try #require(try s.json("compare", "--runs", "6,7", "--json") as? [String: Any])
        #expect((ranked["entries"] as? [[String: Any]])?.map { $0["version"] as? String } == ["clf:3", "clf:2"])
        #expect(ranked["stage"] as? String == "train")
        // The sweep's winner is the newest version, which no run deployed:
        // a run that makes it (params set to its value) deploys it.
        #expect(s.run("run", "--set", "lr=0.3").status == 0)
        #expect(try live() == 3)
        // What a run made, as show and models show tell it.
        #expect(s.run("show", "5").stdout.contains("version   clf:1 (made again; registered by run 1)"))
        #expect(s.run("show", "2").stdout.contains("version   clf:2 (registered)"))
        let shown = try #require(try s.json("show", "5", "--json") as? [String: Any])
        #expect(shown["version"] as? String == "clf:1" && shown["madeAgain"] as? Bool == true)
        let model = try #require(try s.json("models", "show", "clf:3", "--json") as? [String: Any])
        #expect((model["metrics"] as? [String: Any])?["auc"] as? Double == 0.3)
        #expect(((model["metricsByStage"] as? [String: Any])?["train"] as? [String: Any])?["auc"] as? Double == 0.3)
    }

    /// A registry from before runs recorded the version they made again: a
    /// re-run after a rollback, whose run before made the newest version again
    /// then (recorded as nothing), still deploys nothing.
    @Test func aReRunAfterAnUpgradeDoesNotUndoARollback() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: d
        pipelines:
          p:
            stages:
              train: {cmd: echo "$SLIPWAY_PARAM_LR" > model.txt, params: [lr], outs: [model.txt]}
              deploy: {uses: deploy, model: clf, needs: [train]}
        environments: {dev: {}}
        """)
        s.write("params.yaml", "lr: 0.1\n")
        func live() throws -> Int? {
            (try s.json("deployments", "--json") as? [[String: Any]])?.first { $0["environment"] as? String == "dev" }?["live"] as? Int
        }
        #expect(s.run("run").status == 0)
        #expect(s.run("run", "--set", "lr=0.2").status == 0)
        #expect(s.run("run", "--set", "lr=0.2").status == 0)
        #expect(try live() == 2)
        // Run 3 made clf:2 again; an earlier slipway recorded no version for it.
        tamper(s, "UPDATE run SET madeVersionID = NULL WHERE id = 3")
        #expect(s.run("rollback", "dev", "--reason", "back to 1").status == 0)
        #expect(try live() == 1)
        let again = s.run("run", "--set", "lr=0.2", "--json")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try live() == 1)
        #expect(again.stdout.contains("it is the newest version, and run 3 recorded none"), "\(again.stdout)")
    }

    /// With --jobs 2 the members after the first run two at a time, each in
    /// a copy of the workspace: two of them wait for each other (so they ran
    /// at once) and none saw more than two running; no member sees another's
    /// outs, the shared stage runs once, every log is where `slipway logs`
    /// looks, and the copies are gone.
    @Test func sweepMembersRunAtOnceInCopiesOfTheWorkspace() throws {
        let s = Self.workspace()
        // Under .slipway/, which the members' copies leave out.
        let meet = s.root + "/.slipway/meet"
        // Each member's train marks itself running. The members after the
        // first (lr 0.1) wait until two of them have arrived (alone, each gives
        // up after five minutes and says so); then each notes how many run.
        let hold = """
                  mkdir -p \(meet)/running \(meet)/arrived
                  touch \(meet)/running/$SLIPWAY_PARAM_TRAIN_LR \(meet)/arrived/$SLIPWAY_PARAM_TRAIN_LR
                  if [ "$SLIPWAY_PARAM_TRAIN_LR" != 0.1 ]; then
                    for i in $(seq 6000); do [ $(ls \(meet)/arrived | wc -l) -ge 3 ] && break; sleep 0.05; done
                    [ $(ls \(meet)/arrived | wc -l) -ge 3 ] || echo "$SLIPWAY_PARAM_TRAIN_LR" >> \(meet)/alone
                  fi
                  ls \(meet)/running | wc -l >> \(meet)/concurrent
                  rm \(meet)/running/$SLIPWAY_PARAM_TRAIN_LR
                  echo "start $SLIPWAY_PARAM_TRAIN_LR"

        """
        s.write("slipway.yaml", (s.read("slipway.yaml") ?? "").replacingOccurrences(
            of: "      train:\n        cmd: |\n", with: "      train:\n        cmd: |\n" + hold))
        // Copies left by a sweep killed with -9 (its pid is gone) are cleared by the next sweep.
        s.write(".slipway/sweeps/1700000000-4194000/2/model.txt", "stale")
        let r = s.run("run", "--sweep", "train.lr=0.1,0.03,0.5,0.2", "--jobs", "2")
        #expect(r.status == 3, "\(r.stderr)")
        #expect(!s.exists(".slipway/meet/alone"), "members that ran alone: \(s.read(".slipway/meet/alone") ?? "")")
        let concurrent = (s.read(".slipway/meet/concurrent") ?? "").split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        #expect(concurrent.count == 4 && concurrent.allSatisfy { $0 <= 2 } && concurrent.contains(2), "\(concurrent)")
        #expect(s.count(".count-prepare") == 1)
        let trained = (s.read(".count-train") ?? "").split(separator: "\n").map(String.init)
        #expect(trained.sorted() == ["0.03", "0.1", "0.2", "0.5"], "\(trained)")
        #expect(trained.first == "0.1")
        // Each member's model is its own (registered versions differ by their lr).
        for run in 1...4 {
            let shown = try #require(try s.json("show", String(run), "--json") as? [String: Any])
            let lr = (shown["overrides"] as? [String: String])?["train.lr"] ?? "?"
            #expect(s.run("logs", String(run), "train").stdout.contains("start \(lr)"), "run \(run)")
        }
        let board = try #require(try s.json("compare", "--runs", "1-4", "--json") as? [String: Any])
        #expect((board["entries"] as? [[String: Any]])?.compactMap { ($0["overrides"] as? [String: String])?["train.lr"] }.first == "0.03")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: s.root + "/.slipway/sweeps"))?.isEmpty ?? true)
        #expect(s.read("model.txt") == "lr=0.1 arch=small\n")
        // The winner ran in a copy that is gone: it is promoted like any
        // version, through the environment's policy, from what the registry and store hold.
        let winner = try #require((board["entries"] as? [[String: Any]])?.first?["version"] as? String)
        let promoted = s.run("promote", winner, "--to", "production")
        #expect(promoted.status == 0 && promoted.stdout.contains("\(winner) → production"), "\(promoted.stdout)\(promoted.stderr)")
        #expect(s.run("status").stdout.contains("production  \(winner)"))
        #expect(s.run("audit", "verify").status == 0)
    }

    @Test func sweepsMultiplyAndRefuseMistakes() throws {
        let s = Self.workspace()
        let both = s.run("run", "--sweep", "train.lr=0.1,0.03", "--set", "train.lr=0.2")
        #expect(both.status == 2 && both.stderr.contains("both set (--set) and swept (--sweep)"), "\(both.stderr)")
        let twice = s.run("run", "--sweep", "train.lr=0.1,0.1")
        #expect(twice.status == 2 && twice.stderr.contains("listed twice"), "\(twice.stderr)")
        #expect(!s.exists(".count-prepare"))
        let grid = s.run("run", "--sweep", "train.lr=0.1,0.03", "--sweep", "arch=small,large", "--jobs", "1", "--by", "loss")
        #expect(grid.status == 0, "\(grid.stderr)")
        #expect(s.read(".count-train")?.split(separator: "\n").count == 4)
        #expect(grid.stderr.contains("sweep 4/4: train.lr=0.03 model.arch=large"), "\(grid.stderr)")
        // Ranked by the metric asked for (loss is the lr here; no gate reads it: high first), not by auc.
        let lines = grid.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("ranked by loss (high first)") == true, "\(grid.stdout)")
        let rows = lines.filter { $0.contains("run ") && $0.contains("train.lr=") }
        #expect(rows.count == 4 && rows.prefix(2).allSatisfy { $0.contains("train.lr=0.1") }, "\(grid.stdout)")
        // Versions ranked the same way as runs: those that made them, each once.
        let byVersion = try #require(try s.json("compare", "clf:1", "clf:2", "clf:3", "clf:4", "clf:4", "--by", "loss", "--order", "asc", "--json")
                                     as? [String: Any])
        let ranked = try #require(byVersion["entries"] as? [[String: Any]])
        #expect(ranked.count == 4 && Set(ranked.compactMap { $0["version"] as? String }) == ["clf:1", "clf:2", "clf:3", "clf:4"], "\(ranked)")
        #expect(ranked.prefix(2).allSatisfy { ($0["overrides"] as? [String: String])?["train.lr"] == "0.03" }, "\(ranked)")
        // Another model's version among them: refused, naming it.
        let mixed = s.run("compare", "clf:1", "clf:2", "other:1")
        #expect(mixed.status != 0 && mixed.stderr.contains("other"), "\(mixed.stderr)")
        let two = s.run("compare", "clf:1", "clf:2", "--by", "auc")
        #expect(two.status == 2 && two.stderr.contains("three or more versions"), "\(two.stderr)")
    }
}
