import Foundation

/// The Slurm commands the executor uses. ``SlurmCLI`` runs the real ones;
/// tests give a fake cluster that answers without a controller or a clock.
public protocol SlurmCommands: Sendable {
    /// `sbatch --parsable ARGUMENTS SCRIPT`: the new job's id.
    func submit(arguments: [String], script: String) throws -> String
    /// What Slurm knows of the job now; nil when it knows no such job (never
    /// submitted, or forgotten since it ended and no accounting remembers it).
    func job(_ id: String) throws -> SlurmJobInfo?
    /// The id of the job with this name (a submission whose owner died
    /// before it recorded the id), or nil.
    func jobID(named name: String) throws -> String?
    /// `scancel ID`.
    func cancel(_ id: String) throws
    /// The cluster's name (`ClusterName`), the location in the job handles.
    func clusterName() throws -> String
}

/// A Slurm command that failed: which, how, and what it said.
public struct SlurmCommandFailed: Error, CustomStringConvertible, Sendable {
    public var command: String
    public var status: Int32
    public var message: String

    public var description: String {
        let said = message.trimmingWhitespace().split(separator: "\n").suffix(3).joined(separator: "; ")
        return "`\(command)` failed (exit \(status))" + (said.isEmpty ? "" : ": \(said)")
    }
}

/// The real Slurm client commands, found on PATH; they read the cluster from
/// the usual places (`SLURM_CONF`, `/etc/slurm/slurm.conf`, configless DNS).
public struct SlurmCLI: SlurmCommands {
    /// Seconds before a command that does not answer is killed.
    public var timeout: Double

    public init(timeout: Double = 60) { self.timeout = timeout }

    func tool(_ name: String) throws -> String {
        guard let path = ToolProcess.locate(name) else {
            throw SlurmCommandFailed(command: name, status: 127,
                                     message: "\(name) is not on PATH: install the Slurm client (Debian: slurm-client)")
        }
        return path
    }

    func run(_ name: String, _ args: [String]) throws -> ToolProcess.Result {
        let r = try ToolProcess.run(try tool(name), args, timeout: timeout)
        if r.timedOut {
            throw SlurmCommandFailed(command: ([name] + args).joined(separator: " "), status: -1,
                                     message: "no answer within \(Int(timeout)) s")
        }
        return r
    }

    public func submit(arguments: [String], script: String) throws -> String {
        let args = ["--parsable"] + arguments + [script]
        let r = try run("sbatch", args)
        guard r.succeeded else {
            throw SlurmCommandFailed(command: "sbatch", status: r.status, message: r.stderr.isEmpty ? r.stdout : r.stderr)
        }
        // `--parsable` prints `ID` or `ID;CLUSTER`.
        let line = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let id = String(line.split(separator: ";").first ?? "").trimmingWhitespace()
        guard !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "_") }) else {
            throw SlurmCommandFailed(command: "sbatch", status: r.status, message: "unexpected answer '\(r.stdout)'")
        }
        return id
    }

    public func job(_ id: String) throws -> SlurmJobInfo? {
        let r = try run("scontrol", ["show", "job", "-o", id])
        if r.succeeded, let info = SlurmJobInfo.parseScontrol(r.stdout) { return info }
        if !r.succeeded, !(r.stderr + r.stdout).contains("Invalid job id") {
            throw SlurmCommandFailed(command: "scontrol show job \(id)", status: r.status, message: r.stderr)
        }
        // Gone from the controller's memory: accounting remembers, where there is some.
        guard let sacct = try? run("sacct", ["-n", "-P", "-X", "-j", id, "-o",
                                             "JobID,State,ExitCode,Reason,NodeList,ElapsedRaw,Timelimit,Submit,Start,End,AllocTRES,Partition"]),
              sacct.succeeded else { return nil }
        return SlurmJobInfo.parseSacct(sacct.stdout, id: id)
    }

    public func jobID(named name: String) throws -> String? {
        let r = try run("squeue", ["-h", "-t", "all", "--name=\(name)", "-o", "%i"])
        guard r.succeeded else { throw SlurmCommandFailed(command: "squeue --name=\(name)", status: r.status, message: r.stderr) }
        return r.stdout.split(separator: "\n").map { String($0).trimmingWhitespace() }.first { !$0.isEmpty }
    }

    public func cancel(_ id: String) throws {
        let r = try run("scancel", [id])
        // A job that already ended is not an error worth stopping for.
        if !r.succeeded, !(r.stderr.contains("already completing or completed") || r.stderr.contains("Invalid job id")) {
            throw SlurmCommandFailed(command: "scancel \(id)", status: r.status, message: r.stderr)
        }
    }

    public func clusterName() throws -> String {
        // The configuration file names it without a round trip to the controller.
        if let conf = ProcessInfo.processInfo.environment["SLURM_CONF"] ?? (FileManager.default.fileExists(atPath: "/etc/slurm/slurm.conf") ? "/etc/slurm/slurm.conf" : nil),
           let text = try? String(contentsOfFile: conf, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let t = String(line).trimmingWhitespace()
                guard t.lowercased().hasPrefix("clustername") , let eq = t.firstIndex(of: "=") else { continue }
                let name = String(t[t.index(after: eq)...]).trimmingWhitespace()
                if !name.isEmpty { return name }
            }
        }
        let r = try run("scontrol", ["show", "config"])
        guard r.succeeded else { throw SlurmCommandFailed(command: "scontrol show config", status: r.status, message: r.stderr) }
        for line in r.stdout.split(separator: "\n") where line.hasPrefix("ClusterName") {
            if let eq = line.firstIndex(of: "=") { return String(line[line.index(after: eq)...]).trimmingWhitespace() }
        }
        return "default"
    }
}
