import Foundation
import Testing

/// Inputs an on-call engineer (or an attacker with a pull request) can feed
/// Slipway: each is refused with its place, or handled, and loses nothing.
@Suite struct HostileInputTests {
    static let aliasBomb = """
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]

    """

    func simple(_ extra: String = "") -> Sandbox {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "echo hi > a.txt", outs: [a.txt]}
        \(extra)
        """)
        return s
    }

    @Test func aliasBombsAreRefusedWithTheirPlace() {
        let s = simple()
        s.write("params.yaml", Self.aliasBomb)
        let start = Date()
        for command in [["lint"], ["run"], ["status"]] {
            let r = s.run(command)
            #expect(r.status == 2, "\(command): \(r.stderr)")
            #expect(r.stderr.contains("params.yaml:") && r.stderr.contains("expand to more than 250000 values"), "\(r.stderr)")
        }
        let t = Sandbox()
        t.write("slipway.yaml", "project: p\nbomb:\n" + Self.aliasBomb.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
                + "\npipelines:\n  main:\n    stages:\n      a: {cmd: \"true\"}\n")
        let r = t.run("lint")
        #expect(r.status == 2)
        #expect(r.stderr.contains("slipway.yaml:") && r.stderr.contains("expand to more than"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(start) < 30)
    }

    /// A 1 MiB scalar anchor referenced 200,000 times in params.yaml made
    /// `lint` run past 30 s and take 7.4 GB: refused by its expanded size.
    @Test func aLargeAnchorReferencedManyTimesIsRefusedQuickly() {
        let s = simple()
        s.write("params.yaml", "big: &a \"" + String(repeating: "x", count: 1 << 20) + "\"\nrefs: ["
                + Array(repeating: "*a", count: 200_000).joined(separator: ",") + "]\n")
        let start = Date()
        let r = s.run("lint")
        let seconds = Date().timeIntervalSince(start)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("params.yaml:2:7: YAML aliases here expand to more than 16 MiB of text"), "\(r.stderr)")
        // Well under a second when idle; the bound leaves room for a loaded machine.
        #expect(seconds < 20, "\(seconds) s")
    }

    @Test func unsafeNamesAreRefusedByLint() {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            model: "../m"
            stages:
              "../../x": {cmd: "true"}
              "ok.stage": {cmd: "true"}
          "bad name": {stages: {a: {cmd: "true"}}}
          [1, 2]: {stages: {a: {cmd: "true"}}}
        environments:
          "prod/../../etc": {}
        """)
        let r = s.run("lint")
        #expect(r.status == 2)
        let err = r.stderr
        #expect(err.contains("slipway.yaml:4:12: pipelines.main.model: model name '../m' may hold only letters, digits, '.', '_' and '-'"), "\(err)")
        #expect(err.contains("slipway.yaml:6:7: pipelines.main.stages.../../x: stage name '../../x' may hold only"), "\(err)")
        #expect(err.contains("slipway.yaml:8:3: pipelines.bad name: pipeline name 'bad name' may hold only"), "\(err)")
        #expect(err.contains("slipway.yaml:9:3: pipelines: a pipeline name must be a string, found a list"), "\(err)")
        #expect(err.contains("slipway.yaml:11:3: environments.prod/../../etc: environment name"), "\(err)")
        #expect(!err.contains("ok.stage"))
        #expect(!s.exists(".slipway/logs"))
    }

    @Test func numbersWherePathsBelongAreRefused() {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "true", deps: 3}
        """)
        let r = s.run("lint")
        #expect(r.status == 2)
        #expect(r.stderr.contains("slipway.yaml:5:30: pipelines.main.stages.a.deps: must be a path or a list of paths, found '3'"), "\(r.stderr)")
    }

    @Test func twoPipelinesCannotWriteOneOut() {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          one:
            stages:
              a: {cmd: "echo 1 > shared.txt", outs: [shared.txt]}
          two:
            stages:
              b: {cmd: "echo 2 > shared.txt", outs: [shared.txt]}
        """)
        let r = s.run("lint")
        #expect(r.status == 2)
        #expect(r.stderr.contains("pipelines.two.stages.b.outs: 'shared.txt' is also written by stage 'a' of pipeline 'one'; each path has one writer"), "\(r.stderr)")
    }

    @Test func anOutWhoseFolderBecomesASymlinkIsNotFollowed() throws {
        // The first stage replaces the folder of the second stage's out with a
        // symlink to a folder outside; clearing that out must not delete there.
        let outside = NSTemporaryDirectory() + "slipway-victim-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "keep me".write(toFile: outside + "/model.bin", atomically: true, encoding: .utf8)
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              plant: {cmd: "rm -rf out && ln -s \(outside) out && echo x > planted.txt", outs: [planted.txt]}
              train: {cmd: "echo model > out/model.bin", outs: [out/model.bin], needs: [plant]}
        """)
        try FileManager.default.createDirectory(atPath: s.root + "/out", withIntermediateDirectories: true)
        let r = s.run("run")
        #expect(r.status == 1)
        #expect(r.stderr.contains("cannot clear out out/model.bin") && r.stderr.contains("symlink"), "\(r.stderr)")
        #expect(try String(contentsOfFile: outside + "/model.bin", encoding: .utf8) == "keep me")
    }

    @Test func versionsMustBePositive() {
        let s = gatedWorkspace()
        #expect(s.run("run").status == 0)
        for bad in ["clf:-1", "clf:0", "clf:+1", "clf:1.5"] {
            let r = s.run("promote", bad, "--to", "production")
            #expect(r.status == 2, "\(bad)")
        }
        #expect(s.run("models", "history", "clf", "--json").stdout.contains("[\n\n]") || !s.run("models", "history", "clf").stdout.contains("production"))
        let missing = s.run("promote", "clf:7", "--to", "production")
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no version 7 of model 'clf' (its versions are 1…1)"), "\(missing.stderr)")
        let env = s.run("promote", "clf:1", "--to", "prod")
        #expect(env.status == 2)
        #expect(env.stderr.contains("no environment 'prod'"), "\(env.stderr)")
    }

    @Test func listingLimitsMustBePositive() {
        let s = simple()
        let r = s.run("runs", "--limit", "0")
        #expect(r.status == 2)
        #expect(r.stderr.contains("--limit must be at least 1"))
    }

    @Test func pythonStyleNonFiniteMetricsAreKept() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              eval:
                cmd: |
                  printf '{"loss": NaN, "ratio": Infinity, "floor": -Infinity, "note": "NaN here", "acc": 0.5}' > m.json
                metrics: [m.json]
        """)
        let r = s.run("run")
        #expect(r.status == 0, "\(r.stderr)")
        let show = try #require(try s.json("show", "latest", "--json") as? [String: Any])
        let metrics = try #require(show["metrics"] as? [[String: Any]])
        func point(_ key: String) -> [String: Any]? { metrics.first { $0["key"] as? String == key } }
        #expect(point("loss")?["nonFinite"] as? String == "NaN")
        #expect(point("loss")?.keys.contains("value") == true)
        #expect(point("loss")?["value"] is NSNull)
        #expect(point("ratio")?["nonFinite"] as? String == "Infinity")
        #expect(point("floor")?["nonFinite"] as? String == "-Infinity")
        #expect(point("acc")?["value"] as? Double == 0.5)
        #expect(point("acc")?["nonFinite"] == nil)
    }

    @Test func invalidMetricsJSONNamesThePlace() {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              eval: {cmd: "printf '{\\"a\\": 1,\\n \\"b\\": oops}' > m.json", metrics: [m.json]}
        """)
        let r = s.run("run")
        #expect(r.status == 1)
        #expect(r.stderr.contains("metrics file m.json is not valid JSON"), "\(r.stderr)")
        #expect(r.stderr.contains("line 2"), "\(r.stderr)")
    }

    @Test func malformedMetricLinesAreEachReportedAndCounted() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: p
        pipelines:
          main:
            stages:
              train: {cmd: "echo '::metric loss=0.5 step=1'; echo '::metric name=loss value=0.4'; echo '::metric value=x'"}
        """)
        let r = s.run("run")
        #expect(r.status == 0)
        #expect(r.stderr.contains("warning: train: ignored a line that does not parse: ::metric loss=0.5 step=1"), "\(r.stderr)")
        #expect(r.stderr.contains("warning: train: ignored a line that does not parse: ::metric value=x"), "\(r.stderr)")
        #expect(r.stderr.contains("warning: train: dropped 2 malformed lines"), "\(r.stderr)")
        let log = s.run("logs", "latest", "train").stdout
        #expect(log.contains("[slipway] warning: ignored a line that does not parse: ::metric loss=0.5 step=1"), "\(log)")
        #expect(log.contains("[slipway] warning: ignored a line that does not parse: ::metric value=x"), "\(log)")
        #expect(log.contains("[slipway] dropped 2 malformed lines"), "\(log)")
        let show = try #require(try s.json("show", "latest", "--json") as? [String: Any])
        #expect((show["metrics"] as? [[String: Any]])?.count == 1)
    }

    /// `outs: [.slipway]` and the like once made `run` delete the registry (and
    /// `audit verify` then passed on an empty trail): lint refuses them with
    /// their place, `run` refuses before anything runs, and nothing is touched.
    @Test func lintAndRunNeverTouchSlipwaysOrGitsOwnFiles() throws {
        let s = simple()
        gitIn("init", "-q", in: s.root)
        #expect(s.run("run").status == 0)
        let events = s.run("audit", "verify")
        #expect(events.status == 0, "\(events.stderr)")
        for out in [".git", ".slipway", ".slipway/registry.sqlite", ".slipway/registry.sqlite.head", "slipway.yaml", "params.yaml", ".git/HEAD"] {
            s.write("slipway.yaml", """
            project: p
            pipelines:
              main:
                stages:
                  a: {cmd: "echo hi > a.txt", outs: [a.txt]}
                  b: {cmd: "true", outs: ["\(out)"]}
            """)
            let lint = s.run("lint")
            #expect(lint.status == 2, "\(out): \(lint.stdout)")
            #expect(lint.stderr.contains("slipway.yaml:6:31: pipelines.main.stages.b.outs[0]: '\(out)'"), "\(out): \(lint.stderr)")
            let run = s.run("run")
            #expect(run.status == 2, "\(out): \(run.stderr)")
            #expect(s.exists(".git/HEAD"), "\(out)")
            #expect(s.exists(".slipway/registry.sqlite"), "\(out)")
            #expect(s.exists("slipway.yaml"), "\(out)")
        }
        let runs = try #require(try s.json("runs", "--json") as? [[String: Any]])
        #expect(runs.count == 1)
        #expect(s.run("audit", "verify").stdout == events.stdout)
    }

    /// `ln -s /etc/shadow data/shadow.csv; slipway data add data/shadow.csv`
    /// once copied the file into the store; a link to a folder outside was
    /// recorded as an empty dataset.
    @Test func dataAddRefusesSymlinksOutOfTheWorkspace() throws {
        let outside = NSTemporaryDirectory() + "slipway-outside-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: outside + "/folder", withIntermediateDirectories: true)
        try "root:secret-hash:19000:0:99999:7:::\n".write(toFile: outside + "/shadow", atomically: true, encoding: .utf8)
        try "a,b\n1,2\n".write(toFile: outside + "/folder/x.csv", atomically: true, encoding: .utf8)
        let s = simple()
        try FileManager.default.createDirectory(atPath: s.root + "/data", withIntermediateDirectories: true)
        symlink(outside + "/shadow", s.root + "/data/shadow.csv")
        symlink(outside + "/folder", s.root + "/data/folder")
        for path in ["data/shadow.csv", "data/folder", "data/folder/x.csv"] {
            let r = s.run("data", "add", path)
            #expect(r.status == 2, "\(path): \(r.stdout)")
            #expect(r.stderr.contains("outside the workspace"), "\(path): \(r.stderr)")
        }
        for path in [".slipway/registry.sqlite", ".slipway"] {
            let r = s.run("data", "add", path)
            #expect(r.status == 2 && r.stderr.contains("Slipway's own state"), "\(path): \(r.stderr)")
        }
        #expect(s.run("data", "ls").stdout.contains("No datasets yet"))
        let stored = (try? FileManager.default.subpathsOfDirectory(atPath: s.root + "/.slipway/store")) ?? []
        for file in stored {
            #expect(!(s.read(".slipway/store/" + file) ?? "").contains("secret-hash"), "\(file)")
        }
    }

    @Test func dataAddResolvesAgainstTheWorkspace() throws {
        let s = simple()
        s.write("data/train.csv", "a,b\n1,2\n")
        let elsewhere = NSTemporaryDirectory()
        let r = s.run(["-C", s.root, "data", "add", "data/train.csv"], directory: elsewhere)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("data/train.csv"))
        // From inside a subfolder, a path relative to it works too.
        let sub = s.run(["data", "add", "train.csv"], directory: s.root + "/data")
        #expect(sub.status == 0, "\(sub.stderr)")
        #expect(sub.stdout.contains("data/train.csv") && sub.stdout.contains("unchanged"))
        let outside = s.run(["-C", s.root, "data", "add", "/etc/hostname"])
        #expect(outside.status == 2)
    }

    @Test func aCorruptRegistryIsRefusedAndNotWritten() throws {
        let s = gatedWorkspace()
        #expect(s.run("run").status == 0)
        s.write("params.yaml", "train:\n  lr: 0.2\n")
        #expect(s.run("run").status == 0)
        let path = s.root + "/.slipway/registry.sqlite"
        // Everything into the main file first (a process may exit before SQLite checkpoints its WAL).
        let checkpoint = Process()
        checkpoint.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        checkpoint.arguments = ["sqlite3", path, "PRAGMA wal_checkpoint(TRUNCATE);"]
        checkpoint.standardOutput = FileHandle.nullDevice
        try checkpoint.run()
        checkpoint.waitUntilExit()
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes.count > 16_384)
        // Garbage over a page in the middle of the file.
        for i in 8_192..<12_288 where i < bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i &* 31) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        for command in [["models"], ["promote", "clf:1", "--to", "production"], ["runs"], ["status"], ["run"]] {
            let r = s.run(command)
            #expect(r.status == 4, "\(command) exited \(r.status): \(r.stderr)")
            #expect(r.stderr.contains("corrupt"), "\(command): \(r.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }
}
