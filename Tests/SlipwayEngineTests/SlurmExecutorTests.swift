import Foundation
import Synchronization
import Testing
@testable import SlipwayEngine

/// A clock that moves only when waited on: following a job for hours takes no time.
final class ManualPollClock: PollClock, @unchecked Sendable {
    private let state = Mutex<(now: Double, sleeps: [Double])>((1000, []))
    func now() -> Double { state.withLock { $0.now } }
    func sleep(_ seconds: Double) { state.withLock { $0.now += seconds; $0.sleeps.append(seconds) } }
    var sleeps: [Double] { state.withLock { $0.sleeps } }
    func advance(_ seconds: Double) { state.withLock { $0.now += seconds } }
}

/// A Slurm cluster played from a script: each `scontrol show job` answers
/// the next state (the last one repeats), and may append to the job's log
/// first, as the job would have written.
final class FakeSlurm: SlurmCommands, @unchecked Sendable {
    struct Step {
        var info: SlurmJobInfo?
        var writes: String = ""
        var fails: Bool = false
    }

    private let lock = NSLock()
    var steps: [Step]
    var logPath: String?
    var onCancel: ((FakeSlurm) -> Void)?
    private(set) var submissions: [(arguments: [String], script: String, text: String)] = []
    private(set) var cancels: [String] = []
    private(set) var polls = 0
    var submitError: SlurmCommandFailed?
    /// Asked first on each poll (with the poll's number): an answer overrides the script.
    var dynamic: ((Int) -> SlurmJobInfo?)?
    var named: [String: String] = [:]
    let clock: ManualPollClock?
    private(set) var pollTimes: [Double] = []

    init(_ steps: [Step], clock: ManualPollClock? = nil) {
        self.steps = steps
        self.clock = clock
    }

    func submit(arguments: [String], script: String) throws -> String {
        if let submitError { throw submitError }
        let text = (try? String(contentsOfFile: script, encoding: .utf8)) ?? ""
        lock.withLock {
            submissions.append((arguments, script, text))
            logPath = arguments.first { $0.hasPrefix("--output=") }.map { String($0.dropFirst(9)) }
        }
        return "4242"
    }

    func job(_ id: String) throws -> SlurmJobInfo? {
        let (step, path) = lock.withLock { () -> (Step, String?) in
            polls += 1
            if let clock { pollTimes.append(clock.now()) }
            return (steps.count > 1 ? steps.removeFirst() : steps[0], logPath)
        }
        if !step.writes.isEmpty, let path, let h = FileHandle(forWritingAtPath: path) {
            h.seekToEndOfFile()
            h.write(Data(step.writes.utf8))
            try? h.close()
        }
        if let answer = dynamic?(lock.withLock { polls }) { return answer }
        if step.fails { throw SlurmCommandFailed(command: "scontrol", status: 1, message: "Unable to contact slurm controller") }
        return step.info
    }

    func jobID(named name: String) throws -> String? { lock.withLock { named[name] } }

    func cancel(_ id: String) throws {
        lock.withLock { cancels.append(id) }
        onCancel?(self)
    }

    func clusterName() throws -> String { "testcluster" }

    var cancelled: [String] { lock.withLock { cancels } }
}

/// Records what the executor reports.
final class RecordingObserver: JobObserver, @unchecked Sendable {
    private let state = Mutex<(handles: [JobHandle], lines: [String], statuses: [JobStatus])>(([], [], []))
    func started(handle: JobHandle) { state.withLock { $0.handles.append(handle) } }
    func stdoutLine(_ line: Substring) { state.withLock { $0.lines.append(String(line)) } }
    func status(_ status: JobStatus) { state.withLock { $0.statuses.append(status) } }
    var handles: [JobHandle] { state.withLock { $0.handles } }
    var lines: [String] { state.withLock { $0.lines } }
    var statuses: [JobStatus] { state.withLock { $0.statuses } }
}

