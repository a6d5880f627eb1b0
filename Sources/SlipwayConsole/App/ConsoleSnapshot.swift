import Foundation
import SlipwayEngine

/// Everything the console shows, read from the registry in one go off the UI
/// thread. Plain values: screens render from this and never touch the registry.
public struct ConsoleSnapshot: Sendable {
    public struct RunDetail: Sendable {
        public var run: RunRecord
        /// Setting them works out ``index`` (once, not on every key or frame).
        public var stages: [StageRunRecord] { didSet { index = StageIndex(stages) } }
        /// The stages grouped and placed as they are shown.
        var index: StageIndex
        /// Stage → metric key → points (step order).
        public var series: [String: [String: [Double]]]
        public var logTail: [String]
        public var logStage: String?
        /// How long each stage took in the pipeline's last finished run (for progress bars).
        public var previousDurations: [String: Double] = [:]
        /// Stage → the last lines of its log (every stage that started).
        public var logs: [String: [String]] = [:]
        /// Failed stage → its last error line (``StageLogLines/lastErrorLine(_:)``).
        public var errorLines: [String: String] = [:]

        /// Whether stage `i` has a log this snapshot did not read (it reads those around the stage in view).
        func lacksLog(_ i: Int) -> Bool {
            let st = stages[i]
            return st.logPath != nil && (st.startedAt != nil || st.status == .failed) && logs[st.stage] == nil && st.stage != logStage
        }

        public init(run: RunRecord, stages: [StageRunRecord], series: [String: [String: [Double]]], logTail: [String], logStage: String?,
                    previousDurations: [String: Double] = [:], logs: [String: [String]] = [:], errorLines: [String: String] = [:]) {
            self.run = run
            self.stages = stages
            self.index = StageIndex(stages)
            self.series = series
            self.logTail = logTail
            self.logStage = logStage
            self.previousDurations = previousDurations
            self.logs = logs
            self.errorLines = errorLines
        }
    }

    public struct DriftRow: Sendable {
        public var runID: Int64
        public var dataset: String
        public var report: ValidationReport
    }

    /// A monitor as the Drift tab shows it.
    public struct MonitorView: Sendable {
        public var name: String
        /// Newest batches, oldest first.
        public var batches: [MonitorBatchRecord]
        public var batchCount: Int
        /// Features of the newest scored batch, in order.
        public var features: [String]
        /// Feature → scores, oldest first (the newest batches).
        public var series: [String: [MonitorScoreRecord]]
        /// Feature → the newest batch's histogram JSON.
        public var histograms: [String: String]
        public var alerts: [MonitorAlertRecord]
        /// Alert id → the run its trigger event started.
        public var alertRuns: [Int64: Int64]

        public init(name: String, batches: [MonitorBatchRecord], batchCount: Int, features: [String], series: [String: [MonitorScoreRecord]],
                    histograms: [String: String], alerts: [MonitorAlertRecord], alertRuns: [Int64: Int64]) {
            self.name = name
            self.batches = batches
            self.batchCount = batchCount
            self.features = features
            self.series = series
            self.histograms = histograms
            self.alerts = alerts
            self.alertRuns = alertRuns
        }
    }

    public var project = ""
    public var workspace = ""
    public var pipelines: [String] = []
    public var environments: [String] = []
    public var runs: [RunRecord] = []
    public var runCount = 0
    public var detail: RunDetail?
    public var models: [ModelSummary] = []
    public var versions: [ModelVersionRecord] = []
    public var versionParams: [String: String] = [:]
    public var versionMetrics: [String: Double] = [:]
    public var versionDatasets: [RunDatasetRecord] = []
    public var comparison: MetricComparison?
    public var comparisonLabels = ("", "")
    /// Per gated metric: its value in each registered version, oldest first.
    public var metricHistory: [String: [Double]] = [:]
    /// Per gated metric: the version each value of `metricHistory` belongs to.
    public var metricHistoryVersions: [String: [Int]] = [:]
    /// The pipeline's newest sweep, ranked, when its newest runs are one.
    public var sweep: SweepBoard?
    public var drift: [DriftRow] = []
    /// Pending requests first, then the newest resolved ones.
    public var approvals: [ApprovalRequestRecord] = []
    public var approvalVotes: [Int64: [ApprovalVoteRecord]] = [:]
    /// Whose key the console signs with: "Dana Ruiz (key SHA256:…)", or why none counts.
    public var signer: String?
    /// Pending request → why the console's key cannot vote on it (the engine's
    /// ``ApprovalService/whyCannotVote(_:key:votes:now:)``), said before signing.
    public var voteBlocks: [Int64: String] = [:]
    /// Request → the run its version came from, what started it, its commit.
    public var requestOrigins: [Int64: ApprovalQueue.Origin] = [:]
    public var pendingApprovals: Int { approvals.filter { $0.status == .pending }.count }
    public var monitors: [MonitorView] = []
    /// What `slipway demo` is doing, and what to try (its status line).
    public var demoStatus: String?
    /// One lane per environment, in order (the Deployments tab).
    public var lanes: [DeploymentLane] = []
    /// The agent's heartbeat, if one ever ran.
    public var agent: Agent.Heartbeat?
    /// Whether an agent runs for this workspace now (it drives canary analyses and triggers).
    public var agentRunning = false
    public var audit: [AuditEvent] = []
    public var auditProblem: String?
    public var auditVerified = false
    /// Why the Deployments tab is empty when it could not be read.
    public var lanesProblem: String?
    /// What could not be read, each named: shown, never as "nothing".
    public var problems: [String] = []
    public var now: Millis = 0
    public var specError: String?

