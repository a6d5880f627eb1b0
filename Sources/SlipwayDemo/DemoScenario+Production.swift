import Foundation
import SlipwayEngine

/// Production for the tour: HAProxy and Prometheus on loopback when both are
/// installed (the recipe of `examples/deploy/haproxy/`), else simulated by
/// `probe.py`. The engine judges the canaries either way; this sets the
/// environment up, stops it, and says what was measured.
extension DemoScenario {
    /// Writes production's files and starts the real one when it can; says why not otherwise.
    func startProduction() throws -> DemoProduction {
        let root = workspace.root
        let folder = root + "/serving/production"
        let missing = DemoProduction.missingTools()
        var why = missing.isEmpty ? "" : missing.joined(separator: "/") + " not found"
        if options.simulateProduction { why = "asked for (--simulate-production)" }
        if why.isEmpty {
            for (path, text) in try DemoFiles.files(DemoFiles.realProduction) { try FileSystem.writeFile(root + "/" + path, Data(text.utf8)) }
            do {
                return try DemoProduction.start(root: root)
            } catch {
                // Installed but not starting (a port taken meanwhile, a broken install): the simulated one, saying why.
                for path in DemoFiles.realProduction { try? FileSystem.remove(root + "/" + path) }
                why = "\(error)"
            }
        }
        for (path, text) in try DemoFiles.files(DemoFiles.tourOnly) { try FileSystem.writeFile(root + "/" + path, Data(text.utf8)) }
        return DemoProduction.simulated(why, folder: folder)
    }

    /// Stops everything production started (nothing when simulated); waits for it.
    public func finish() {
        production?.stop()
    }

    /// What production said it is: `production: HAProxy 2.6 + Prometheus on 127.0.0.1:PORT`
    /// or `production: simulated — haproxy/prometheus not found`.
    public var productionSummary: String? { production?.summary }

    /// On real production, what the canary of `d` measured at each step: the
    /// requests HAProxy counted for the version and its error rate, as recorded.
    func sayMeasured(_ d: DeploymentRecord) throws {
        guard production?.endpoints != nil else { return }
        let samples = try registry.analysisSamples(deploymentID: d.id).filter { $0.step >= 0 }
        let steps = d.stepList
        var parts: [String] = []
        for step in Array(Set(samples.map(\.step))).sorted() {
            let mine = samples.filter { $0.step == step }
            guard let last = mine.max(by: { ($0.round, $0.measurement, $0.id) < ($1.round, $1.measurement, $1.id) }) else { continue }
            let taken = mine.filter { $0.round == last.round && $0.measurement == last.measurement }
            let requests = taken.first { $0.metric == MinSamples.metric }?.value
            let values = taken.filter { $0.metric != MinSamples.metric }
                .map { "\($0.metric) \($0.value.map { AnalysisJudge.format($0) } ?? "none") → \($0.verdict)" }
            let traffic = step < steps.count ? "\(steps[step])%" : "step \(step + 1)"
            parts.append("at \(traffic): \(requests.map { AnalysisJudge.format($0) } ?? "no") requests, " + values.joined(separator: ", "))
        }
        guard !parts.isEmpty else { return }
        step("v\(d.version)'s canary in production, measured by Prometheus from HAProxy's counters: " + parts.joined(separator: "; "),
             hint: "6, then Enter on production lists every measurement")
    }
}
