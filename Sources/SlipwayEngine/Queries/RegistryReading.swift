import SlipwayCore
import Foundation
import SlipwayStore

/// The registry as the faces see it: every query, no write.
///
/// The console, the command line and the demo do not depend on SlipwayStore,
/// and they are built with member import visibility, so the registry methods
/// they can call are the ones declared here (each store already implements
/// them with the same signature): reads. They act through the engine's
/// services, which take the connection as an `any Registry`. The compiler,
/// not a habit, keeps a face from writing to the registry.
public protocol RegistryReading: Sendable {
    // MARK: - Runs
    func run(id: Int64) throws -> RunRecord?
    func runs(limit: Int, offset: Int) throws -> [RunRecord]
    func runs(pipeline: String, limit: Int) throws -> [RunRecord]
    func runCount() throws -> Int
    func activeRuns() throws -> [RunRecord]
    func latestRun(pipeline: String) throws -> RunRecord?
    func stageRuns(runID: Int64) throws -> [StageRunRecord]
    func stageRun(id: Int64) throws -> StageRunRecord?
    func stageRuns(ids: [Int64]) throws -> [Int64: StageRunRecord]
    func params(runID: Int64) throws -> [String: String]
    func paramOverrides(runID: Int64) throws -> [String: String]
    func metrics(runID: Int64) throws -> [MetricRecord]
    func trackedValues(runID: Int64) throws -> [TrackedValueRecord]
    func validations(runID: Int64) throws -> [ValidationRecord]
    func gateResults(runID: Int64) throws -> [GateResultRecord]
    func artifacts(runID: Int64) throws -> [String: String]

    // MARK: - Data
    func datasets() throws -> [DatasetRecord]
    func runDatasets(runID: Int64) throws -> [RunDatasetRecord]

    // MARK: - Models and aliases
    func modelVersion(model: String, version: Int) throws -> ModelVersionRecord?
    func modelVersion(runID: Int64) throws -> ModelVersionRecord?
    func modelVersions(model: String, limit: Int) throws -> [ModelVersionRecord]
    func models() throws -> [ModelSummary]
    func liveVersions(model: String) throws -> [String: Int]
    func alias(model: String, environment: String, at time: Millis?) throws -> Int?
    func aliasHistory(model: String, environment: String?, until time: Millis?) throws -> [AliasEvent]

    // MARK: - Audit
    func auditEvents(after seq: Int64, limit: Int) throws -> [AuditEvent]
    func forEachAuditEvent(after seq: Int64, _ body: (AuditEvent) throws -> Bool) throws
    func auditEvents(matching query: AuditQuery) throws -> [AuditEvent]
    func latestAuditSeq() throws -> Int64

    // MARK: - Approvals
    func approvalRequest(id: Int64) throws -> ApprovalRequestRecord?
    func approvalRequests(all: Bool, limit: Int) throws -> [ApprovalRequestRecord]
    func approvalVotes(requestID: Int64) throws -> [ApprovalVoteRecord]

    // MARK: - Deployments
    func deployment(id: Int64) throws -> DeploymentRecord?
    func activeDeployment(environment: String) throws -> DeploymentRecord?
    func activeDeployments() throws -> [DeploymentRecord]
    func deployments(environment: String?, limit: Int) throws -> [DeploymentRecord]
    func deployCalls(environment: String?, limit: Int) throws -> [DeployCallRecord]
    func analysisSamples(deploymentID: Int64) throws -> [AnalysisSampleRecord]

    // MARK: - Monitors and triggers
    func batch(id: Int64) throws -> MonitorBatchRecord?
    func batches(monitor: String, limit: Int) throws -> [MonitorBatchRecord]
    func batchCount(monitor: String) throws -> Int
    func scores(batchID: Int64) throws -> [MonitorScoreRecord]
    func recentScores(monitor: String, batches: Int) throws -> [String: [MonitorScoreRecord]]
    func scoreHistory(monitor: String, feature: String, limit: Int) throws -> [MonitorScoreRecord]
    func alerts(monitor: String?, limit: Int) throws -> [MonitorAlertRecord]
    func triggerEvents(pipeline: String?, state: TriggerEventRecord.State?, limit: Int) throws -> [TriggerEventRecord]
    func triggerEvents(runID: Int64) throws -> [TriggerEventRecord]

    // MARK: - Changes
    /// Changes whenever any process commits a write (live views poll it).
    func changeToken() throws -> Int64
}

/// An open registry as a face holds it: read it directly, hand it to a service to act.
public typealias RegistryConnection = any Registry & RegistryReading

extension SQLiteRegistry: RegistryReading {}
extension PostgresRegistry: RegistryReading {}

extension RegistryReading where Self: ChangeSource {
    /// A push channel for other processes' writes, where the store has one
    /// (PostgreSQL's LISTEN/NOTIFY); nil where views must poll ``changeToken()``.
    public func changes() throws -> RegistryChanges? { try changeFeed().map(RegistryChanges.init) }
}

/// Another process's committed writes, announced (PostgreSQL's LISTEN/NOTIFY).
public final class RegistryChanges: Sendable {
    let feed: any ChangeFeed
    init(_ feed: any ChangeFeed) { self.feed = feed }

    /// Blocks up to `timeout` seconds; true when a write was announced (or
    /// announcements may have been missed): the caller re-reads.
    public func wait(timeout: Double) throws -> Bool { try feed.wait(timeout: timeout) }
    /// Unblocks a waiter and releases the connection.
    public func close() { feed.close() }
}

