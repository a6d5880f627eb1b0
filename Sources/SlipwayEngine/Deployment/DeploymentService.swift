import Foundation

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
    let driver: String
    /// Told when a call waits for another driver's call in flight in the
    /// same environment (the command line says so on standard error).
    public var onWait: (@Sendable (UnfinishedCall) -> Void)?
    /// Runs environments' deploy commands.
    public var executor: any Executor = ProcessExecutor()
    /// Fetches analyses' `http:` sources.
    public var http: any HTTPFetcher = CurlFetcher()
    /// When steps are due: canary intervals, the watch, call stamps.
    public var clock: any Clock = SystemClock()

    public init(workspace: Workspace, registry: any Registry, spec: WorkspaceSpec, driver: String = "slipway") {
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
    }

    /// How putting the stable version back (an abort, a failed canary's
    /// rollback) ended, from the deploy-call journal: nil when no such call
    /// was made, else whether it succeeded and curl's, or the command's, words.
    public func restoreCall(of d: DeploymentRecord) throws -> (ok: Bool, outcome: String)? {
        guard let call = try registry.deployCall(callID: Self.restoreCallID(d)), let ok = call.ok else { return nil }
        return (ok, call.outcome ?? "")
    }

    static func restoreCallID(_ d: DeploymentRecord) -> String { "\(d.environment)-d\(d.id)-rollback" }

    // MARK: - Starting and driving

    /// Starts putting `version` into `environment` (checked by the promotion
    /// service) and drives it as far as it goes without waiting. A deploy
    /// call in that environment left unfinished by a dead driver is made
    /// again first (or, when this deployment's own call overtakes it, closed
    /// after). With `approval`, the deployment carries out that request
    /// (used up in the transaction that starts it); `audit` is recorded in
    /// that transaction too.
    public func start(model: String, version: Int, environment: String, actor: String, reason: String,
                      approval: ApprovalUse? = nil, audit: [AuditDraft] = []) throws -> Progress {
        _ = try resumeInterruptedCalls(environment: environment, drivingDeployments: false)
        let stable = try registry.alias(model: model, environment: environment, at: nil)
        let plan = plan(environment)
        // A canary needs something to compare with: the first version goes in at once.
        let steps = stable != nil ? (plan.canary?.steps ?? [100]) : [100]
        var new = NewDeployment(environment: environment, model: model, version: version, stableVersion: stable, steps: steps,
                                actor: actor, reason: reason)
        new.approval = approval
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
    /// the end of its watch) or ends.
    @discardableResult
    public func advance(_ start: DeploymentRecord) throws -> Progress {
        if let refused = try refuseUnaudited(start) { return Progress(deployment: refused, promoted: nil) }
        var d = start
        var promoted: AliasEvent?
        let plan = plan(d.environment)
        let steps = d.stepList
        // A loop guard: each pass changes the phase or takes a measurement;
        // this is every measurement of every round of every step.
        let measurements = (plan.canary?.measurePlan.maxMeasurements ?? 1) * (plan.canary?.maxInconclusive ?? 1)
        for _ in 0..<((4 + measurements) * steps.count + 8) {
            guard d.state == .progressing || d.state == .watching else { break }
            let now = clock.now()
            switch d.phase {
            case .deploy:
                let traffic = steps[min(d.step, steps.count - 1)]
                let callID = "\(d.environment)-d\(d.id)-s\(d.step + 1)"
                let call = try deployCall(callID: callID, deployment: d, version: d.version, stable: d.stableVersion,
                                          traffic: traffic, actor: d.actor, reason: d.reason) { ok, outcome in
                    var next = d
                    if ok {
                        next.traffic = traffic
                        next.phase = .analyse
                        next.inconclusive = 0
                        let isLastWithoutCanary = plan.canary == nil || d.stableVersion == nil
                        next.dueAt = clock.now() + (isLastWithoutCanary ? 0 : Millis((plan.canary?.intervalSeconds ?? 0) * 1000))
                        next.detail = "step \(d.step + 1)/\(steps.count): \(traffic)% on :\(d.version)"
                    } else {
                        next.phase = .rollback
                        next.ending = d.stableVersion == nil ? .failed : .rolledBack
                        next.detail = "the deploy call at \(traffic)% failed: \(outcome)"
                    }
                    return (next, [AuditDraft(actor: driver, kind: .deploymentStep, subject: "deployment/\(d.id)",
                                              payload: AuditChain.payload(["step": String(d.step + 1), "traffic": String(traffic),
                                                                           "version": String(d.version), "call": callID,
                                                                           "outcome": outcome]))])
                }
                d = call
            case .analyse:
                if let due = d.dueAt, due > now { return Progress(deployment: d, promoted: promoted) }
                d = try analyse(d, plan: plan, now: now)
                if d.state == .progressing, d.phase == .analyse, let due = d.dueAt, due > clock.now() {
                    return Progress(deployment: d, promoted: promoted)
                }
            case .promote:
                if try registry.alias(model: d.model, environment: d.environment, at: nil) != d.version {
                    promoted = try registry.setAlias(model: d.model, environment: d.environment, version: d.version, actor: d.actor, reason: d.reason,
                                                    cause: plan.canary != nil && d.stableVersion != nil ? .canary : .promotion)
                }
                CrashPoint.reach("deployment.after-alias")
                var next = d
                next.phase = .none
                if !plan.rollbackWhen.isEmpty, plan.watchSeconds > 0 {
                    next.state = .watching
                    next.watchUntil = now + Millis(plan.watchSeconds * 1000)
                    next.dueAt = now
                    next.detail = "live at 100%; watching rollback_when for \(Durations.format(plan.watchSeconds))"
                } else {
                    next.state = .succeeded
                    next.detail = "live at 100%"
                }
                try registry.updateDeployment(next, expectedUpdatedAt: d.updatedAt, audit: [
                    AuditDraft(actor: driver, kind: next.state == .succeeded ? .deploymentEnded : .deploymentStep, subject: "deployment/\(d.id)",
                               payload: AuditChain.payload(["state": next.state.rawValue, "version": String(d.version)]))])
                d = try reload(next)
            case .rollback:
                var outcome = "nothing to put back"
                if let stable = d.stableVersion {
                    if try registry.alias(model: d.model, environment: d.environment, at: nil) != stable {
                        _ = try registry.setAlias(model: d.model, environment: d.environment, version: stable, actor: driver,
                                                  reason: "rollback: " + d.detail, cause: d.ending == .aborted ? .abort : .rollback)
                    }
                    let callID = Self.restoreCallID(d)
                    let before = d
                    d = try deployCall(callID: callID, deployment: d, version: stable, stable: stable, traffic: 100, actor: driver,
                                       reason: d.ending == .aborted ? d.detail : "rollback") { ok, o in
                        outcome = o
                        var next = before
                        next.phase = .none
                        next.state = before.ending ?? .rolledBack
                        next.traffic = 0
                        if !ok { next.detail += "; putting :\(stable) back failed too: \(o)" }
                        return (next, [])
                    }
                } else {
                    var next = d
                    next.phase = .none
                    next.state = d.ending ?? .failed
                    try registry.updateDeployment(next, expectedUpdatedAt: d.updatedAt, audit: [])
                    d = try reload(next)
                }
                try registry.appendAudit(AuditDraft(actor: driver, kind: .deploymentEnded, subject: "deployment/\(d.id)",
                                                    payload: AuditChain.payload(["state": d.state.rawValue, "candidate": String(d.version),
                                                                                 "stable": d.stableVersion.map(String.init) ?? "none",
                                                                                 "why": d.detail, "outcome": outcome])))
            case .none:
                guard d.state == .watching else { return Progress(deployment: d, promoted: promoted) }
                var next = d
                if let until = d.watchUntil, now >= until {
                    next.state = .succeeded
                    next.detail = "live at 100%; the watch ended calm"
                    try registry.updateDeployment(next, expectedUpdatedAt: d.updatedAt, audit: [
                        AuditDraft(actor: driver, kind: .deploymentEnded, subject: "deployment/\(d.id)",
                                   payload: AuditChain.payload(["state": "succeeded", "version": String(d.version)]))])
                    d = try reload(next)
                    continue
                }
                if let due = d.dueAt, due > now { return Progress(deployment: d, promoted: promoted) }
                let watched = try registry.analysisSamples(deploymentID: d.id, step: -1, round: 0).map(\.measurement).max() ?? 0
                let measurements = try measure(plan.rollbackWhen, d, step: -1, round: 0, measurement: watched + 1)
                let breaches = measurements.filter { $0.verdict == .fail }
                if breaches.isEmpty {
                    next.dueAt = now + Millis(max(plan.canary?.intervalSeconds ?? 30, 0) * 1000)
                    try registry.updateDeployment(next, expectedUpdatedAt: d.updatedAt, audit: [])
                    return Progress(deployment: try reload(next), promoted: promoted)
                }
                let values = breaches.map(\.explanation).joined(separator: "; ")
                next.phase = .rollback
                next.ending = .rolledBack
                next.detail = "rollback_when breached: watch measurement \(watched + 1) (\(Self.time(now))): \(values)"
                try registry.updateDeployment(next, expectedUpdatedAt: d.updatedAt, audit: [
                    AuditDraft(actor: driver, kind: .deploymentAnalysed, subject: "deployment/\(d.id)",
                               payload: AuditChain.payload(["step": "watch", "verdict": "fail", "values": values]))])
                d = try reload(next)
            }
        }
        return Progress(deployment: d, promoted: promoted)
    }

    /// A deployment is driven only as its `deployment.started` event
    /// recorded it (model, version, environment, stable version, steps): a
    /// row inserted or edited behind Slipway's back (to put a version live
    /// without its approval, or to skip its canary) is ended `failed`,
    /// audited, instead. Returns the ended deployment, or nil when it is sound.
    func refuseUnaudited(_ d: DeploymentRecord) throws -> DeploymentRecord? {
        guard d.state.isActive else { return nil }
        let started = try registry.auditEvents(matching: AuditQuery(kinds: [AuditKind.deploymentStarted.rawValue], subject: "deployment/\(d.id)"))
        if let f = started.last.flatMap({ AuditVerifier.fields($0.payload) }), f["model"] == d.model, f["version"] == String(d.version),
           f["environment"] == d.environment, f["stable"] == d.stableVersion.map(String.init), f["steps"] == d.steps {
            return nil
        }
        var next = d
        next.state = .failed
        next.phase = .none
        next.detail = "refused: deployment \(d.id) is not as Slipway started it (no deployment.started event records \(d.label))"
        try registry.updateDeployment(next, expectedUpdatedAt: d.updatedAt, audit: [
            AuditDraft(actor: driver, kind: .deploymentEnded, subject: "deployment/\(d.id)",
                       payload: AuditChain.payload(["state": "failed", "candidate": String(d.version), "why": next.detail]))])
        return try reload(next)
    }

    func reload(_ d: DeploymentRecord) throws -> DeploymentRecord {
        try registry.deployment(id: d.id) ?? d
    }

    /// Takes one measurement (every check of the analysis, and `min_samples`)
    /// and records each value with its evidence before anything is decided.
    func measure(_ checks: [AnalysisCheck], minSamples: MinSamples? = nil, _ d: DeploymentRecord, step: Int, round: Int,
                 measurement: Int) throws -> [AnalysisMeasurement] {
        guard !checks.isEmpty else { return [] }
        let log = workspace.logsDir + "/deploy/analysis-\(d.environment)-d\(d.id).log"
        try FileSystem.makeDirectory(workspace.logsDir + "/deploy")
        let measurements = AnalysisRunner(workspace: workspace, http: http).measure(checks, minSamples: minSamples, context: .init(
            environment: d.environment, model: d.model, candidate: d.version, stable: d.stableVersion, traffic: d.traffic, log: log))
        let now = clock.now()
        // The evidence behind a verdict is kept, or the step is not taken.
        try registry.recordAnalysis(measurements.map {
            AnalysisSampleRecord(deploymentID: d.id, step: step, metric: $0.metric, value: $0.value, production: $0.production,
                                 condition: $0.condition, verdict: $0.verdict.rawValue, explanation: $0.explanation, at: now,
                                 round: round, measurement: measurement, source: $0.source, query: $0.query, answer: $0.answer)
        })
        return measurements
    }

    // MARK: - People's actions

    /// Continues a paused canary as if its analysis had passed.
    public func continuePaused(environment: String, actor: String) throws -> Progress {
        try checkEnvironment(environment)
        let next = try retryingConflicts { () throws -> DeploymentRecord in
            guard let d = try registry.activeDeployment(environment: environment), d.state == .paused else {
                throw Refusal(message: "no paused canary in \(environment)" + (try registry.activeDeployment(environment: environment)
                    .map { " (its deployment of :\($0.version) is \($0.state.rawValue))" } ?? ""))
            }
            var next = d
            next.state = .progressing
            let steps = d.stepList
            if d.step + 1 < steps.count { next.step += 1; next.phase = .deploy } else { next.phase = .promote }
            next.detail = "continued by \(actor)"
            try registry.updateDeployment(next, expectedUpdatedAt: d.updatedAt, audit: [
                AuditDraft(actor: actor, kind: .deploymentResumed, subject: "deployment/\(d.id)",
                           payload: AuditChain.payload(["traffic": String(d.traffic)]))])
            return next
        }
        return try advanceUnlessTaken(try reload(next))
    }

    /// Aborts the canary (or watch) in flight: the stable version back at 100 %.
    public func abort(environment: String, actor: String, reason: String) throws -> Progress {
        try checkEnvironment(environment)
        let next = try retryingConflicts { () throws -> DeploymentRecord in
            guard let d = try registry.activeDeployment(environment: environment) else {
                throw Refusal(message: "nothing is in flight in \(environment): nothing to abort (to put an earlier version back: slipway rollback \(environment))")
            }
            var next = d
            next.state = .progressing
            next.phase = .rollback
            next.ending = .aborted
            next.detail = "aborted by \(actor)" + (reason.isEmpty ? "" : ": \(reason)")
            try registry.updateDeployment(next, expectedUpdatedAt: d.updatedAt, audit: [])
            return next
        }
        var driving = DeploymentService(workspace: workspace, registry: registry, spec: spec, driver: actor)
        driving.onWait = onWait
        return try driving.advanceUnlessTaken(try reload(next))
    }

    func checkEnvironment(_ environment: String) throws {
        let envs = spec.environments.map(\.name)
        guard envs.contains(environment) else {
            let hint = Suggestions.closest(to: environment, in: envs).map { " (did you mean '\($0)'?)" } ?? ""
            throw Refusal(message: "no environment '\(environment)'\(hint); environments: \(envs.joined(separator: ", "))")
        }
    }

    // MARK: - Calls

    /// Journals and makes one deploy call, then saves the deployment's next
    /// state (from `next`) in the transaction that records the call's end. A
    /// call found finished in the journal is not made again; one found started
    /// but unfinished (its driver died during it) is made again with the same id.
    func deployCall(callID: String, deployment d: DeploymentRecord, version: Int, stable: Int?, traffic: Int, actor: String, reason: String,
                    next: (Bool, String) -> (DeploymentRecord, [AuditDraft])) throws -> DeploymentRecord {
        if let done = try registry.deployCall(callID: callID), let ok = done.ok, done.finishedAt != nil {
            // Finished before a crash that lost the state change: apply it now, without calling again.
            let (n, audit) = next(ok, done.outcome ?? "")
            try registry.updateDeployment(n, expectedUpdatedAt: d.updatedAt, audit: audit)
            return try reload(n)
        }
        guard let outcome = try invoke(model: d.model, environment: d.environment, version: version, stable: stable, traffic: traffic,
                                       callID: callID, deploymentID: d.id, actor: actor, reason: reason) else {
            // Another driver is making this call right now: it takes the deployment on.
            return d
        }
        CrashPoint.reach("deploy.before-journal")
        let ok = outcome.result?.succeeded ?? true
        let words = outcome.result?.summary ?? "local target written"
        let (n, audit) = next(ok, words)
        do {
            try registry.finishDeployCall(callID: callID, outcome: words, ok: ok, then: n, audit: audit)
        } catch let conflict as RegistryConflict {
            // Another driver changed the deployment meanwhile (an abort, a
            // rollback): the call still happened, and the journal says so.
            try registry.finishDeployCall(callID: callID, outcome: words, ok: ok, then: nil, audit: [])
            throw conflict
        }
        return try reload(n)
    }

    /// A call outside a deployment (a rollback): journalled and audited.
    /// `begun`: the call was journalled already (with the alias change it carries out).
    func putLive(model: String, environment: String, version: Int, stable: Int?, traffic: Int, callID: String, deploymentID: Int64?,
                 actor: String, reason: String, begun: Bool = false) throws -> JobOutcome? {
        guard let outcome = try invoke(model: model, environment: environment, version: version, stable: stable, traffic: traffic,
                                       callID: callID, deploymentID: deploymentID, actor: actor, reason: reason, begun: begun) else { return nil }
        try registry.finishDeployCall(callID: callID, outcome: outcome.result?.summary ?? "local target written", ok: outcome.result?.succeeded ?? true,
                                      then: nil, audit: [])
        return outcome.result
    }

    struct Invocation { var result: JobOutcome? }

    /// This process, as the owner of a deploy call.
    static var me: String { "\(getpid())@\(Provenance.hostName())" }

    /// Whether a call journalled as started and not finished may be made
    /// again: its owner (`pid@host`) is gone (the `kill -9` case). A process
    /// is gone when no process has its pid, when it exited but was not reaped
    /// yet (a zombie), or when its pid now belongs to a process started after
    /// the call (reused). This process's own calls are in flight in another of
    /// its threads (the demo runs the agent beside the console). A call owned
    /// on another host is never taken over from here.
    static func mayTakeOver(_ call: DeployCallRecord) -> Bool {
        guard let owner = call.owner, let at = owner.firstIndex(of: "@"), let pid = Int32(owner[..<at]) else { return true }
        if owner == me { return false }
        guard String(owner[owner.index(after: at)...]) == Provenance.hostName() else { return false }
        if kill(pid, 0) != 0 && errno == ESRCH { return true }
        if LocalProcess.isZombie(pid: pid) { return true }
        if let started = LocalProcess.startTime(pid: pid), started > call.startedAt + 2_000 { return true }
        return false
    }

    /// The journal entry of a call this process starts now.
    func callRecord(model: String, environment: String, version: Int, stable: Int?, traffic: Int, callID: String,
                    deploymentID: Int64?) -> DeployCallRecord {
        DeployCallRecord(id: 0, callID: callID, deploymentID: deploymentID, environment: environment, model: model, version: version,
                         stableVersion: stable, traffic: traffic, startedAt: clock.now(), finishedAt: nil, outcome: nil, ok: nil,
                         log: ".slipway/logs/deploy/\(callID).log", owner: Self.me)
    }

    /// Writes the local target and runs the deploy command (journalled as
    /// started first, unless `begun` says it was); nil when another living
    /// driver is making this call.
    func invoke(model: String, environment: String, version: Int, stable: Int?, traffic: Int, callID: String, deploymentID: Int64?,
                actor: String, reason: String, begun: Bool = false) throws -> Invocation? {
        let record = callRecord(model: model, environment: environment, version: version, stable: stable, traffic: traffic,
                                callID: callID, deploymentID: deploymentID)
        let log = record.log ?? ".slipway/logs/deploy/\(callID).log"
        if !begun {
            try awaitCallsInFlight(environment: environment, except: callID)
            let (_, mine) = try registry.beginDeployCall(record, takeOver: Self.mayTakeOver)
            guard mine else { return nil }
        }
        do {
            try FileSystem.makeDirectory(workspace.logsDir + "/deploy")
            return try call(model: model, environment: environment, version: version, stable: stable, traffic: traffic, callID: callID,
                            actor: actor, reason: reason, log: log)
        } catch {
            // Not left "started" by a process that lives on: the call failed.
            try? registry.finishDeployCall(callID: callID, outcome: "failed: \(error)", ok: false, then: nil, audit: [])
            throw error
        }
    }

    /// One call at a time per environment: waits while another living
    /// driver's call there is in flight (a canary step the agent is making
    /// when the on-call engineer rolls back), so calls land in the order they
    /// are made and the last one is the newest decision. Bounded by the
    /// environment's timeout, after which a call cannot still be running.
    func awaitCallsInFlight(environment: String, except callID: String) throws {
        let limit = Millis((plan(environment).timeoutSeconds + 30) * 1000)
        var told = false
        while true {
            let now = clock.now()
            guard let busy = try registry.unfinishedDeployCalls().first(where: {
                $0.environment == environment && $0.callID != callID && now - $0.startedAt < limit && !Self.mayTakeOver($0)
            }) else { return }
            if !told { onWait?(UnfinishedCall(busy)); told = true }
            usleep(20_000)
        }
    }

    /// Writes the local target and runs the deploy command of a call journalled as ours.
    func call(model: String, environment: String, version: Int, stable: Int?, traffic: Int, callID: String, actor: String, reason: String,
              log: String) throws -> Invocation {
        let record = try registry.modelVersion(model: model, version: version)
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let target = LocalTarget(environment: environment, model: model, version: version, image: record?.imageDigest, traffic: traffic,
                                 stable: stable, since: f.string(from: Date()), by: actor, reason: reason)
        try FileSystem.makeDirectory(workspace.stateDir + "/deploy")
        try FileSystem.writeFile(targetPath(environment), try OCI.encode(target))
        guard let command = spec.environments.first(where: { $0.name == environment })?.deploy else { return Invocation(result: nil) }
        var env = [
            "SLIPWAY_MODEL": model, "SLIPWAY_VERSION": String(version), "SLIPWAY_ENV": environment,
            "SLIPWAY_TRAFFIC": String(traffic), "SLIPWAY_DEPLOYMENT_ID": callID, "SLIPWAY_WORKSPACE": workspace.root,
        ]
        env["SLIPWAY_STABLE_VERSION"] = stable.map(String.init) ?? ""
        if let digest = record?.imageDigest {
            let layout = ImageCatalog(workspace: workspace).layout(model: model).path
            env["SLIPWAY_IMAGE"] = layout + "@" + digest
            // What skopeo copy takes as its source, as is.
            if let tag = record?.imageTag { env["SLIPWAY_IMAGE_OCI"] = "oci:\(layout):\(tag)" }
            // Pushed to an image registry: the image there, by digest (what promotion verified).
            if let pushed = try registry.imagePushes(model: model, version: version).last,
               let ref = try? ImageReference.parse(pushed.reference) {
                env["SLIPWAY_IMAGE_REGISTRY"] = ref.with(digest: digest).description
            }
        }
        let job = Job(command: command, workingDirectory: workspace.root, environment: env, logPath: workspace.root + "/" + log,
                      timeout: plan(environment).timeoutSeconds)
        struct Quiet: JobObserver { func started(handle: JobHandle) {}; func stdoutLine(_ line: Substring) {} }
        let outcome = executor.run(job, observer: Quiet(), cancellation: CancellationFlag())
        try registry.appendAudit(AuditDraft(actor: actor, kind: .deployRan, subject: "env/\(environment)",
                                            payload: AuditChain.payload(["model": model, "version": String(version), "traffic": String(traffic),
                                                                         "deployment": callID, "outcome": outcome.summary, "log": log])))
        return Invocation(result: outcome)
    }
}
