import Foundation

/// A canary step's analysis: after each measurement the step is decided by
/// ``MeasurementTally`` from every measurement of the round so far. A failed
/// step rolls back in the same pass (nothing waits for the remaining
/// measurements or steps); an inconclusive one is analysed again after
/// `interval`, or pauses for a human once `max_inconclusive` rounds in a row
/// were inconclusive. An error or an inconclusive measurement never counts
/// as a pass.
extension DeploymentMachine {
    func decideStep(_ d: DeploymentRecord, _ m: Measurement, checks: [AnalysisCheck], now: Millis) -> Transition {
        let steps = d.stepList
        let canary = plan.canary
        let measure = canary?.measurePlan ?? MeasurePlan(everySeconds: 0, count: 1)
        let round = d.inconclusive
        let measurements = m.values
        let verdict = AnalysisJudge.combine(measurements)
        let verdicts = m.earlier + [verdict]
        let decision: MeasurementTally.Decision = checks.isEmpty ? .pass : MeasurementTally.decide(verdicts, plan: measure)
        let values = measurements.map(\.explanation).joined(separator: "; ")
        let name = "measurement \(m.number)/\(measure.count) of step \(d.step + 1) at \(d.traffic)% (\(Self.time(now)))"
        var next = d
        var events: [DeploymentEvent] = []
        if !checks.isEmpty {
            events.append(DeploymentEvent(.analysed, d, [
                "step": String(d.step + 1), "traffic": String(d.traffic), "round": String(round + 1), "measurement": String(m.number),
                "verdict": verdict.rawValue, "values": values,
                "queries": Self.bounded(measurements.map { "\($0.metric): \($0.query ?? "")" }.joined(separator: "\n"), 1024),
                "answers": Self.bounded(measurements.map { "\($0.metric): \($0.answer ?? "")" }.joined(separator: "\n"), 1024),
                "decision": Self.words(decision)]))
        }
        switch decision {
        case .measureAgain:
            next.dueAt = now + Millis(measure.everySeconds * 1000)
            next.detail = "analysing at \(d.traffic)%: \(name): \(verdict.rawValue) (\(values))"
        case .pass:
            if d.step + 1 < steps.count {
                next.step += 1
                next.phase = .deploy
            } else {
                next.phase = .promote
            }
            next.detail = checks.isEmpty ? next.detail
                : "analysis passed at \(d.traffic)%: \(verdicts.filter { $0 == .pass }.count) of \(verdicts.count) measurements passed; last: \(values)"
        case .fail(let n):
            next.phase = .rollback
            next.ending = .rolledBack
            next.detail = "analysis failed at \(d.traffic)%: measurement \(n)/\(measure.count) of step \(d.step + 1) (\(Self.time(now))): "
                + measurements.filter { $0.verdict == .fail }.map(\.explanation).joined(separator: "; ")
        case .inconclusive(_, let why):
            next.inconclusive += 1
            let limit = canary?.maxInconclusive ?? 1
            if next.inconclusive >= limit {
                next.state = .paused
                next.detail = "paused at \(d.traffic)%: inconclusive, \(why); last: \(name): \(values); "
                    + "`slipway promote --continue \(d.environment)` or `slipway abort \(d.environment)`"
                events.append(DeploymentEvent(.paused, d, ["traffic": String(d.traffic), "values": values, "why": why]))
            } else {
                next.dueAt = now + Millis((canary?.intervalSeconds ?? 0) * 1000)
                next.detail = "inconclusive at \(d.traffic)% (\(next.inconclusive) of \(limit)), \(why): \(values)"
            }
        }
        return Transition([.save(next, events: events)], then: .goOn)
    }

    /// Each earlier measurement's verdict, in order (its values combined), from
    /// `(measurement number, verdict)` pairs as recorded; an unknown verdict is an error.
    public static func verdictsByMeasurement(_ samples: [(measurement: Int, verdict: String)]) -> [AnalysisVerdict] {
        let numbers = Array(Set(samples.map(\.measurement))).sorted()
        return numbers.map { n in
            AnalysisVerdict.combined(samples.filter { $0.measurement == n }.map { AnalysisVerdict(rawValue: $0.verdict) ?? .error })
        }
    }

    static func words(_ d: MeasurementTally.Decision) -> String {
        switch d {
        case .measureAgain: return "measure again"
        case .pass: return "pass"
        case .fail(let m): return "fail (measurement \(m))"
        case .inconclusive(let m, let why): return "inconclusive (measurement \(m)): \(why)"
        }
    }

    /// `10:41:02Z`, for reasons a person reads.
    public static func time(_ ms: Millis) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withTime, .withColonSeparatorInTime, .withTimeZone]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    static func bounded(_ text: String, _ limit: Int) -> String {
        text.utf8.count <= limit ? text : String(decoding: Array(text.utf8.prefix(limit)), as: UTF8.self) + "…"
    }
}
