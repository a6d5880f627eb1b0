import Foundation
import SlipwayStore

/// Puts versions live in environments, step by step: the built-in `local`
/// target (a pointer file per environment), an environment's `deploy:`
/// command, canary steps judged by analysis, the `rollback_when` watch, and
/// the on-call engineer's rollback and abort.
///
/// Every decision is recorded in the registry before the next one is taken,
/// and every deploy call is journalled (started, finished) under an id that
/// is the same on a retry, so whoever drives a deployment next (the promote
/// command, the agent, the agent after `kill -9`) continues at the right step
/// without repeating or skipping a call.
public struct DeploymentService: Sendable {
    let workspace: Workspace
    let registry: any Registry
    let spec: WorkspaceSpec
    /// Who drives steps taken on their own (the agent).
    var driver: String
    /// Told when a call waits for another driver's call in flight in the
    /// same environment (the command line says so on standard error).
    public var onWait: (@Sendable (UnfinishedCall) -> Void)?
    /// Time, HTTP, processes and analysis measuring (``EngineContext/live`` in production).
    public var context: EngineContext
    /// Runs environments' deploy commands.
    public var executor: any Executor {
        get { context.executor }
        set { context.executor = newValue }
    }
    /// Fetches analyses' `http:` and `prometheus:` sources.
    public var http: any HTTPFetcher {
        get { context.http }
        set { context.http = newValue }
    }
    /// When steps are due: canary intervals, the watch, call stamps.
    public var clock: any Clock {
        get { context.clock }
        set { context.clock = newValue }
    }

    public init(workspace: Workspace, registry: any Registry, spec: WorkspaceSpec, driver: String = "slipway",
                context: EngineContext = .live) {
        self.context = context
        self.workspace = workspace
        self.registry = registry
        self.spec = spec
        self.driver = driver
    }

    /// What `.slipway/deploy/<env>.json` holds.
    public struct LocalTarget: Codable, Sendable, Hashable {
        public var environment: String
        public var model: String
        /// The version receiving `traffic` percent (the candidate during a canary).
        public var version: Int
        public var image: String?
        /// Percent of traffic on `version`.
        public var traffic: Int
        /// The version serving the rest, during a canary.
        public var stable: Int?
        public var since: String
        public var by: String
        public var reason: String
    }

    public func targetPath(_ environment: String) -> String { workspace.stateDir + "/deploy/\(environment).json" }

    public func plan(_ environment: String) -> DeploymentPlan {
        spec.environments.first { $0.name == environment }?.plan ?? DeploymentPlan()
    }

