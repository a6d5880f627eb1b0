import Foundation
import SlipwayEngine

/// `slipway demo`: the whole life of a model on real data. It writes the demo
/// workspace (a git repository), then plays the scenario against the engine:
/// v1 trained on 2012–2013 goes dev → staging → production; 2014 arrives
/// month by month through the monitor's drop folder; spring's temperatures
/// drift past the threshold and start retraining; v2 goes through its canary;
/// a change of `model.arch` makes v3 high risk, so it waits for the demo
/// approver; approved, it goes through its canary too. Then a commit makes
/// prepare.py write temperatures in °F: v4 passes its gates (its test split
/// is converted too) but fails its canary on production's °C batches and is
/// rolled back automatically; and a request to put v1 back into production
/// is rejected by the demo approver. Production runs on HAProxy and
/// Prometheus when both are installed (``DemoProduction``), else simulated.
public final class DemoScenario: @unchecked Sendable {
    public struct Options: Sendable {
        /// Seconds between months and the canary interval are divided by this.
        public var speed: Double = 1
        /// Approve as the demo approver (headless); otherwise wait for a person.
        public var approveItself = false
        /// The longest any step may take, in seconds.
        public var stepTimeout: Double = 300
        /// Simulate production by scripts even when HAProxy and Prometheus are installed.
        public var simulateProduction = false

        public init(speed: Double = 1, approveItself: Bool = false, stepTimeout: Double = 300, simulateProduction: Bool = false) {
            self.speed = speed
            self.approveItself = approveItself
            self.stepTimeout = stepTimeout
            self.simulateProduction = simulateProduction
        }
    }

