import Foundation
import Testing

/// Deploy calls cut short by `kill -9` of the command making them: shown
/// while unfinished, and made again (with the same id) by the next driver.
///
/// The deploy command blocks on a fifo while `hold` exists, so the kill lands
/// while the call is in flight; the killed `slipway` is started with
/// posix_spawn and not reaped until the end, so it stays a zombie meanwhile,
/// as it does under a shell or a script that does not wait for what it kills.
@Suite struct InterruptedDeployCallTests {
    func workspace() -> Sandbox {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: calls
        pipelines:
          p:
            model: clf
            stages:
              train: {cmd: . ./scores.env && echo "$LR" > model.txt, deps: [scores.env], outs: [model.txt]}
        environments:
          production: {requires: none, deploy: ./deploy.sh}
        """)
        s.write("deploy.sh", """
        #!/bin/sh
        echo "$SLIPWAY_DEPLOYMENT_ID $SLIPWAY_MODEL:$SLIPWAY_VERSION $SLIPWAY_TRAFFIC%" >> calls.log
        if [ -e hold ]; then cat gate.fifo > /dev/null; fi
        """, executable: true)
        #expect(mkfifo(s.root + "/gate.fifo", 0o600) == 0)
        return s
    }

    func release(_ s: Sandbox, _ n: Int, promote: Bool = false) {
        s.write("scores.env", "LR=\(n)\n")
        #expect(s.run("run").status == 0)
        if promote { #expect(s.run("promote", "clf:\(n)", "--to", "production").status == 0) }
    }

    func calls(_ s: Sandbox) -> [String] { (s.read("calls.log") ?? "").split(separator: "\n").map(String.init) }

    func production(_ s: Sandbox) throws -> [String: Any] {
        let lanes = try #require(try s.json("deployments", "--json") as? [[String: Any]])
        return try #require(lanes.first { $0["environment"] as? String == "production" })
    }

    /// Runs `slipway ARGS` until its deploy call is in flight, runs `during`
    /// then, and kills it with SIGKILL; returns its pid once it is dead (not
    /// reaped) and the orphaned deploy command has been let go.
    func killDuringCall(_ s: Sandbox, _ args: [String], during: () throws -> Void) throws -> pid_t {
        s.write("hold", "")
        let pid = try spawn(["-C", s.root] + args)
        let fifo = try #require(openWhenRead(s.root + "/gate.fifo"), "the deploy call never started")
        try during()
        kill(pid, SIGKILL)
        #expect(s.waitUntil { isZombie(pid) })
        s.remove("hold")
        close(fifo)
        return pid
    }

    @Test func aPromoteKilledDuringItsDeployCallIsShownAndMadeAgainByTheAgent() throws {
        let s = workspace()
        release(s, 1)
        let pid = try killDuringCall(s, ["promote", "clf:1", "--to", "production"]) {
            // While its owner lives, the call is in flight and nobody takes it over.
            let status = s.run("status")
            #expect(status.stdout.contains("deploy call production-d1-s1 (clf:1 at 100%) in flight"), "\(status.stdout)")
            #expect(s.run("deployments").stdout.contains("production-d1-s1 (clf:1 at 100%) in flight"))
        }
        defer { waitpid(pid, nil, 0) }
        #expect(calls(s) == ["production-d1-s1 clf:1 100%"])
        let shown = s.run("deployments")
        #expect(shown.stdout.contains("deploy call production-d1-s1 (clf:1 at 100%) interrupted: its driver (pid \(pid)"), "\(shown.stdout)")
        let unfinished = try #require(try production(s)["unfinishedCalls"] as? [[String: Any]])
        #expect(unfinished.first?["callID"] as? String == "production-d1-s1")

        let agent = s.run("agent", "--once")
        #expect(agent.status == 0, "\(agent.stderr)")
        #expect(calls(s) == ["production-d1-s1 clf:1 100%", "production-d1-s1 clf:1 100%"])
        let lane = try production(s)
        #expect(lane["live"] as? Int == 1)
        #expect((lane["unfinishedCalls"] as? [Any])?.isEmpty == true)
        #expect(try s.deployRan("production-d1-s1") == 1)
        #expect(s.run("audit", "verify").status == 0)
    }

    @Test func aRollbackKilledDuringItsDeployCallIsMadeAgainByStatus() throws {
        let s = workspace()
        release(s, 1, promote: true)
        release(s, 2, promote: true)
        let pid = try killDuringCall(s, ["rollback", "production"]) {}
        defer { waitpid(pid, nil, 0) }
        #expect(calls(s).last == "production-a3 clf:1 100%")
        let status = s.run("status")
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("made the interrupted deploy call production-a3 (clf:1 at 100%) again"), "\(status.stdout)")
        #expect(calls(s).suffix(2) == ["production-a3 clf:1 100%", "production-a3 clf:1 100%"])
        #expect((try production(s)["unfinishedCalls"] as? [Any])?.isEmpty == true)
        #expect(try s.deployRan("production-a3") == 1)
        #expect(s.run("audit", "verify").status == 0)
    }

    @Test func aRollbackKilledDuringItsDeployCallIsMadeAgainByTheNextPromote() throws {
        let s = workspace()
        release(s, 1, promote: true)
        release(s, 2, promote: true)
        let pid = try killDuringCall(s, ["rollback", "production"]) {}
        defer { waitpid(pid, nil, 0) }
        let r = s.run("promote", "clf:2", "--to", "production")
        #expect(r.status == 0, "\(r.stderr)")
        // The interrupted rollback's call first (what production runs as the stable version), then the promotion's own.
        #expect(calls(s).suffix(3) == ["production-a3 clf:1 100%", "production-a3 clf:1 100%", "production-d3-s1 clf:2 100%"], "\(calls(s))")
        #expect(try production(s)["live"] as? Int == 2)
        #expect(try s.deployRan("production-a3") == 1)
    }

    /// A promotion killed during its call, then rolled back: the rollback's
    /// own call overtakes the interrupted one, which is closed (not made: that
    /// would put back the version being rolled back), never left started.
    @Test func aPromoteKilledDuringItsDeployCallIsClosedAsOvertakenByTheNextRollback() throws {
        let s = workspace()
        release(s, 1, promote: true)
        release(s, 2)
        let pid = try killDuringCall(s, ["promote", "clf:2", "--to", "production"]) {}
        defer { waitpid(pid, nil, 0) }
        let r = s.run("rollback", "production")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(calls(s).suffix(2) == ["production-d2-s1 clf:2 100%", "production-d2-rollback clf:1 100%"], "\(calls(s))")
        let lane = try production(s)
        #expect(lane["live"] as? Int == 1)
        #expect((lane["unfinishedCalls"] as? [Any])?.isEmpty == true, "\(lane)")
        #expect(s.run("agent", "--once").status == 0)
        #expect(calls(s).suffix(2) == ["production-d2-s1 clf:2 100%", "production-d2-rollback clf:1 100%"])
    }
}

/// Starts the `slipway` binary with posix_spawn (output discarded); the caller reaps it.
func spawn(_ args: [String]) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for fd in [Int32(0), 1, 2] {
        posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
    }
    // Nothing else the test process has open (other tests' pipes) goes with it
    // (glibc 2.34's closefrom action, which Swift's Glibc module does not show).
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    if let closeFrom = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
        _ = unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 3)
    }
    let argv = ([Sandbox.binary] + args).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let env = ProcessInfo.processInfo.environment.filter { $0.key != "SLIPWAY_WORKSPACE" }.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { env.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, Sandbox.binary, &actions, nil, argv, env)
    guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
    return pid
}

/// Whether a process has exited but was not reaped yet.
func isZombie(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let paren = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(after: paren)...].trimmingCharacters(in: .whitespaces).first == "Z"
}

/// Opens a fifo for writing once a reader has it open (O_NONBLOCK fails with
/// ENXIO until then); nil after 60 s.
func openWhenRead(_ path: String) -> Int32? {
    let end = Date().addingTimeInterval(60)
    while Date() < end {
        let fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        if fd >= 0 { return fd }
        usleep(5_000)
    }
    return nil
}