    public init() {}
}

/// Reads a snapshot. Cheap enough to run four times a second on big registries:
/// every list is bounded.
public final class ConsoleLoader: @unchecked Sendable {
    public let workspace: Workspace
    public let registry: RegistryConnection
    public static let runLimit = 500
    public static let auditLimit = 1_000
    /// The audit verdict, from the same verifier `slipway status` uses (the
    /// chain and its head witness), advanced a slice at a time on the poller
    /// thread so a long trail never delays a frame.
    private var verdict: AuditVerifier.QuickState?
    private var progress = AuditVerifier.Progress()
    private var verdictError: String?
    private let lock = NSLock()

    /// Verifies up to `slice` more audit events; returns true when the whole
    /// chain (as far as it goes now) has been judged.
    @discardableResult
    public func verifyMore(slice: Int = 20_000) -> Bool {
        lock.withLock {
            do {
                verdict = try AuditVerifier(registry: registry, workspace: workspace).checkStep(&progress, slice: slice)
                verdictError = nil
            } catch {
                verdict = nil
                verdictError = "the audit trail cannot be read: \(error)"
            }
            return verdict != nil || verdictError != nil
        }
    }

    /// The key approvals are signed with (`--key`, else the default).
    public let keyPath: String?

    /// The public half of that key, read once (which approver it is depends on
    /// slipway.yaml, read with each snapshot).
    let signerKey: SSHSig.PublicKey?

    public init(workspace: Workspace, registry: RegistryConnection, keyPath: String? = nil) {
        self.workspace = workspace
        self.registry = registry
        self.keyPath = keyPath
        signerKey = keyPath.flatMap { try? SSHSigner(keyPath: $0).publicKey() }
    }

    /// How many stages either side of the one in view have their logs read,
    /// so that moving through an opened run's stages shows each log at once
    /// while the next snapshot (around the new stage) is read.
    public static let logWindow = 8

    /// Reads a snapshot with `selectedRun`'s detail; `shownStage` is the stage
    /// the opened run shows (nil: the one it would open on). Only the logs
    /// the screens can show are read: the Runs detail's log, the stages
    /// around the one in view, and the failed stages the detail lists on rows
    /// of their own (for their error lines), never every member's.
    public func load(selectedRun: Int64?, selectedModel: String?, shownStage: String? = nil, logLines: Int = 400) -> ConsoleSnapshot {
        var s = ConsoleSnapshot()
        s.now = SystemClock.nowMillis()
        s.workspace = workspace.root
        var spec: WorkspaceSpec?
        do { spec = try workspace.loadSpec().spec } catch { s.specError = "\(error)".split(separator: "\n").first.map(String.init) }
        s.project = spec?.project ?? "(the spec does not load)"
        s.pipelines = spec?.pipelines.map(\.name) ?? []
        s.environments = spec?.environments.map(\.name) ?? []
        s.runs = (try? registry.runs(limit: Self.runLimit, offset: 0)) ?? []
        s.runCount = (try? registry.runCount()) ?? s.runs.count
        s.detail = detail(selectedRun ?? s.runs.first?.id, recent: s.runs, shownStage: shownStage, logLines: logLines)
        loadRest(&s, spec: spec, selectedModel: selectedModel)
        return s
    }

    /// `previous` with another run's (or stage's) detail: what choosing a run
    /// or moving through a run's stages needs, without reading the rest again.
    public func reloadDetail(_ previous: ConsoleSnapshot, selectedRun: Int64?, shownStage: String? = nil, logLines: Int = 400) -> ConsoleSnapshot {
        var s = previous
        s.now = SystemClock.nowMillis()
        s.detail = detail(selectedRun ?? s.runs.first?.id, recent: s.runs, shownStage: shownStage, logLines: logLines)
        return s
    }

