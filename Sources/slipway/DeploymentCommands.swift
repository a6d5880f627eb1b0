import ArgumentParser
import Foundation
import SlipwayEngine

struct Rollback: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rollback", 
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
        var service = DeploymentService(workspace: ws, registry: registry, spec: spec)
        service.onWait = { call in Output.err("waiting for the " + Output.safe(call.summary) + " to end first…") }
        let r = try service.rollback(environment: environment, model: model, to: to, reason: reason, actor: Provenance.currentUser())
        if let d = r.aborted { Output.say("aborted the deployment of \(d.model):\(d.version) (\(d.traffic)% at the time)") }
        Output.say("\(r.model):\(r.to) is live in \(environment) again" + (r.from.map { " (was :\($0))" } ?? ""))
        if let outcome = r.deploy {
            if outcome.succeeded {
                Output.say("deploy command: ok")
            } else {
                throw Failure(status: .stageFailed, message: "the pointer moved, but the deploy command failed (\(outcome.summary)); see .slipway/logs/deploy/")
            }
        }
    }
}

struct Abort: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "abort", 
        abstract: "Abort the canary (or the rollback_when watch) in flight in an environment: the stable version back at 100%.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The environment.") var environment: String
    @Option(help: "Why (kept in the audit trail).") var reason: String = ""

    func run() throws {
        let (ws, registry) = try global.open()
        let spec = try ws.loadSpec().spec
        var service = DeploymentService(workspace: ws, registry: registry, spec: spec)
        service.onWait = { call in Output.err("waiting for the " + Output.safe(call.summary) + " to end first…") }
        let p = try service.abort(environment: environment, actor: Provenance.currentUser(), reason: reason)
        let d = p.deployment
        Output.say("aborted \(d.label): " + (d.stableVersion.map { "\(d.model):\($0) is back at 100%" } ?? "nothing was live before"))
        if let restore = try p.restored ?? service.restoreCall(of: d), !restore.ok { throw Failure(status: .stageFailed, message: d.detail) }
    }
}

struct Deployments: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deployments", 
        abstract: "Each environment: live and stable version, canary step and traffic, analysis results, last change and who.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "One environment (required with --explain).") var environment: String?
    @Flag(help: "List every analysis measurement of the environment's deployment: query as sent, raw answer, value, condition, verdict, time.")
    var explain = false
    @Option(help: "With --explain: this deployment instead of the newest.") var deployment: Int64?
    @Flag(help: "Print as JSON.") var json = false

    func validate() throws {
        if (explain || deployment != nil) && environment == nil { throw ValidationError("--explain needs an environment: slipway deployments ENV --explain") }
        if deployment != nil && !explain { throw ValidationError("--deployment goes with --explain") }
    }

    func run() throws {
        let (ws, registry) = try global.open()
        let spec = try ws.loadSpec().spec
        let service = DeploymentService(workspace: ws, registry: registry, spec: spec)
        if explain, let environment {
            let e = try service.explain(environment: environment, deploymentID: deployment)
            if json { try Output.json(ExplainJSON(explanation: e, rows: e.rows)); return }
            Self.render(e)
            return
        }
        var lanes = try service.lanes()
        if let environment {
            lanes = lanes.filter { $0.environment == environment }
            if lanes.isEmpty { _ = try service.explain(environment: environment) }  // names the environments
        }
        if json { try Output.json(lanes); return }
        if lanes.isEmpty { Output.say("slipway.yaml declares no environments."); return }
        Output.say(Output.table(["environment", "live", "canary", "since", "by", "why"], lanes.map { l in
            var canary = "—"
            if let d = l.deployment, d.state.isActive {
                canary = d.state == .watching ? ":\(d.version) watching" : ":\(d.version) \(d.traffic)% step \(d.step + 1)/\(d.stepList.count)"
                    + (d.state == .paused ? " paused" : "")
            } else if let d = l.deployment, d.state != .succeeded {
                canary = ":\(d.version) \(d.state.rawValue.replacingOccurrences(of: "_", with: " "))"
            }
            return [l.environment, l.model.map { "\($0):\(l.live.map(String.init) ?? "none")" + (l.image.map { " (\($0))" } ?? "") } ?? "nothing",
                    canary, l.since.map { Output.timestamp($0) } ?? "—", l.by ?? "—", l.reason ?? ""]
        }))
        for l in lanes {
            for c in l.unfinishedCalls { Output.say("\(l.environment): " + Output.safe(c.summary)) }
            guard let d = l.deployment, d.state.isActive || d.state == .rolledBack || d.state == .failed else { continue }
            Output.say("\(l.environment): \(d.detail)")
            let latest = Dictionary(l.samples.map { ($0.metric, $0) }, uniquingKeysWith: { $1 })
            for s in latest.values.sorted(by: { $0.metric < $1.metric }) {
                Output.say("  \(s.explanation)")
            }
        }
    }
}

