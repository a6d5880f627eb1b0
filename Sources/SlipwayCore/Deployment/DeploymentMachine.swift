import Foundation

/// A deployment's rules, as a pure function: given where a deployment
/// stands, its environment's plan (steps, analyses, `rollback_when`), what
/// just happened (the driver looked, a deploy call finished, a measurement
/// was taken) and the time, ``next(_:_:now:)`` returns what to do: the
/// effects, in order, and whether driving goes on or waits.
///
/// The engine's `DeploymentService` only performs the effects (journalled
/// deploy calls, measurements recorded with their evidence, alias moves,
/// saves with their audit events) and feeds their results back. Nothing
/// here reads a clock, a file, the registry or a message string: tests
/// drive it with a table of states and a time they choose.
///
/// ## Topics
/// - ``Input``, ``Effect``, ``Transition``
/// - ``DeployCall``, ``MeasureOrder``, ``AliasMove``, ``DeploymentEvent``
/// - People's actions: ``continued(_:by:)``, ``aborted(_:by:reason:)``, ``refused(_:)``
public struct DeploymentMachine: Sendable {
    /// The environment's plan.
    public var plan: DeploymentPlan
    /// Who drives steps taken on their own (the agent, or the person whose
    /// command drives the deployment): actor of rollback calls and alias moves.
    public var driver: String
    /// What started the deployment (a person's promotion, an approval, an
    /// automatic promotion): the cause of its alias change without a canary.
    public var origin: AliasCause

    public init(plan: DeploymentPlan, driver: String, origin: AliasCause = .promotion) {
        self.plan = plan
        self.driver = driver
        self.origin = origin
    }

    /// What the driver tells the machine.
    public enum Input: Sendable, Hashable {
        /// The driver looks at the deployment (nothing was done yet).
        case look
        /// The deploy call the last transition asked for ended.
        case called(ok: Bool, outcome: String)
        /// The measurement the last transition asked for was taken (and recorded).
        case measured(Measurement)
    }

    /// One measurement of a step's analysis or of the watch.
    public struct Measurement: Sendable, Hashable {
        /// Its number within its round, from 1.
        public var number: Int
        /// The verdicts of the round's earlier measurements, in order.
        public var earlier: [AnalysisVerdict]
        /// Every value of this measurement, judged.
        public var values: [AnalysisMeasurement]

        public init(number: Int, earlier: [AnalysisVerdict] = [], values: [AnalysisMeasurement]) {
            self.number = number
            self.earlier = earlier
            self.values = values
        }
    }

    /// A deploy call to make (journalled under `id`, the same on a retry).
    public struct DeployCall: Sendable, Hashable {
        public var id: String
        public var version: Int
        public var stable: Int?
        public var traffic: Int
        public var actor: String
        public var reason: String
    }

    /// A measurement to take: every check (and `min_samples`), `step` -1 for the watch.
    public struct MeasureOrder: Sendable, Hashable {
        public var checks: [AnalysisCheck]
        public var minSamples: MinSamples?
        public var step: Int
        public var round: Int
        /// Seconds each source may take (``MeasurePlan/measurementTimeout``
        /// with `measure:`, else ``MeasurePlan/maxTimeout``).
        public var timeout: Double
    }

    /// A change of the environment's live version, made only when `version`
    /// is not live already (a driver that died after making it does not make it twice).
    public struct AliasMove: Sendable, Hashable {
        public var version: Int
        public var actor: String
        public var reason: String
        public var cause: AliasCause
    }

    public enum Effect: Sendable, Hashable {
        /// Make this deploy call, then tell the machine `.called`; the save
        /// that follows is recorded in the transaction that ends the call.
        case call(DeployCall)
        /// Take (and record) this measurement, then tell the machine `.measured`.
        case measure(MeasureOrder)
        case moveAlias(AliasMove)
        /// A place tests may stop the driver at (`SLIPWAY_CRASH_AT`).
        case checkpoint(String)
        /// Save the deployment's next state with these events, in one transaction.
        case save(DeploymentRecord, events: [DeploymentEvent])
        /// Append this event on its own.
        case record(DeploymentEvent)
    }

    public enum Then: Sendable, Hashable {
        /// Look again: there is more to do now.
        case goOn
        /// Nothing more now (an interval, a human, the watch, the end).
        case wait
    }

    public struct Transition: Sendable, Hashable {
        public var effects: [Effect]
        public var then: Then

        public init(_ effects: [Effect], then: Then) {
            self.effects = effects
            self.then = then
        }

        /// The state saved by this transition, if it saves one.
        public var saved: DeploymentRecord? {
            for case .save(let d, _) in effects { return d }
            return nil
        }
    }

    /// The journal id of a deployment's `step` (0-based) call and of its rollback call.
    public static func callID(_ d: DeploymentRecord, step: Int) -> String { "\(d.environment)-d\(d.id)-s\(step + 1)" }
    public static func restoreCallID(_ d: DeploymentRecord) -> String { "\(d.environment)-d\(d.id)-rollback" }

    /// The next transition of `d` after `input`, at `now`.
    public func next(_ d: DeploymentRecord, _ input: Input, now: Millis) -> Transition {
        guard d.state == .progressing || d.state == .watching else { return Transition([], then: .wait) }
        switch d.phase {
        case .deploy: return deploy(d, input, now: now)
        case .analyse: return analyse(d, input, now: now)
        case .promote: return promote(d, now: now)
        case .rollback: return rollback(d, input)
        case .none: return watch(d, input, now: now)
        }
    }

