import ArgumentParser
import Foundation
import SlipwayEngine

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", 
        abstract: "Run a pipeline now; prints the run id.",
        discussion: """
        Stages whose command, deps, params and env files are unchanged come from the cache.
        Exit status: 0 all stages succeeded, 1 a stage failed or the run was cancelled, 3 a check or gate failed.
        """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The pipeline (optional when slipway.yaml has one).") var pipeline: String?
    @Option(help: "Stages to run at once (default: the number of cores).") var jobs: Int?
    @Flag(help: "Run every stage, ignoring the cache.") var force = false
    @Flag(help: "Print why each stage will run or come from the cache, then run.") var explain = false
    @Flag(help: "With --explain: print the plan only.") var dryRun = false
    @Flag(help: "Print the result as JSON.") var json = false
    @Option(help: ArgumentHelp("Write a JUnit XML report (a test case per gate, check and stage) to FILE.", valueName: "FILE"))
    var junit: String?
    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Use VALUE for a param in this run only (repeatable); params.yaml is not changed. KEY is the dotted name, or its last part when that names one param.",
                               valueName: "KEY=VALUE"))
    var sets: [String] = []
    @Option(parsing: .singleValue,
            help: ArgumentHelp("Run once per value (repeatable: every combination), each a candidate, then rank the runs. The first runs in the workspace; the rest --jobs at a time in copies of it (.slipway/sweeps/).",
                               valueName: "KEY=V1,V2,…"))
    var sweep: [String] = []
    @Option(help: ArgumentHelp("With --sweep: the metric to rank by, or STAGE.METRIC for one stage's value (default: the first gated metric, its gated stage's value).", valueName: "METRIC"))
    var by: String?
    @Option(help: .hidden) var trigger: String = "manual"
    @Option(help: .hidden) var claim: String?

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if dryRun && !explain { throw ValidationError("--dry-run goes with --explain") }
        if !sweep.isEmpty && (explain || junit != nil || claim != nil) {
            throw ValidationError("--sweep does not go with --explain, --junit or a claim")
        }
        if by != nil && sweep.isEmpty { throw ValidationError("--by goes with --sweep") }
    }

    func run() throws {
        let (ws, registry, loaded) = try global.openWithSpec()
        if !sweep.isEmpty { return try runSweep(ws, registry, loaded) }
        let overrides = try loaded.overrides(sets: sets)
        let cancellation = CancellationFlag()
        let reporter: ProgressPrinter? = Output.stderrIsTTY && !json ? ProgressPrinter() : nil
        let runner = try PipelineRunner(workspace: ws, loaded: loaded, pipeline: pipeline, registry: registry,
                                        cancellation: cancellation, reporter: reporter, tracking: HelperEndpointFactory.besideRunningExecutable(),
                                        overrides: overrides)
        if explain {
            for plan in runner.plan(force: force) {
                Output.err("  \(plan.stage): \(plan.explanation)")
            }
            if dryRun { return }
        }
        let signals = SignalTrap(signals: [SIGINT, SIGTERM, SIGHUP]) { cancellation.cancel() }
        defer { signals.release() }
        let claiming = (claim ?? "").split(separator: ",").compactMap { Int64($0) }
        let result: RunResult
        do {
            result = try runner.run(options: .init(jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount,
                                                   force: force, trigger: trigger, claiming: claiming))
        } catch let done as PipelineRunner.TriggersAlreadyStarted {
            Output.err("slipway: nothing to do: \(done.reason)")
            return
        }
        // Trigger events that fired while this run ran start the next one.
        do {
            _ = try TriggerService(workspace: ws, registry: registry, spec: loaded.spec, launcher: SelfLauncher(workspace: ws))
                .startQueued(pipeline: runner.pipelineName)
        } catch {
            Output.err("slipway: trigger events queued for \(runner.pipelineName) were not started: \(error) (the agent or the next run starts them)")
        }
        let ci = CIReport(result: result, pipeline: runner.pipelineName, registry: registry, spec: loaded.spec)
        if let junit { try ci.writeJUnit(to: junit) }
        if ProcessInfo.processInfo.environment["GITHUB_ACTIONS"] == "true" { ci.writeGitHub() }
        if json {
            var j = RunJSON(result.run, stages: result.stages.map(\.record))
            j.gates = result.gates.map(GateJSON.init)
            j.registered = result.registered.map { "\($0.model):\($0.version)" }
            // Made again: an earlier version, or the newest one (nothing changed).
            j.madeAgain = result.existingVersion.map { "\($0.model):\($0.version)" }
            try Output.json(j)
        } else if Output.stdoutIsTTY {
            Output.say("run \(result.run.id) \(result.run.status.rawValue)" + (result.run.duration.map { " in \(Durations.format($0))" } ?? ""))
            for g in result.gates { Output.say("  gate  \(g.passed ? "✓" : "✗") \(g.explanation)") }
            if let v = result.registered { Output.say("registered \(v.model):\(v.version)") }
            if let v = result.unchangedVersion { Output.say("model unchanged: same artifacts as \(v.model):\(v.version)") }
            if let v = result.madeAgainVersion { Output.say("made \(v.model):\(v.version) again: its artifacts, from an earlier run") }
            if let d = result.deployment { Output.say("deploy: " + d) }
        } else {
            Output.say(String(result.run.id))
        }
        for warning in result.warnings { Output.err("slipway: warning: \(Output.safeErr(warning))") }
        if result.exitStatus != .success {
            var msg = "run \(result.run.id) \(result.run.status.rawValue)"
            if let failed = result.stages.first(where: { $0.record.status == .failed }) {
                msg += ": stage '\(failed.record.stage)' failed (\(failed.record.message ?? "see its log")); see `\(global.commandLine) logs \(result.run.id) \(Output.shellWord(failed.record.stage))`"
            } else if let why = result.run.message, result.run.status == .failed {
                msg += ": " + Output.safeErr(why)
            }
            throw Failure(status: result.exitStatus, message: msg)
        }
    }
}

