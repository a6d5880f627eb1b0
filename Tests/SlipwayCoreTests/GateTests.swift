import Testing
@testable import SlipwayCore

@Suite struct GateTests {
    func gate(_ text: String) throws -> GateCondition { try GateCondition(parsing: text) }

    func decide(_ text: String, _ candidate: Double?, production: Double? = nil, hasBaseline: Bool = true,
                onNoBaseline: NoBaselinePolicy = .pass) throws -> GateResult {
        Gates.evaluate(metric: "accuracy", condition: try gate(text), candidate: candidate, production: production,
                       hasBaseline: hasBaseline, onNoBaseline: onNoBaseline)
    }

    @Test func constantGates() throws {
        #expect(try decide(">= 0.8", 0.85).passed)
        #expect(try !decide(">= 0.8", 0.75).passed)
        #expect(try decide("<= 50", 50).passed)
        #expect(try !decide("< 50", 50).passed)
        #expect(try decide("> 0", 1e-9).passed)
        #expect(try decide("== 1", 1).passed)
        #expect(try decide("!= 1", 2).passed)
    }

    @Test func relativeGatesShowTheirArithmetic() throws {
        let minus = try decide(">= production - 0.01", 0.912, production: 0.905)
        #expect(minus.passed)
        #expect(minus.explanation == "accuracy 0.912 >= 0.905 - 0.01 = 0.895 → pass")
        let times = try decide(">= production * 1.005", 0.905, production: 0.905)
        #expect(!times.passed)
        #expect(times.explanation == "accuracy 0.905 < 0.905 * 1.005 = 0.909525 → FAIL")
        #expect(try !decide("> production", 0.9, production: 0.9).passed)
        #expect(try decide("> production", 0.9001, production: 0.9).passed)
        #expect(try decide("<= production + 2", 12, production: 10).passed)
        #expect(try decide("<= production / 2", 5, production: 10).passed)
    }

    @Test func equalityAtTheBoundary() throws {
        #expect(try decide(">= production - 0.01", 0.895, production: 0.905).passed == (0.895 >= 0.905 - 0.01))
        #expect(try decide(">= 0.8", 0.8).passed)
        #expect(try decide("<= 0.8", 0.8).passed)
        #expect(try !decide("> 0.8", 0.8).passed)
        #expect(try !decide("< 0.8", 0.8).passed)
    }

    @Test func nanAndMissingFail() throws {
        let nan = try decide(">= 0.8", .nan)
        #expect(!nan.passed)
        #expect(nan.explanation == "accuracy is NaN → FAIL")
        let missing = try decide(">= 0.8", nil)
        #expect(!missing.passed)
        #expect(missing.explanation == "accuracy: the candidate did not report this metric → FAIL")
        #expect(try !decide(">= production", 0.9, production: .nan).passed)
    }

    @Test func noBaselineBothWays() throws {
        let pass = try decide(">= production - 0.01", 0.9, hasBaseline: false, onNoBaseline: .pass)
        #expect(pass.passed)
        #expect(pass.explanation.contains("nothing is in production yet (on_no_baseline: pass)"))
        let fail = try decide(">= production - 0.01", 0.9, hasBaseline: false, onNoBaseline: .fail)
        #expect(!fail.passed)
        #expect(fail.explanation.contains("(on_no_baseline: fail)"))
        // Constant gates do not need a baseline.
        #expect(try decide(">= 0.5", 0.9, hasBaseline: false, onNoBaseline: .fail).passed)
        // A baseline without this metric fails a relative gate.
        let lacking = try decide(">= production", 0.9, production: nil, hasBaseline: true)
        #expect(!lacking.passed)
        #expect(lacking.explanation.contains("the production version has no accuracy"))
    }

    @Test(arguments: ["0.8", ">= ", ">= abc", ">= production -", ">= production ^ 2", ">= prod - 1", ">= production / 0", "=> 1", ">= inf"])
    func malformedConditionsAreRejected(text: String) {
        #expect(throws: GateCondition.ParseError.self) { try GateCondition(parsing: text) }
    }

    @Test func lintReportsABadGateWithItsPlace() {
        do {
            _ = try SpecParser.parse("""
            project: p
            environments: {production: {}}
            pipelines:
              m:
                stages:
                  e: {cmd: x, gates: {accuracy: ">= prod - 0.01"}, on_no_baseline: maybe, baseline: prodution}
            """)
            Issue.record("expected errors")
        } catch {
            let text = error.issues.map(\.description)
            #expect(text.contains { $0.hasPrefix("slipway.yaml:6:37: pipelines.m.stages.e.gates.accuracy: '>= prod - 0.01' is not a gate") })
            #expect(text.contains { $0.contains("on_no_baseline: must be `pass` or `fail`, found 'maybe'") })
            #expect(text.contains { $0.contains("environment 'prodution' is not declared (did you mean 'production'?)") })
        }
    }

    /// Absolute gates compare with no version: a pipeline without a
    /// `production` environment needs no `baseline:` for them; a gate that
    /// compares with production does.
    @Test func onlyAGateThatComparesNeedsItsBaselineEnvironment() throws {
        let absolute = """
        project: p
        environments: {dev: {}}
        pipelines:
          m:
            stages:
              e: {cmd: x, gates: {auc: ">= 0.8"}}
        """
        _ = try SpecParser.parse(absolute)
        do {
            _ = try SpecParser.parse(absolute.replacingOccurrences(of: "\">= 0.8\"", with: "\">= production - 0.01\""))
            Issue.record("expected an error")
        } catch {
            #expect(error.issues.map(\.description).contains { $0.contains("environment 'production' is not declared; environments: dev") })
        }
    }

    @Test func numbersPrintShort() {
        #expect(Gates.format(0.895) == "0.895")
        #expect(Gates.format(0.905 - 0.01) == "0.895")
        #expect(Gates.format(50) == "50")
        #expect(Gates.format(14.9) == "14.9")
        #expect(Gates.format(-0.013) == "-0.013")
        #expect(Gates.format(1234.5678) == "1234.57")
    }
}
