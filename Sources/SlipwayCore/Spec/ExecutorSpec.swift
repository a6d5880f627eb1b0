import Yams

/// Where a stage's command runs: `executor:` on a stage, or on a pipeline as
/// the default of its command stages.
///
/// ```yaml
/// executor: {kind: slurm, partition: gpu, gres: "gpu:1", cpus: 8, mem: 32G,
///            time: "2:00:00", account: ml, qos: normal, sbatch: [--constraint=a100]}
/// ```
///
/// `kind: local` (the default) runs the command as a child process; `kind:
/// slurm` submits it with `sbatch`. The executor is not part of a stage's
/// cache key: the same stage run locally and on Slurm produces the same
/// result, so either reuses the other's.
public struct ExecutorSpec: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case local
        case slurm
    }

    public var kind: Kind
    /// Slurm partition(s), `--partition`.
    public var partition: String?
    /// Generic resources, `--gres` (`gpu:1`, `gpu:a100:2`).
    public var gres: String?
    /// CPUs for the stage's one task, `--cpus-per-task`.
    public var cpus: Int?
    /// Memory per node, `--mem`, as Slurm writes it (`32G`, `500M`, `1024`).
    public var mem: String?
    /// Time limit, `--time`, as Slurm writes it (`90`, `2:00:00`, `1-12`).
    public var time: String?
    public var account: String?
    public var qos: String?
    /// Further `sbatch` arguments, passed as given after Slipway's own.
    public var sbatch: [String]

    public init(kind: Kind = .local, partition: String? = nil, gres: String? = nil, cpus: Int? = nil, mem: String? = nil,
                time: String? = nil, account: String? = nil, qos: String? = nil, sbatch: [String] = []) {
        self.kind = kind
        self.partition = partition
        self.gres = gres
        self.cpus = cpus
        self.mem = mem
        self.time = time
        self.account = account
        self.qos = qos
        self.sbatch = sbatch
    }

    public static let local = ExecutorSpec()

    /// The keys `executor:` accepts (docs/slipway-yaml.md is checked against them).
    public static let keys = ["kind", "partition", "gres", "cpus", "mem", "time", "account", "qos", "sbatch"]
    static let slurmOnlyKeys = ["partition", "gres", "cpus", "mem", "time", "account", "qos", "sbatch"]

    /// A stage's executor over its pipeline's default: the stage's keys win;
    /// a stage naming another kind takes nothing from the default.
    public func over(_ pipelineDefault: ExecutorSpec?, stageSetKind: Bool) -> ExecutorSpec {
        guard let base = pipelineDefault, !stageSetKind || base.kind == kind else { return self }
        var merged = base
        merged.partition = partition ?? base.partition
        merged.gres = gres ?? base.gres
        merged.cpus = cpus ?? base.cpus
        merged.mem = mem ?? base.mem
        merged.time = time ?? base.time
        merged.account = account ?? base.account
        merged.qos = qos ?? base.qos
        merged.sbatch = base.sbatch + sbatch
        return merged
    }

    /// What was asked for, in a few words: `partition=gpu gres=gpu:1 cpus=8 mem=32G time=2:00:00`.
    public var requestSummary: String {
        var parts: [String] = []
        if let partition { parts.append("partition=\(partition)") }
        if let gres { parts.append("gres=\(gres)") }
        if let cpus { parts.append("cpus=\(cpus)") }
        if let mem { parts.append("mem=\(mem)") }
        if let time { parts.append("time=\(time)") }
        if let account { parts.append("account=\(account)") }
        if let qos { parts.append("qos=\(qos)") }
        parts += sbatch
        return parts.joined(separator: " ")
    }
}

// MARK: - Slurm's value formats

