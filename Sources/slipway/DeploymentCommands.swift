import ArgumentParser
import Foundation
import SlipwayEngine

struct Rollback: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put the previously live (or the named) version back in an environment, now.",
        discussion: """
        The previous version is the newest one live there before the current one, skipping versions that were \
        themselves rolled back. No approval is needed: the version was live before. Who, when and why are recorded; \
        the environment's deploy command, if any, runs right after the pointer moves.
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The environment.") var environment: String
    @Option(help: "The version to put back (default: the previous one).") var to: Int?
    @Option(help: "The model, when several are live there.") var model: String?
    @Option(help: "Why (kept in the history and the audit trail).") var reason: String = ""

    func run() throws {
        let (ws, registry) = try global.open()
        let spec = try ws.loadSpec().spec
        let r = try DeploymentService(workspace: ws, registry: registry, spec: spec)
            .rollback(environment: environment, model: model, to: to, reason: reason, actor: Provenance.currentUser())
        Output.say("\(r.event.model):\(r.event.version ?? 0) is live in \(environment) again" + (r.from.map { " (was :\($0))" } ?? ""))
        if let outcome = r.deploy {
            if outcome.succeeded {
                Output.say("deploy command: ok")
            } else {
                throw Failure(status: .stageFailed, message: "the pointer moved, but the deploy command failed (\(outcome.summary)); see .slipway/logs/deploy/")
            }
        }
    }
}

struct Deployments: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Each environment: what is live, since when, and the last change.")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print as JSON.") var json = false

    struct EnvJSON: Encodable {
        var environment: String
        var model: String?
        var version: Int?
        var image: String?
        var since: String?
        var by: String?
        var reason: String?
        var previous: Int?
    }

    func run() throws {
        let (ws, registry) = try global.open()
        let spec = try ws.loadSpec().spec
        let models = try registry.models()
        var rows: [EnvJSON] = []
        for env in spec.environments.map(\.name) {
            var row = EnvJSON(environment: env)
            for m in models where m.environments[env] != nil {
                let last = try registry.aliasHistory(model: m.name, environment: env, until: nil).last
                row = EnvJSON(environment: env, model: m.name, version: m.environments[env],
                              image: try registry.modelVersion(model: m.name, version: m.environments[env]!)?.imageTag,
                              since: Output.iso(last?.at), by: last?.actor, reason: last?.reason, previous: last?.previousVersion)
            }
            rows.append(row)
        }
        if json { try Output.json(rows); return }
        if rows.isEmpty { Output.say("slipway.yaml declares no environments."); return }
        Output.say(Output.table(["environment", "live", "since", "by", "why"], rows.map { r in
            [r.environment, r.model.map { "\($0):\(r.version ?? 0)" + (r.image.map { " (\($0))" } ?? "") } ?? "nothing",
             r.since.flatMap(TimeParsing.millis).map { Output.timestamp($0) } ?? "—", r.by ?? "—", r.reason ?? ""]
        }))
    }
}
