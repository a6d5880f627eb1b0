import ArgumentParser
import Foundation
import SlipwayConsole
import SlipwayEngine

/// When this process started (monotonic), for the console's first-frame trace.
nonisolated(unsafe) var launchTime = Double(DispatchTime.now().uptimeNanoseconds) / 1e9

struct Console: ParsableCommand {
    static let configuration = CommandConfiguration(
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
        let env = ProcessInfo.processInfo.environment
        let configDir = (env["XDG_CONFIG_HOME"] ?? ((env["HOME"] ?? "") + "/.config")) + "/slipway"
        let config = try ConsoleConfig.load(path: configDir + "/console.conf")
        let themeName = theme ?? env["SLIPWAY_THEME"] ?? config.theme ?? "dark"
        let ascii = self.ascii || config.ascii
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
                                 slipwayPath: CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0]
                                    : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0], keyPath: approverKey(key))
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
