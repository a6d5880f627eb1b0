import Foundation
import Testing
@testable import SlipwayCore

/// The deployment machine as a table of transitions: a state, a plan, an
/// input and a time chosen by the test, and the effects that must follow.
/// Nothing here runs a call, measures, or waits.
@Suite struct DeploymentMachineTests {
    static let t0: Millis = 1_800_000_000_000

    static func record(_ state: DeploymentState = .progressing, _ phase: DeploymentPhase, step: Int = 0, traffic: Int = 0,
                       stable: Int? = 1, dueAt: Millis? = nil, inconclusive: Int = 0, watchUntil: Millis? = nil,
                       ending: DeploymentState? = nil, detail: String = "starting") -> DeploymentRecord {
        DeploymentRecord(id: 7, environment: "production", model: "clf", version: 2, stableVersion: stable, steps: "10,50,100",
                         state: state, phase: phase, step: step, traffic: traffic, dueAt: dueAt, inconclusive: inconclusive,
                         watchUntil: watchUntil, ending: ending, startedAt: t0, updatedAt: t0, actor: "ana", reason: "canary",
                         detail: detail)
    }

    static let errorRate = AnalysisCheck(metric: "error_rate", source: .command("./rate.sh"), failIf: try! GateCondition(parsing: "> 0.05"))

    static func plan(measure: MeasurePlan? = nil, maxInconclusive: Int = 2, watch: Double = 0) -> DeploymentPlan {
        var p = DeploymentPlan()
        p.canary = CanarySpec(steps: [10, 50, 100], intervalSeconds: 60, analysis: [errorRate], maxInconclusive: maxInconclusive,
                              measure: measure)
        if watch > 0 {
            p.rollbackWhen = [errorRate]
            p.watchSeconds = watch
        }
        return p
    }

    static func value(_ v: Double?, _ verdict: AnalysisVerdict) -> AnalysisMeasurement {
        AnalysisMeasurement(metric: "error_rate", value: v, production: nil, condition: "fail_if > 0.05", verdict: verdict,
                            explanation: "error_rate \(v.map { String($0) } ?? "none") → \(verdict.rawValue)")
    }

    /// The one state a transition saves, and its events' kinds.
    static func saved(_ t: DeploymentMachine.Transition) -> (DeploymentRecord, [DeploymentEvent.Kind])? {
        for case .save(let d, let events) in t.effects { return (d, events.map(\.kind)) }
        return nil
    }

    let machine = DeploymentMachine(plan: Self.plan(), driver: "slipway-agent")

    @Test func aStepsCallIsAskedForThenItsEndMovesTheStepToItsAnalysis() throws {
        let d = Self.record(.progressing, .deploy, step: 1, traffic: 10)
        let look = machine.next(d, .look, now: Self.t0)
        #expect(look.effects == [.call(.init(id: "production-d7-s2", version: 2, stable: 1, traffic: 50, actor: "ana", reason: "canary"))])
        let ok = machine.next(d, .called(ok: true, outcome: "exited 0"), now: Self.t0 + 5)
        let (next, kinds) = try #require(Self.saved(ok))
        #expect(next.phase == .analyse && next.traffic == 50 && next.dueAt == Self.t0 + 5 + 60_000 && kinds == [.step])
        #expect(next.detail == "step 2/3: 50% on :2")
        let failed = try #require(Self.saved(machine.next(d, .called(ok: false, outcome: "exited 3"), now: Self.t0)))
        #expect(failed.0.phase == .rollback && failed.0.ending == .rolledBack && failed.0.detail == "the deploy call at 50% failed: exited 3")
    }

