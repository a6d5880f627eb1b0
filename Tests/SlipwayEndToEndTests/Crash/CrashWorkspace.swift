import Foundation
import Synchronization
import Testing

/// SplitMix64: the same seed gives the same choices, so a crash episode can be
/// replayed (the kill's timing aside) from the seed the report prints.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A workspace that exercises every path the crash harness kills: a pipeline
/// that trains, evaluates, packages (signed) and deploys to staging; an
/// `auto:` production with a canary judged by an analysis command; a policy
/// under which an architecture change needs one signature in staging and two
/// in production; deploy, stage, probe commands and `ssh-keygen -Y sign` that
/// block on a fifo when the harness arms their point, so a kill lands inside
/// the call.
final class CrashWorkspace {
    let s: Sandbox
    /// `.crash/`: the scripts' shared state (holds, the deploy call log, error rates).
    let dir: String
    let canaryInterval: String
    /// Every command run, as a shell script that replays the episode.
    private(set) var transcript: [String] = []
    /// Versions whose package verified once (checked again only if new).
    var verifiedVersions: Set<Int> = []
    private var counter = 0

    init(canaryInterval: String) {
        s = Sandbox()
        dir = s.root + "/.crash"
        self.canaryInterval = canaryInterval
        try! FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        try! FileManager.default.createDirectory(atPath: s.root + "/keys", withIntermediateDirectories: true)
        for who in ["dana", "sam", "signer"] {
            tool(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "\(who)@example.org", "-f", s.root + "/keys/\(who)"])
        }
        func pub(_ who: String) -> String { s.read("keys/\(who).pub")!.trimmingCharacters(in: .whitespacesAndNewlines) }
        s.write("slipway.yaml", """
        project: crash
        pipelines:
          main:
            model: clf
            stages:
              train:
                cmd: ./stage.sh train
                deps: [params.yaml, stage.sh]
                params: [model.arch, train.lr]
                outs: [model.txt]
              evaluate:
                cmd: ./stage.sh evaluate
                deps: [model.txt, .crash/accuracy]
                metrics: [eval.json]
                gates: {accuracy: ">= 0.5"}
              package: {uses: package, model: model.txt, needs: [evaluate]}
              deploy: {uses: deploy, model: clf, to: staging, needs: [package]}
        environments:
          staging: {deploy: ./deploy.sh}
          production:
            requires: staging
            auto: true
            deploy: ./deploy.sh
            canary:
              steps: [25, 100]
              interval: \(canaryInterval)
              analysis:
                error_rate: {cmd: ./probe.sh, fail_if: "> 0.5"}
        policy:
          high_risk_when: [{params_changed: [model.arch]}]
          approvers:
            - {name: Dana, user: dana, key: "\(pub("dana"))"}
            - {name: Sam, user: sam, key: "\(pub("sam"))"}
          required_approvals: 1
          environments:
            production: {required_approvals: 2}
        signing:
          key: keys/signer
          signers: ["\(pub("signer"))"]
        """)
        s.write("params.yaml", "model:\n  arch: gbm\ntrain:\n  lr: 0\n")
        s.write(".crash/accuracy", "0.9")
        // A held script records its pid and point, then waits until the harness opens the fifo.
        s.write(".crash/hold", """
        #!/bin/sh
        p=$(printf '%s' "$1" | tr ':/' '__')
        if [ -e "\(dir)/arm-$p" ] && mkdir "\(dir)/took-$p" 2>/dev/null; then
          echo "$$ $1" > "\(dir)/held.tmp" && mv "\(dir)/held.tmp" "\(dir)/held"
          cat "\(dir)/fifo" > /dev/null
        fi

        """, executable: true)
        s.write("stage.sh", """
        #!/bin/sh
        ./.crash/hold "stage:$1"
        case "$1" in
          train) cat params.yaml > model.txt ;;
          evaluate) printf '{"accuracy": %s}' "$(cat .crash/accuracy)" > eval.json ;;
        esac

        """, executable: true)
        s.write("deploy.sh", """
        #!/bin/sh
        echo "start $SLIPWAY_DEPLOYMENT_ID $SLIPWAY_MODEL:$SLIPWAY_VERSION $SLIPWAY_TRAFFIC" >> .crash/calls.log
        ./.crash/hold "deploy:$SLIPWAY_ENV"
        echo "end $SLIPWAY_DEPLOYMENT_ID" >> .crash/calls.log

        """, executable: true)
        s.write("probe.sh", """
        #!/bin/sh
        ./.crash/hold probe
        printf '{"error_rate": %s}' "$(cat .crash/rate.$SLIPWAY_ANALYSIS_VERSION 2>/dev/null || echo 0.01)"

        """, executable: true)
        let keygen = ["/usr/bin/ssh-keygen", "/usr/local/bin/ssh-keygen"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "ssh-keygen"
        s.write(".crash/bin/ssh-keygen", """
        #!/bin/sh
        case "$*" in *"-Y sign"*) "\(dir)/hold" sign ;; esac
        exec \(keygen) "$@"

        """, executable: true)
        initial = NSTemporaryDirectory() + "slipway-crash-initial-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.copyItem(atPath: s.root, toPath: initial)
        transcript = ["#!/bin/sh", "# Replays a crash episode: run it in a copy of initial/ with `slipway` on PATH.",
                      "# Kills by timing land where they land; SLIPWAY_TEST_CRASH_AT and the holds (.crash/arm-*) are exact.",
                      "W=${W:-$(pwd)}", "export PATH=\"$W/.crash/bin:$PATH\""]
    }

