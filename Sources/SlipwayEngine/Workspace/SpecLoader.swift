import Foundation

/// A workspace's spec and params, read and checked.
public struct LoadedSpec: Sendable {
    public var spec: WorkspaceSpec
    public var params: Params

    /// Every param a run can be given (`run --set`, `--sweep`): the keys of
    /// params.yaml and every key a stage reads.
    public var paramKeys: Set<String> {
        var keys = Set(params.values.keys)
        for pipeline in spec.pipelines { for stage in pipeline.stages { for p in stage.params { keys.insert(p.value) } } }
        return keys
    }

    /// Parses `run --set` arguments against this spec's params.
    public func overrides(sets: [String]) throws(ParamOverrideError) -> [ParamOverride] {
        try ParamOverrides.parse(sets: sets, known: paramKeys)
    }
}

extension Workspace {
    /// Reads `slipway.yaml` and `params.yaml` and checks them, including what
    /// only the file system can tell (a path through a symlink that leaves the
    /// workspace). Every problem is reported at once.
    public func loadSpec() throws(SpecErrors) -> LoadedSpec {
        var (spec, params, issues) = try readSpec()
        if let spec {
            let containment = FileSystem.Containment(root: root, expecting: spec.pipelines.reduce(0) { total, p in
                p.stages.reduce(total) { $0 + $1.deps.count + $1.outs.count + $1.metrics.count + $1.env.count } })
            for pipeline in spec.pipelines {
                for stage in pipeline.stages {
                    for (key, paths) in [("deps", stage.deps), ("outs", stage.outs), ("metrics", stage.metrics), ("env", stage.env)] {
                        for p in paths where !containment.staysInside(p.value) {
                            issues.append(SpecIssue(at: p.location, file: Self.specFileName,
                                                    keyPath: "pipelines.\(pipeline.name).stages.\(stage.name).\(key)",
                                                    message: "'\(p.value)' leaves the workspace through a symlink"))
                        }
                    }
                }
            }
        }
        if !issues.isEmpty { throw SpecErrors(issues) }
        return LoadedSpec(spec: spec!, params: params)
    }

    /// The spec and params as their text says: read and checked, without
    /// looking where their paths lead.
    func loadSpecText() throws(SpecErrors) -> LoadedSpec {
        try loaded(readSpec())
    }

    /// ``loadSpecText()`` of bytes already read (`params` nil: there is no params file).
    func loadSpecText(spec: Data, params: Data?) throws(SpecErrors) -> LoadedSpec {
        try loaded(parseSpec(text(spec, name: Self.specFileName), params: params))
    }

    private func loaded(_ read: (spec: WorkspaceSpec?, params: Params, issues: [SpecIssue])) throws(SpecErrors) -> LoadedSpec {
        if !read.issues.isEmpty { throw SpecErrors(read.issues) }
        return LoadedSpec(spec: read.spec!, params: read.params)
    }

    var specArchivePath: String { stateDir + "/spec-archive" }

    /// Parsing and checking the spec is most of a no-op `run` of a big
    /// pipeline, so a spec that loads is kept in `.slipway/spec-archive`
    /// (``SpecArchive``) under the digest of both files' bytes and of this
    /// program, and read back while they are unchanged. A spec with problems
    /// is never archived: it is read, and reported, each time. Either way the
    /// summary `status` reads is kept (``keepSpecSummary(_:spec:params:)``).
    private func readSpec() throws(SpecErrors) -> (spec: WorkspaceSpec?, params: Params, issues: [SpecIssue]) {
        let specBytes = try readBytes(specPath, name: Self.specFileName)
        let params = FileSystem.exists(paramsPath) ? try readBytes(paramsPath, name: Self.paramsFileName) : nil
        let kept = DigestKeptBytes(path: specArchivePath, purpose: "slipway-spec-archive/1", parts: [specBytes, params])
        if let bytes = kept.read(), let archived = SpecArchive.decode(bytes) {
            return (archived.spec, archived.params, [])
        }
        let read = try parseSpec(text(specBytes, name: Self.specFileName), params: params)
        if read.issues.isEmpty, let spec = read.spec, let bytes = SpecArchive.encode(spec, params: read.params) {
            kept.keep(bytes)
        }
        // `status` reads only the summary: made here from what was just parsed,
        // the first `status` after an edit (and a `run`) need not parse it again.
        keepSpecSummary(read.issues.isEmpty ? SpecSummary(LoadedSpec(spec: read.spec!, params: read.params)) : SpecSummary(issues: read.issues),
                        spec: specBytes, params: params)
        return read
    }

    private func parseSpec(_ specText: String, params paramsData: Data?) throws(SpecErrors) -> (spec: WorkspaceSpec?, params: Params, issues: [SpecIssue]) {
        var params = Params()
        var issues: [SpecIssue] = []
        if let paramsData {
            let text = try text(paramsData, name: Self.paramsFileName)
            do { params = try Params.parse(yaml: text, file: Self.paramsFileName) } catch { issues += error.issues }
        }
        var spec: WorkspaceSpec?
        do {
            spec = try SpecParser.parse(specText, file: Self.specFileName, params: params)
        } catch {
            issues += error.issues
        }
        return (spec, params, issues)
    }

    private func readBytes(_ path: String, name: String) throws(SpecErrors) -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SpecErrors([SpecIssue(file: name, keyPath: "", message: "cannot be read")])
        }
        return data
    }

    private func text(_ data: Data, name: String) throws(SpecErrors) -> String {
        guard let text = Self.text(ofSpec: data) else {
            // Find the first bad byte to point at it.
            var line = 1, column = 1
            var decoder = UTF8()
            var it = data.makeIterator()
            loop: while true {
                switch decoder.decode(&it) {
                case .scalarValue(let s):
                    if s == "\n" { line += 1; column = 1 } else { column += 1 }
                case .emptyInput, .error: break loop
                }
            }
            throw SpecErrors([SpecIssue(file: name, line: line, column: column, keyPath: "", message: "is not valid UTF-8 text")])
        }
        return text
    }
}
