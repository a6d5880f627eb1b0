import Foundation
import Testing

/// Matrix stages run by the real binary: each member with its values, cached
/// member by member, and shown by `lint --expand`.
@Suite struct MatrixRunTests {
    static func workspace(_ seeds: String = "range(3)") -> Sandbox {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: e2e
        pipelines:
          main:
            stages:
              train:
                matrix:
                  seed: \(seeds)
                  arch: [small, large]
                cmd: echo run >> .count-$SLIPWAY_MATRIX_SEED-$SLIPWAY_MATRIX_ARCH && mkdir -p models && echo "seed=$SLIPWAY_MATRIX_SEED arch=${matrix.arch} lr=$SLIPWAY_PARAM_TRAIN_LR" > models/${matrix.arch}-${matrix.seed}.txt
                params: [train.lr]
                outs: ["models/${matrix.arch}-${matrix.seed}.txt"]
              report:
                cmd: cat models/*.txt | sort > report.txt
                deps: [models]
                needs: [train]
                outs: [report.txt]
        """)
        s.write("params.yaml", "train:\n  lr: 0.1\n")
        try! FileManager.default.createDirectory(atPath: s.root + "/.slipway", withIntermediateDirectories: true)
        return s
    }

    @Test func membersRunWithTheirValuesThenComeFromTheCacheOneByOne() throws {
        let s = Self.workspace()
        let first = s.run("run", "--jobs", "3")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(s.read("models/large-2.txt") == "seed=2 arch=large lr=0.1\n")
        #expect(s.read("report.txt")?.split(separator: "\n").count == 6)
        let records = try s.stageRecords("1")
        #expect(Set(records.compactMap { $0["stage"] as? String }) == Set(["train[seed=0,arch=small]", "train[seed=0,arch=large]",
            "train[seed=1,arch=small]", "train[seed=1,arch=large]", "train[seed=2,arch=small]", "train[seed=2,arch=large]", "report"]))

        // Nothing changed: nothing runs.
        #expect(s.run("run").status == 0)
        #expect(s.count(".count-1-small") == 1)

        // A new value on an axis runs its members only (and what needs the matrix).
        s.write("slipway.yaml", (s.read("slipway.yaml") ?? "").replacingOccurrences(of: "seed: range(3)", with: "seed: range(4)"))
        let third = s.run("run")
        #expect(third.status == 0, "\(third.stderr)")
        #expect(s.count(".count-0-small") == 1 && s.count(".count-2-large") == 1)
        #expect(s.count(".count-3-small") == 1 && s.count(".count-3-large") == 1)
        #expect(s.read("report.txt")?.split(separator: "\n").count == 8)
    }

    /// `logs RUN train` prints every member's log under its name; a failed
    /// member's hint quotes its name so a shell does not glob it.
    @Test func logsOfAMatrixStageShowEveryMember() throws {
        let s = Self.workspace("[1, 2]")
        s.write("slipway.yaml", (s.read("slipway.yaml") ?? "").replacingOccurrences(
            of: "cmd: echo run", with: "cmd: echo \"member $SLIPWAY_MATRIX_SEED-$SLIPWAY_MATRIX_ARCH\" && test $SLIPWAY_MATRIX_SEED$SLIPWAY_MATRIX_ARCH != 2large && echo run"))
        let r = s.run("run", "--jobs", "1")
        #expect(r.status == 1)
        #expect(r.stderr.contains("see `slipway logs 1 'train[seed=2,arch=large]'`"), "\(r.stderr)")
        // Run from elsewhere with -C, the hint names the workspace too.
        let elsewhere = s.run(["-C", s.root, "run", "--jobs", "1"], directory: NSTemporaryDirectory())
        #expect(elsewhere.stderr.contains("see `slipway -C \(s.root) logs 2 'train[seed=2,arch=large]'`"), "\(elsewhere.stderr)")
        let logs = s.run("logs", "1", "train")
        #expect(logs.status == 0, "\(logs.stderr)")
        for (seed, arch) in [("1", "small"), ("1", "large"), ("2", "small"), ("2", "large")] {
            #expect(logs.stdout.contains("==> train[seed=\(seed),arch=\(arch)] ("), "\(logs.stdout)")
            #expect(logs.stdout.contains("member \(seed)-\(arch)\n"), "\(logs.stdout)")
        }
        #expect(!logs.stdout.contains("==> report"))
        let typo = s.run("logs", "1", "trian")
        #expect(typo.status == 2 && typo.stderr.contains("has no stage 'trian' (did you mean train?)"), "\(typo.stderr)")
    }

    @Test func lintExpandShowsEveryMember() {
        let s = Self.workspace("[7, 9]")
        let lint = s.run("lint", "--expand")
        #expect(lint.status == 0, "\(lint.stderr)")
        #expect(lint.stdout.contains("slipway.yaml: OK (1 pipeline, 5 stages)"))
        #expect(lint.stdout.contains("  train: matrix over seed × arch, 4 members\n"))
        #expect(lint.stdout.contains("    train[seed=9,arch=large]\n      cmd: echo run >> .count-$SLIPWAY_MATRIX_SEED-$SLIPWAY_MATRIX_ARCH"))
        #expect(lint.stdout.contains("      outs: models/large-9.txt\n"))
        #expect(lint.stdout.contains("  report\n    cmd: cat models/*.txt | sort > report.txt\n    deps: models\n    outs: report.txt\n    needs: train[seed=7,arch=small], train[seed=7,arch=large], train[seed=9,arch=small], train[seed=9,arch=large]\n"))
    }

    @Test func aSharedOutIsRefusedBeforeAnythingRuns() {
        let s = Self.workspace()
        s.write("slipway.yaml", (s.read("slipway.yaml") ?? "").replacingOccurrences(of: "outs: [\"models/${matrix.arch}-${matrix.seed}.txt\"]", with: "outs: [\"models/${matrix.arch}.txt\"]"))
        let run = s.run("run")
        #expect(run.status == 2)
        #expect(run.stderr.contains("slipway.yaml:11:"), "\(run.stderr)")
        #expect(run.stderr.contains("more than one member of matrix 'train'"))
        #expect(!s.exists("models"))
    }
}