func info(_ state: String, reason: String? = nil, exit: (Int32, Int32)? = nil, node: String? = nil, run: Double = 0,
          limit: String = "2:00:00") -> SlurmJobInfo {
    SlurmJobInfo(id: "4242", state: state, reason: reason, exitCode: exit?.0, exitSignal: exit?.1, nodes: node, runSeconds: run,
                 timeLimit: limit, timeLimitSeconds: SlurmJobInfo.durationSeconds(limit), submitTime: "2026-11-30T10:00:00",
                 startTime: state == "PENDING" ? nil : "2026-11-30T10:00:07", tres: state == "PENDING" ? nil : "cpu=8,mem=32G,node=1")
}

@Suite struct SlurmExecutorTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "slipway-slurmexec-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/.slipway/logs", withIntermediateDirectories: true)
    }

    func job(timeout: Double? = nil, resources: ExecutorSpec = ExecutorSpec(kind: .slurm, partition: "gpu", gres: "gpu:1", cpus: 8,
                                                                           mem: "32G", time: "2:00:00", sbatch: ["--exclusive"]),
             environment: [String: String] = ["SLIPWAY_STAGE": "train"]) -> Job {
        Job(command: "python3 train.py --epochs 3", workingDirectory: dir, environment: environment,
            logPath: dir + "/.slipway/logs/train.log", timeout: timeout, resources: resources, name: "slipway-r1-train-s1",
            workArea: dir + "/.slipway/runs/run-1")
    }

    func executor(_ fake: FakeSlurm, _ clock: ManualPollClock, poll: PollInterval = PollInterval(minimum: 0.1, maximum: 2)) -> SlurmExecutor {
        SlurmExecutor(commands: fake, clock: clock, poll: poll, tailInterval: 0.25)
    }

    @Test func submitsTheStageAndFollowsItToTheEnd() throws {
        let clock = ManualPollClock()
        let fake = FakeSlurm([
            .init(info: info("PENDING", reason: "Priority")),
            .init(info: info("PENDING", reason: "Resources")),
            .init(info: info("RUNNING", node: "gpu-07", run: 1), writes: "epoch 1\n::metric name=loss value=0.9 step=1\n"),
            .init(info: info("RUNNING", node: "gpu-07", run: 2), writes: "::progress step=2 total=3\n::metric name=loss"),
            .init(info: info("COMPLETED", exit: (0, 0), node: "gpu-07", run: 3), writes: " value=0.5 step=2\ndone"),
        ], clock: clock)
        let observer = RecordingObserver()
        let outcome = executor(fake, clock).run(job(), observer: observer, cancellation: CancellationFlag())
        #expect(outcome == .exited(0))

        let sub = try #require(fake.submissions.first)
        #expect(sub.arguments.contains("--partition=gpu") && sub.arguments.contains("--gres=gpu:1") && sub.arguments.contains("--cpus-per-task=8"))
        #expect(sub.arguments.contains("--mem=32G") && sub.arguments.contains("--time=2:00:00") && sub.arguments.last == "--exclusive")
        #expect(sub.arguments.contains("--output=\(dir)/.slipway/logs/train.log") && sub.arguments.contains("--chdir=\(dir)"))
        #expect(sub.script == dir + "/.slipway/runs/run-1/slipway-r1-train-s1.sbatch")
        #expect(sub.text.contains("exec /bin/sh -c 'python3 train.py --epochs 3'"))
        // The job can be found by name before its id is known, then by its id.
        #expect(observer.handles.map(\.description) == ["slurm:testcluster:name=slipway-r1-train-s1", "slurm:testcluster:4242"])
        // Lines as the job wrote them, a line split across reads put back together.
        #expect(observer.lines.contains("::metric name=loss value=0.9 step=1"))
        #expect(observer.lines.contains("::metric name=loss value=0.5 step=2"))
        #expect(observer.lines.contains("done"))
        #expect(observer.lines.first?.hasPrefix("[slipway] submitted as slurm job 4242 on cluster testcluster") == true)
        // PENDING with each reason, then the node; the end says what it used.
        let seen = observer.statuses.map { "\($0.state) \($0.reason ?? "") \($0.node ?? "")" }
        #expect(seen == ["PENDING submitted ", "PENDING Priority ", "PENDING Resources ", "RUNNING  gpu-07", "COMPLETED  gpu-07"])
        let last = try #require(observer.statuses.last)
        #expect(last.exitCode == "0:0" && last.elapsed == 3 && last.queued == 7 && last.allocated == "cpu=8,mem=32G,node=1")
        #expect(last.requested == "partition=gpu gres=gpu:1 cpus=8 mem=32G time=2:00:00 --exclusive")
        let log = try String(contentsOfFile: dir + "/.slipway/logs/train.log", encoding: .utf8)
        #expect(log.hasSuffix("[slipway] slurm job 4242 COMPLETED on gpu-07, exit code 0:0, ran 0:03\n"))
    }

    @Test(arguments: [
        (info("FAILED", exit: (3, 0)), JobOutcome.exited(3)),
        (info("FAILED", exit: (0, 9)), .signalled(9)),
        (info("COMPLETED", exit: (0, 0)), .exited(0)),
        (info("TIMEOUT", exit: (0, 15), limit: "1:00:00"), .timedOut(after: 3600)),
        (info("CANCELLED", exit: (0, 15)), .cancelled),
        (info("OUT_OF_MEMORY", exit: (0, 125)), .endedByCluster(state: "OUT_OF_MEMORY", reason: "the job used more memory than it was given (`mem:`)")),
        (info("NODE_FAIL", node: "gpu-07"), .endedByCluster(state: "NODE_FAIL", reason: "its node failed (gpu-07)")),
        (info("FAILED", reason: "JobLaunchFailure", exit: (0, 0)), .failedToStart("Slurm could not launch the job (JobLaunchFailure)")),
    ])
    func slurmEndsMapFaithfully(_ end: SlurmJobInfo, _ expected: JobOutcome) {
        let clock = ManualPollClock()
        let fake = FakeSlurm([.init(info: info("RUNNING", node: "n1")), .init(info: end)], clock: clock)
        #expect(executor(fake, clock).run(job(), observer: RecordingObserver(), cancellation: CancellationFlag()) == expected)
    }

    @Test func aCancelIsAnScancelAndWaitsForSlurmToConfirm() {
        let clock = ManualPollClock()
        let fake = FakeSlurm([.init(info: info("PENDING", reason: "Resources"))], clock: clock)
        let flag = CancellationFlag()
        // Cancelled on the third poll of a job that waits; Slurm confirms after the scancel.
        fake.dynamic = { n in
            if n == 3 { flag.cancel() }
            return fake.cancelled.isEmpty ? nil : info("CANCELLED", exit: (0, 0))
        }
        #expect(executor(fake, clock).run(job(), observer: RecordingObserver(), cancellation: flag) == .cancelled)
        #expect(fake.cancelled == ["4242"])
        #expect(fake.polls == 4)
    }

    @Test func theStagesOwnTimeoutCancelsTheJobAndIsATimeout() {
        let clock = ManualPollClock()
        let fake = FakeSlurm([.init(info: info("RUNNING", node: "n1", run: 0))], clock: clock)
        fake.onCancel = { f in f.steps = [.init(info: info("CANCELLED", exit: (0, 15), node: "n1", run: 90))] }
        let start = clock.now()
        let outcome = executor(fake, clock).run(job(timeout: 90, resources: ExecutorSpec(kind: .slurm)), observer: RecordingObserver(),
                                                cancellation: CancellationFlag())
        #expect(outcome == .timedOut(after: 90))
        #expect(fake.cancelled == ["4242"])
        #expect(clock.now() - start >= 90 && clock.now() - start < 93)
        // Slurm counts whole minutes: the limit it enforces is rounded up.
        #expect(fake.submissions.first?.arguments.contains("--time=2") == true)
    }

    @Test func pollsAreBoundedAndBackOffWhileNothingChanges() {
        let clock = ManualPollClock()
        let fake = FakeSlurm([.init(info: info("RUNNING", node: "n1"))], clock: clock)
        // An hour of RUNNING, then done.
        let endAt = clock.now() + 3600
        fake.dynamic = { _ in clock.now() >= endAt ? info("COMPLETED", exit: (0, 0), node: "n1", run: 3600) : nil }
        let ex = executor(fake, clock, poll: PollInterval(minimum: 0.1, maximum: 2))
        #expect(ex.run(job(), observer: RecordingObserver(), cancellation: CancellationFlag()) == .exited(0))
        let gaps = zip(fake.pollTimes.dropFirst(), fake.pollTimes).map { $0 - $1 }
        #expect(gaps.allSatisfy { $0 <= 2.0001 })
        #expect(clock.sleeps.allSatisfy { $0 <= 2.0001 })
        // About one poll every 2 s once settled, not one per read of the log.
        #expect(fake.polls > 1700 && fake.polls < 1900, "\(fake.polls) polls")
        #expect(clock.now() - endAt < 2.1)
    }

    @Test func aControllerThatStopsAnsweringIsWaitedFor() {
        let clock = ManualPollClock()
        let fake = FakeSlurm([
            .init(info: info("RUNNING", node: "n1")),
            .init(fails: true), .init(fails: true), .init(fails: true),
            .init(info: info("COMPLETED", exit: (0, 0), node: "n1")),
        ], clock: clock)
        let observer = RecordingObserver()
        #expect(executor(fake, clock).run(job(), observer: observer, cancellation: CancellationFlag()) == .exited(0))
        #expect(observer.statuses.contains { $0.reason == "Slurm does not answer" })
    }

    @Test func aJobSlurmForgotIsLostNotSucceeded() {
        let clock = ManualPollClock()
        let fake = FakeSlurm([.init(info: info("RUNNING", node: "n1")), .init(info: nil)], clock: clock)
        let outcome = executor(fake, clock).run(job(), observer: RecordingObserver(), cancellation: CancellationFlag())
        guard case .lost = outcome else { Issue.record("\(outcome)"); return }
        #expect(!outcome.succeeded)
    }

    @Test func aRefusedSubmissionSaysWhy() {
        let clock = ManualPollClock()
        let fake = FakeSlurm([.init(info: nil)], clock: clock)
        fake.submitError = SlurmCommandFailed(command: "sbatch", status: 1,
                                              message: "sbatch: error: Batch job submission failed: Invalid generic resource (gres) specification")
        let outcome = executor(fake, clock).run(job(), observer: RecordingObserver(), cancellation: CancellationFlag())
        #expect(outcome == .failedToStart("sbatch refused the job: `sbatch` failed (exit 1): sbatch: error: Batch job submission failed: Invalid generic resource (gres) specification"))
    }

    @Test func reattachFindsAJobByNameAndReadsTheLogFromItsStart() throws {
        let clock = ManualPollClock()
        let j = job()
        try "epoch 1\n::metric name=loss value=0.9 step=1\n".write(toFile: j.logPath, atomically: true, encoding: .utf8)
        let fake = FakeSlurm([.init(info: info("RUNNING", node: "n1")), .init(info: info("COMPLETED", exit: (0, 0), node: "n1"))], clock: clock)
        fake.named["slipway-r1-train-s1"] = "4242"
        let observer = RecordingObserver()
        let ex = executor(fake, clock)
        let outcome = ex.reattach(JobHandle(executor: "slurm", location: "testcluster", id: "name=slipway-r1-train-s1"), job: j,
                                  observer: observer, cancellation: CancellationFlag())
        #expect(outcome == .exited(0))
        #expect(observer.handles.map(\.id) == ["4242"])
        #expect(observer.lines.prefix(2) == ["epoch 1", "::metric name=loss value=0.9 step=1"])
        // Another cluster's job, or another executor's: not this one's to follow.
        #expect(ex.reattach(JobHandle(executor: "slurm", location: "elsewhere", id: "1"), job: j, observer: observer,
                            cancellation: CancellationFlag()) == nil)
        #expect(!ex.cancel(JobHandle(executor: "local", location: "testcluster", id: "1")))
        // A job never submitted (its owner died first) is lost, not run.
        let gone = ex.reattach(JobHandle(executor: "slurm", location: "testcluster", id: "name=slipway-r1-other-s2"), job: j,
                               observer: observer, cancellation: CancellationFlag())
        guard case .lost = gone else { Issue.record("\(String(describing: gone))"); return }
    }

    /// The batch script hands the command its environment exactly, whatever
    /// the values hold: run here by /bin/sh, as the node would.
    @Test func theBatchScriptExportsValuesExactly() throws {
        let nasty = "it's \"quoted\" $HOME `date` \\ back\nsecond line; rm -rf / #"
        var j = job(environment: ["SLIPWAY_PARAM_NOTE": nasty, "SLIPWAY_STAGE": "train", "EMPTY": ""])
        j.command = "printf '%s' \"$SLIPWAY_PARAM_NOTE\" > note.txt; printf '%s' \"${EMPTY-unset}\" > empty.txt; pwd > where.txt"
        let text = try SlurmBatchScript.text(for: j, title: "test")
        let script = dir + "/job.sh"
        try text.write(toFile: script, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = [script]
        p.currentDirectoryURL = URL(fileURLWithPath: "/")
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(try String(contentsOfFile: dir + "/note.txt", encoding: .utf8) == nasty)
        #expect(try String(contentsOfFile: dir + "/empty.txt", encoding: .utf8) == "")
        #expect(FileManager.default.fileExists(atPath: dir + "/where.txt"))
        #expect(throws: (any Error).self) { try SlurmBatchScript.text(for: job(environment: ["BAD-NAME": "x"]), title: "t") }
    }

    @Test func scontrolsOneLineFormIsRead() throws {
        let line = "JobId=2 JobName=slipway-r1 train UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901759 Nice=0 Account=(null) QOS=(null) JobState=PENDING Reason=Nodes_required_for_job_are_DOWN,_DRAINED_or_reserved_for_jobs_in_higher_priority_partitions Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-30T19:32:30 EligibleTime=2026-11-30T19:32:30 StartTime=Unknown EndTime=Unknown Partition=gpu AllocNode:Sid=localhost:12759 ReqNodeList=(null) ExcNodeList=(null) NodeList= NumNodes=1 NumCPUs=1 TRES=cpu=1,mem=62.50G,node=1,billing=1 Command=/tmp/my ws/JobState=COMPLETED.sh WorkDir=/tmp/my ws StdOut=/tmp/a b.log TresPerNode=gres:gpu:1"
        let i = try #require(SlurmJobInfo.parseScontrol(line))
        #expect(i.id == "2" && i.state == "PENDING" && i.partition == "gpu" && i.nodes == nil)
        #expect(i.reason == "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions")
        #expect(i.timeLimitSeconds == .infinity && i.tres == "cpu=1,mem=62.50G,node=1,billing=1")
        let done = try #require(SlurmJobInfo.parseScontrol("JobId=4 JobName=s JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15 RunTime=00:01:23 TimeLimit=00:01:00 NodeList=vm BatchHost=vm"))
        #expect(done.outcome() == .timedOut(after: 60) && done.runSeconds == 83 && done.nodes == "vm")
        #expect(SlurmJobInfo.durationSeconds("1-02:03:04") == 93784)
        let sacct = SlurmJobInfo.parseSacct("7|CANCELLED by 0|0:15||vm|12|01:00:00|2026-11-30T10:00:00|2026-11-30T10:00:01|2026-11-30T10:00:13|cpu=1,node=1|debug\n", id: "7")
        #expect(sacct?.state == "CANCELLED" && sacct?.runSeconds == 12 && sacct?.outcome() == .cancelled)
    }
}