    /// A run's detail: its stages, metrics, the logs in view (see ``load(selectedRun:selectedModel:shownStage:logLines:)``).
    func detail(_ selected: Int64?, recent: [RunRecord], shownStage: String?, logLines: Int) -> ConsoleSnapshot.RunDetail? {
        guard let id = selected, let run = try? registry.run(id: id) else { return nil }
        let stages = (try? registry.stageRuns(runID: id)) ?? []
        var series: [String: [String: [Double]]] = [:]
        for m in (try? registry.metrics(runID: id)) ?? [] { series[m.stage, default: [:]][m.key, default: []].append(m.value) }
        var detail = ConsoleSnapshot.RunDetail(run: run, stages: stages, series: series, logTail: [], logStage: nil)
        let index = detail.index
        let logAt = index.lastRunning ?? index.lastFailed ?? index.lastStarted
        detail.logStage = logAt.map { stages[$0].stage }
        if let i = logAt, let rel = stages[i].logPath, let path = workspace.logFile(rel) {
            detail.logTail = Self.tail(path: path, lines: logLines)
        } else if let i = logAt, let note = StageLogLines.withoutLog(stages[i]) {
            detail.logTail = [note]
        }
        for i in Self.logStages(index, stages, shown: shownStage.flatMap { index.names[$0] } ?? RunViewScreen.initialStage(detail)) {
            let st = stages[i]
            guard st.startedAt != nil || st.status == .failed else { continue }
            // A stage taken from the cache with the rest has no log file: its reason is its log.
            guard let rel = st.logPath else {
                if let note = StageLogLines.withoutLog(st) { detail.logs[st.stage] = [note] }
                continue
            }
            // A log path outside the workspace's logs is read as no lines (the stage was looked at).
            guard let path = workspace.logFile(rel) else { detail.logs[st.stage] = []; continue }
            let lines = i == logAt ? detail.logTail : Self.tail(path: path, lines: logLines)
            detail.logs[st.stage] = lines
            if st.status == .failed, let line = StageLogLines.lastErrorLine(lines) { detail.errorLines[st.stage] = line }
        }
        if index.lastRunning != nil,
           let previous = recent.first(where: { $0.pipeline == run.pipeline && $0.id < run.id && $0.status == .succeeded }) {
            for st in (try? registry.stageRuns(runID: previous.id)) ?? [] where st.status == .succeeded {
                if let d = st.duration { detail.previousDurations[st.stage] = d }
            }
        }
        return detail
    }

    /// Everything but the runs and the detail.
    func loadRest(_ s: inout ConsoleSnapshot, spec: WorkspaceSpec?, selectedModel: String?) {
        s.models = (try? registry.models()) ?? []
        let model = selectedModel ?? s.models.first?.name
        if let model {
            s.versions = (try? registry.modelVersions(model: model, limit: 200)) ?? []
            if let v = s.versions.first {
                s.versionParams = (try? registry.params(runID: v.runID)) ?? [:]
                s.versionMetrics = GateEvaluator.namedValues((try? registry.metrics(runID: v.runID)) ?? [])
                s.versionDatasets = (try? registry.runDatasets(runID: v.runID)) ?? []
            }
        }
        if let spec, let pipeline = spec.pipelines.first(where: { $0.modelName == model }) ?? spec.pipelines.first {
            let service = ComparisonService(registry: registry, spec: spec)
            s.sweep = try? SweepBoard.newest(pipeline: pipeline, registry: registry, spec: spec, recent: s.runs)
            if let c = try? service.candidateVsBaseline(pipeline: pipeline, recent: s.runs) {
                s.comparison = c.comparison
                s.comparisonLabels = (c.baseline.label, c.candidate.label)
                if let history = try? service.gatedMetricHistory(pipeline: pipeline) {
                    s.metricHistory = history.mapValues { $0.map(\.value) }
                    s.metricHistoryVersions = history.mapValues { $0.map(\.version) }
                }
            }
        }
        if let spec {
            do { s.lanes = try DeploymentService(workspace: workspace, registry: registry, spec: spec).lanes() } catch {
                s.lanesProblem = "the deployments cannot be read: \(error)"
                s.problems.append(s.lanesProblem!)
            }
        }
        for m in spec?.monitorSpecs ?? [] { if let v = try? Self.monitorView(m.name, registry) { s.monitors.append(v) } }
        s.agent = Agent.heartbeat(workspace)
        s.agentRunning = s.agent?.isRunning ?? false
        if let data = try? FileSystem.readFile(workspace.demoStatusPath) {
            s.demoStatus = TerminalText.sanitize(String(decoding: data.prefix(400), as: UTF8.self))
        }
        do {
            let listing = try ApprovalQueue(registry: registry).listing(now: s.now)
            s.approvals = listing.all
            s.approvalVotes = listing.votes
            let queue = ApprovalQueue(registry: registry)
            for r in listing.all.prefix(20) { if let o = try? queue.origin(of: r) { s.requestOrigins[r.id] = o } }
        } catch {
            s.problems.append("approvals cannot be read: \(error)")
        }
        if let key = signerKey {
            let approver = spec?.rules.approver(withKey: key.raw)
            s.signer = approver.map { "\($0.name) (key \(key.fingerprint))" }
                ?? "key \(key.fingerprint), which belongs to no approver: the vote will be refused"
            if let spec {
                let service = ApprovalService(workspace: workspace, registry: registry, spec: spec)
                for r in s.approvals where r.status == .pending {
                    if let why = try? service.whyCannotVote(r, key: key.raw, votes: s.approvalVotes[r.id] ?? [], now: s.now) { s.voteBlocks[r.id] = why }
                }
            }
        }
        for run in s.runs.prefix(100) {
            for v in (try? registry.validations(runID: run.id)) ?? [] {
                if let report = try? ValidationReport.decoder.decode(ValidationReport.self, from: Data(v.report.utf8)) {
                    s.drift.append(.init(runID: run.id, dataset: v.dataset, report: report))
                }
            }
        }
        // The chain is verified by ``verifyMore(slice:)`` on the poller thread,
        // so a long trail never delays a frame; the snapshot reports how far it got.
        lock.withLock {
            switch verdict {
            case .broken(let p)?: s.auditProblem = p.message
            case .verified?: s.auditVerified = true
            case .unverified?, nil: break
            }
            if let verdictError { s.auditProblem = verdictError }
            s.auditVerified = s.auditVerified || s.auditProblem != nil
        }
        let newest = (try? registry.latestAuditSeq()) ?? 0
        s.audit = ((try? registry.auditEvents(after: max(0, newest - Int64(Self.auditLimit)), limit: Self.auditLimit)) ?? []).reversed()
    }