    public struct Failed: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .stageFailed }
        public var description: String { message }
    }

    public let workspace: Workspace
    let options: Options
    let launcher: any RunLauncher
    /// Hears each step as it happens (the headless demo prints it).
    let say: @Sendable (String) -> Void
    var registry: RegistryConnection!
    var agent: Agent?
    /// Production: HAProxy and Prometheus started by ``prepare()``, or simulated.
    var production: DemoProduction?
    let started = Date()
    public var approverKey: String { workspace.root + "/keys/approver" }
    public var statusPath: String { workspace.demoStatusPath }
    /// Seconds train.py waits between epochs (the first run only).
    var pacePath: String { workspace.stateDir + "/demo-pace" }

    public init(directory: String, options: Options, launcher: any RunLauncher, say: @escaping @Sendable (String) -> Void) {
        workspace = Workspace(root: directory)
        self.options = options
        self.launcher = launcher
        self.say = say
    }

    /// The status line the console shows, and a line for the headless log.
    func step(_ text: String, hint: String = "") {
        let t = Int(Date().timeIntervalSince(started))
        say(String(format: "[%d:%02d] ", t / 60, t % 60) + text)
        try? FileSystem.writeFile(statusPath, Data((text + (hint.isEmpty ? "" : " · " + hint)).utf8))
    }

    // MARK: - The workspace

    /// Writes the demo workspace, its keys and its first commit.
    public func prepare() throws {
        let root = workspace.root
        if FileSystem.exists(root + "/slipway.yaml") {
            throw Failed(message: "\(root) already holds a workspace: give `slipway demo` a new folder")
        }
        try FileSystem.makeDirectory(root)
        try FileSystem.makeDirectory(root + "/keys", mode: 0o700)
        try FileSystem.makeDirectory(root + "/data")
        let approver = try SSHSigner.generate(at: approverKey, comment: "demo-approver@slipway-demo")
        let signer = try SSHSigner.generate(at: root + "/keys/release", comment: "release@slipway-demo")
        let weather = try DemoFiles.text("data/seattle-weather.csv")
        let rows = weather.split(separator: "\n", omittingEmptySubsequences: true)
        let header = String(rows[0])
        let days = rows.dropFirst().map(String.init)
        let history = days.filter { $0.hasPrefix("2012") || $0.hasPrefix("2013") }
        let reference = days.filter { $0.hasPrefix("2013/11") || $0.hasPrefix("2013/12") }
        let files: [(String, String)] = [
            (".gitignore", try DemoFiles.text("gitignore.txt")),
        ] + (try DemoFiles.files(DemoFiles.shared)) + [
            ("data/history.csv", ([header] + history).joined(separator: "\n") + "\n"),
            ("data/reference.csv", ([header] + reference).joined(separator: "\n") + "\n"),
        ]
        for (path, text) in files { try FileSystem.writeFile(root + "/" + path, Data(text.utf8)) }
        let production = try startProduction()
        self.production = production
        let spec: String
        if let e = production.endpoints {
            // Real traffic needs a few seconds to be counted: HAProxy's counters, scraped every second.
            let interval = max(4, Int((8 / options.speed).rounded()))
            spec = try DemoFiles.realTourSpec(approverKey: approver.line, signerKey: signer.line, canaryInterval: "\(interval)s",
                                              prometheus: e.prometheus, socket: e.socket)
        } else {
            let interval = max(1, Int((6 / options.speed).rounded()))
            spec = try DemoFiles.tourSpec(approverKey: approver.line, signerKey: signer.line, canaryInterval: "\(interval)s")
        }
        try FileSystem.writeFile(root + "/slipway.yaml", Data(spec.utf8))
        try git(["init", "-q", "-b", "main"])
        try git(["add", "-A"])
        try git(["commit", "-q", "-m", "Seattle weather classifier: softmax regression on 2012–2013"])
        registry = try workspace.connect()
    }

    func git(_ args: [String]) throws {
        let r = try OutsideTool.run(["git", "-C", workspace.root, "-c", "user.name=Demo Scientist", "-c", "user.email=scientist@example.org",
                                     "-c", "commit.gpgsign=false"] + args)
        guard r.succeeded else { throw Failed(message: "git \(args.joined(separator: " ")): \(r.stderr)") }
    }

    // MARK: - The scenario

    /// Plays every step; throws when one does not happen in time.
    public func play() throws {
        if registry == nil { registry = try workspace.connect() }
        let spec = try workspace.loadSpec().spec
        if let production {
            step(production.summary, hint: production.endpoints == nil ? "" : "its canaries are measured on real requests")
            pause(2)
        }
        // The agent: canaries, auto environments, the drop folder, triggers.
        let agent = Agent(workspace: workspace, registry: registry, actor: "slipway-agent",
                          duties: [DropFolderDuty(launcher: launcher), TriggerDuty(launcher: launcher)])
        try agent.acquireLock()
        self.agent = agent
        Thread.detachNewThread { agent.run(interval: 0.5, handleSignals: false) }
        defer { agent.stop() }

        // The first run is paced (train.py waits between epochs) so its stages can be watched.
        let pace = 0.15 / options.speed
        if pace >= 0.01 { try FileSystem.writeFile(pacePath, Data(String(format: "%.3f", pace).utf8)) }
        step("starting v1's run on 2012–2013", hint: "1: Runs")
        try launcher.launch(pipeline: "weather", trigger: "manual", claiming: [])
        _ = try wait("v1's run to start", timeout: options.stepTimeout) { try self.registry.runs(limit: 1, offset: 0).first }
        step("training v1 on 2012–2013", hint: "watch the stages in the Runs tab (1)")
        let v1 = try waitForVersion(1, what: "v1's run")
        try? FileSystem.remove(pacePath)
        try report(v1)
        pause(3)
        step("v1 goes dev → staging → production", hint: "6: Deployments")
        // The first version in production is high risk (nothing live to compare with): the demo approver signs it off.
        let first = try wait("the approval request for v1 → production", timeout: options.stepTimeout) {
            try self.registry.approvalRequests(all: true, limit: 20).first { $0.version == 1 && $0.environment == "production" }
        }
        step("v1 → production waits for Demo Approver: the first version there is high risk (request \(first.id))", hint: "4: Approvals")
        pause(4)
        _ = try ApprovalService(workspace: workspace, registry: registry, spec: spec)
            .vote(requestID: first.id, decision: .approve, keyPath: approverKey, comment: "first release", voter: "demo-approver")
        step("Demo Approver signed off the first release into production (request \(first.id))", hint: "4: Approvals keeps it")
        try waitLive(1, in: "production")
        step("weather-classifier:1 is live in production")

        // 2014, month by month.
        var months: [String] = []
        for m in 1...12 { months.append(String(format: "2014/%02d", m)) }
        var driftRun: Int64?
        var fed = 0
        for month in months {
            fed += 1
            let batch = try feed(month)
            if batch.status == .drifted, let alert = try registry.alerts(monitor: "weather", limit: 1).first, alert.triggerID != nil {
                step("\(label(month)): temp_max drifted past its threshold: alert \(alert.id) starts retraining",
                     hint: "3: Drift shows the scores; 1: Runs the retraining run")
                driftRun = try waitForTriggeredRun(alert)
                break
            }
            step("\(label(month)): \(batch.rows) days, calm (\(batch.driftedFeatures) of \(batch.features) features drifted)", hint: "3: Drift")
            pause(4)
        }
        guard let driftRun else { throw Failed(message: "no month of 2014 drifted: the monitor never started retraining") }
        let v2 = try waitForVersion(2, what: "the retraining run \(driftRun)")
        try report(v2)
        step("v2 goes dev → staging → production, with a canary in production", hint: "6: Deployments shows the canary")
        try watchCanary(2)
        // Still drifted, but one episode starts one run.
        for month in months[fed..<min(months.count, fed + 2)] {
            let batch = try feed(month)
            let alert = try registry.alerts(monitor: "weather", limit: 1).first
            step("\(label(month)): \(batch.status == .drifted ? "drifted again; alert \(alert?.id ?? 0) starts nothing (inside the cool-down)" : "calm")")
            pause(3)
        }

        // A change of architecture: high risk.
        var params = String(decoding: try FileSystem.readFile(workspace.root + "/params.yaml"), as: UTF8.self)
        params = params.replacingOccurrences(of: "arch: softmax", with: "arch: knn")
        try FileSystem.writeFile(workspace.root + "/params.yaml", Data(params.utf8))
        try git(["commit", "-q", "-am", "Switch the model to k-nearest neighbours"])
        step("a commit changes model.arch to knn: the agent starts a run", hint: "1: Runs")
        let v3 = try waitForVersion(3, what: "the run of the model.arch commit")
        try report(v3)
        let request = try wait("the approval request for v3 → production", timeout: options.stepTimeout) {
            try self.registry.approvalRequests(all: true, limit: 20).first { $0.version == 3 && $0.environment == "production" }
        }
        if options.approveItself {
            step("v3 → production is high risk (model.arch softmax → knn): request \(request.id) waits for Demo Approver")
            let outcome = try ApprovalService(workspace: workspace, registry: registry, spec: spec)
                .vote(requestID: request.id, decision: .approve, keyPath: approverKey, comment: "reviewed the k-NN evaluation", voter: "demo-approver")
            if case .approved = outcome { step("Demo Approver signed off request \(request.id)") }
        } else {
            step("v3 → production is high risk (model.arch → knn): approve it", hint: "press 4, then a, then Enter")
            _ = try wait("the approval of request \(request.id)", timeout: 24 * 3600) { () -> Bool? in
                let r = try self.registry.approvalRequest(id: request.id)
                if r?.status == .rejected { throw Failed(message: "request \(request.id) was rejected") }
                return r?.status == .approved ? true : nil
            }
            step("approved: v3 goes into its canary", hint: "6: Deployments")
        }
        try watchCanary(3)
        pause(3)
        try playFailingCanary()
        pause(3)
        try playRejectedRequest(spec: spec)
        pause(2)
        step("weather-classifier:3 is live in production: the loop is closed",
             hint: "6, then r, then Enter rolls production back; q quits; the workspace stays in \(workspace.root)")
    }

    func label(_ month: String) -> String {
        let names = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        let parts = month.split(separator: "/")
        return "\(names[(Int(parts[1]) ?? 1) - 1]) \(parts[0])"
    }

    func pause(_ seconds: Double) { usleep(UInt32(max(0.05, seconds / options.speed) * 1_000_000)) }

    /// A month of production: the days land in the history (the warehouse),
    /// and the batch, with the live model's predictions, in the drop folder.
    func feed(_ month: String) throws -> MonitorBatchRecord {
        let rows = try DemoFiles.text("data/seattle-weather.csv").split(separator: "\n").map(String.init)
        let days = rows.filter { $0.hasPrefix(month) }
        let root = workspace.root
        let history = try FileHandle(forWritingTo: URL(fileURLWithPath: root + "/data/history.csv"))
        history.seekToEndOfFile()
        history.write(Data((days.joined(separator: "\n") + "\n").utf8))
        try history.close()
        let name = month.replacingOccurrences(of: "/", with: "-")
        let plain = root + "/.slipway/tmp-\(name).csv"
        try FileSystem.makeDirectory(root + "/.slipway")
        try FileSystem.writeFile(plain, Data((([rows[0]] + days).joined(separator: "\n") + "\n").utf8))
        let live = try registry.alias(model: "weather-classifier", environment: "production", at: nil) ?? 1
        let predicted = try OutsideTool.run(["python3", "predict.py", "serving/models/\(live).json", plain], in: root)
        guard predicted.succeeded else { throw Failed(message: "predict.py: \(predicted.stderr)") }
        try? FileSystem.remove(plain)
        try FileSystem.makeDirectory(root + "/incoming")
        // Written beside, then renamed into place: never read half-written.
        try FileSystem.writeFile(root + "/incoming/.\(name).csv.tmp", Data(predicted.stdout.utf8))
        guard rename(root + "/incoming/.\(name).csv.tmp", root + "/incoming/\(name).csv") == 0 else {
            throw Failed(message: "could not move the \(name) batch into incoming/")
        }
        let before = try registry.batchCount(monitor: "weather")
        return try wait("the \(name) batch to be recorded", timeout: options.stepTimeout) {
            try self.registry.batchCount(monitor: "weather") > before ? try self.registry.batches(monitor: "weather", limit: 1).first : nil
        }
    }

    func waitForVersion(_ n: Int, what: String) throws -> ModelVersionRecord {
        try wait("\(what) to register weather-classifier:\(n)", timeout: options.stepTimeout) {
            if let v = try self.registry.modelVersion(model: "weather-classifier", version: n) { return v }
            if let failed = try self.registry.runs(limit: 3, offset: 0).first(where: { $0.status == .failed || $0.status == .interrupted }),
               try self.registry.modelVersion(runID: failed.id) == nil, failed.id >= Int64(n) {
                throw Failed(message: "run \(failed.id) \(failed.status.rawValue): \(failed.message ?? "see `slipway show \(failed.id)`")")
            }
            return nil
        }
    }

    func waitForTriggeredRun(_ alert: MonitorAlertRecord) throws -> Int64 {
        try wait("the retraining run of alert \(alert.id)", timeout: options.stepTimeout) {
            guard let id = alert.triggerID else { return nil }
            return try self.registry.triggerEvents(pipeline: "weather", state: .started, limit: 20).first { $0.id == id }?.runID
        }
    }

    func report(_ v: ModelVersionRecord) throws {
        let m = GateEvaluator.lastValues(try registry.metrics(runID: v.runID))
        let acc = m["accuracy"].map { String(format: "%.2f", $0) } ?? "?", base = m["majority_baseline"].map { String(format: "%.2f", $0) } ?? "?"
        step("\(v.label) registered from run \(v.runID): held-out accuracy \(acc) vs \(base) for always predicting the most common weather; gates passed, packaged and signed")
    }

    func waitLive(_ version: Int, in env: String) throws {
        _ = try wait("weather-classifier:\(version) to be live in \(env)", timeout: options.stepTimeout) { () -> Bool? in
            if let d = try self.registry.deployments(environment: env, limit: 1).first, d.version == version,
               [.rolledBack, .failed, .aborted].contains(d.state) {
                throw Failed(message: "\(d.label) \(d.state.rawValue): \(d.detail)")
            }
            return try self.registry.alias(model: "weather-classifier", environment: env, at: nil) == version ? true : nil
        }
    }

    /// Follows a production canary to its end, saying each step.
    func watchCanary(_ version: Int) throws {
        let d = try followCanary(version)
        guard d.state == .succeeded || d.state == .watching else { throw Failed(message: "\(d.label) \(d.state.rawValue): \(d.detail)") }
        try sayMeasured(d)
        step("weather-classifier:\(version) is live in production after its canary")
    }

    /// Follows a production canary, saying each step, until it ends either way.
    func followCanary(_ version: Int) throws -> DeploymentRecord {
        var said = ""
        return try wait("weather-classifier:\(version)'s canary in production", timeout: options.stepTimeout) { () -> DeploymentRecord? in
            guard let d = try self.registry.deployments(environment: "production", limit: 1).first, d.version == version else { return nil }
            let line = d.state == .progressing || d.state == .paused ? "canary: \(d.detail)" : ""
            if !line.isEmpty && line != said {
                said = line
                self.step("production " + line, hint: "6: Deployments")
            }
            switch d.state {
            case .succeeded, .watching, .rolledBack, .failed, .aborted: return d
            default: return nil
            }
        }
    }

    /// Polls `body` until it gives a value, or fails after `timeout` seconds.
    func wait<T>(_ what: String, timeout: Double, _ body: () throws -> T?) throws -> T {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let v = try body() { return v }
            if let why = production?.failure { throw Failed(message: "production stopped while waiting for \(what): \(why)") }
            usleep(100_000)
        }
        throw Failed(message: "timed out after \(Durations.format(timeout)) waiting for \(what)")
    }
}
