import Foundation
import SlipwayCore
import SlipwayStore

/// Everything `slipway status` says, read once. The command renders it as
/// text or JSON; nothing here decides how it looks.
public struct StatusReport: Sendable {
    public struct ActiveRun: Sendable {
        public var run: RunRecord
        public var stages: [StageRunRecord]
    }

    public struct LiveVersion: Sendable, Hashable {
        public var model: String
        public var version: Int
        public var imageTag: String?
    }

    public struct EnvironmentLine: Sendable {
        public var name: String
        public var live: [LiveVersion]
        /// The canary or watch in flight there.
        public var deployment: DeploymentRecord?
        /// Deploy calls started there and not finished (in flight, or interrupted).
        public var unfinishedCalls: [UnfinishedCall]
    }

    /// The newest validation report that compared data with a reference.
    public struct DriftSummary: Sendable {
        public var runID: Int64
        public var dataset: String
        public var columns: Int
        public var drifted: [String]
    }

    public struct MonitorLine: Sendable {
        public var name: String
        public var latest: MonitorBatchRecord
    }

    public var project: String?
    public var workspace: String
    public var running: [ActiveRun]
    /// The newest finished runs (at most five).
    public var recent: [RunRecord]
    public var environments: [EnvironmentLine]
    /// Model → environment → live version, for every model.
    public var live: [String: [String: Int]]
    public var pendingApprovals: [ApprovalRequestRecord]
    public var drift: DriftSummary?
    public var monitors: [MonitorLine]
    public var driftAlerts: Int { monitors.filter { $0.latest.status == .drifted }.count }
    public var audit: AuditVerifier.QuickState
    public var agent: Agent.Heartbeat?
    /// Records the report could not read, each named (shown, never skipped silently).
    public var problems: [String] = []
}

/// Builds a ``StatusReport``. Bounded reads only, so it stays fast on a
/// registry with a long history.
public struct StatusQuery {
    public let workspace: Workspace
    public let registry: any Registry
    /// Nil when slipway.yaml does not load: the report says what the registry
    /// knows. Only the spec's summary is read (a 10,000-stage spec costs
    /// nothing here: no stage is shown).
    public let spec: SpecSummary?

    public init(workspace: Workspace, registry: any Registry, spec: SpecSummary?) {
        self.workspace = workspace
        self.registry = registry
        self.spec = spec
    }

    /// `unfinishedCalls`: the deploy calls not finished, when the caller has
    /// just read them (read here otherwise).
    public func report(now: Millis, recentRuns: Int = 5, unfinishedCalls: [UnfinishedCall]? = nil) throws -> StatusReport {
        var running: [StatusReport.ActiveRun] = []
        for r in try registry.activeRuns() { running.append(.init(run: r, stages: try registry.stageRuns(runID: r.id))) }
        // One read of the newest runs serves the recent list and the drift summary.
        let newest = try registry.runs(limit: max(recentRuns, Self.driftRuns), offset: 0)
        let recent = Array(newest.prefix(recentRuns)).filter { $0.status != .running }
        let models = try registry.models()
        let calls = spec == nil ? [] : try unfinishedCalls ?? DeploymentService.unfinishedCalls(registry: registry)
        var environments: [StatusReport.EnvironmentLine] = []
        for env in spec?.environments ?? [] {
            var live: [StatusReport.LiveVersion] = []
            for m in models {
                guard let v = m.environments[env] else { continue }
                live.append(.init(model: m.name, version: v, imageTag: try registry.modelVersion(model: m.name, version: v)?.imageTag))
            }
            environments.append(.init(name: env, live: live, deployment: try registry.activeDeployment(environment: env),
                                      unfinishedCalls: calls.filter { $0.environment == env }))
        }
        var problems: [String] = []
        let drift = try newestDrift(Array(newest.prefix(Self.driftRuns)), problems: &problems)
        var monitors: [StatusReport.MonitorLine] = []
        for m in spec?.monitors ?? [] {
            if let last = try registry.batches(monitor: m, limit: 1).first { monitors.append(.init(name: m, latest: last)) }
        }
        return StatusReport(project: spec?.project, workspace: workspace.root, running: running, recent: recent,
                            environments: environments,
                            live: Dictionary(uniqueKeysWithValues: models.map { ($0.name, $0.environments) }),
                            pendingApprovals: try ApprovalQueue(registry: registry).pending(now: now),
                            drift: drift, monitors: monitors,
                            audit: try AuditVerifier(registry: registry, workspace: workspace).quickCheck(),
                            agent: Agent.heartbeat(workspace), problems: problems)
    }

    /// How many of the newest runs the drift summary looks at.
    static let driftRuns = 20

    /// The newest of `runs`' validation reports (newest run first) that compared
    /// with a reference: every report read in one query.
    func newestDrift(_ runs: [RunRecord], problems: inout [String]) throws -> StatusReport.DriftSummary? {
        var last: [Int64: ValidationRecord] = [:]
        for v in try registry.validations(runIDs: runs.map(\.id)) { if let id = v.runID { last[id] = v } }
        for r in runs {
            guard let v = last[r.id] else { continue }
            let report: ValidationReport
            do { report = try ValidationReport.decoder.decode(ValidationReport.self, from: Data(v.report.utf8)) } catch {
                problems.append("the validation report of \(v.dataset) in run \(r.id) cannot be read: \(error)")
                continue
            }
            guard !report.drift.isEmpty else { continue }
            return .init(runID: r.id, dataset: v.dataset, columns: report.drift.count, drifted: report.drift.filter(\.drifted).map(\.column))
        }
        return nil
    }
}
