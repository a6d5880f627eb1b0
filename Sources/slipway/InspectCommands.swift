import ArgumentParser
import Foundation
import SlipwayConsole
import SlipwayEngine

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", 
        abstract: "One screen of text: running runs, recent runs, environments, approvals, drift.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print as JSON.") var json = false

    struct StatusJSON: Encodable {
        var project: String?
        var workspace: String
        var running: [RunJSON]
        var recent: [RunJSON]
        var environments: [String]
        var live: [String: [String: Int]]
        var pendingApprovals: Int
        var driftAlerts: Int
        /// `verified`, `broken` or `unverified` (see docs/cli.md).
        var auditChain: String
        var auditProblem: String?
        var agent: AgentJSON
        /// Deploy calls started and not finished (in flight, or interrupted).
        var unfinishedCalls: [UnfinishedCall]
        /// Records status could not read, each named.
        var problems: [String]
    }

    struct AgentJSON: Encodable {
        var running: Bool
        var pid: Int32?
        var heartbeat: String?
        var lastError: String?
    }

    static func agent(_ heartbeat: Agent.Heartbeat?) -> (json: AgentJSON, text: String) {
        guard let h = heartbeat else {
            return (AgentJSON(running: false), "not running (start it with `slipway agent`)")
        }
        let json = AgentJSON(running: h.isRunning, pid: h.pid, heartbeat: Output.iso(h.heartbeatAt), lastError: h.lastError)
        if h.isRunning {
            return (json, "● running (pid \(h.pid)), last pass \(Output.age(h.heartbeatAt)) ago" + (h.lastError.map { " · last error: \($0)" } ?? ""))
        }
        return (json, "not running (last seen \(Output.age(h.heartbeatAt)) ago; start it with `slipway agent`)")
    }

    /// The audit chain's verdict in words (see AuditVerifier.quickCheck).
    static func chain(_ state: AuditVerifier.QuickState) -> (state: String, text: String, problem: String?) {
        switch state {
        case .verified(let head): return ("verified", "verified (\(head) events)", nil)
        case .broken(let p): return ("broken", "✗ DOES NOT VERIFY: \(p.message) (see `slipway audit verify`)", p.message)
        case .unverified(let n): return ("unverified", "\(n) events not verified yet: run `slipway audit verify`", nil)
        }
    }

    func run() throws {
        let (ws, registry) = try global.open()
        // A spec that does not load still leaves the registry to report on:
        // status says what it can, then fails with the spec's problems (exit 2).
        // Only its summary is read: status shows no stage, whatever their number.
        let spec = ws.specSummary()
        // A deploy call cut short by a dead driver is made again (status is one
        // of its drivers); only then is the whole spec loaded, for its environments.
        var calls = spec.issues.isEmpty ? try DeploymentService.unfinishedCalls(registry: registry) : nil
        if let interrupted = calls, interrupted.contains(where: \.interrupted), let project = try? ws.loadSpec().spec {
            let made = try DeploymentService(workspace: ws, registry: registry, spec: project).resumeInterruptedCalls()
            if !json { for line in made { Output.say(Output.safe(line)) } }
            calls = nil  // changed: read again
        }
        let report = try StatusQuery(workspace: ws, registry: registry, spec: spec.issues.isEmpty ? spec : nil)
            .report(now: SystemClock.nowMillis(), unfinishedCalls: calls)
        if json { try printJSON(report) } else { printText(report) }
        if !spec.issues.isEmpty { throw SpecErrors(spec.issues) }
    }

    func printJSON(_ r: StatusReport) throws {
        let chain = Self.chain(r.audit)
        try Output.json(StatusJSON(project: r.project, workspace: r.workspace,
                                   running: r.running.map { RunJSON($0.run, stages: $0.stages) },
                                   recent: r.recent.map { RunJSON($0) },
                                   environments: r.environments.map(\.name), live: r.live,
                                   pendingApprovals: r.pendingApprovals.count, driftAlerts: r.driftAlerts,
                                   auditChain: chain.state, auditProblem: chain.problem,
                                   agent: Self.agent(r.agent).json,
                                   unfinishedCalls: r.environments.flatMap(\.unfinishedCalls), problems: r.problems))
    }

    func printText(_ r: StatusReport) {
        Output.say("\(r.project ?? "(the spec does not load: run `slipway lint`)")  ·  \(r.workspace)")
        if r.running.isEmpty {
            Output.say("running      none")
        } else {
            for a in r.running {
                let now = a.stages.filter { $0.status == .running }.map { s in
                    s.stage + (s.jobStatus.map { $0.executor == "local" ? "" : " (\($0.summary))" } ?? "")
                }
                let done = a.stages.filter { $0.status.isFinished }.count
                Output.say("running      ● run \(a.run.id) \(a.run.pipeline)  \(done)/\(a.stages.count) stages" +
                      (now.isEmpty ? "" : "  now: \(now.joined(separator: ", "))") + "  started \(Output.age(a.run.startedAt)) ago")
            }
        }
        if r.recent.isEmpty {
            Output.say("recent       no runs yet (start one with `slipway run`)")
        } else {
            for (i, run) in r.recent.enumerated() {
                let took = run.duration.map { " in \(Durations.format($0))" } ?? ""
                Output.say("\(i == 0 ? "recent      " : "            ") \(Output.symbol(run.status)) run \(run.id) \(run.pipeline)  \(run.status.rawValue)\(took)  \(Output.age(run.endedAt ?? run.startedAt)) ago")
            }
        }
        if r.environments.isEmpty {
            Output.say("environments none declared")
        } else {
            for (i, env) in r.environments.enumerated() {
                let live = env.live.map { "\($0.model):\($0.version)" + ($0.imageTag.map { " (image \($0))" } ?? "") }
                var canary = ""
                if let d = env.deployment {
                    canary = d.state == .watching ? "  · :\(d.version) watching" : "  · canary :\(d.version) at \(d.traffic)%" + (d.state == .paused ? " PAUSED" : "")
                }
                Output.say((i == 0 ? "environments " : "             ") + env.name + "  " + (live.isEmpty ? "nothing live" : live.joined(separator: ", ")) + canary)
                for c in env.unfinishedCalls { Output.say("               " + Output.safe(c.summary)) }
            }
        }
        if r.pendingApprovals.isEmpty {
            Output.say("approvals    none pending")
        } else {
            for (i, a) in r.pendingApprovals.enumerated() {
                Output.say((i == 0 ? "approvals    " : "             ") + "◆ #\(a.id) \(a.model):\(a.version) → \(a.environment)  "
                           + a.reasonList.joined(separator: "; ") + "  (asked by \(a.requester) \(Output.age(a.createdAt)) ago)")
            }
        }
        // With no validation report, the monitors speak for drift: an alert is not hidden behind "no drift".
        let alerting = r.monitors.filter { $0.latest.status == .drifted }.count
        var drift = r.monitors.isEmpty ? "no drift reports"
            : alerting > 0 ? "▲ \(alerting) monitor\(alerting == 1 ? "" : "s") in alert (below); no validation-stage report"
            : "no validation-stage report; the monitors are below"
        if let d = r.drift {
            drift = d.drifted.isEmpty ? "no drift in \(d.dataset) (run \(d.runID))"
                : "▲ \(d.drifted.count) of \(d.columns) columns drifted in \(d.dataset) (run \(d.runID)): \(d.drifted.joined(separator: ", "))"
        }
        Output.say("drift        " + Output.safe(drift))
        for m in r.monitors {
            let last = m.latest
            if last.status == .drifted {
                Output.say("monitors     ▲ \(m.name) in alert: batch \(last.id) (\(Output.safe(last.source))) \(last.driftedFeatures) of \(last.features) features drifted \(Output.age(last.receivedAt)) ago")
            } else {
                Output.say("monitors       \(m.name) calm (batch \(last.id), \(Output.age(last.receivedAt)) ago)")
            }
        }
        Output.say("audit        " + Self.chain(r.audit).text)
        Output.say("agent        " + Output.safe(Self.agent(r.agent).text))
        for p in r.problems { Output.say("problem      " + Output.safe(p)) }
    }
}

struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "List runs, newest first.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "How many runs to list.") var limit = 20
    @Flag(help: "Print as JSON.") var json = false

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let (_, registry) = try global.open()
        let runs = try registry.runs(limit: limit, offset: 0)
        if json {
            // The listing can be 100,000 runs long: written directly, in the shape Output.json prints.
            FileHandle.standardOutput.write(Data(FastJSON.array(runs.map { RunJSON($0).flatFields }) + [10]))
            return
        }
        if runs.isEmpty { Output.say("No runs yet. Start one with `slipway run`."); return }
        let rows = runs.map { r in
            ["\(Output.symbol(r.status)) \(r.id)", r.pipeline, r.status.rawValue, r.trigger,
             r.gitCommit.map { String($0.prefix(7)) + (r.gitDirty == true ? "+" : "") } ?? "—",
             Output.age(r.startedAt) + " ago", r.duration.map(Durations.format) ?? "—"]
        }
        Output.say(Output.table(["  #", "pipeline", "status", "trigger", "commit", "started", "took"], rows))
    }
}

/// Resolves `latest` or a number to a run.
func resolveRun(_ text: String, in registry: RegistryConnection) throws -> RunRecord {
    if text == "latest" {
        guard let r = try registry.runs(limit: 1, offset: 0).first else { throw Failure(status: .usage, message: "there are no runs yet") }
        return r
    }
    guard let id = Int64(text) else { throw Failure(status: .usage, message: "'\(text)' is not a run id (a number, or `latest`)") }
    guard let r = try registry.run(id: id) else { throw Failure(status: .usage, message: "no run \(id)") }
    return r
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one run: provenance, params, stages, metrics, datasets.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The run id, or `latest`.") var runID: String
    @Flag(help: "Print as JSON.") var json = false

    struct ShowJSON: Encodable {
        var run: RunJSON
        var params: [String: String]
        /// The params given on the command line (`run --set`, a sweep), not read from params.yaml.
        var overrides: [String: String]
        var metrics: [MetricJSON]
        var datasets: [[String: String]]
        var triggeredBy: [RunCause]
        /// Params, tags, artifacts and inputs stages logged through MLflow.
        var tracked: [TrackedJSON]
        /// The version the run made (`MODEL:N`), registered or made again.
        var version: String?
        /// The run made an earlier version again (another run registered it).
        var madeAgain: Bool?
    }

    func run() throws {
        let (ws, registry) = try global.open()
        let r = try resolveRun(runID, in: registry)
        let stages = try registry.stageRuns(runID: r.id)
        let params = try registry.params(runID: r.id)
        let overrides = try registry.paramOverrides(runID: r.id)
        let metrics = try registry.metrics(runID: r.id)
        let datasets = try registry.runDatasets(runID: r.id)
        let tracked = try registry.trackedValues(runID: r.id)
        let made = try registry.modelVersion(runID: r.id)
        if json {
            try Output.json(ShowJSON(run: RunJSON(r, stages: stages), params: params, overrides: overrides,
                                     metrics: metrics.map(MetricJSON.init),
                                     datasets: datasets.map { ["stage": $0.stage, "path": $0.path, "hash": $0.hash] },
                                     triggeredBy: try RunCause.of(run: r.id, registry: registry),
                                     tracked: tracked.map(TrackedJSON.init), version: made?.label,
                                     madeAgain: made.map { $0.runID != r.id }))
            return
        }
        Output.say("run \(r.id) · \(r.pipeline) · \(Output.symbol(r.status)) \(r.status.rawValue)" + (r.duration.map { " in \(Durations.format($0))" } ?? ""))
        Output.say("  started   \(Output.timestamp(r.startedAt)) by \(r.user) on \(r.host) (trigger: \(r.trigger))")
        Output.say("  commit    " + (r.gitCommit.map { $0 + (r.gitDirty == true ? " (uncommitted changes)" : "") } ?? GitState.noCommitReason(in: ws.root)))
        Output.say("  slipway   \(r.slipwayVersion)")
        if let m = r.message { Output.say("  message   \(Output.field(m))") }
        if let v = made {
            Output.say("  version   \(Output.field(v.label))" + (v.runID == r.id ? " (registered)" : " (made again; registered by run \(v.runID))"))
        }
        let causes = try RunCause.of(run: r.id, registry: registry)
        if !causes.isEmpty {
            Output.say("triggered by")
            for line in causes.flatMap(\.lines) { Output.say("  " + Output.field(line)) }
        }
        if !params.isEmpty {
            Output.say("params")
            for (k, v) in params.sorted(by: { $0.key < $1.key }) {
                Output.say("  \(k) = \(Output.field(v))" + (overrides[k] != nil ? "  (set for this run by --set or --sweep; not from params.yaml)" : ""))
            }
        }
        Output.say("stages")
        let rows = stages.map { s in
            ["  \(Output.symbol(s.status)) \(s.stage)", s.status.rawValue, s.duration.map(Durations.format) ?? "—",
             Output.field(s.status == .failed ? (s.message ?? s.reason) : s.reason)]
        }
        Output.say(Output.table(["  stage", "status", "took", "why"], rows).split(separator: "\n").dropFirst().joined(separator: "\n"))
        // Where each stage ran and what it used (a cluster job: its id, node, queue wait, resources).
        let jobs = stages.compactMap { s in s.jobStatus.map { (s, $0) } }
        if !jobs.isEmpty {
            Output.say("resources")
            let rows = jobs.map { s, j -> [String] in
                let what = s.status == .running || j.isPending ? j.summary
                    : (j.executor == "local" ? "local" : "\(j.executor) job \(j.jobID ?? "?") \(j.state)")
                        + (j.exitCode.map { " (exit \($0))" } ?? "")
                return ["  \(s.stage)", Output.field(what), Output.field(s.status == .running || j.isPending ? (j.requested.map { "asked \($0)" } ?? "") : j.usage)]
            }
            Output.say(Output.table(["", "", ""], rows).split(separator: "\n").dropFirst().joined(separator: "\n"))
        }
        if !metrics.isEmpty {
            Output.say("metrics (last value of each)")
            var last: [String: MetricRecord] = [:]
            var order: [String] = []
            for m in metrics {
                let k = m.stage + "\u{0}" + m.key
                if last[k] == nil { order.append(k) }
                last[k] = m
            }
            for k in order {
                let m = last[k]!
                Output.say("  \(Output.field(m.stage)).\(Output.field(m.key)) = \(m.value)" + (m.step.map { " (step \($0))" } ?? ""))
            }
        }
        if !tracked.isEmpty {
            Output.say("logged through MLflow")
            for t in tracked {
                let value = t.kind == .artifact ? "\(t.value.prefix(19)) \(t.size.map { "\($0) bytes" } ?? "")" : t.value
                Output.say("  \(Output.field(t.stage)) \(t.kind.rawValue) \(Output.field(t.key)) = \(Output.field(String(value.prefix(200))))")
            }
        }
        if !datasets.isEmpty {
            Output.say("inputs")
            for d in datasets { Output.say("  \(d.stage): \(Output.field(d.path)) \(d.hash.prefix(12))") }
        }
    }
}

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a run's stage logs (all stages, or one).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The run id, or `latest`.") var runID: String
    @Argument(help: "One stage, or a matrix stage's name for all its members.") var stage: String?
    @Flag(name: .shortAndLong, help: "Keep printing as the stage writes, until it finishes.") var follow = false

    func run() throws {
        let (ws, registry) = try global.open()
        let r = try resolveRun(runID, in: registry)
        var stages = try registry.stageRuns(runID: r.id)
        if let stage {
            if stages.contains(where: { $0.stage == stage }) {
                stages = stages.filter { $0.stage == stage }
            } else if case let members = stages.filter({ MatrixMember.base(ofName: $0.stage).map(String.init) == stage }), !members.isEmpty {
                stages = members  // a matrix stage: each member's log, under its name
            } else {
                // Matrix names too: `trian` is closest to `train`, not to one of its members.
                var names = stages.map(\.stage)
                var bases: Set<String> = []
                for s in stages { if let base = MatrixMember.base(ofName: s.stage).map(String.init), bases.insert(base).inserted { names.append(base) } }
                let hint = Suggestions.closest(to: stage, in: names).map { " (did you mean \(Output.shellWord($0))?)" } ?? ""
                throw Failure(status: .usage, message: "run \(r.id) has no stage '\(Output.field(stage))'\(hint)")
            }
        }
        let writer = LogWriter()
        for s in stages {
            if stages.count > 1 { writer.write("==> \(s.stage) (\(s.status.rawValue)) <==\n") }
            guard let rel = s.logPath else { writer.write(Output.safe(StageLogLines.withoutLog(s) ?? "(not started)") + "\n"); continue }
            guard let path = ws.logFile(rel) else { writer.write("(its log path \(Output.field(rel)) is not under .slipway/logs; not read)\n"); continue }
            var offset: UInt64 = 0
            while true {
                offset = writer.copy(path: path, from: offset)
                guard follow else { break }
                let stageDone = try registry.stageRun(id: s.id)?.status.isFinished == true
                let runDone = try registry.run(id: r.id)?.status.isFinished == true
                if stageDone || runDone {
                    offset = writer.copy(path: path, from: offset)
                    break
                }
                usleep(200_000)
            }
        }
        writer.finish()
    }
}

/// Copies log bytes to stdout, sanitising them when stdout is a terminal
/// (chunk by chunk, in time linear in the log, however long its lines).
final class LogWriter {
    private var sanitizer = TerminalText.Sanitizer()

    func write(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }

    func copy(path: String, from offset: UInt64) -> UInt64 {
        guard let handle = FileHandle(forReadingAtPath: path) else { return offset }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        var position = offset
        while true {
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            position += UInt64(chunk.count)
            emit(chunk)
        }
        return position
    }

    private func emit(_ chunk: Data) {
        guard Output.stdoutIsTTY else { FileHandle.standardOutput.write(chunk); return }
        FileHandle.standardOutput.write(Data(sanitizer.feed([UInt8](chunk))))
    }

    func finish() {
        guard Output.stdoutIsTTY else { return }
        FileHandle.standardOutput.write(Data(sanitizer.finish()))
    }
}