    /// How many of a run's groups the Runs detail can list (a third of the screen's height at most).
    static let listedGroups = 100

    /// The stages whose logs a snapshot holds: `logWindow` either side of
    /// `shown` in the order the opened run lists them, and the failed stages
    /// the Runs detail lists on rows of their own (it shows their error line).
    static func logStages(_ index: StageIndex, _ stages: [StageRunRecord], shown: Int) -> [Int] {
        var picked: [Int] = []
        if !index.order.isEmpty {
            let at = shown >= 0 && shown < index.position.count ? index.position[shown] : 0
            picked += index.order[max(0, at - logWindow)...min(index.order.count - 1, at + logWindow)]
        }
        for g in index.groups.prefix(listedGroups) where !g.isMatrix && stages[g.members[0]].status == .failed {
            if !picked.contains(g.members[0]) { picked.append(g.members[0]) }
        }
        return picked
    }

    static let monitorHistory = 200

    static func monitorView(_ name: String, _ registry: RegistryConnection) throws -> ConsoleSnapshot.MonitorView {
        let batches = Array(try registry.batches(monitor: name, limit: monitorHistory).reversed())
        let latest = batches.last { $0.status != .rejected }
        let scores = try latest.map { try registry.scores(batchID: $0.id) } ?? []
        var series: [String: [MonitorScoreRecord]] = [:]
        var histograms: [String: String] = [:]
        for s in scores {
            series[s.feature] = try registry.scoreHistory(monitor: name, feature: s.feature, limit: monitorHistory)
            histograms[s.feature] = s.histogram
        }
        let alerts = try registry.alerts(monitor: name, limit: 100)
        var runs: [Int64: Int64] = [:]
        let started = try registry.triggerEvents(pipeline: nil, state: .started, limit: 500)
        for a in alerts { if let t = a.triggerID, let r = started.first(where: { $0.id == t })?.runID { runs[a.id] = r } }
        return .init(name: name, batches: batches, batchCount: try registry.batchCount(monitor: name), features: scores.map(\.feature),
                     series: series, histograms: histograms, alerts: alerts, alertRuns: runs)
    }

    /// The last lines of a log, read from its end.
    static func tail(path: String, lines: Int) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let chunk: UInt64 = min(size, 256 * 1024)
        try? handle.seek(toOffset: size - chunk)
        let data = handle.readData(ofLength: Int(chunk))
        let text = String(decoding: data, as: UTF8.self)
        // One line per row: whatever else a line holds (a lone CR, a tab) is shown, not acted on.
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1)
            .map { TerminalText.oneLine($0.hasSuffix("\r") ? $0.dropLast() : $0) }
            .reversed().drop { $0.isEmpty }.reversed()
    }
}