extension ExecutorSpec {
    /// Seconds in a Slurm time limit: `minutes`, `minutes:seconds`,
    /// `hours:minutes:seconds`, `days-hours`, `days-hours:minutes`,
    /// `days-hours:minutes:seconds`; nil when Slurm would refuse it.
    /// `UNLIMITED` and `INFINITE` are `.infinity`.
    public static func slurmTimeSeconds(_ text: String) -> Double? {
        let t = text.trimmingWhitespace()
        if ["UNLIMITED", "INFINITE", "unlimited", "infinite"].contains(t) { return .infinity }
        func number(_ s: Substring) -> Int? {
            guard !s.isEmpty, s.count <= 9, s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int(s)
        }
        let dayParts = t.split(separator: "-", omittingEmptySubsequences: false)
        guard dayParts.count <= 2 else { return nil }
        if dayParts.count == 2 {
            guard let days = number(dayParts[0]) else { return nil }
            let rest = dayParts[1].split(separator: ":", omittingEmptySubsequences: false)
            guard (1...3).contains(rest.count) else { return nil }
            let values = rest.map(number)
            guard values.allSatisfy({ $0 != nil }) else { return nil }
            let v = values.map { $0! }
            let h = v[0], m = v.count > 1 ? v[1] : 0, s = v.count > 2 ? v[2] : 0
            guard h < 24 || v.count == 1, m < 60, s < 60 else { return nil }
            return Double(((days * 24 + h) * 60 + m) * 60 + s)
        }
        let parts = t.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count) else { return nil }
        let values = parts.map(number)
        guard values.allSatisfy({ $0 != nil }) else { return nil }
        let v = values.map { $0! }
        switch v.count {
        case 1: return Double(v[0] * 60)
        case 2: guard v[1] < 60 else { return nil }; return Double(v[0] * 60 + v[1])
        default: guard v[1] < 60, v[2] < 60 else { return nil }; return Double((v[0] * 60 + v[1]) * 60 + v[2])
        }
    }

    /// Megabytes in a Slurm memory size (`32G`, `500M`, `1T`, `2048` in MB,
    /// `4096K`); nil when Slurm would refuse it.
    public static func slurmMemoryMegabytes(_ text: String) -> Double? {
        var t = Substring(text.trimmingWhitespace())
        guard let last = t.last else { return nil }
        var factor = 1.0
        if last.isLetter {
            switch last {
            case "K", "k": factor = 1.0 / 1024
            case "M", "m": factor = 1
            case "G", "g": factor = 1024
            case "T", "t": factor = 1024 * 1024
            default: return nil
            }
            t = t.dropLast()
        }
        guard !t.isEmpty, t.count <= 12, t.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Double(t) else { return nil }
        return n * factor
    }

    /// A `--gres` list: `NAME[:TYPE][:COUNT]`, comma separated (`gpu:1`, `gpu:a100:2,shard:1`).
    public static func isSlurmGres(_ text: String) -> Bool {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        guard !items.isEmpty else { return false }
        for item in items {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(isNameCharacter) }) else { return false }
            guard parts[0].first?.isLetter == true else { return false }
            if parts.count == 3, Int(parts[2]).map({ $0 < 1 }) ?? true { return false }
            if parts.count == 2, let n = Int(parts[1]), n < 1 { return false }
        }
        return true
    }

    /// A partition list, account or QOS name: letters, digits, `_ . -`
    /// (and `,` between partitions).
    static func isSlurmName(_ text: String, list: Bool) -> Bool {
        !text.isEmpty && text.count <= 200 && text.allSatisfy { isNameCharacter($0) || (list && $0 == ",") }
            && !text.hasPrefix(",") && !text.hasSuffix(",") && !text.contains(",,")
    }

    static func isNameCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-" || c == ".")
    }

    /// `sbatch` options Slipway sets itself, or that would break following
    /// the job (an array, `--wait`, another output file): refused in `sbatch:`.
    static let reservedSbatchOptions: [String: String] = [
        "--output": "the stage log is the job's output", "-o": "the stage log is the job's output",
        "--error": "stdout and stderr share the stage log", "-e": "stdout and stderr share the stage log",
        "--input": "a stage reads no standard input", "-i": "a stage reads no standard input",
        "--parsable": "Slipway sets it", "--wrap": "the stage's `cmd` is the job",
        "--chdir": "the job runs in the workspace", "-D": "the job runs in the workspace",
        "--export": "the stage's environment is exported by its batch script", "--export-file": "the stage's environment is exported by its batch script",
        "--wait": "Slipway follows the job itself", "-W": "Slipway follows the job itself",
        "--array": "a stage is one job, not an array", "-a": "a stage is one job, not an array",
        "--test-only": "the job would never run", "--open-mode": "Slipway appends to the stage log",
        "--job-name": "Slipway names the job after the run and stage", "-J": "Slipway names the job after the run and stage",
        "--cpus-per-task": "use `cpus:`", "-c": "use `cpus:`", "--mem": "use `mem:`", "--time": "use `time:`", "-t": "use `time:`",
        "--partition": "use `partition:`", "-p": "use `partition:`", "--gres": "use `gres:`",
        "--account": "use `account:`", "-A": "use `account:`", "--qos": "use `qos:`", "-q": "use `qos:`",
    ]

    /// Why an extra `sbatch` argument is refused, or nil.
    static func sbatchArgumentProblem(_ arg: String) -> String? {
        guard arg.hasPrefix("-") else {
            return "'\(arg)' is not an option: each item is one sbatch option, e.g. --constraint=a100 or --exclusive"
        }
        if arg.contains("\n") || arg.contains("\0") { return "an sbatch option cannot contain a line break" }
        var name = String(arg.prefix { $0 != "=" })
        // `-pgpu`: a short option with its value attached.
        if !name.hasPrefix("--"), name.count > 2 { name = String(name.prefix(2)) }
        if let why = reservedSbatchOptions[name] { return "\(name) is not allowed here: \(why)" }
        return nil
    }
}

