import Foundation
import SlipwayStore

/// Trigger events into runs, and the watched triggers (commit, data,
/// schedule) into events. An event's key is unique per pipeline, so the same
/// event never starts two runs; events that fire while a pipeline is at its
/// `max_concurrent_runs` wait queued and start together in its next run,
/// claimed in the transaction that creates that run.
public struct TriggerService: Sendable {
    let workspace: Workspace
    let registry: any Registry
    let spec: WorkspaceSpec
    let launcher: any RunLauncher

    public init(workspace: Workspace, registry: any Registry, spec: WorkspaceSpec, launcher: any RunLauncher) {
        self.workspace = workspace
        self.registry = registry
        self.spec = spec
        self.launcher = launcher
    }

    /// The run's `trigger` field for a set of events.
    public static func label(_ events: [TriggerEventRecord]) -> String {
        guard let e = events.first else { return "manual" }
        let c = e.causeFields
        switch e.kind {
        case "drift", "performance": return "\(e.kind):\(c["monitor"] ?? "?")"
        case "data": return "data:\(c["path"] ?? "?")"
        default: return e.kind
        }
    }

    /// Launches a run for each pipeline that has queued events and room
    /// (fewer than `max_concurrent_runs` runs of it running). Returns what it did.
    @discardableResult
    public func startQueued(pipeline only: String? = nil) throws -> [String] {
        var lines: [String] = []
        let queued = try registry.triggerEvents(pipeline: only, state: .queued, limit: 1000)
        guard !queued.isEmpty else { return [] }
        let active = try registry.activeRuns()
        for pipeline in Set(queued.map(\.pipeline)).sorted() {
            guard let p = spec.pipeline(named: pipeline) else { continue }
            let running = active.filter { $0.pipeline == pipeline }.count
            guard running < p.maxConcurrentRuns else { continue }
            let events = queued.filter { $0.pipeline == pipeline }.sorted { $0.id < $1.id }
            try launcher.launch(pipeline: pipeline, trigger: Self.label(events), claiming: events.map(\.id))
            lines.append("started a run of \(pipeline) for trigger event\(events.count == 1 ? "" : "s") "
                         + events.map { "\($0.id) (\($0.key))" }.joined(separator: ", "))
        }
        return lines
    }

    // MARK: - Watched triggers

    /// What the watcher remembers between passes (not needed across restarts:
    /// what was seen is in the registry as events).
    public struct WatchState: Sendable {
        public var startedAt: Millis
        public init(startedAt: Millis = SystemClock.nowMillis()) { self.startedAt = startedAt }
    }

    /// Fires events for new commits, changed datasets and due schedules.
    public func watch(_ state: inout WatchState, now: Millis = SystemClock.nowMillis()) throws -> [String] {
        var lines: [String] = []
        let hasher = FileHasher(root: workspace.root, cache: registry)
        defer { hasher.flush() }
        for p in spec.pipelines {
            for t in p.triggers {
                switch t {
                case .commit:
                    guard let git = GitState.head(workspace: workspace) else { continue }
                    let head = git.commit, branch = git.branch ?? "HEAD"
                    if let e = try fireOnChange(p.name, kind: "commit", prefix: "commit:\(branch):", value: head, cause: ["branch": branch, "commit": head]) {
                        lines.append("commit \(head.prefix(12)) on \(branch): trigger event \(e.id) for \(p.name)")
                    }
                case .data(let path):
                    guard FileSystem.staysInside(root: workspace.root, relative: path), FileSystem.isFile(workspace.absolute(path)) else { continue }
                    let hash = try hasher.hash(path)
                    if let e = try fireOnChange(p.name, kind: "data", prefix: "data:\(path):", value: hash, cause: ["path": path, "sha256": hash]) {
                        lines.append("\(path) changed (\(hash.prefix(12))): trigger event \(e.id) for \(p.name)")
                    }
                case .schedule(let text):
                    let cron = try Cron(text)  // the spec was checked on load: an error here is a bug to show
                    let prefix = "schedule:\(text):"
                    let last = try registry.latestTrigger(pipeline: p.name, keyPrefix: prefix)
                    // From the last firing recorded (or the agent's start), the newest time due now.
                    let since = last.map { $0.firedAt / 1000 } ?? state.startedAt / 1000
                    guard let due = cron.previous(atOrBefore: now / 1000, window: max(0, now / 1000 - since)), due > since || (last == nil && due >= since) else { continue }
                    let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(due)))
                    if let e = try registry.fireTrigger(pipeline: p.name, kind: "schedule", key: prefix + when,
                                                        cause: ["cron": text, "due": when], actor: "slipway-agent") {
                        lines.append("schedule '\(text)' due at \(when): trigger event \(e.id) for \(p.name)")
                    }
                case .manual, .drift:
                    continue
                }
            }
        }
        return lines
    }

    /// Fires an event when `value` (a commit, a content hash) is new under
    /// `prefix`. The first look only records a baseline (what is there when
    /// watching begins), starting nothing.
    func fireOnChange(_ pipeline: String, kind: String, prefix: String, value: String, cause: [String: String]) throws -> TriggerEventRecord? {
        let key = prefix + value
        guard let last = try registry.latestTrigger(pipeline: pipeline, keyPrefix: prefix) else {
            var c = cause
            c["baseline"] = "what was there when watching began; starts no run"
            _ = try registry.fireTrigger(pipeline: pipeline, kind: kind, key: key, cause: c, actor: "slipway-agent", state: .skipped)
            return nil
        }
        if try last.key == key || registry.latestTrigger(pipeline: pipeline, keyPrefix: key)?.key == key { return nil }
        var c = cause
        c["previous"] = String(last.key.dropFirst(prefix.count))
        return try registry.fireTrigger(pipeline: pipeline, kind: kind, key: key, cause: c, actor: "slipway-agent")
    }
}

