import Foundation
import Testing
@testable import SlipwayCore

@Suite struct CronTests {
    /// Unix seconds of a UTC time.
    func t(_ y: Int, _ m: Int, _ d: Int, _ h: Int = 0, _ mi: Int = 0) -> Int64 {
        Int64(Cron.daysFromCivil(y, m, d)) * 86_400 + Int64(h * 3600 + mi * 60)
    }

    func next(_ expr: String, after: Int64) throws -> Int64? { try Cron(expr).next(after: after) }

    @Test func civilDatesRoundTrip() {
        #expect(Cron.daysFromCivil(1970, 1, 1) == 0)
        #expect(Cron.daysFromCivil(2000, 3, 1) == 11_017)
        for z in [-1, 0, 59, 60, 10_957, 11_016, 11_017, 20_000, 60_000] {
            let (y, m, d) = Cron.civil(fromDays: z)
            #expect(Cron.daysFromCivil(y, m, d) == z)
        }
    }

    @Test func rangesStepsAndLists() throws {
        let base = t(2026, 11, 27, 10, 7)
        #expect(try next("*/15 * * * *", after: base) == t(2026, 11, 27, 10, 15))
        #expect(try next("0,30 9-17 * * *", after: base) == t(2026, 11, 27, 10, 30))
        #expect(try next("0,30 9-17 * * *", after: t(2026, 11, 27, 17, 30)) == t(2026, 11, 28, 9, 0))
        #expect(try next("5-20/5 * * * *", after: base) == t(2026, 11, 27, 10, 10))
        // Monday 03:00: 2026-11-27 is a Friday.
        #expect(try next("0 3 * * 1", after: base) == t(2026, 11, 30, 3, 0))
        #expect(try next("0 3 * * mon-fri", after: base) == t(2026, 11, 30, 3, 0))
        #expect(try next("0 0 * * 7", after: base) == t(2026, 11, 29))  // 7 is Sunday too
        #expect(try next("0 12 * jan *", after: base) == t(2027, 1, 1, 12))
        // Strictly after: a time on the minute is not its own next.
        #expect(try next("7 10 * * *", after: base) == t(2026, 11, 28, 10, 7))
    }

    @Test func monthEndsAndLeapDays() throws {
        #expect(try next("0 0 31 * *", after: t(2026, 4, 1)) == t(2026, 5, 31))
        #expect(try next("0 0 30 * *", after: t(2027, 1, 31)) == t(2027, 3, 30))  // February has no 30th
        #expect(try next("0 0 29 2 *", after: t(2026, 11, 27)) == t(2028, 2, 29))
        #expect(try next("0 0 29 2 *", after: t(2028, 2, 29)) == t(2032, 2, 29))
        #expect(try next("@monthly", after: t(2026, 12, 15)) == t(2027, 1, 1))
        #expect(try next("0 0 28-31 2 *", after: t(2100, 1, 1)) == t(2100, 2, 28))  // 2100 is not a leap year
    }

    @Test func aliasesAndUTC() throws {
        let base = t(2026, 11, 27, 23, 59)
        #expect(try next("@hourly", after: base) == t(2026, 11, 28, 0, 0))
        #expect(try next("@daily", after: base) == t(2026, 11, 28))
        #expect(try next("@weekly", after: base) == t(2026, 11, 29))
        // No daylight saving: 02:30 exists every day, once.
        #expect(try next("30 2 * * *", after: t(2027, 3, 28, 1, 0)) == t(2027, 3, 28, 2, 30))
        #expect(try next("30 2 * * *", after: t(2027, 10, 31, 2, 30)) == t(2027, 11, 1, 2, 30))
    }

    @Test func dayOfMonthOrDayOfWeek() throws {
        // Both restricted: either matches (the 1st, or any Monday).
        #expect(try next("0 0 1 * 1", after: t(2026, 11, 27)) == t(2026, 11, 30))
        #expect(try next("0 0 1 * 1", after: t(2026, 11, 30)) == t(2026, 12, 1))
    }