    /// The workspace as created, before the first command.
    private var initial = ""

    var root: String { s.root }

    func environment(user: String, crashAt: String? = nil) -> [String: String] {
        var env = ["SLIPWAY_USER": user, "PATH": dir + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
                   "SWIFT_BACKTRACE": "enable=no"]
        if let crashAt { env["SLIPWAY_TEST_CRASH_AT"] = crashAt }
        return env
    }

    func note(_ line: String) { transcript.append("# " + line) }

    private func record(_ args: [String], user: String, crashAt: String?, suffix: String) {
        let quoted = args.map { $0.contains(where: { " '\"$".contains($0) }) ? "'\($0.replacingOccurrences(of: "'", with: "'\\''"))'" : $0 }
        transcript.append((crashAt.map { "SLIPWAY_TEST_CRASH_AT=\($0) " } ?? "") + "SLIPWAY_USER=\(user) slipway -C \"$W\" "
                          + quoted.joined(separator: " ") + suffix)
    }

    /// Runs a command to its end (a `check` only reads: a comment in the transcript).
    @discardableResult
    func run(_ args: [String], user: String = "ana", check: Bool = false) -> Sandbox.Result {
        let r = s.run(args, environment: environment(user: user))
        record(args, user: user, crashAt: nil, suffix: "   # exit \(r.status)")
        if check { transcript[transcript.count - 1] = "# check: " + transcript[transcript.count - 1] }
        return r
    }

    /// Starts a command in the background (output in `.crash/out-N`), for killing.
    func start(_ args: [String], user: String = "ana", crashAt: String? = nil, note: String) throws -> Process {
        counter += 1
        let p = s.process(args, environment: environment(user: user, crashAt: crashAt))
        let out = FileManager.default.createFile(atPath: dir + "/out-\(counter)", contents: nil)
        precondition(out)
        let handle = FileHandle(forWritingAtPath: dir + "/out-\(counter)")!
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        try? handle.close()
        record(args, user: user, crashAt: crashAt, suffix: " &   # " + note)
        return p
    }

    /// The wait status of a started command if it has ended (whoever reaped it: this or Foundation).
    func poll(_ p: Process) -> Int32? {
        var status: Int32 = 0
        let r = waitpid(p.processIdentifier, &status, WNOHANG)
        if r == p.processIdentifier { return status }
        if r < 0, !p.isRunning { return p.terminationReason == .uncaughtSignal ? p.terminationStatus & 0x7f : (p.terminationStatus & 0xff) << 8 }
        return nil
    }

