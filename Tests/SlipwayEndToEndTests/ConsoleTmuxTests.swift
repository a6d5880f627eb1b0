import Foundation
import Testing

/// Drives the real binary's console inside tmux.
final class TmuxSession {
    let socket = "slipway-test-\(UUID().uuidString.prefix(8))"
    let name = "console"

    /// Runs a tmux client command. Output goes through a file, not a pipe: the
    /// first command forks the tmux server, which would hold a pipe open forever.
    @discardableResult
    func tmux(_ args: [String]) -> String {
        let outPath = NSTemporaryDirectory() + "\(socket)-\(UUID().uuidString.prefix(6)).out"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        // posix_spawn + waitpid: Foundation's Process has been seen to miss the
        // exit of the short-lived tmux client.
        let argv = ["/usr/bin/tmux", "-L", socket] + args
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_TRUNC, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = cargs.withUnsafeBufferPointer { posix_spawn(&pid, argv[0], &actions, nil, UnsafeMutablePointer(mutating: $0.baseAddress!), environ) }
        if rc == 0 {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        return (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    }

    init(command: String, width: Int = 120, height: Int = 40) {
        tmux(["new-session", "-d", "-s", name, "-x", "\(width)", "-y", "\(height)",
              "env -u NO_COLOR TERM=xterm-256color LANG=C.UTF-8 \(command); echo EXITED:$?; sleep 30"])
    }

    var screen: String { tmux(["capture-pane", "-p", "-t", name]) }

    func keys(_ keys: String...) { tmux(["send-keys", "-t", name] + keys) }

    func type(_ text: String) { tmux(["send-keys", "-t", name, "-l", text]) }

    /// Waits until the screen contains `text`.
    @discardableResult
    func wait(for text: String, timeout: Double = 15) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if screen.contains(text) { return true }
            usleep(100_000)
        }
        return screen.contains(text)
    }

    func kill() { tmux(["kill-server"]) }

    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux")
    }
}

