/// One Slurm job as `scontrol show job -o` (or `sacct`) describes it.
public struct SlurmJobInfo: Sendable, Hashable {
    public var id: String
    /// Slurm's state word: `PENDING`, `RUNNING`, `COMPLETING`, `COMPLETED`,
    /// `FAILED`, `TIMEOUT`, `CANCELLED`, `OUT_OF_MEMORY`, `NODE_FAIL`, …
    public var state: String
    /// Why it waits (or why it ended): `Resources`, `Priority`,
    /// `QOSMaxJobsPerUserLimit`, `ReqNodeNotAvail, UnavailableNodes:gpu1`, …
    public var reason: String?
    /// `ExitCode=N:S`: the exit code, and the signal that ended it (0 for none).
    public var exitCode: Int32?
    public var exitSignal: Int32?
    /// The nodes it runs or ran on.
    public var nodes: String?
    /// Seconds it has run (`RunTime`).
    public var runSeconds: Double?
    /// `TimeLimit` as Slurm writes it, and in seconds (infinity for `UNLIMITED`).
    public var timeLimit: String?
    public var timeLimitSeconds: Double?
    public var submitTime: String?
    public var startTime: String?
    public var endTime: String?
    /// Trackable resources allocated (`cpu=8,mem=32G,node=1,billing=8`).
    public var tres: String?
    public var partition: String?

    public init(id: String, state: String, reason: String? = nil, exitCode: Int32? = nil, exitSignal: Int32? = nil,
                nodes: String? = nil, runSeconds: Double? = nil, timeLimit: String? = nil, timeLimitSeconds: Double? = nil,
                submitTime: String? = nil, startTime: String? = nil, endTime: String? = nil, tres: String? = nil,
                partition: String? = nil) {
        self.id = id
        self.state = state
        self.reason = reason
        self.exitCode = exitCode
        self.exitSignal = exitSignal
        self.nodes = nodes
        self.runSeconds = runSeconds
        self.timeLimit = timeLimit
        self.timeLimitSeconds = timeLimitSeconds
        self.submitTime = submitTime
        self.startTime = startTime
        self.endTime = endTime
        self.tres = tres
        self.partition = partition
    }