/// Why a run started: its trigger events and, for drift, the alert, the
/// batch, and the feature scores with their thresholds.
public struct RunCause: Sendable, Encodable {
    public var event: Int64
    public var kind: String
    public var key: String
    public var firedAt: Millis
    public var cause: [String: String]
    public var alert: Int64?
    public var monitor: String?
    public var batch: Int64?
    public var batchSource: String?
    public var scores: [Score] = []

    public struct Score: Sendable, Encodable {
        public var feature: String
        public var method: String
        public var score: Double
        public var threshold: Double
        public var drifted: Bool
    }

    /// Lines for people.
    public var lines: [String] {
        var out: [String] = []
        switch kind {
        case "drift", "performance":
            out.append("\(kind) alert \(alert.map(String.init) ?? "?") of monitor \(monitor ?? "?") on batch \(batch.map(String.init) ?? "?")"
                       + (batchSource.map { " (\($0))" } ?? "") + " · trigger event \(event)")
            for s in scores where s.drifted {
                out.append("  ▲ \(s.feature): \(s.method) \(Gates.format(s.score)) past threshold \(Gates.format(s.threshold))")
            }
            if let r = cause["detail"], kind == "performance" { out.append("  " + r) }
        case "commit": out.append("commit \(cause["commit"]?.prefix(12) ?? "?") on \(cause["branch"] ?? "?") · trigger event \(event)")
        case "data": out.append("\(cause["path"] ?? "?") changed to \(cause["sha256"]?.prefix(12) ?? "?") · trigger event \(event)")
        case "schedule": out.append("schedule '\(cause["cron"] ?? "?")' due at \(cause["due"] ?? "?") · trigger event \(event)")
        default: out.append("\(kind) · trigger event \(event)")
        }
        return out
    }

    public static func of(run: Int64, registry: any Registry) throws -> [RunCause] {
        try registry.triggerEvents(runID: run).map { e in
            let c = e.causeFields
            var cause = RunCause(event: e.id, kind: e.kind, key: e.key, firedAt: e.firedAt, cause: c)
            if let a = c["alert"].flatMap(Int64.init) {
                cause.alert = a
                cause.monitor = c["monitor"]
                if let b = c["batch"].flatMap(Int64.init) {
                    cause.batch = b
                    cause.batchSource = try registry.batch(id: b)?.source
                    cause.scores = try registry.scores(batchID: b).map {
                        Score(feature: $0.feature, method: $0.method, score: $0.score, threshold: $0.threshold, drifted: $0.drifted)
                    }
                }
            }
            return cause
        }
    }
}
