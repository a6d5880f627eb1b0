import Foundation

/// Runs stage commands as Slurm batch jobs.
///
/// A stage becomes a batch script in the run's folder (``SlurmBatchScript``)
/// submitted with `sbatch --parsable`, its output file the stage log. The
/// handle is `slurm:CLUSTER:JOBID`. While the job lives, its log is read as
/// it grows (lines go to the observer, so metrics and progress work as for a
/// local stage) and its state is polled with `scontrol show job` (`sacct`
/// once the controller forgot it, where accounting exists), at an interval
/// that starts short and grows to a bound. PENDING (with Slurm's reason) and
/// the node it runs on are reported through ``JobObserver/status(_:)``.
///
/// The exit code and signal come from Slurm's `ExitCode` (`N:S`); a time
/// limit is a timeout, `scancel` a cancel, the cluster's own ends (a failed
/// node, memory, preemption) are ``JobOutcome/endedByCluster(state:reason:)``.
///
/// The job outlives the `slipway` process that submitted it: whoever finds
/// the run orphaned calls ``reattach(_:job:observer:cancellation:)`` and
/// follows it to its end. Before `sbatch` the stage records a provisional
/// handle naming the job (`slurm:CLUSTER:name=…`), so even a process killed
/// between submitting and recording the id leaves a job that can be found.
public final class SlurmExecutor: Executor, @unchecked Sendable {
    public let commands: any SlurmCommands
    public let clock: any PollClock
    public let poll: PollInterval
    /// Seconds between reads of a running job's log.
    public let tailInterval: Double
    /// How long a cancel waits for Slurm to confirm it when the controller
    /// does not answer, before the stage is reported cancelled anyway.
    public let cancelConfirmation: Double

    private let lock = NSLock()
    private var cachedCluster: String?

    public init(commands: any SlurmCommands = SlurmCLI(), clock: any PollClock = SystemPollClock(),
                poll: PollInterval = .fromEnvironment(), tailInterval: Double = 0.25, cancelConfirmation: Double = 60) {
        self.commands = commands
        self.clock = clock
        self.poll = poll
        self.tailInterval = tailInterval
        self.cancelConfirmation = cancelConfirmation
    }

    public var name: String { "slurm" }
    public var jobsOutliveOwner: Bool { true }

    /// The cluster's name, asked once.
    public func cluster() throws -> String {
        if let c = lock.withLock({ cachedCluster }) { return c }
        let c = try commands.clusterName()
        lock.withLock { cachedCluster = c }
        return c
    }

    /// The `sbatch` arguments for a job (before the script).
    public static func sbatchArguments(for job: Job) -> [String] {
        var args = ["--job-name=\(job.name)", "--output=\(job.logPath)", "--open-mode=append",
                    "--chdir=\(job.workingDirectory)", "--no-requeue"]
        let r = job.resources
        if let p = r.partition { args.append("--partition=\(p)") }
        if let g = r.gres { args.append("--gres=\(g)") }
        if let c = r.cpus { args.append("--cpus-per-task=\(c)") }
        if let m = r.mem { args.append("--mem=\(m)") }
        if let t = r.time {
            args.append("--time=\(t)")
        } else if let timeout = job.timeout {
            // The stage's own `timeout:` bounds the job too (Slurm counts whole minutes).
            args.append("--time=\(max(1, Int((timeout / 60).rounded(.up))))")
        }
        if let a = r.account { args.append("--account=\(a)") }
        if let q = r.qos { args.append("--qos=\(q)") }
        return args + r.sbatch
    }