    /// States after which the job does nothing more.
    public static let finalStates: Set<String> = ["COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "PREEMPTED",
                                                  "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "REVOKED", "SPECIAL_EXIT"]

    public var isFinal: Bool { Self.finalStates.contains(state) }
    public var isPending: Bool { ["PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"].contains(state) }
    /// Started and not yet over (running, completing, suspended).
    public var isStarted: Bool { !isPending && !isFinal }

    /// How the stage ended, for a job in a final state. `cancelRequested`:
    /// this executor sent the `scancel` (a cancel from elsewhere is reported
    /// as cancelled too, and said so in the stage log).
    public func outcome() -> JobOutcome {
        let code = exitCode ?? 0, signal = exitSignal ?? 0
        switch state {
        case "COMPLETED":
            return .exited(code)
        case "FAILED":
            if signal != 0 { return .signalled(signal) }
            if code != 0 { return .exited(code) }
            // Failed without an exit code: the batch script never ran.
            return .failedToStart("Slurm could not launch the job" + (reason.map { " (\($0))" } ?? ""))
        case "TIMEOUT":
            return .timedOut(after: timeLimitSeconds.flatMap { $0.isFinite ? $0 : nil } ?? runSeconds ?? 0)
        case "CANCELLED":
            return .cancelled
        case "OUT_OF_MEMORY":
            return .endedByCluster(state: state, reason: "the job used more memory than it was given (`mem:`)")
        case "NODE_FAIL":
            return .endedByCluster(state: state, reason: "its node failed" + (nodes.map { " (\($0))" } ?? ""))
        case "PREEMPTED":
            return .endedByCluster(state: state, reason: "a job of higher priority took its resources")
        case "DEADLINE":
            return .endedByCluster(state: state, reason: "it could not finish before its deadline")
        case "BOOT_FAIL":
            return .endedByCluster(state: state, reason: "its node could not boot")
        default:
            return .endedByCluster(state: state, reason: reason ?? "")
        }
    }

    /// The reason shown for a pending job the scheduler has not examined yet.
    public static let notYetScheduled = "not yet examined by the scheduler"

    /// The job as a ``JobStatus`` for the stage record.
    public func status(requested: String?) -> JobStatus {
        let started = startTime.flatMap(Self.seconds(sinceEpochOf:))
        let submitted = submitTime.flatMap(Self.seconds(sinceEpochOf:))
        var queued: Double?
        if let started, let submitted, started >= submitted, !isPending { queued = started - submitted }
        // Slurm writes no reason (`None`) until its scheduler has looked at the job.
        let shownReason = isPending && reason == nil ? Self.notYetScheduled : reason
        var s = JobStatus(executor: "slurm", jobID: id, state: state, reason: shownReason, node: nodes, requested: requested,
                          allocated: isPending ? nil : tres, elapsed: isPending ? nil : runSeconds, queued: queued,
                          timeLimit: timeLimit)
        if isFinal, let exitCode { s.exitCode = "\(exitCode):\(exitSignal ?? 0)" }
        return s
    }
}

// MARK: - Reading Slurm's text

extension SlurmJobInfo {
    /// Parses one job of `scontrol show job -o` (`Key=Value` pairs, one line).
    /// Values may hold spaces (paths, a job name): a word without `=` belongs
    /// to the value before it. The first occurrence of a key wins, and the
    /// keys read here all come before the paths and comments in Slurm's order.
    public static func parseScontrol(_ text: String) -> SlurmJobInfo? {
        let line = text.split(separator: "\n").first { $0.contains("JobId=") } ?? Substring(text)
        var fields: [String: String] = [:]
        var lastKey: String?
        for word in line.split(separator: " ", omittingEmptySubsequences: true) {
            if let eq = word.firstIndex(of: "="), eq != word.startIndex,
               word[..<eq].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "/" || $0 == ":" }) {
                let key = String(word[..<eq])
                if fields[key] == nil {
                    fields[key] = String(word[word.index(after: eq)...])
                    lastKey = key
                } else {
                    lastKey = nil
                }
            } else if let k = lastKey {
                fields[k, default: ""] += " " + word
            }
        }
        guard let id = fields["JobId"], !id.isEmpty, let state = fields["JobState"] else { return nil }
        return from(id: id, fields: fields, state: state)
    }

    /// Parses `sacct -n -P -X -o JobID,State,ExitCode,Reason,NodeList,ElapsedRaw,Timelimit,Submit,Start,End,AllocTRES,Partition`.
    public static func parseSacct(_ text: String, id: String) -> SlurmJobInfo? {
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 12, f[0] == id else { continue }
            // sacct writes `CANCELLED by 0`: the state is the first word.
            let state = String(f[1].split(separator: " ").first ?? "")
            var info = SlurmJobInfo(id: id, state: state)
            let codes = f[2].split(separator: ":")
            info.exitCode = codes.first.flatMap { Int32($0) }
            info.exitSignal = codes.count > 1 ? Int32(codes[1]) : nil
            info.reason = nonEmpty(f[3])
            info.nodes = nonEmpty(f[4])
            info.runSeconds = Double(f[5])
            info.timeLimit = nonEmpty(f[6])
            info.timeLimitSeconds = info.timeLimit.flatMap(ExecutorSpec.slurmTimeSeconds)
            info.submitTime = nonEmpty(f[7]); info.startTime = nonEmpty(f[8]); info.endTime = nonEmpty(f[9])
            info.tres = nonEmpty(f[10]); info.partition = nonEmpty(f[11])
            return info
        }
        return nil
    }

    static func from(id: String, fields: [String: String], state: String) -> SlurmJobInfo {
        var info = SlurmJobInfo(id: id, state: state)
        if let r = fields["Reason"], r != "None", !r.isEmpty {
            // The one-line form writes the reason's spaces as underscores.
            info.reason = r.replacingOccurrences(of: "_", with: " ")
        }
        if let e = fields["ExitCode"] {
            let parts = e.split(separator: ":")
            info.exitCode = parts.first.flatMap { Int32($0) }
            info.exitSignal = parts.count > 1 ? Int32(parts[1]) : nil
        }
        info.nodes = fields["NodeList"].flatMap(nonEmpty) ?? fields["BatchHost"].flatMap(nonEmpty)
        info.runSeconds = fields["RunTime"].flatMap(durationSeconds)
        info.timeLimit = fields["TimeLimit"].flatMap(nonEmpty)
        info.timeLimitSeconds = info.timeLimit.flatMap(durationSeconds)
        info.submitTime = fields["SubmitTime"].flatMap(nonEmpty)
        info.startTime = fields["StartTime"].flatMap(nonEmpty)
        info.endTime = fields["EndTime"].flatMap(nonEmpty)
        info.tres = (fields["AllocTRES"] ?? fields["TRES"]).flatMap(nonEmpty)
        info.partition = fields["Partition"].flatMap(nonEmpty)
        return info
    }

    static func nonEmpty(_ s: String) -> String? {
        let t = s.trimmingWhitespace()
        return t.isEmpty || t == "(null)" || t == "None" || t == "Unknown" || t == "None assigned" ? nil : t
    }

    /// Seconds in Slurm's durations (`RunTime=01:02:03`, `1-00:00:00`,
    /// `TimeLimit=UNLIMITED`); both `MM:SS` and `HH:MM:SS` as Slurm prints them.
    static func durationSeconds(_ text: String) -> Double? {
        if text == "UNLIMITED" || text == "INFINITE" { return .infinity }
        var days = 0
        var rest = Substring(text)
        if let dash = rest.firstIndex(of: "-") {
            guard let d = Int(rest[..<dash]) else { return nil }
            days = d
            rest = rest[rest.index(after: dash)...]
        }
        let parts = rest.split(separator: ":").map { Int($0) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        let v = parts.map { $0! }
        let seconds: Int
        switch v.count {
        case 3: seconds = (v[0] * 60 + v[1]) * 60 + v[2]
        case 2: seconds = v[0] * 60 + v[1]
        default: seconds = v[0] * 60
        }
        return Double(days * 86400 + seconds)
    }

    /// Slurm's local timestamps (`2026-11-30T19:31:27`) as seconds since the
    /// epoch, for differences only (submit to start).
    static func seconds(sinceEpochOf text: String) -> Double? {
        let parts = text.split(whereSeparator: { $0 == "-" || $0 == "T" || $0 == ":" }).map { Int32($0) }
        guard parts.count == 6, parts.allSatisfy({ $0 != nil }) else { return nil }
        let v = parts.map { $0! }
        var t = tm()
        t.tm_year = v[0] - 1900; t.tm_mon = v[1] - 1; t.tm_mday = v[2]
        t.tm_hour = v[3]; t.tm_min = v[4]; t.tm_sec = v[5]
        return Double(timegm(&t))
    }
}

import Foundation
