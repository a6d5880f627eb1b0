import Foundation

/// A checked spec and its params in a compact binary form, read back far
/// faster than `slipway.yaml` is parsed and checked: at 1,000 stages parsing
/// is a third of a no-op `run`, reading this a few per cent.
///
/// Only a spec that loaded without a problem is archived, and the engine
/// keeps it under the digest of the files' bytes and of the program
/// (`.slipway/spec-archive`), so what is read back is what this build would
/// parse from the same bytes.
///
/// The pipelines, which grow with the spec, are written field by field
/// (`SpecArchiveTests` fails when one of their types gains a field this file
/// does not write); the rest (environments, monitors, policy, signing), a
/// few entries whatever the size of the spec, go as JSON through their
/// `Codable` conformances.
public enum SpecArchive {
    /// The layout's name and number: bump the number when the layout changes.
    static let magic = Array("slipway-spec-archive 1\n".utf8)

    public static func encode(_ spec: WorkspaceSpec, params: Params) -> [UInt8]? {
        let rest = Rest(spec)
        // JSON has no infinities: a spec holding one is simply not archived.
        let json = JSONEncoder()
        json.outputFormatting = .sortedKeys
        guard let restBytes = try? json.encode(rest) else { return nil }
        var w = ArchiveWriter()
        w.string(spec.file)
        w.string(spec.project)
        w.array(spec.pipelines) { $0.pipeline($1) }
        w.optional(spec.registry) { $0.located($1) }
        w.optional(spec.store) { $0.located($1) }
        w.blob(Array(restBytes))
        let values = params.values.sorted { $0.key < $1.key }
        w.array(values) { w, kv in w.string(kv.key); w.string(kv.value) }
        return w.finished(magic: magic)
    }

    /// The spec and params `bytes` hold; nil when they are not an archive
    /// this build wrote (damaged, cut short, another layout).
    public static func decode(_ bytes: [UInt8]) -> (spec: WorkspaceSpec, params: Params)? {
        do {
            var r = try ArchiveReader(bytes, magic: magic)
            var spec = WorkspaceSpec(file: try r.string(), project: try r.string())
            spec.pipelines = try r.array { r throws(ArchiveReader.Malformed) in try r.pipeline() }
            spec.registry = try r.optional { r throws(ArchiveReader.Malformed) in try r.located() }
            spec.store = try r.optional { r throws(ArchiveReader.Malformed) in try r.located() }
            let restBytes = try r.blob()
            var values: [String: String] = [:]
            let n = try r.count()
            values.reserveCapacity(Swift.min(n, ArchiveReader.maxReserve))
            for _ in 0..<n { values[try r.string()] = try r.string() }
            guard r.atEnd, let rest = try? JSONDecoder().decode(Rest.self, from: Data(restBytes)) else { return nil }
            rest.apply(to: &spec)
            return (spec, Params(values: values))
        } catch {
            return nil
        }
    }

    /// Everything but the pipelines, registry and store.
    struct Rest: Codable {
        var environments: [EnvironmentSpec]
        var policy: SpecValue?
        var monitors: [SpecValue.MapEntry]
        var monitorSpecs: [MonitorSpec]
        var signing: SigningSpec
        var rules: PolicySpec

        init(_ spec: WorkspaceSpec) {
            environments = spec.environments
            policy = spec.policy
            monitors = spec.monitors
            monitorSpecs = spec.monitorSpecs
            signing = spec.signing
            rules = spec.rules
        }

        func apply(to spec: inout WorkspaceSpec) {
            spec.environments = environments
            spec.policy = policy
            spec.monitors = monitors
            spec.monitorSpecs = monitorSpecs
            spec.signing = signing
            spec.rules = rules
        }
    }
}

// MARK: - Pipelines, field by field

extension ArchiveWriter {
    mutating func location(_ l: SourceLocation) {
        string(l.file)
        int(l.line)
        int(l.column)
    }

    mutating func located(_ l: Located<String>) {
        string(l.value)
        optional(l.location) { $0.location($1) }
    }

    mutating func locatedList(_ list: [Located<String>]) {
        array(list) { $0.located($1) }
    }

    mutating func pipeline(_ p: PipelineSpec) {
        string(p.name)
        optional(p.location) { $0.location($1) }
        optional(p.model) { $0.string($1) }
        array(p.triggers) { $0.trigger($1) }
        array(p.stages) { $0.stage($1) }
        int(p.maxConcurrentRuns)
        optional(p.executor) { $0.executor($1) }
    }

    mutating func trigger(_ t: TriggerSpec) {
        switch t {
        case .manual: count(0)
        case .commit: count(1)
        case .data(let path): count(2); string(path)
        case .schedule(let cron): count(3); string(cron)
        case .drift(let monitor): count(4); string(monitor)
        }
    }