    public struct Refusal: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String { message }
    }

    /// A deployment after it was driven as far as it can go now.
    public struct Progress: Sendable {
        public var deployment: DeploymentRecord
        /// The alias change, when the version became the live one.
        public var promoted: AliasEvent?
        /// How putting the stable version back went, when this drive made
        /// (or found made) that call: an abort's, a failed canary's.
        public var restored: RestoreCall? = nil
    }

    /// How the call that puts a deployment's stable version back at 100 %
    /// ended (an abort, a failed canary's rollback).
    public struct RestoreCall: Sendable, Hashable {
        public var ok: Bool
        /// curl's, or the deploy command's, words.
        public var outcome: String
    }

    /// How putting the stable version back (an abort, a failed canary's
    /// rollback) ended, from the deploy-call journal: nil when no such call was made.
    public func restoreCall(of d: DeploymentRecord) throws -> RestoreCall? {
        guard let call = try registry.deployCall(callID: Self.restoreCallID(d)), let ok = call.ok else { return nil }
        return RestoreCall(ok: ok, outcome: call.outcome ?? "")
    }

    static func restoreCallID(_ d: DeploymentRecord) -> String { DeploymentMachine.restoreCallID(d) }

    // MARK: - Starting and driving

    /// Starts putting `version` into `environment` (checked by the promotion
    /// service) and drives it as far as it goes without waiting. A deploy
    /// call in that environment left unfinished by a dead driver is made
    /// again first (or, when this deployment's own call overtakes it, closed
    /// after). With `approval`, the deployment carries out that request
    /// (used up in the transaction that starts it); `audit` is recorded in
    /// that transaction too.
    public func start(model: String, version: Int, environment: String, actor: String, reason: String, cause: AliasCause = .promotion,
                      approval: ApprovalUse? = nil, audit: [AuditDraft] = []) throws -> Progress {
        _ = try resumeInterruptedCalls(environment: environment, drivingDeployments: false)
        let stable = try registry.alias(model: model, environment: environment, at: nil)
        let plan = plan(environment)
        // A canary needs something to compare with: the first version goes in at once.
        let steps = stable != nil ? (plan.canary?.steps ?? [100]) : [100]
        var new = NewDeployment(environment: environment, model: model, version: version, stableVersion: stable, steps: steps,
                                actor: actor, reason: reason)
        new.approval = approval
        new.origin = approval != nil ? .approval : cause
        new.audit = audit
        let (d, _) = try registry.startDeployment(new)
        let progress = try advanceUnlessTaken(d)
        // The superseded deployment's interrupted call, overtaken by this one's: closed.
        _ = try? resumeInterruptedCalls(environment: environment, drivingDeployments: false)
        return progress
    }

    /// Drives a deployment on; when another driver (the agent, an on-call
    /// engineer) changed it meanwhile, reports where it stands now instead of
    /// failing: that driver has it.
    func advanceUnlessTaken(_ d: DeploymentRecord) throws -> Progress {
        do {
            return try advance(d)
        } catch is RegistryConflict {
            return Progress(deployment: try reload(d), promoted: nil)
        }
    }

    /// Runs `body` again, reading the state afresh each time, when the
    /// deployment it changes was changed meanwhile by another driver (the
    /// agent taking its next step); at most `attempts` times in all.
    func retryingConflicts<T>(attempts: Int = 10, _ body: () throws -> T) throws -> T {
        var attempt = 1
        while true {
            do { return try body() } catch is RegistryConflict where attempt < attempts {
                attempt += 1
            }
        }
    }

    /// Every active deployment, driven as far as it goes now (the agent's pass).
    public func tick() throws -> [Progress] {
        try registry.activeDeployments().map { try advance($0) }
    }

    /// Drives one deployment until it must wait (for an interval, a human,
    /// the end of its watch) or ends: asks ``DeploymentMachine`` what to do
    /// and does it, feeding back what each call and measurement gave.
    @discardableResult
    public func advance(_ start: DeploymentRecord) throws -> Progress {
        let (refused, origin) = try refuseUnaudited(start)
        if let refused { return Progress(deployment: refused, promoted: nil) }
        let machine = DeploymentMachine(plan: plan(start.environment), driver: driver, origin: origin)
        var drive = Drive(deployment: start)
        // A loop guard: each look changes the phase or takes a measurement;
        // this is every measurement of every round of every step.
        let canary = machine.plan.canary
        let measurements = (canary?.measurePlan.maxMeasurements ?? 1) * (canary?.maxInconclusive ?? 1)
        for _ in 0..<((4 + measurements) * start.stepList.count + 8) {
            let now = clock.now()
            if try perform(machine.next(drive.deployment, .look, now: now), machine, &drive, now: now) == .wait { break }
        }
        return Progress(deployment: drive.deployment, promoted: drive.promoted, restored: drive.restored)
    }

    /// A deployment as one drive leaves it, with what the drive did.
    struct Drive {
        var deployment: DeploymentRecord
        var promoted: AliasEvent?
        var restored: RestoreCall?
    }

    /// Performs a transition's effects in order; a call's or a
    /// measurement's result goes back to the machine, whose transition is
    /// performed in turn. `save`: how a `.save` is written (a call's end
    /// saves in the transaction that journals the call's end).
    func perform(_ t: DeploymentMachine.Transition, _ machine: DeploymentMachine, _ drive: inout Drive, now: Millis,
                 save: ((DeploymentRecord, [AuditDraft]) throws -> Void)? = nil) throws -> DeploymentMachine.Then {
        for effect in t.effects {
            let d = drive.deployment
            switch effect {
            case .save(let next, let events):
                let audit = events.map { draft($0) }
                if let save { try save(next, audit) } else { try registry.updateDeployment(next, expectedUpdatedAt: d.updatedAt, audit: audit) }
                drive.deployment = try reload(next)
            case .record(let event):
                try registry.appendAudit(draft(event))
            case .moveAlias(let move):
                if try registry.alias(model: d.model, environment: d.environment, at: nil) != move.version {
                    if move.cause.undoesPrevious {
                        _ = try registry.setAlias(model: d.model, environment: d.environment, version: move.version, actor: move.actor,
                                                  reason: move.reason, cause: move.cause)
                    } else {
                        // Only while the deployment is as this driver read it: one
                        // aborted or rolled back meanwhile does not go live.
                        drive.promoted = try registry.setAlias(for: d, version: move.version, actor: move.actor, reason: move.reason,
                                                               cause: move.cause)
                    }
                }
            case .checkpoint(let name):
                CrashPoint.reach(name)
            case .measure(let order):
                let earlier = try registry.analysisSamples(deploymentID: d.id, step: order.step, round: order.round)
                let number = (earlier.map(\.measurement).max() ?? 0) + 1
                let values = try measure(order, d, measurement: number)
                let verdicts = order.step < 0 ? [] : DeploymentMachine.verdictsByMeasurement(earlier.map { ($0.measurement, $0.verdict) })
                let measured = DeploymentMachine.Measurement(number: number, earlier: verdicts, values: values)
                return try perform(machine.next(d, .measured(measured), now: now), machine, &drive, now: now)
            case .call(let call):
                return try perform(call, machine, &drive)
            }
        }
        return t.then
    }

    /// Makes one journalled deploy call and performs what the machine makes
    /// of its end, the deployment's next state saved in the transaction that
    /// records the call's end. A call found finished in the journal is not
    /// made again (its driver died before the state change: it is applied
    /// now); one found started but unfinished (its driver died during it) is
    /// made again with the same id; one another living driver is making is
    /// looked at again until it is finished.
    func perform(_ call: DeploymentMachine.DeployCall, _ machine: DeploymentMachine, _ drive: inout Drive) throws -> DeploymentMachine.Then {
        let d = drive.deployment
        let isRestore = call.id == Self.restoreCallID(d)
        if let done = try registry.deployCall(callID: call.id), let ok = done.ok, done.finishedAt != nil {
            let words = done.outcome ?? ""
            if isRestore { drive.restored = RestoreCall(ok: ok, outcome: words) }
            let now = clock.now()
            return try perform(machine.next(d, .called(ok: ok, outcome: words), now: now), machine, &drive, now: now)
        }
        guard let outcome = try invoke(model: d.model, environment: d.environment, version: call.version, stable: call.stable,
                                       traffic: call.traffic, callID: call.id, deploymentID: d.id, actor: call.actor, reason: call.reason) else {
            // Another driver is making this call right now: look again (bounded
            // by the drive's guard) until it is found finished, then apply it
            // or yield to that driver's newer state.
            return .goOn
        }
        CrashPoint.reach("deploy.before-journal")
        let ok = outcome.result?.succeeded ?? true
        let words = outcome.result?.summary ?? "local target written"
        if isRestore { drive.restored = RestoreCall(ok: ok, outcome: words) }
        let now = clock.now()
        var ended = false
        let then = try perform(machine.next(d, .called(ok: ok, outcome: words), now: now), machine, &drive, now: now) { next, audit in
            ended = true
            do {
                try registry.finishDeployCall(callID: call.id, outcome: words, ok: ok, then: next, audit: audit)
            } catch let conflict as RegistryConflict {
                // Another driver changed the deployment meanwhile (an abort, a
                // rollback): the call still happened, and the journal says so.
                try registry.finishDeployCall(callID: call.id, outcome: words, ok: ok, then: nil, audit: [])
                throw conflict
            }
        }
        if !ended { try registry.finishDeployCall(callID: call.id, outcome: words, ok: ok, then: nil, audit: []) }
        return then
    }

    /// The store's audit draft of a machine's event, recorded by the driver.
    func draft(_ e: DeploymentEvent, actor: String? = nil) -> AuditDraft {
        let kinds: [DeploymentEvent.Kind: AuditKind] = [.step: .deploymentStep, .analysed: .deploymentAnalysed, .paused: .deploymentPaused,
                                                        .resumed: .deploymentResumed, .ended: .deploymentEnded]
        return AuditDraft(actor: actor ?? driver, kind: kinds[e.kind]!, subject: e.subject, payload: AuditChain.payload(e.fields))
    }

    /// A deployment is driven only as its `deployment.started` event
    /// recorded it (model, version, environment, stable version, steps): a
    /// row inserted or edited behind Slipway's back (to put a version live
    /// without its approval, or to skip its canary) is ended `failed`,
    /// audited, instead. Returns the ended deployment (nil when it is
    /// sound), and what started it, as that event records (its `cause`; an
    /// approved request's id makes it an approval).
    func refuseUnaudited(_ d: DeploymentRecord) throws -> (refused: DeploymentRecord?, origin: AliasCause) {
        guard d.state.isActive else { return (nil, .promotion) }
        let started = try registry.auditEvents(matching: AuditQuery(kinds: [AuditKind.deploymentStarted.rawValue], subject: "deployment/\(d.id)"))
        if let f = started.last.flatMap({ AuditVerifier.fields($0.payload) }), f["model"] == d.model, f["version"] == String(d.version),
           f["environment"] == d.environment, f["stable"] == d.stableVersion.map(String.init), f["steps"] == d.steps {
            return (nil, f["cause"].flatMap(AliasCause.init(rawValue:)) ?? (f["request"] != nil ? .approval : .promotion))
        }
        let (next, events) = DeploymentMachine.refused(d)
        try registry.updateDeployment(next, expectedUpdatedAt: d.updatedAt, audit: events.map { draft($0) })
        return (try reload(next), .promotion)
    }

    func reload(_ d: DeploymentRecord) throws -> DeploymentRecord {
        try registry.deployment(id: d.id) ?? d
    }

    /// Takes one measurement (every check of the analysis, and `min_samples`)
    /// and records each value with its evidence before anything is decided.
    func measure(_ order: DeploymentMachine.MeasureOrder, _ d: DeploymentRecord, measurement: Int) throws -> [AnalysisMeasurement] {
        guard !order.checks.isEmpty else { return [] }
        let log = workspace.logsDir + "/deploy/analysis-\(d.environment)-d\(d.id).log"
        try FileSystem.makeDirectory(workspace.logsDir + "/deploy")
        let measurements = context.analyses(workspace, http).measure(order.checks, minSamples: order.minSamples, context: .init(
            environment: d.environment, model: d.model, candidate: d.version, stable: d.stableVersion, traffic: d.traffic, log: log,
            timeout: order.timeout))
        let now = clock.now()
        // The evidence behind a verdict is kept, or the step is not taken.
        try registry.recordAnalysis(measurements.map {
            AnalysisSampleRecord(deploymentID: d.id, step: order.step, metric: $0.metric, value: $0.value, production: $0.production,
                                 condition: $0.condition, verdict: $0.verdict.rawValue, explanation: $0.explanation, at: now,
                                 round: order.round, measurement: measurement, source: $0.source, query: $0.query, answer: $0.answer)
        })
        return measurements
    }
}