    @Test func transitionsOfACanaryStepTable() throws {
        // (state before, input, time) → (phase, state, step, saved?, then)
        let due = Self.t0 + 60_000
        let analysing = Self.record(.progressing, .analyse, step: 0, traffic: 10, dueAt: due)
        struct Row { var input: DeploymentMachine.Input; var now: Millis; var phase: DeploymentPhase?; var state: DeploymentState?
                     var step: Int?; var then: DeploymentMachine.Then }
        let rows: [Row] = [
            // Not due yet: nothing happens.
            Row(input: .look, now: due - 1, phase: nil, state: nil, step: nil, then: .wait),
            // A pass moves to the next step's call.
            Row(input: .measured(.init(number: 1, values: [Self.value(0.01, .pass)])), now: due, phase: .deploy, state: .progressing,
                step: 1, then: .goOn),
            // A failure rolls back at once.
            Row(input: .measured(.init(number: 1, values: [Self.value(0.2, .fail)])), now: due, phase: .rollback, state: .progressing,
                step: 0, then: .goOn),
            // Inconclusive once of two allowed: analysed again.
            Row(input: .measured(.init(number: 1, values: [Self.value(nil, .inconclusive)])), now: due, phase: .analyse,
                state: .progressing, step: 0, then: .goOn),
        ]
        for row in rows {
            let t = machine.next(analysing, row.input, now: row.now)
            #expect(t.then == row.then)
            guard let phase = row.phase else { #expect(t.effects.isEmpty); continue }
            let (next, _) = try #require(Self.saved(t), "\(row.input)")
            #expect(next.phase == phase && next.state == row.state && next.step == row.step, "\(row.input): \(next)")
        }
        // Due: a measurement is asked for, with the step's timeout.
        let look = machine.next(analysing, .look, now: due)
        guard case .measure(let order)? = look.effects.first else { Issue.record("no measurement: \(look)"); return }
        #expect(order.step == 0 && order.round == 0 && order.timeout == MeasurePlan.maxTimeout)
    }

    @Test func aFailureNamesTheDecidingMeasurementAndItsTime() throws {
        let d = Self.record(.progressing, .analyse, step: 1, traffic: 50, dueAt: Self.t0)
        let t = machine.next(d, .measured(.init(number: 1, values: [Self.value(0.2, .fail)])), now: Self.t0)
        let (next, kinds) = try #require(Self.saved(t))
        #expect(next.detail.hasPrefix("analysis failed at 50%: measurement 1/1 of step 2 (") && next.detail.hasSuffix("error_rate 0.2 → fail"))
        #expect(kinds == [.analysed])
    }

    @Test func inconclusiveRoundsInARowPauseForAHuman() throws {
        let d = Self.record(.progressing, .analyse, traffic: 10, dueAt: Self.t0, inconclusive: 1)
        let (next, kinds) = try #require(Self.saved(machine.next(d, .measured(.init(number: 1, values: [Self.value(nil, .inconclusive)])),
                                                                 now: Self.t0)))
        #expect(next.state == .paused && kinds == [.analysed, .paused])
        // A person continues it: the next step.
        let (continued, events) = DeploymentMachine.continued(next, by: "bo")
        #expect(continued.state == .progressing && continued.phase == .deploy && continued.step == 1 && events.map(\.kind) == [.resumed])
    }

    @Test func measurementsAreTalliedWithTheRoundsEarlierVerdicts() throws {
        let m = DeploymentMachine(plan: Self.plan(measure: MeasurePlan(everySeconds: 10, count: 3)), driver: "agent")
        let d = Self.record(.progressing, .analyse, traffic: 10, dueAt: Self.t0)
        let again = try #require(Self.saved(m.next(d, .measured(.init(number: 2, earlier: [.pass], values: [Self.value(0, .pass)])),
                                                   now: Self.t0)))
        #expect(again.0.phase == .analyse && again.0.dueAt == Self.t0 + 10_000)
        let passed = try #require(Self.saved(m.next(d, .measured(.init(number: 3, earlier: [.pass, .pass], values: [Self.value(0, .pass)])),
                                                    now: Self.t0)))
        #expect(passed.0.phase == .deploy && passed.0.step == 1 && passed.0.detail.contains("3 of 3 measurements passed"))
        guard case .measure(let order)? = m.next(d, .look, now: Self.t0).effects.first else { Issue.record("no measurement"); return }
        #expect(order.timeout == 10)
    }

    @Test func theMeasurementTimeoutFollowsEveryWithinBounds() {
        #expect(MeasurePlan(everySeconds: 2, count: 3).measurementTimeout == 2)
        #expect(MeasurePlan(everySeconds: 120, count: 3).measurementTimeout == 30)
        #expect(MeasurePlan(everySeconds: 0, count: 3).measurementTimeout == 1)
    }

    @Test func promotionMovesTheAliasWithATypedCauseThenWatches() throws {
        let m = DeploymentMachine(plan: Self.plan(watch: 600), driver: "agent")
        let d = Self.record(.progressing, .promote, step: 2, traffic: 100)
        let t = m.next(d, .look, now: Self.t0)
        #expect(t.effects.first == .moveAlias(.init(version: 2, actor: "ana", reason: "canary", cause: .canary)))
        let (next, kinds) = try #require(Self.saved(t))
        #expect(next.state == .watching && next.watchUntil == Self.t0 + 600_000 && kinds == [.step])
        // The first version (nothing to compare with) is a plain promotion.
        let first = m.next(Self.record(.progressing, .promote, stable: nil), .look, now: Self.t0)
        #expect(first.effects.first == .moveAlias(.init(version: 2, actor: "ana", reason: "canary", cause: .promotion)))
        // Without a canary the cause is what started the deployment: an approval, an automatic promotion.
        for origin in [AliasCause.approval, .auto] {
            let plain = DeploymentMachine(plan: DeploymentPlan(), driver: "agent", origin: origin)
            let t = plain.next(Self.record(.progressing, .promote), .look, now: Self.t0)
            #expect(t.effects.first == .moveAlias(.init(version: 2, actor: "ana", reason: "canary", cause: origin)))
        }
        // With one, a canary's last step is the cause, whatever started it.
        let approved = DeploymentMachine(plan: Self.plan(), driver: "agent", origin: .approval)
        #expect(approved.next(d, .look, now: Self.t0).effects.first == .moveAlias(.init(version: 2, actor: "ana", reason: "canary", cause: .canary)))
    }

    @Test func theWatchRollsBackOnABreachAndEndsCalm() throws {
        let m = DeploymentMachine(plan: Self.plan(watch: 600), driver: "agent")
        let w = Self.record(.watching, .none, step: 2, traffic: 100, dueAt: Self.t0, watchUntil: Self.t0 + 600_000)
        guard case .measure(let order)? = m.next(w, .look, now: Self.t0).effects.first else { Issue.record("no measurement"); return }
        #expect(order.step == -1)
        let calm = m.next(w, .measured(.init(number: 1, values: [Self.value(0, .pass)])), now: Self.t0)
        #expect(calm.then == .wait && Self.saved(calm)?.0.dueAt == Self.t0 + 60_000)
        let breach = try #require(Self.saved(m.next(w, .measured(.init(number: 4, values: [Self.value(0.3, .fail)])), now: Self.t0)))
        #expect(breach.0.phase == .rollback && breach.0.ending == .rolledBack && breach.0.detail.hasPrefix("rollback_when breached: watch measurement 4"))
        let ended = try #require(Self.saved(m.next(w, .look, now: Self.t0 + 600_000)))
        #expect(ended.0.state == .succeeded && ended.1 == [.ended])
    }

    @Test func anAbortPutsTheStableVersionBackWithTheAbortCause() throws {
        let d = DeploymentMachine.aborted(Self.record(.paused, .analyse, traffic: 10), by: "bo", reason: "pager")
        #expect(d.detail == "aborted by bo: pager" && d.phase == .rollback && d.ending == .aborted)
        let t = machine.next(d, .look, now: Self.t0)
        #expect(t.effects == [
            .moveAlias(.init(version: 1, actor: "slipway-agent", reason: "rollback: aborted by bo: pager", cause: .abort)),
            .call(.init(id: "production-d7-rollback", version: 1, stable: 1, traffic: 100, actor: "slipway-agent", reason: "aborted by bo: pager")),
        ])
        let failed = machine.next(d, .called(ok: false, outcome: "exited 1"), now: Self.t0)
        let (next, _) = try #require(Self.saved(failed))
        #expect(next.state == .aborted && next.traffic == 0 && next.detail.hasSuffix("; putting :1 back failed too: exited 1"))
        guard case .record(let event)? = failed.effects.last else { Issue.record("no ended event"); return }
        #expect(event.kind == .ended && event.fields["outcome"] == "exited 1" && event.fields["state"] == "aborted")
        // A failed canary's rollback has the rollback cause.
        let rolled = machine.next(Self.record(.progressing, .rollback, ending: .rolledBack, detail: "analysis failed"), .look, now: Self.t0)
        #expect(rolled.effects.first == .moveAlias(.init(version: 1, actor: "slipway-agent", reason: "rollback: analysis failed", cause: .rollback)))
    }

    @Test func endedDeploymentsAskForNothing() {
        for state in [DeploymentState.succeeded, .rolledBack, .aborted, .failed, .paused] {
            let t = machine.next(Self.record(state, .none), .look, now: Self.t0)
            #expect(t.effects.isEmpty && t.then == .wait)
        }
    }
}
