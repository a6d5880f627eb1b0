import Foundation
import SlipwayEngine

/// The two things that must not go through, and don't: a candidate whose
/// canary fails its analysis (rolled back by the engine, the reason naming
/// the measurement), and a request the demo approver rejects.
extension DemoScenario {
    /// A commit makes prepare.py write temperatures in °F. The held-out split
    /// is converted too, so v4 passes its gates; production's batches are
    /// still in °C, so the canary's error rate on the newest batch fails its
    /// analysis and the engine rolls v4 back on its own.
    func playFailingCanary() throws {
        let path = workspace.root + "/prepare.py"
        var prepare = String(decoding: try FileSystem.readFile(path), as: UTF8.self)
        let marker = "fields = ["
        guard prepare.contains(marker) else { throw Failed(message: "prepare.py has no `\(marker)` line to change") }
        prepare = prepare.replacingOccurrences(of: marker, with: """
            # Temperatures in °F, as the new dashboard shows them.
            for r in rows:
                for k in ("temp_max", "temp_min"):
                    r[k] = f"{float(r[k]) * 9 / 5 + 32:.1f}"
            \(marker)
            """)
        try FileSystem.writeFile(path, Data(prepare.utf8))
        try git(["commit", "-q", "-am", "prepare.py: temperatures in °F, as the new dashboard shows them"])
        step("a commit makes prepare.py write temperatures in °F: the agent starts a run", hint: "1: Runs")
        let v4 = try waitForVersion(4, what: "the run of the °F commit")
        try report(v4)
        let real = production?.endpoints != nil
        step("v4's test split is in °F too, so its gates passed; production's " + (real
                ? "requests are still in °C, and v4's scorer refuses readings that far from its training data: watch its canary"
                : "batches are still in °C: watch its canary"),
             hint: "6: Deployments")
        let d = try followCanary(4)
        guard d.state == .rolledBack else {
            throw Failed(message: "\(d.label)'s canary should have failed on production's °C batches, but it ended \(d.state.rawValue): \(d.detail)")
        }
        let live = try registry.alias(model: "weather-classifier", environment: "production", at: nil)
        guard live == 3 else { throw Failed(message: "after \(d.label)'s rollback production runs :\(live.map(String.init) ?? "nothing"), not :3") }
        try sayMeasured(d)
        step("weather-classifier:4 rolled back automatically, production is back on :3: \(d.detail)",
             hint: "6, then Enter on production shows the measurements")
    }

    /// Demo Scientist asks to put v1 back into production (high risk: the
    /// architecture changes back); Demo Approver rejects it, saying why.
    func playRejectedRequest(spec: WorkspaceSpec) throws {
        let approvals = ApprovalService(workspace: workspace, registry: registry, spec: spec)
        let ask = PromotionService.Request(model: "weather-classifier", version: 1, environment: "production", actor: "demo-scientist",
                                           reason: "softmax v1 was simpler to explain")
        guard case .queued(let request, _) = try approvals.requestPromotion(ask) else {
            throw Failed(message: "putting weather-classifier:1 back into production should have waited for approval (model.arch knn → softmax)")
        }
        step("Demo Scientist asks to put v1 back into production: high risk (model.arch knn → softmax), request \(request.id) waits",
             hint: "4: Approvals")
        pause(4)
        let comment = "v1 never saw 2014 and was retrained for its drift; v3 is healthy: keep it"
        guard case .rejected = try approvals.vote(requestID: request.id, decision: .reject, keyPath: approverKey, comment: comment,
                                                   voter: "demo-approver") else {
            throw Failed(message: "Demo Approver's rejection of request \(request.id) was not recorded as one")
        }
        step("Demo Approver rejected request \(request.id) (v1 → production): \(comment)", hint: "4: Approvals keeps it")
    }
}
