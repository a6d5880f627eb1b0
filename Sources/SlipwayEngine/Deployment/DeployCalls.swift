import Foundation

/// Deploy calls: the local target written and the environment's deploy
/// command run, each journalled (started, finished) under an id that is the
/// same on a retry, one call at a time per environment.
extension DeploymentService {
    /// A call outside a deployment (a rollback): journalled and audited.
    /// `begun`: the call was journalled already (with the alias change it carries out).
    func putLive(model: String, environment: String, version: Int, stable: Int?, traffic: Int, callID: String, deploymentID: Int64?,
                 actor: String, reason: String, begun: Bool = false) throws -> JobOutcome? {
        guard let outcome = try invoke(model: model, environment: environment, version: version, stable: stable, traffic: traffic,
                                       callID: callID, deploymentID: deploymentID, actor: actor, reason: reason, begun: begun) else { return nil }
        try registry.finishDeployCall(callID: callID, outcome: outcome.result?.summary ?? "local target written", ok: outcome.result?.succeeded ?? true,
                                      then: nil, audit: [])
        return outcome.result
    }

    struct Invocation { var result: JobOutcome? }

    /// This process, as the owner of a deploy call.
    static var me: String { "\(getpid())@\(Provenance.hostName())" }

    /// Whether a call journalled as started and not finished may be made
    /// again: its owner (`pid@host`) is gone (the `kill -9` case). A process
    /// is gone when no process has its pid, when it exited but was not reaped
    /// yet (a zombie), or when its pid now belongs to a process started after
    /// the call (reused). This process's own calls are in flight in another of
    /// its threads (the demo runs the agent beside the console). A call owned
    /// on another host is never taken over from here.
    static func mayTakeOver(_ call: DeployCallRecord) -> Bool {
        guard let owner = call.owner, let at = owner.firstIndex(of: "@"), let pid = Int32(owner[..<at]) else { return true }
        if owner == me { return false }
        guard String(owner[owner.index(after: at)...]) == Provenance.hostName() else { return false }
        if kill(pid, 0) != 0 && errno == ESRCH { return true }
        if LocalProcess.isZombie(pid: pid) { return true }
        if let started = LocalProcess.startTime(pid: pid), started > call.startedAt + 2_000 { return true }
        return false
    }

    /// The journal entry of a call this process starts now.
    func callRecord(model: String, environment: String, version: Int, stable: Int?, traffic: Int, callID: String,
                    deploymentID: Int64?) -> DeployCallRecord {
        DeployCallRecord(id: 0, callID: callID, deploymentID: deploymentID, environment: environment, model: model, version: version,
                         stableVersion: stable, traffic: traffic, startedAt: clock.now(), finishedAt: nil, outcome: nil, ok: nil,
                         log: ".slipway/logs/deploy/\(callID).log", owner: Self.me)
    }

    /// Writes the local target and runs the deploy command (journalled as
    /// started first, unless `begun` says it was); nil when another living
    /// driver is making this call.
    func invoke(model: String, environment: String, version: Int, stable: Int?, traffic: Int, callID: String, deploymentID: Int64?,
                actor: String, reason: String, begun: Bool = false) throws -> Invocation? {
        let record = callRecord(model: model, environment: environment, version: version, stable: stable, traffic: traffic,
                                callID: callID, deploymentID: deploymentID)
        let log = record.log ?? ".slipway/logs/deploy/\(callID).log"
        if !begun {
            try awaitCallsInFlight(environment: environment, except: callID)
            let (_, mine) = try registry.beginDeployCall(record, takeOver: Self.mayTakeOver)
            guard mine else { return nil }
        }
        do {
            try FileSystem.makeDirectory(workspace.logsDir + "/deploy")
            return try call(model: model, environment: environment, version: version, stable: stable, traffic: traffic, callID: callID,
                            actor: actor, reason: reason, log: log)
        } catch {
            // Not left "started" by a process that lives on: the call failed.
            try? registry.finishDeployCall(callID: callID, outcome: "failed: \(error)", ok: false, then: nil, audit: [])
            throw error
        }
    }

    /// One call at a time per environment: waits while another living
    /// driver's call there is in flight (a canary step the agent is making
    /// when the on-call engineer rolls back), so calls land in the order they
    /// are made and the last one is the newest decision. Bounded by the
    /// environment's timeout, after which a call cannot still be running.
    func awaitCallsInFlight(environment: String, except callID: String) throws {
        let limit = Millis((plan(environment).timeoutSeconds + 30) * 1000)
        var told = false
        while true {
            let now = clock.now()
            guard let busy = try registry.unfinishedDeployCalls().first(where: {
                $0.environment == environment && $0.callID != callID && now - $0.startedAt < limit && !Self.mayTakeOver($0)
            }) else { return }
            if !told { onWait?(UnfinishedCall(busy)); told = true }
            usleep(20_000)
        }
    }

    /// Writes the local target and runs the deploy command of a call journalled as ours.
    func call(model: String, environment: String, version: Int, stable: Int?, traffic: Int, callID: String, actor: String, reason: String,
              log: String) throws -> Invocation {
        let record = try registry.modelVersion(model: model, version: version)
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let target = LocalTarget(environment: environment, model: model, version: version, image: record?.imageDigest, traffic: traffic,
                                 stable: stable, since: f.string(from: Date()), by: actor, reason: reason)
        try FileSystem.makeDirectory(workspace.stateDir + "/deploy")
        try FileSystem.writeFile(targetPath(environment), try OCI.encode(target))
        guard let command = spec.environments.first(where: { $0.name == environment })?.deploy else { return Invocation(result: nil) }
        var env = [
            "SLIPWAY_MODEL": model, "SLIPWAY_VERSION": String(version), "SLIPWAY_ENV": environment,
            "SLIPWAY_TRAFFIC": String(traffic), "SLIPWAY_DEPLOYMENT_ID": callID, "SLIPWAY_WORKSPACE": workspace.root,
        ]
        env["SLIPWAY_STABLE_VERSION"] = stable.map(String.init) ?? ""
        if let digest = record?.imageDigest {
            let layout = ImageCatalog(workspace: workspace).layout(model: model).path
            env["SLIPWAY_IMAGE"] = layout + "@" + digest
            // What skopeo copy takes as its source, as is.
            if let tag = record?.imageTag { env["SLIPWAY_IMAGE_OCI"] = "oci:\(layout):\(tag)" }
            // Pushed to an image registry: the image there, by digest (what promotion verified).
            // A recorded reference that no longer parses is an error, not a missing variable.
            if let pushed = try registry.imagePushes(model: model, version: version).last {
                env["SLIPWAY_IMAGE_REGISTRY"] = try ImageReference.parse(pushed.reference).with(digest: digest).description
            }
        }
        let job = Job(command: command, workingDirectory: workspace.root, environment: env, logPath: workspace.root + "/" + log,
                      timeout: plan(environment).timeoutSeconds)
        struct Quiet: JobObserver { func started(handle: JobHandle) {}; func stdoutLine(_ line: Substring) {} }
        let outcome = executor.run(job, observer: Quiet(), cancellation: CancellationFlag())
        try registry.appendAudit(AuditDraft(actor: actor, kind: .deployRan, subject: "env/\(environment)",
                                            payload: AuditChain.payload(["model": model, "version": String(version), "traffic": String(traffic),
                                                                         "deployment": callID, "outcome": outcome.summary, "log": log])))
        return Invocation(result: outcome)
    }
}
