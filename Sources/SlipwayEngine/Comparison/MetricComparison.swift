import Foundation

/// Candidate-versus-baseline metric rows with the gates applied: what
/// `slipway compare`, the CI summary and the console's Evals tab show.
public struct MetricComparison: Sendable {
    public struct Row: Sendable, Hashable {
        /// The metric's display name: its key, or `stage.key` when two stages report that key.
        public var metric: String
        public var stage: String
        public var key: String
        public var baseline: Double?
        public var candidate: Double?
        public var gate: GateResult?

        public var delta: Double? {
            guard let a = baseline, let b = candidate, a.isFinite, b.isFinite else { return nil }
            return b - a
        }
    }

    public var rows: [Row]

    public var gateCount: Int { rows.filter { $0.gate != nil }.count }
    public var failedGates: [GateResult] { rows.compactMap(\.gate).filter { !$0.passed } }

    /// Builds the rows. `gates` are the pipeline's gates (stage, gate, policy);
    /// `hasBaseline` says whether a baseline version exists at all.
    public static func build(baseline: [MetricRecord], candidate: [MetricRecord],
                             gates: [(stage: String, gate: GateSpec, policy: NoBaselinePolicy)],
                             hasBaseline: Bool) -> MetricComparison {
        func last(_ metrics: [MetricRecord]) -> [String: [String: Double]] {
            var byStage: [String: [MetricRecord]] = [:]
            for m in metrics { byStage[m.stage, default: []].append(m) }
            return byStage.mapValues { GateEvaluator.lastValues($0) }
        }
        let a = last(baseline), b = last(candidate)
        var keys: [(stage: String, key: String)] = []
        var seen: Set<String> = []
        for source in [b, a] {
            for stage in source.keys.sorted() {
                for key in source[stage]!.keys.sorted() where !seen.contains(stage + "\u{0}" + key) {
                    seen.insert(stage + "\u{0}" + key)
                    keys.append((stage, key))
                }
            }
        }
        var stagesPerKey: [String: Int] = [:]
        for k in keys { stagesPerKey[k.key, default: 0] += 1 }
        // Gated metrics first, in the spec's order; then the rest by name.
        var rows: [Row] = []
        var used: Set<String> = []
        for g in gates {
            let id = g.stage + "\u{0}" + g.gate.metric
            used.insert(id)
            let base = a[g.stage]?[g.gate.metric] ?? a.values.compactMap { $0[g.gate.metric] }.first
            let cand = b[g.stage]?[g.gate.metric]
            let result = Gates.evaluate(metric: g.gate.metric, condition: g.gate.condition, candidate: cand, production: base,
                                        hasBaseline: hasBaseline, onNoBaseline: g.policy)
            rows.append(Row(metric: (stagesPerKey[g.gate.metric] ?? 1) > 1 ? "\(g.stage).\(g.gate.metric)" : g.gate.metric,
                            stage: g.stage, key: g.gate.metric, baseline: base, candidate: cand, gate: result))
        }
        for k in keys where !used.contains(k.stage + "\u{0}" + k.key) {
            rows.append(Row(metric: (stagesPerKey[k.key] ?? 1) > 1 ? "\(k.stage).\(k.key)" : k.key, stage: k.stage, key: k.key,
                            baseline: a[k.stage]?[k.key], candidate: b[k.stage]?[k.key], gate: nil))
        }
        return MetricComparison(rows: rows)
    }

    /// The rows as a GitHub-flavoured Markdown table.
    public func markdown(baselineLabel: String, candidateLabel: String) -> String {
        var lines = ["| metric | \(baselineLabel) | \(candidateLabel) | delta | gate | result |", "|---|---:|---:|---:|---|---|"]
        for r in rows {
            let result = r.gate.map { $0.passed ? "✅ pass" : "❌ **fail**" } ?? ""
            let gate = r.gate.map { "`\($0.condition)`" } ?? ""
            lines.append("| \(r.metric) | \(r.baseline.map(Gates.format) ?? "—") | \(r.candidate.map(Gates.format) ?? "—") | "
                         + "\(r.delta.map(Self.signed) ?? "—") | \(gate) | \(result) |")
        }
        return lines.joined(separator: "\n")
    }

    public static func signed(_ v: Double) -> String {
        v > 0 ? "+" + Gates.format(v) : Gates.format(v)
    }
}

/// JUnit XML for CI systems: a test case per gate and per validation check
/// (and per stage), a failure element with the message for each failed one.
public enum JUnitReport {
    public struct Case: Sendable {
        public var suite: String
        public var name: String
        public var seconds: Double
        public var failure: String?
        public var skipped: Bool

        public init(suite: String, name: String, seconds: Double = 0, failure: String? = nil, skipped: Bool = false) {
            self.suite = suite
            self.name = name
            self.seconds = seconds
            self.failure = failure
            self.skipped = skipped
        }
    }

    public static func xml(name: String, cases: [Case]) -> String {
        var suites: [String: [Case]] = [:]
        var order: [String] = []
        for c in cases {
            if suites[c.suite] == nil { order.append(c.suite) }
            suites[c.suite, default: []].append(c)
        }
        let failures = cases.filter { $0.failure != nil }.count
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"\(escape(name))\" tests=\"\(cases.count)\" failures=\"\(failures)\">\n"
        for suite in order {
            let cs = suites[suite]!
            out += "  <testsuite name=\"\(escape(suite))\" tests=\"\(cs.count)\" failures=\"\(cs.filter { $0.failure != nil }.count)\" "
            out += "skipped=\"\(cs.filter(\.skipped).count)\">\n"
            for c in cs {
                out += "    <testcase classname=\"\(escape(suite))\" name=\"\(escape(c.name))\" time=\"\(String(format: "%.3f", c.seconds))\""
                if let f = c.failure {
                    out += ">\n      <failure message=\"\(escape(f))\">\(escape(f))</failure>\n    </testcase>\n"
                } else if c.skipped {
                    out += ">\n      <skipped/>\n    </testcase>\n"
                } else {
                    out += "/>\n"
                }
            }
            out += "  </testsuite>\n"
        }
        return out + "</testsuites>\n"
    }

    /// XML-escapes text, dropping characters XML 1.0 cannot hold.
    public static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || (0xFFFE...0xFFFF).contains(scalar.value) { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
