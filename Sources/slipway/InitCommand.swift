import ArgumentParser
import Foundation
import SlipwayDemo
import SlipwayEngine

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", 
        abstract: "Make a workspace here: slipway.yaml, params.yaml and .slipway/.",
        discussion: "Refuses to overwrite an existing workspace. With --demo, the bundled Seattle weather example.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Set up the bundled example project.") var demo = false
    @Option(help: ArgumentHelp("Keep the registry in this PostgreSQL database (postgres://user@host:port/db; the password comes from PGPASSWORD, ~/.pgpass or PGPASSFILE) instead of .slipway/.", valueName: "URL"))
    var registry: String?

    func run() throws {
        let dir = global.directory ?? FileManager.default.currentDirectoryPath
        if demo, registry != nil { throw ValidationError("--registry is for a new project; the demo keeps its registry in .slipway/") }
        let ws = demo ? try DemoProject.initialize(at: dir) : try Workspace.initialize(at: dir, registry: registry)
        Output.say("Initialised a Slipway workspace in \(ws.root)")
        if demo {
            Output.say("Next: slipway -C \(ws.root) run      # runs the weather pipeline")
        } else {
            Output.say("Next: edit slipway.yaml, then `slipway lint` and `slipway run`.")
        }
    }
}

struct Lint: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lint", 
        abstract: "Check slipway.yaml and params.yaml; print every problem with its file, line and column.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let ws = try global.workspace()
        let loaded = try ws.loadSpec()
        let stages = loaded.spec.pipelines.reduce(0) { $0 + $1.stages.count }
        Output.say("\(Workspace.specFileName): OK (\(loaded.spec.pipelines.count) pipeline\(loaded.spec.pipelines.count == 1 ? "" : "s"), \(stages) stage\(stages == 1 ? "" : "s"))")
    }
}
