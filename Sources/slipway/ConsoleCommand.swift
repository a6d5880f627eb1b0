import ArgumentParser
import Foundation
import SlipwayConsole
import SlipwayDemo
import SlipwayEngine

/// When this process started (monotonic), for the console's first-frame trace.
nonisolated(unsafe) var launchTime = Double(DispatchTime.now().uptimeNanoseconds) / 1e9

struct Console: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "console", 
        abstract: "The full-screen console (the default on a terminal).",
        discussion: "Keys: ? in the console, or docs/keybindings.md. Themes: dark, light, high-contrast, monochrome, or ~/.config/slipway/themes/NAME.theme.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Colour theme (default $SLIPWAY_THEME, else dark).") var theme: String?
    @Flag(help: "Draw with ASCII only (automatic when the locale is not UTF-8).") var ascii = false
    @Option(help: ArgumentHelp("The key approvals are signed with (default: $SLIPWAY_KEY, ~/.ssh/id_ed25519, ~/.config/slipway/key).", valueName: "FILE"))
    var key: String?

    func run() throws {
        guard isatty(0) == 1, isatty(1) == 1 else {
            throw Failure(status: .usage, message: "the console needs a terminal; use `slipway status` in scripts")
        }
        let (ws, registry) = try global.open()
        try Self.open(ws, registry, theme: theme, ascii: ascii, key: approverKey(key))
    }

    /// Opens the console on a workspace until the user quits.
    static func open(_ ws: Workspace, _ registry: RegistryConnection, theme: String?, ascii: Bool, key: String?) throws {
        let env = ProcessInfo.processInfo.environment
        let configDir = (env["XDG_CONFIG_HOME"] ?? ((env["HOME"] ?? "") + "/.config")) + "/slipway"
        let config = try ConsoleConfig.load(path: configDir + "/console.conf")
        let themeName = theme ?? env["SLIPWAY_THEME"] ?? config.theme ?? "dark"
        let ascii = ascii || config.ascii
        do { _ = try Theme.named(themeName) } catch { throw Failure(status: .usage, message: "\(error)") }
        var keyMap = KeyMap.defaults
        let keyFile = configDir + "/keys.conf"
        if let data = FileManager.default.contents(atPath: keyFile) {
            do { try keyMap.apply(overrides: String(decoding: data, as: UTF8.self), file: keyFile) }
            catch { throw Failure(status: .usage, message: "\(error)") }
        }
        let noColor = !(env["NO_COLOR"] ?? "").isEmpty
        let device = NcursesTerminal()
        let restore = SignalTrap(signals: [SIGTERM, SIGHUP, SIGINT]) {
            NcursesTerminal.current?.shutdown()
            Foundation.exit(0)
        }
        defer {
            restore.release()
            device.shutdown()
        }
        let app = try ConsoleApp(workspace: ws, registry: registry, device: device, themeName: themeName,
                                 ascii: ascii || !device.utf8, noColor: noColor, keyMap: keyMap,
                                 slipwayPath: SelfLauncher(workspace: ws).executable, keyPath: key)
        app.launchedAt = launchTime
        app.loadNow()
        app.run()
    }
}

/// `~/.config/slipway/console.conf`: `theme = NAME`, `ascii = true|false`.
struct ConsoleConfig {
    var theme: String?
    var ascii = false

    static func load(path: String) throws -> ConsoleConfig {
        var config = ConsoleConfig()
        guard let data = FileManager.default.contents(atPath: path) else { return config }
        for (i, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw).trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: "=", maxSplits: 1).map { String($0).trimmingWhitespace() }
            switch (parts.first, parts.count) {
            case ("theme", 2): config.theme = parts[1]
            case ("ascii", 2) where ["true", "false"].contains(parts[1]): config.ascii = parts[1] == "true"
            default:
                throw Failure(status: .usage, message: "\(path):\(i + 1): expected `theme = NAME` or `ascii = true|false`")
            }
        }
        return config
    }
}

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", 
        abstract: "The whole loop on real data: a demo workspace, its console, and a scenario playing in the background.",
        discussion: """
        Creates the Seattle weather workspace in DIR (default: a new folder in the temp dir) as a git repository, \
        then trains, packages, signs and promotes v1 dev → staging → production; feeds 2014 month by month to the \
        monitor's drop folder until spring's drift starts retraining; puts v2 through its canary; commits a change \
        of model.arch, whose production promotion waits for the demo approver (you: press 4, then a, then Enter); puts v3 \
        through its canary; commits a prepare.py that writes temperatures in °F, whose v4 passes its gates but fails its \
        canary on production's °C batches and is rolled back automatically (the reason names the measurement); and has \
        the demo approver reject a request to put v1 back into production. Production runs on HAProxy and Prometheus on \
        free loopback ports when both are installed (started in the workspace and stopped with the demo, which installs \
        nothing; canaries judged on real request counts), else it is simulated; the first step says which. \
        The first run is paced so its stages can be \
        watched. The status line follows each step and says what to try. With --no-console the same plays \
        headless, approved by the demo approver's key, each step printed; it exits 0 only when every step happened.
        """)
    @Argument(help: "A new folder for the demo workspace.") var directory: String?
    @Flag(help: "Play headless: print each step, approve as the demo approver.") var noConsole = false
    @Flag(help: "As fast as it goes (the same as --speed 30).") var fast = false
    @Option(help: "How much faster than the default pace (months, canary intervals).") var speed: Double = 1
    @Option(help: "Colour theme for the console.") var theme: String?
    @Flag(help: "Draw with ASCII only.") var ascii = false
    @Flag(help: "Simulate production by scripts even when haproxy and prometheus are installed.") var simulateProduction = false

    func validate() throws {
        if !(speed > 0) { throw ValidationError("--speed must be positive") }
    }

    func run() throws {
        var dir = directory ?? (NSTemporaryDirectory() + "slipway-demo-" + String(UUID().uuidString.prefix(8)).lowercased())
        if !dir.hasPrefix("/") { dir = FileManager.default.currentDirectoryPath + "/" + dir }
        if !noConsole, isatty(0) != 1 || isatty(1) != 1 {
            throw Failure(status: .usage, message: "the demo's console needs a terminal; use `slipway demo --no-console` in scripts")
        }
        let ws = Workspace(root: dir)
        let headless = noConsole
        let say: @Sendable (String) -> Void = { line in
            guard headless else { return }
            print(Output.safe(line))
            fflush(nil)
        }
        let scenario = DemoScenario(directory: dir, options: .init(speed: fast ? max(speed, 30) : speed, approveItself: noConsole,
                                                                   simulateProduction: simulateProduction),
                                    launcher: SelfLauncher(workspace: ws), say: say)
        print("slipway demo workspace: \(dir)")
        fflush(nil)
        // Production's processes (HAProxy, Prometheus, scorers, load) end with the demo, however it ends.
        defer { scenario.finish() }
        try scenario.prepare()
        if noConsole {
            try scenario.play()
            print("every step happened; the workspace stays in \(dir)")
            return
        }
        Thread.detachNewThread {
            do { try scenario.play() } catch {
                try? FileSystem.writeFile(scenario.statusPath, Data("the scenario stopped: \(error)".utf8))
            }
        }
        try Console.open(ws, try ws.connect(), theme: theme, ascii: ascii, key: scenario.approverKey)
        print("the demo workspace stays in \(dir): slipway -C \(dir) status")
    }
}