// MARK: - Parsing

/// Reads an `executor:` value; every problem is collected, with its place.
public struct ExecutorSpecParser {
    let file: String
    public private(set) var issues: [SpecIssue] = []

    public init(file: String) { self.file = file }

    /// Parses `executor:` at `path` (e.g. `pipelines.p.stages.train.executor`).
    /// Returns the spec and whether it names its kind (a stage that names
    /// another kind than its pipeline's default takes nothing from it).
    public mutating func parse(_ node: Node, path: String) -> (spec: ExecutorSpec, namesKind: Bool)? {
        if case .scalar(let s) = node {
            // `executor: slurm` is short for `{kind: slurm}`.
            guard let kind = kind(s.string, node, path) else { return nil }
            return (ExecutorSpec(kind: kind), true)
        }
        guard case .mapping(let map) = node else {
            issue(node, path, "must be `local`, `slurm` or a mapping such as {kind: slurm, partition: gpu}")
            return nil
        }
        var spec = ExecutorSpec()
        var namesKind = false
        var setSlurmKeys: [(String, Node)] = []
        for (k, v) in map {
            guard let key = k.string else { continue }
            let p = "\(path).\(key)"
            switch key {
            case "kind":
                guard let text = scalarText(v, p) else { continue }
                if let kind = kind(text, v, p) { spec.kind = kind; namesKind = true }
            case "partition":
                setSlurmKeys.append((key, k))
                if let t = scalarText(v, p) {
                    if ExecutorSpec.isSlurmName(t, list: true) { spec.partition = t }
                    else { issue(v, p, "'\(t)' is not a partition name (letters, digits, _ . -; several separated by commas)") }
                }
            case "account", "qos":
                setSlurmKeys.append((key, k))
                if let t = scalarText(v, p) {
                    if ExecutorSpec.isSlurmName(t, list: false) { if key == "account" { spec.account = t } else { spec.qos = t } }
                    else { issue(v, p, "'\(t)' is not a Slurm \(key == "qos" ? "QOS" : "account") name (letters, digits, _ . -)") }
                }
            case "gres":
                setSlurmKeys.append((key, k))
                if let t = scalarText(v, p) {
                    if ExecutorSpec.isSlurmGres(t) { spec.gres = t }
                    else { issue(v, p, "'\(t)' is not a gres request: write NAME[:TYPE][:COUNT], e.g. \"gpu:1\" or \"gpu:a100:2\"") }
                }
            case "cpus":
                setSlurmKeys.append((key, k))
                if case .scalar(let s) = v, let n = Int(s.string), n >= 1, n <= 100_000 { spec.cpus = n }
                else { issue(v, p, "must be a whole number of CPUs ≥ 1, found \(describe(v))") }
            case "mem":
                setSlurmKeys.append((key, k))
                if let t = scalarText(v, p) {
                    if let mb = ExecutorSpec.slurmMemoryMegabytes(t), mb > 0 { spec.mem = t }
                    else {
                        let hint = t.uppercased().hasSuffix("B") ? " (Slurm writes 32G, not 32GB)" : ""
                        issue(v, p, "'\(t)' is not a memory size: a positive number with K, M, G or T (megabytes without)\(hint), e.g. 32G")
                    }
                }
            case "time":
                setSlurmKeys.append((key, k))
                if let t = scalarText(v, p) {
                    if let seconds = ExecutorSpec.slurmTimeSeconds(t), seconds > 0 { spec.time = t }
                    else {
                        issue(v, p, "'\(t)' is not a Slurm time limit: write minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (e.g. \"2:00:00\")")
                    }
                }
            case "sbatch":
                setSlurmKeys.append((key, k))
                spec.sbatch = sbatchArguments(v, p)
            default:
                let hint = Suggestions.closest(to: key, in: ExecutorSpec.keys).map { " (did you mean '\($0)'?)" } ?? ""
                issue(k, p, "unknown key\(hint); `executor:` takes \(ExecutorSpec.keys.joined(separator: ", "))")
            }
        }
        if spec.kind == .local && namesKind {
            for (key, node) in setSlurmKeys {
                issue(node, "\(path).\(key)", "applies to `kind: slurm`; a local stage runs on this machine")
            }
        }
        return (spec, namesKind)
    }