    /// Waits for a started command to end; its wait status (SIGKILL after `timeout` seconds).
    @discardableResult
    func wait(_ p: Process, timeout: Double = 120, before killing: () -> Void = {}) -> Int32 {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let status = poll(p) { return status }
            usleep(5_000)
        }
        killing()
        kill(p.processIdentifier, SIGKILL)
        while true {
            if let status = poll(p) { return status }
            usleep(5_000)
        }
    }

    /// What the last started command printed.
    var lastOutput: String { s.read(".crash/out-\(counter)") ?? "" }

    // MARK: - Holds

    static func holdName(_ point: String) -> String { point.replacingOccurrences(of: ":", with: "_").replacingOccurrences(of: "/", with: "_") }

    /// The next script reaching `point` (`stage:train`, `deploy:production`, `probe`, `sign`) blocks there.
    func arm(_ point: String) {
        disarm()
        mkfifo(dir + "/fifo", 0o600)
        FileManager.default.createFile(atPath: dir + "/arm-" + Self.holdName(point), contents: nil)
    }

    func disarm() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        for n in names where n.hasPrefix("arm-") || n.hasPrefix("took-") || n == "held" || n == "fifo" {
            try? FileManager.default.removeItem(atPath: dir + "/" + n)
        }
    }

    /// The script holding at the armed point: its pid.
    func held() -> Int32? {
        guard let text = s.read(".crash/held"), let pid = Int32(text.split(separator: " ").first ?? "") else { return nil }
        return pid
    }

    /// Lets a held script go on (it finishes its work on its own).
    func release() {
        // The script announces itself just before it opens the fifo: try until its open is waiting.
        let end = Date().addingTimeInterval(5)
        while Date() < end {
            let fd = open(dir + "/fifo", O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd); return }
            usleep(2_000)
        }
    }

    /// Kills the process group of a held script (as if the machine took it down too).
    func killGroup(of pid: Int32) {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 2, let group = Int32(fields[2]), group > 1 { kill(-group, SIGKILL) }
    }

    // MARK: - Reading the registry (with the sqlite3 tool, independent of Slipway's own code)

    var database: String { s.root + "/.slipway/registry.sqlite" }

    func sqlite(_ args: [String]) -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["sqlite3"] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try! p.run()
        let errData = Mutex(Data())
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() }; group.leave() }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self), String(decoding: errData.withLock { $0 }, as: UTF8.self))
    }

    /// Rows of a query, as JSON objects (busy for up to 5 s while another process writes).
    func rows(_ query: String) -> [[String: Any]] {
        guard FileManager.default.fileExists(atPath: database) else { return [] }  // no command has run yet
        let r = sqlite(["-json", "-cmd", ".timeout 5000", database, query])
        guard r.status == 0 else { Issue.record("sqlite3 failed on \(query): \(r.err)"); return [] }
        let text = r.out.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return [] }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]) ?? []
    }

    func integrityCheck() -> String {
        let r = sqlite(["-cmd", ".timeout 5000", database, "PRAGMA integrity_check"])
        return (r.out + r.err).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The deploy calls' log lines (`start ID …`, `end ID`).
    var calls: [String] { (s.read(".crash/calls.log") ?? "").split(separator: "\n").map(String.init) }

    /// Copies the workspace (with its transcript) somewhere that outlives the test, for a reproducer.
    func keep(in folder: String, name: String) -> String {
        let target = folder + "/" + name
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: target)
        try? FileManager.default.copyItem(atPath: s.root, toPath: target)
        try? FileManager.default.copyItem(atPath: initial, toPath: target + "/initial")
        try? (transcript.joined(separator: "\n") + "\n").write(toFile: target + "/transcript.sh", atomically: true, encoding: .utf8)
        return target
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: s.root)
        try? FileManager.default.removeItem(atPath: initial)
    }
}