extension Run {
    /// `--sweep`: one run per combination, then the runs ranked.
    func runSweep(_ ws: Workspace, _ registry: RegistryConnection, _ loaded: LoadedSpec) throws {
        let members = try SweepService.plan(sweeps: sweep, sets: sets, loaded: loaded)
        // What the runs will be ranked by is checked before any of them runs.
        if let chosen = try ComparisonService(registry: registry, spec: loaded.spec).pipeline(named: pipeline) {
            _ = try Leaderboard.RankedMetric.choose(by, pipeline: chosen)
        }
        let cancellation = CancellationFlag()
        let reporter: ProgressPrinter? = Output.stderrIsTTY && !json ? ProgressPrinter() : nil
        let name = pipeline
        let service = SweepService(workspace: ws, cancellation: cancellation) { overrides, place in
            try PipelineRunner(workspace: place, loaded: loaded, pipeline: name, registry: registry, cancellation: cancellation,
                               reporter: reporter, tracking: HelperEndpointFactory.besideRunningExecutable(), overrides: overrides)
        }
        let jobs = self.jobs ?? ProcessInfo.processInfo.activeProcessorCount
        let signals = SignalTrap(signals: [SIGINT, SIGTERM, SIGHUP]) { cancellation.cancel() }
        defer { signals.release() }
        let result = service.run(members: members, options: .init(jobs: jobs, force: force, trigger: "sweep"), parallel: jobs,
                                 started: { i, overrides in
                                     Output.err("sweep \(i)/\(members.count): " + Output.safeErr(overrides.map(\.text).joined(separator: " ")))
                                 },
                                 finished: { m in
                                     if let r = m.result {
                                         Output.err("  run \(r.run.id) \(r.run.status.rawValue)" + (r.registered.map { " · registered \($0.model):\($0.version)" } ?? "")
                                                    + (r.existingVersion.map { " · made \($0.model):\($0.version) again" } ?? ""))
                                     } else if let e = m.error {
                                         Output.err("  not run: " + Output.safeErr(e))
                                     }
                                 })
        for warning in result.warnings { Output.err("slipway: warning: " + Output.safeErr(warning)) }
        let ids = result.runIDs.sorted()
        var board: Leaderboard?
        if !ids.isEmpty, let chosen = try ComparisonService(registry: registry, spec: loaded.spec)
            .pipeline(named: pipeline ?? result.members.compactMap { $0.result?.run.pipeline }.first) {
            do {
                board = try Leaderboard.build(runIDs: ids, pipeline: chosen, metric: by, order: nil, registry: registry, spec: loaded.spec)
            } catch {
                Output.err("slipway: the sweep's runs cannot be ranked: \(Output.safeErr("\(error)"))")
            }
        }
        if json {
            try Output.json(SweepJSON(runs: ids, cancelled: result.cancelled, leaderboard: board.map(LeaderboardJSON.init)))
        } else {
            if let board { Output.say(LeaderboardTable.render(board)) }
            if let first = ids.first, let last = ids.last {
                Output.say("the sweep's runs: \(first == last ? "\(first)" : ids.map(String.init).joined(separator: ",")) · compare again with `\(global.commandLine) compare --runs \(ids.map(String.init).joined(separator: ","))`")
            }
        }
        if result.cancelled { throw Failure(status: .stageFailed, message: "sweep cancelled after \(ids.count) of \(members.count) runs") }
        if result.exitStatus != .success {
            let failed = result.members.filter { ($0.result?.exitStatus ?? .internalError) != .success }.count
            throw Failure(status: result.exitStatus, message: "\(failed) of \(members.count) sweep runs did not succeed")
        }
    }

    struct SweepJSON: Encodable {
        var runs: [Int64]
        var cancelled: Bool
        var leaderboard: LeaderboardJSON?
    }
}

/// Prints stage progress to stderr on a terminal.
final class ProgressPrinter: RunReporter, @unchecked Sendable {
    private let lock = NSLock()

    func waiting(_ why: String) { say(why) }

    func runStarted(_ run: RunRecord) {
        say("run \(run.id) · \(run.pipeline)" + (run.gitCommit.map { " · \($0.prefix(7))" } ?? ""))
    }

    func stageStarted(_ stage: StageRunRecord) {
        say("  ● \(stage.stage)  running")
    }

    func stageFinished(_ stage: StageRunRecord) {
        var line = "  \(Output.symbol(stage.status)) \(stage.stage)  \(stage.status.rawValue)"
        if let d = stage.duration { line += "  \(Durations.format(d))" }
        if let m = stage.message, stage.status == .failed { line += "  \(m)" } else if !stage.reason.isEmpty { line += "  (\(stage.reason))" }
        say(line)
    }

    private func say(_ s: String) { lock.withLock { Output.err(s) } }
}

/// Turns SIGINT/SIGTERM into a cancel, so children are stopped and the run is
/// recorded as cancelled rather than left running.
final class SignalTrap: @unchecked Sendable {
    private let token: SignalWatch.Token

    init(signals: [Int32], handler: @escaping @Sendable () -> Void) {
        token = SignalWatch.watch(signals) { _ in handler() }
    }

    func release() { token.release() }
}
