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
    @Flag(help: "Show every stage as it runs: matrix stages expanded to their members, with their commands, paths and needs.")
    var expand = false

    func run() throws {
        let ws = try global.workspace()
        let loaded = try ws.loadSpec()
        let stages = loaded.spec.pipelines.reduce(0) { $0 + $1.stages.count }
        Output.say("\(Workspace.specFileName): OK (\(loaded.spec.pipelines.count) pipeline\(loaded.spec.pipelines.count == 1 ? "" : "s"), \(stages) stage\(stages == 1 ? "" : "s"))")
        if expand { Output.say(Self.expansion(loaded.spec), terminator: "") }
    }

    /// Every pipeline's stages as they run, a matrix under its name.
    static func expansion(_ spec: WorkspaceSpec) -> String {
        var out = ""
        out.reserveCapacity(spec.pipelines.reduce(0) { $0 + $1.stages.count } * 160)
        func line(_ indent: Int, _ text: String) { out += String(repeating: "  ", count: indent) + Output.safe(text) + "\n" }
        func paths(_ indent: Int, _ key: String, _ list: [Located<String>]) {
            if !list.isEmpty { line(indent, "\(key): " + list.map(\.value).joined(separator: ", ")) }
        }
        func detail(_ s: StageSpec, _ indent: Int) {
            if let c = s.command { line(indent, "cmd: " + c.value) }
            if let b = s.builtin { line(indent, "uses: " + b.rawValue) }
            paths(indent, "deps", s.deps)
            paths(indent, "params", s.params)
            paths(indent, "outs", s.outs)
            paths(indent, "metrics", s.metrics)
            paths(indent, "env", s.env)
            paths(indent, "needs", s.needs)
        }
        for p in spec.pipelines {
            line(0, "pipeline \(p.name)")
            var i = 0
            while i < p.stages.count {
                let s = p.stages[i]
                guard let m = s.matrix else {
                    line(1, s.name)
                    detail(s, 2)
                    i += 1
                    continue
                }
                var end = i
                while end < p.stages.count, p.stages[end].matrix?.base == m.base { end += 1 }
                line(1, "\(m.base): matrix over \(m.axes.joined(separator: " × ")), \(end - i) member\(end - i == 1 ? "" : "s")")
                for member in p.stages[i..<end] {
                    line(2, member.name)
                    detail(member, 3)
                }
                i = end
            }
        }
        return out
    }
}