    public func run(_ job: Job, observer: any JobObserver, cancellation: CancellationFlag) -> JobOutcome {
        let cluster: String
        do { cluster = try self.cluster() } catch { return .failedToStart("cannot reach Slurm: \(error)") }
        // The log exists before the job, so Slurm appends to it and the tail starts at its end.
        let logFD = open(job.logPath, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { return .failedToStart("cannot open log \(job.logPath): \(String(cString: strerror(errno)))") }
        close(logFD)
        let scriptPath = (job.workArea ?? (job.logPath as NSString).deletingLastPathComponent) + "/\(job.name).sbatch"
        do {
            try FileSystem.makeDirectory((scriptPath as NSString).deletingLastPathComponent)
            let text = try SlurmBatchScript.text(for: job, title: "slipway job \(job.name)")
            try FileSystem.writeFile(scriptPath, Data(text.utf8))
            chmod(scriptPath, 0o700)
        } catch {
            return .failedToStart("cannot write the batch script \(scriptPath): \(error)")
        }
        if cancellation.isCancelled { return .cancelled }
        // Recorded before submitting: a process killed right after `sbatch`
        // leaves a job that can still be found by this name.
        observer.started(handle: JobHandle(executor: name, location: cluster, id: "name=\(job.name)"))
        let tail = LogTail(path: job.logPath, from: LogTail.size(of: job.logPath))
        let id: String
        do {
            id = try commands.submit(arguments: Self.sbatchArguments(for: job), script: scriptPath)
        } catch {
            return .failedToStart("sbatch refused the job: \(error)")
        }
        observer.started(handle: JobHandle(executor: name, location: cluster, id: id))
        let requested = job.resources.requestSummary
        observer.status(JobStatus(executor: name, jobID: id, state: "PENDING", reason: "submitted", requested: requested))
        note(job.logPath, "submitted as slurm job \(id) on cluster \(cluster)" + (requested.isEmpty ? "" : " (\(requested))"))
        return follow(id: id, job: job, tail: tail, observer: observer, cancellation: cancellation)
    }

    public func reattach(_ handle: JobHandle, job: Job, observer: any JobObserver, cancellation: CancellationFlag) -> JobOutcome? {
        guard handle.executor == name, let cluster = try? self.cluster(), handle.location == cluster else { return nil }
        var id = handle.id
        if id.hasPrefix("name=") {
            let jobName = String(id.dropFirst(5))
            do {
                guard let found = try commands.jobID(named: jobName) else {
                    return .lost("its owner died while submitting it, and Slurm has no job named \(jobName)")
                }
                id = found
            } catch {
                return .lost("cannot look the job up by name: \(error)")
            }
            observer.started(handle: JobHandle(executor: name, location: cluster, id: id))
        }
        note(job.logPath, "re-attached to slurm job \(id) (pid \(getpid()) on \(Provenance.hostName()))")
        // From the start of the log: the observer skips what its first owner already recorded.
        return follow(id: id, job: job, tail: LogTail(path: job.logPath), observer: observer, cancellation: cancellation)
    }

    public func cancel(_ handle: JobHandle) -> Bool {
        guard handle.executor == name, let cluster = try? self.cluster(), handle.location == cluster else { return false }
        var id = handle.id
        if id.hasPrefix("name=") {
            guard let found = try? commands.jobID(named: String(id.dropFirst(5))) else { return false }
            id = found
        }
        do { try commands.cancel(id); return true } catch { return false }
    }

    /// Follows job `id` to a final state.
    func follow(id: String, job: Job, tail: LogTail, observer: any JobObserver, cancellation: CancellationFlag) -> JobOutcome {
        let requested = job.resources.requestSummary
        var interval = poll.minimum
        var nextPoll = clock.now()
        var nextTail = clock.now()
        var last: JobStatus?
        var cancelSentAt: Double?
        var timedOutAfter: Double?
        var runningSince: Double?
        var unreachableSince: Double?
        var reportedUnreachable = false
        var forgotten = 0
        while true {
            var now = clock.now()
            if now >= nextTail {
                tail.pump(observer)
                nextTail = now + tailInterval
            }
            if cancellation.isCancelled, cancelSentAt == nil || (unreachableSince != nil && now >= nextPoll) {
                if cancelSentAt == nil { note(job.logPath, "cancelling slurm job \(id)") }
                cancelSentAt = cancelSentAt ?? now
                do { try commands.cancel(id) } catch { note(job.logPath, "scancel \(id) failed (\(error)); sending it again at the next poll") }
                nextPoll = now
                interval = poll.minimum
            }
            if let t = job.timeout, let since = runningSince, timedOutAfter == nil, now - since >= t {
                timedOutAfter = t
                note(job.logPath, "the stage's timeout (\(Durations.format(t))) is over: cancelling slurm job \(id)")
                do { try commands.cancel(id) } catch { note(job.logPath, "scancel \(id) failed (\(error))") }
                nextPoll = now
                interval = poll.minimum
            }
            if now >= nextPoll {
                var changed = false
                do {
                    let info = try commands.job(id)
                    now = clock.now()
                    if unreachableSince != nil { note(job.logPath, "Slurm answers again") }
                    unreachableSince = nil
                    reportedUnreachable = false
                    if let info {
                        forgotten = 0
                        let status = info.status(requested: requested.isEmpty ? nil : requested)
                        if status.state != last?.state || status.reason != last?.reason || status.node != last?.node {
                            changed = true
                        }
                        if changed || info.isFinal { observer.status(status) }
                        last = status
                        if info.isStarted || info.isFinal, runningSince == nil { runningSince = now - (info.runSeconds ?? 0) }
                        if info.isFinal {
                            tail.pump(observer, final: true)
                            return finish(info, id: id, job: job, cancelled: cancelSentAt != nil, timedOutAfter: timedOutAfter)
                        }
                    } else {
                        // Unknown: gone after MinJobAge with no accounting, or not yet visible.
                        forgotten += 1
                        if forgotten >= 3 {
                            tail.pump(observer, final: true)
                            if cancelSentAt != nil { return .cancelled }
                            let why = "Slurm no longer knows job \(id) (it keeps finished jobs for MinJobAge; no accounting remembers it)"
                            note(job.logPath, why)
                            return .lost(why)
                        }
                    }
                } catch {
                    now = clock.now()
                    unreachableSince = unreachableSince ?? now
                    if !reportedUnreachable {
                        reportedUnreachable = true
                        note(job.logPath, "cannot ask Slurm about job \(id): \(error); trying again")
                        observer.status(JobStatus(executor: name, jobID: id, state: last?.state ?? "UNKNOWN",
                                                  reason: "Slurm does not answer", node: last?.node, requested: last?.requested))
                    }
                    if let sent = cancelSentAt, let since = unreachableSince, now - max(sent, since) >= cancelConfirmation {
                        note(job.logPath, "Slurm did not confirm the cancel of job \(id) within \(Int(cancelConfirmation)) s")
                        tail.pump(observer, final: true)
                        return .cancelled
                    }
                }
                interval = changed ? poll.minimum : poll.next(after: interval)
                nextPoll = now + interval
            }
            let wait = min(nextPoll, nextTail) - clock.now()
            if wait > 0 { clock.sleep(wait) }
        }
    }

    private func finish(_ info: SlurmJobInfo, id: String, job: Job, cancelled: Bool, timedOutAfter: Double?) -> JobOutcome {
        var outcome = info.outcome()
        if let t = timedOutAfter, outcome == .cancelled { outcome = .timedOut(after: t) }
        var line = "slurm job \(id) \(info.state)"
        if let n = info.nodes { line += " on \(n)" }
        if let c = info.exitCode { line += ", exit code \(c):\(info.exitSignal ?? 0)" }
        if let r = info.runSeconds { line += ", ran \(Durations.clock(r))" }
        if info.state == "CANCELLED", !cancelled, timedOutAfter == nil { line += " (cancelled outside slipway)" }
        note(job.logPath, line)
        return outcome
    }

    /// Appends `[slipway] TEXT` to the stage log (whole, beside the job's own output).
    func note(_ logPath: String, _ text: String) {
        let fd = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let bytes = Array("[slipway] \(text)\n".utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}