    mutating func stage(_ s: StageSpec) {
        string(s.name)
        optional(s.location) { $0.location($1) }
        optional(s.command) { $0.located($1) }
        optional(s.builtin) { $0.string($1.rawValue) }
        locatedList(s.deps)
        locatedList(s.params)
        locatedList(s.outs)
        locatedList(s.metrics)
        locatedList(s.needs)
        locatedList(s.env)
        optional(s.timeout) { $0.double($1) }
        array(s.gates) { w, g in
            w.string(g.metric)
            w.string(g.condition.text)
            w.optional(g.location) { $0.location($1) }
        }
        string(s.baseline)
        string(s.onNoBaseline.rawValue)
        // Sorted: the same stage always makes the same bytes.
        array(s.options.sorted { $0.key < $1.key }) { w, kv in w.string(kv.key); w.value(kv.value) }
        executor(s.executor)
        optional(s.matrix) { w, m in
            w.string(m.base)
            w.array(m.axes) { $0.string($1) }
            w.array(m.values) { $0.string($1) }
        }
    }

    mutating func executor(_ e: ExecutorSpec) {
        string(e.kind.rawValue)
        for text in [e.partition, e.gres] { optional(text) { $0.string($1) } }
        optional(e.cpus) { $0.int($1) }
        for text in [e.mem, e.time, e.account, e.qos] { optional(text) { $0.string($1) } }
        array(e.sbatch) { $0.string($1) }
    }

    mutating func value(_ v: SpecValue) {
        switch v {
        case .null: count(0)
        case .bool(let b): count(1); bool(b)
        case .number(let n): count(2); double(n)
        case .string(let s): count(3); string(s)
        case .list(let items): count(4); array(items) { $0.value($1) }
        case .map(let entries): count(5); array(entries) { w, e in w.string(e.key); w.value(e.value) }
        }
    }
}

extension ArchiveReader {
    typealias Failure = ArchiveReader.Malformed

    mutating func location() throws(Failure) -> SourceLocation {
        SourceLocation(file: try string(), line: try int(), column: try int())
    }

    mutating func located() throws(Failure) -> Located<String> {
        Located(try string(), at: try optional { r throws(Failure) in try r.location() })
    }

    mutating func locatedList() throws(Failure) -> [Located<String>] {
        try array { r throws(Failure) in try r.located() }
    }

    mutating func optionalString() throws(Failure) -> String? {
        try optional { r throws(Failure) in try r.string() }
    }

    mutating func pipeline() throws(Failure) -> PipelineSpec {
        let name = try string()
        let location = try optional { r throws(Failure) in try r.location() }
        let model = try optionalString()
        let triggers = try array { r throws(Failure) in try r.trigger() }
        let stages = try array { r throws(Failure) in try r.stage() }
        var p = PipelineSpec(name: name, location: location, model: model, triggers: triggers, stages: stages)
        p.maxConcurrentRuns = try int()
        p.executor = try optional { r throws(Failure) in try r.executor() }
        return p
    }

    mutating func trigger() throws(Failure) -> TriggerSpec {
        switch try uint() {
        case 0: return .manual
        case 1: return .commit
        case 2: return .data(path: try string())
        case 3: return .schedule(cron: try string())
        case 4: return .drift(monitor: try string())
        default: throw Failure()
        }
    }

    mutating func stage() throws(Failure) -> StageSpec {
        var s = StageSpec(name: try string())
        s.location = try optional { r throws(Failure) in try r.location() }
        s.command = try optional { r throws(Failure) in try r.located() }
        s.builtin = try optional { r throws(Failure) in try r.raw(BuiltinStage.self) }
        s.deps = try locatedList()
        s.params = try locatedList()
        s.outs = try locatedList()
        s.metrics = try locatedList()
        s.needs = try locatedList()
        s.env = try locatedList()
        s.timeout = try optional { r throws(Failure) in try r.double() }
        s.gates = try array { r throws(Failure) in
            let metric = try r.string()
            let text = try r.string()
            let location = try r.optional { r throws(Failure) in try r.location() }
            guard let condition = try? GateCondition(parsing: text) else { throw Failure() }
            return GateSpec(metric: metric, condition: condition, location: location)
        }
        s.baseline = try string()
        s.onNoBaseline = try raw(NoBaselinePolicy.self)
        let n = try count()
        for _ in 0..<n { s.options[try string()] = try value(depth: 0) }
        s.executor = try executor()
        s.matrix = try optional { r throws(Failure) in
            MatrixMember(base: try r.string(),
                         axes: try r.array { r throws(Failure) in try r.string() },
                         values: try r.array { r throws(Failure) in try r.string() })
        }
        return s
    }

    mutating func executor() throws(Failure) -> ExecutorSpec {
        ExecutorSpec(kind: try raw(ExecutorSpec.Kind.self), partition: try optionalString(), gres: try optionalString(),
                     cpus: try optional { r throws(Failure) in try r.int() },
                     mem: try optionalString(), time: try optionalString(), account: try optionalString(),
                     qos: try optionalString(), sbatch: try array { r throws(Failure) in try r.string() })
    }

    mutating func value(depth: Int) throws(Failure) -> SpecValue {
        guard depth < Self.maxDepth else { throw Failure() }
        switch try uint() {
        case 0: return .null
        case 1: return .bool(try bool())
        case 2: return .number(try double())
        case 3: return .string(try string())
        case 4: return .list(try array { r throws(Failure) in try r.value(depth: depth + 1) })
        case 5:
            return .map(try array { r throws(Failure) in
                SpecValue.MapEntry(key: try r.string(), value: try r.value(depth: depth + 1))
            })
        default: throw Failure()
        }
    }
}