    @Test func previousFiringWithinAWindow() throws {
        let c = try Cron("0 3 * * *")
        #expect(c.previous(atOrBefore: t(2026, 11, 27, 3, 0), window: 3600) == t(2026, 11, 27, 3, 0))
        #expect(c.previous(atOrBefore: t(2026, 11, 27, 5, 0), window: 3600) == nil)
        #expect(c.previous(atOrBefore: t(2026, 11, 27, 5, 0), window: 3 * 3600) == t(2026, 11, 27, 3, 0))
    }

    /// As the docs say (and Vixie cron does), with both day fields restricted
    /// a day matches either: "the 30th of February, or any Monday in February".
    @Test func eitherDayFieldMayMakeAScheduleFire() throws {
        let c = try Cron("0 0 30 2 mon")
        // 2027-02-01 is a Monday; then every Monday of February.
        #expect(c.next(after: t(2026, 11, 27)) == t(2027, 2, 1))
        #expect(c.next(after: t(2027, 2, 1)) == t(2027, 2, 8))
        #expect(c.next(after: t(2027, 2, 22)) == t(2028, 2, 7))
        #expect(try Cron("0 0 31 4,6 1-5").next(after: t(2026, 11, 27)) == t(2027, 4, 1))
        // With the weekday unrestricted, the day alone decides: still refused.
        #expect(throws: Cron.ParseError.self) { try Cron("0 0 30 2 *") }
        #expect(throws: Cron.ParseError.self) { try Cron("0 0 31 4 */1") }
    }

    @Test func badExpressionsSayWhy() {
        for (expr, words) in [("* * * *", "five fields"), ("60 * * * *", "outside the minute field's 0–59"), ("*/0 * * * *", "not a step"),
                              ("0 0 30 2 *", "never fires"), ("5-1 * * * *", "runs backwards"), ("a * * * *", "not a number"),
                              ("0 0 1,,2 * *", "empty list item")] {
            do {
                _ = try Cron(expr)
                Issue.record("\(expr) parsed")
            } catch {
                #expect(error.message.contains(words), "\(expr): \(error.message)")
            }
        }
    }

    @Test func monitorsParseWithTheirDefaultsAndErrors() throws {
        let spec = try SpecParser.parse("""
        project: p
        pipelines:
          retrain:
            triggers: [commit, {schedule: "@daily"}, {drift: inputs}]
            max_concurrent_runs: 1
            stages: {train: {cmd: "true"}}
        environments: {production: {}}
        monitors:
          inputs:
            reference: data/train.csv
            features: {temp_max: {method: psi, threshold: 0.3}, wind: {}}
            drift_share: 0.5
            cooldown: 2h
            incoming: incoming
            label: weather
            prediction: predicted
            performance: {metric: accuracy, below: 0.55}
          live: {reference: {model: clf}, method: jensen_shannon}
        """)
        let m = try #require(spec.monitor(named: "inputs"))
        #expect(m.features == ["temp_max", "wind"])
        #expect(m.rule(for: "temp_max") == DataSchema.DriftRule(method: .psi, threshold: 0.3))
        #expect(m.cooldownSeconds == 7200 && m.incoming == "incoming" && m.performance?.limit == 0.55)
        #expect(m.pipelines(in: spec) == ["retrain"])
        #expect(spec.monitor(named: "live")?.reference == .model("clf"))
        #expect(spec.monitor(named: "live")?.cooldownSeconds == 21_600)

        do {
            _ = try SpecParser.parse("""
            project: p
            pipelines:
              r: {triggers: [{schedule: "0 0 31 2 *"}, {drift: input}], stages: {t: {cmd: "true"}}}
            monitors:
              inputs: {reference: ../outside.csv, pipeline: nope, cooldown: soon, performance: {below: 0.5}}
            """)
            Issue.record("parsed")
        } catch {
            let text = error.issues.map(\.description).joined(separator: "\n")
            #expect(text.contains("never fires"))
            #expect(text.contains("{drift: input} names no monitor (did you mean 'inputs'?)"))
            #expect(text.contains("monitors.inputs.reference"))
            #expect(text.contains("unknown pipeline 'nope'"))
            #expect(text.contains("'soon' is not a duration"))
            #expect(text.contains("needs `label:` and `prediction:`"))
        }
    }
}