@Suite(.serialized, .enabled(if: TmuxSession.available)) struct ConsoleTmuxTests {
    func workspace(_ yaml: String) -> Sandbox {
        let s = Sandbox()
        s.write("slipway.yaml", yaml)
        #expect(s.run("lint").status == 0)
        return s
    }

    @Test func watchesARunStartedByAnotherProcess() throws {
        let s = workspace("""
        project: live
        pipelines:
          main:
            stages:
              first: {cmd: "for i in $(seq 6000); do [ -e go ] && break; sleep 0.05; done; echo first-done"}
              second: {cmd: "sleep 1; echo second-done", needs: [first]}
        """)
        _ = s.run("status")  // create the registry
        let t = TmuxSession(command: "\(Sandbox.binary) -C \(s.root) console")
        defer { t.kill() }
        #expect(t.wait(for: "No runs yet"))
        let p = try s.start(["run"])
        // `first` runs until it is seen running, however slowly the console is polled.
        #expect(t.wait(for: "● first", timeout: 30), "\(t.screen)")
        s.write("go", "")
        #expect(t.wait(for: "✓ second", timeout: 20), "\(t.screen)")
        #expect(t.wait(for: "second-done"))
        s.reap(p)
        t.keys("q")
        #expect(t.wait(for: "EXITED:0"))
    }

    @Test func cancelsARunThroughTheDialog() throws {
        let s = workspace("""
        project: cancel
        pipelines:
          main:
            stages:
              slow: {cmd: "sleep 60"}
        """)
        let p = try s.start(["run"])
        #expect(s.waitUntil { s.exists(".slipway/logs/run-1/slow.log") })
        let t = TmuxSession(command: "\(Sandbox.binary) -C \(s.root) console")
        defer { t.kill() }
        #expect(t.wait(for: "● slow"))
        t.keys("c")
        #expect(t.wait(for: "Cancel run 1?"))
        #expect(t.screen.contains("gets SIGTERM, then SIGKILL after 5 s"))
        t.keys("Enter")
        #expect(s.reap(p, timeout: 20) >> 8 == 1)
        #expect(t.wait(for: "⊘ slow"), "\(t.screen)")
        let show = try #require(try s.json("show", "1", "--json") as? [String: Any])
        #expect((show["run"] as? [String: Any])?["status"] as? String == "cancelled")
        t.keys("q")
    }

    @Test func filterHelpThemeResizeAndQuit() throws {
        let s = workspace("""
        project: keys
        pipelines:
          main:
            stages:
              a: {cmd: "echo hi"}
        """)
        #expect(s.run("run").status == 0)
        // No command on a terminal opens the console; the config file picks the theme.
        s.write("config/slipway/console.conf", "# console settings\ntheme = high-contrast\n")
        let t = TmuxSession(command: "XDG_CONFIG_HOME=\(s.root)/config \(Sandbox.binary) -C \(s.root)")
        defer { t.kill() }
        #expect(t.wait(for: "✓     1 main"))
        // high-contrast's accent #00ffff is colour 51 in the 256-colour palette.
        #expect(t.tmux(["capture-pane", "-p", "-e", "-t", t.name]).contains("38;5;51"))
        t.keys("/")
        t.type("nomatch")
        #expect(t.wait(for: "(no row matches /nomatch)"))
        t.keys("Escape")
        t.keys("Escape")
        #expect(t.wait(for: "✓     1 main"))
        t.keys("?")
        #expect(t.wait(for: "Keys (Esc closes)"))
        t.keys("Escape")
        t.type(":theme light")
        t.keys("Enter")
        #expect(t.wait(for: "theme light"))
        t.tmux(["resize-window", "-t", t.name, "-x", "80", "-y", "24"])
        #expect(t.wait(for: "1 Runs   2 Evals"), "\(t.screen)")
        t.tmux(["resize-window", "-t", t.name, "-x", "60", "-y", "20"])
        #expect(t.wait(for: "please enlarge it"))
        t.tmux(["resize-window", "-t", t.name, "-x", "120", "-y", "40"])
        #expect(t.wait(for: "7 Audit"))
        t.keys("q")
        #expect(t.wait(for: "EXITED:0"))
        // The terminal is back to normal: the console's frame is gone.
        #expect(!t.screen.contains("1 Runs   2 Evals"))
    }

    @Test func stageOutputCannotRetitleTheTerminal() throws {
        let s = workspace("""
        project: osc
        pipelines:
          main:
            stages:
              evil: {cmd: "printf 'before\\\\033]0;pwned\\\\007after\\\\n'; printf '\\\\033]52;c;Zm9v\\\\007clip\\\\n'"}
        """)
        #expect(s.run("run").status == 0)
        let t = TmuxSession(command: "NO_COLOR=1 \(Sandbox.binary) -C \(s.root) console")
        defer { t.kill() }
        let before = t.tmux(["display-message", "-p", "-t", t.name, "#{pane_title}"])
        // Shown, not run: the sequence is visible and the title untouched.
        #expect(t.wait(for: "before^[]0;pwned^Gafter"), "\(t.screen)")
        // NO_COLOR: no colour at all, emphasis by attributes.
        let styled = t.tmux(["capture-pane", "-p", "-e", "-t", t.name])
        #expect(!styled.contains("38;5;") && !styled.contains("48;5;"))
        #expect(styled.contains("\u{1B}[7m") || styled.contains(";7m"))
        #expect(t.screen.contains("clip"))
        let after = t.tmux(["display-message", "-p", "-t", t.name, "#{pane_title}"])
        #expect(after == before)
        #expect(!after.contains("pwned"))
        t.keys("C-c")
        #expect(t.wait(for: "EXITED:0"))
    }

    @Test func logsOnATerminalShowEveryLineAfterAnUnterminatedSequence() throws {
        let s = workspace("""
        project: osc
        pipelines:
          main:
            stages:
              evil: {cmd: "printf 'first\\\\033]52;c;QUFBQQ== never terminated\\\\n'; echo second-line; echo third-line"}
        """)
        #expect(s.run("run").status == 0)
        let t = TmuxSession(command: "\(Sandbox.binary) -C \(s.root) logs latest evil")
        defer { t.kill() }
        #expect(t.wait(for: "EXITED:0"), "\(t.screen)")
        #expect(t.screen.contains("first"))
        #expect(t.screen.contains("second-line") && t.screen.contains("third-line"), "\(t.screen)")
    }

    @Test func namesFromTheRegistryAreSanitisedInListings() throws {
        let s = workspace("project: p\npipelines:\n  main:\n    stages:\n      a: {cmd: 'true'}\n")
        #expect(s.run("run").status == 0)
        // A pipeline name written before names were checked, with an escape sequence in it.
        tamper(s, "UPDATE run SET pipeline = 'x' || char(27) || ']0;pwned' || char(7) || 'y';")
        let t = TmuxSession(command: "\(Sandbox.binary) -C \(s.root) runs; \(Sandbox.binary) -C \(s.root) status")
        defer { t.kill() }
        let before = t.tmux(["display-message", "-p", "-t", t.name, "#{pane_title}"])
        #expect(t.wait(for: "EXITED:0"), "\(t.screen)")
        #expect(t.screen.contains("x^[]0;pwned^Gy"), "\(t.screen)")
        let after = t.tmux(["display-message", "-p", "-t", t.name, "#{pane_title}"])
        #expect(after == before && !after.contains("pwned"))
    }
}