    func deploy(_ d: DeploymentRecord, _ input: Input, now: Millis) -> Transition {
        let steps = d.stepList
        let traffic = steps[min(d.step, steps.count - 1)]
        let id = Self.callID(d, step: d.step)
        guard case .called(let ok, let outcome) = input else {
            return Transition([.call(DeployCall(id: id, version: d.version, stable: d.stableVersion, traffic: traffic,
                                                actor: d.actor, reason: d.reason))], then: .goOn)
        }
        var next = d
        if ok {
            next.traffic = traffic
            next.phase = .analyse
            next.inconclusive = 0
            let isLastWithoutCanary = plan.canary == nil || d.stableVersion == nil
            next.dueAt = now + (isLastWithoutCanary ? 0 : Millis((plan.canary?.intervalSeconds ?? 0) * 1000))
            next.detail = "step \(d.step + 1)/\(steps.count): \(traffic)% on :\(d.version)"
        } else {
            next.phase = .rollback
            next.ending = d.stableVersion == nil ? .failed : .rolledBack
            next.detail = "the deploy call at \(traffic)% failed: \(outcome)"
        }
        let event = DeploymentEvent(.step, d, ["step": String(d.step + 1), "traffic": String(traffic), "version": String(d.version),
                                               "call": id, "outcome": outcome])
        return Transition([.save(next, events: [event])], then: .goOn)
    }

    func analyse(_ d: DeploymentRecord, _ input: Input, now: Millis) -> Transition {
        let checks = d.stableVersion == nil ? [] : (plan.canary?.analysis ?? [])
        switch input {
        case .measured(let m):
            return decideStep(d, m, checks: checks, now: now)
        case .look, .called:
            if let due = d.dueAt, due > now { return Transition([], then: .wait) }
            // Nothing to measure (no analysis, or no stable version to compare with): the step passes.
            if checks.isEmpty { return decideStep(d, Measurement(number: 1, values: []), checks: checks, now: now) }
            return Transition([.measure(MeasureOrder(checks: checks, minSamples: plan.canary?.minSamples, step: d.step,
                                                     round: d.inconclusive, timeout: plan.canary?.measure?.measurementTimeout ?? MeasurePlan.maxTimeout))],
                              then: .goOn)
        }
    }

    func promote(_ d: DeploymentRecord, now: Millis) -> Transition {
        let move = AliasMove(version: d.version, actor: d.actor, reason: d.reason,
                             cause: plan.canary != nil && d.stableVersion != nil ? .canary : origin)
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
        let event = DeploymentEvent(next.state == .succeeded ? .ended : .step, d, ["state": next.state.rawValue, "version": String(d.version)])
        return Transition([.moveAlias(move), .checkpoint("deployment.after-alias"), .save(next, events: [event])], then: .goOn)
    }

    func rollback(_ d: DeploymentRecord, _ input: Input) -> Transition {
        guard let stable = d.stableVersion else {
            var next = d
            next.phase = .none
            next.state = d.ending ?? .failed
            return Transition([.save(next, events: []), .record(Self.ended(next, outcome: "nothing to put back"))], then: .goOn)
        }
        guard case .called(let ok, let outcome) = input else {
            let aborted = d.ending == .aborted
            return Transition([
                .moveAlias(AliasMove(version: stable, actor: driver, reason: "rollback: " + d.detail, cause: aborted ? .abort : .rollback)),
                .call(DeployCall(id: Self.restoreCallID(d), version: stable, stable: stable, traffic: 100, actor: driver,
                                 reason: aborted ? d.detail : "rollback")),
            ], then: .goOn)
        }
        var next = d
        next.phase = .none
        next.state = d.ending ?? .rolledBack
        next.traffic = 0
        if !ok { next.detail += "; putting :\(stable) back failed too: \(outcome)" }
        return Transition([.save(next, events: []), .record(Self.ended(next, outcome: outcome))], then: .goOn)
    }

    /// The `rollback_when` watch of a version live at 100 %.
    func watch(_ d: DeploymentRecord, _ input: Input, now: Millis) -> Transition {
        guard d.state == .watching else { return Transition([], then: .wait) }
        var next = d
        if case .measured(let m) = input {
            let breaches = m.values.filter { $0.verdict == .fail }
            if breaches.isEmpty {
                next.dueAt = now + Millis(max(plan.canary?.intervalSeconds ?? 30, 0) * 1000)
                return Transition([.save(next, events: [])], then: .wait)
            }
            let values = breaches.map(\.explanation).joined(separator: "; ")
            next.phase = .rollback
            next.ending = .rolledBack
            next.detail = "rollback_when breached: watch measurement \(m.number) (\(Self.time(now))): \(values)"
            return Transition([.save(next, events: [DeploymentEvent(.analysed, d, ["step": "watch", "verdict": "fail", "values": values])])],
                              then: .goOn)
        }
        if let until = d.watchUntil, now >= until {
            next.state = .succeeded
            next.detail = "live at 100%; the watch ended calm"
            return Transition([.save(next, events: [DeploymentEvent(.ended, d, ["state": "succeeded", "version": String(d.version)])])],
                              then: .goOn)
        }
        if let due = d.dueAt, due > now { return Transition([], then: .wait) }
        return Transition([.measure(MeasureOrder(checks: plan.rollbackWhen, minSamples: nil, step: -1, round: 0,
                                                 timeout: MeasurePlan.maxTimeout))], then: .goOn)
    }

    /// The event that closes a rollback (or an abort): how it ended and why.
    static func ended(_ d: DeploymentRecord, outcome: String) -> DeploymentEvent {
        DeploymentEvent(.ended, d, ["state": d.state.rawValue, "candidate": String(d.version),
                                    "stable": d.stableVersion.map(String.init) ?? "none", "why": d.detail, "outcome": outcome])
    }
}