extension Deployments {
    struct ExplainJSON: Encodable {
        var explanation: DeploymentExplanation
        var rows: [DeploymentExplanation.Row]
    }

    /// The measurements, one line per value, then each one's query and raw answer.
    static func render(_ e: DeploymentExplanation) {
        guard let d = e.deployment else { Output.say("\(e.environment): no deployment yet"); return }
        Output.say("deployment \(d.id): \(d.label) · \(d.state.rawValue.replacingOccurrences(of: "_", with: " ")) · steps \(d.steps)")
        Output.say("  \(d.detail)")
        let rows = e.rows
        if rows.isEmpty { Output.say("no analysis measurements"); return }
        Output.say(Output.table(["", "when", "measurement", "metric", "value", "condition", "verdict", "why"], rows.map { r in
            [r.deciding ? "▶" : " ", Output.timestamp(r.at), r.place, r.metric, r.value, r.condition, r.verdict, r.explanation]
        }))
        Output.say("")
        for r in rows {
            Output.say("\(r.place) \(Output.field(r.metric)): query " + Output.field(r.query))
            Output.say("    answer " + Output.field(String(r.answer.prefix(300))))
        }
        if let m = e.deciding {
            Output.say("decided by measurement \(m.measurement) of step \(m.step < 0 ? "watch" : String(m.step + 1))" + (m.round > 0 ? " (round \(m.round + 1))" : "")
                       + ": \(m.verdict)")
        }
    }
}

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the workspace's agent: canary steps and analyses, rollback_when watches, auto and approved promotions.",
        discussion: """
        One agent per workspace (a second one exits naming the first). It logs to .slipway/agent.log, writes its \
        heartbeat to .slipway/agent.json (shown by `slipway status`) and stops cleanly on SIGTERM or SIGINT after the \
        step it is taking. All deployment state is in the registry: an agent killed at any point resumes at the right step.
        """)
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Do one pass and exit (tests, cron).") var once = false
    @Option(help: "Seconds between passes.") var interval: Double = 1
    @Flag(help: "Do not echo what happens to standard output.") var quiet = false

    func validate() throws {
        if !(interval > 0) { throw ValidationError("--interval must be a positive number of seconds") }
    }

    func run() throws {
        let (ws, registry) = try global.open()
        let echo: (@Sendable (String) -> Void)? = quiet ? nil : { @Sendable line in
            print(Output.safe(line))
            fflush(nil)
        }
        let launcher = SelfLauncher(workspace: ws)
        let agent = Agent(workspace: ws, registry: registry, duties: [ReaperDuty(reaper: GlobalOptions.reaper(ws)), DropFolderDuty(launcher: launcher),
                                                                      TriggerDuty(launcher: launcher)], echo: echo)
        try agent.acquireLock(onePass: once)
        if once {
            agent.pass()
            return
        }
        agent.run(interval: interval)
    }
}