    private mutating func kind(_ text: String, _ node: Node, _ path: String) -> ExecutorSpec.Kind? {
        if let k = ExecutorSpec.Kind(rawValue: text) { return k }
        if text == "kubernetes" || text == "k8s" {
            issue(node, path, "the Kubernetes executor is not built yet (docs/architecture.md); kinds: local, slurm")
            return nil
        }
        let hint = Suggestions.closest(to: text, in: ExecutorSpec.Kind.allCases.map(\.rawValue)).map { " (did you mean '\($0)'?)" } ?? ""
        issue(node, path, "unknown executor kind '\(text)'\(hint); kinds: local, slurm")
        return nil
    }

    private mutating func sbatchArguments(_ node: Node, _ path: String) -> [String] {
        let items: [Node]
        switch node {
        case .scalar: items = [node]
        case .sequence(let seq): items = Array(seq)
        default:
            issue(node, path, "must be a list of sbatch options, e.g. [--constraint=a100, --exclusive]")
            return []
        }
        var result: [String] = []
        for (i, item) in items.enumerated() {
            let p = node.sequence != nil ? "\(path)[\(i)]" : path
            guard let text = scalarText(item, p) else { continue }
            if let problem = ExecutorSpec.sbatchArgumentProblem(text) { issue(item, p, problem) } else { result.append(text) }
        }
        return result
    }

    private mutating func scalarText(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let s) = node else {
            issue(node, path, "must be a single value, found \(describe(node))")
            return nil
        }
        if s.style == .plain, s.string.isEmpty || s.string == "~" || s.string == "null" {
            issue(node, path, "is empty")
            return nil
        }
        return s.string
    }

    private func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return s.string.isEmpty ? "nothing" : "'\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    private mutating func issue(_ node: Node, _ path: String, _ message: String) {
        issues.append(SpecIssue(file: file, mark: node.mark, keyPath: path, message: message))
    }
}
