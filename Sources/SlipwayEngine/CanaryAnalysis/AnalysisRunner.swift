import Foundation
import Synchronization

/// Measures an analysis: runs each check's source (a command printing JSON,
/// or an HTTP GET returning JSON), reads the value at its path, and judges it.
/// A source answers once per version asked about (`SLIPWAY_ANALYSIS_VERSION`),
/// so several metrics can read one answer, and `production` in a condition is
/// the stable version's value from the same source.
public struct AnalysisRunner: Sendable {
    let workspace: Workspace
    /// Seconds a source may take.
    var timeout: Double = 30
    /// Where `http:` sources are fetched.
    let http: any HTTPFetcher

    public init(workspace: Workspace, timeout: Double = 30, http: any HTTPFetcher = CurlFetcher()) {
        self.workspace = workspace
        self.timeout = timeout
        self.http = http
    }

    public struct Context: Sendable {
        public var environment: String
        public var model: String
        public var candidate: Int
        public var stable: Int?
        public var traffic: Int
        public var log: String
        /// Seconds each source of this measurement may take (nil: the
        /// runner's own); a source that takes longer is an `error`.
        public var timeout: Double?

        public init(environment: String, model: String, candidate: Int, stable: Int?, traffic: Int, log: String, timeout: Double? = nil) {
            self.timeout = timeout
            self.environment = environment
            self.model = model
            self.candidate = candidate
            self.stable = stable
            self.traffic = traffic
            self.log = log
        }
    }

    /// One measurement: every check judged, then `minSamples` (too little
    /// traffic is inconclusive). Each result carries what was asked (the
    /// PromQL as sent, the address, the command) and the raw answer.
    public func measure(_ checks: [AnalysisCheck], minSamples: MinSamples? = nil, context: Context) -> [AnalysisMeasurement] {
        var answers: [String: Answer] = [:]
        func answer(_ source: AnalysisCheck.Source, version: Int) -> Answer {
            let key = Self.cacheKey(source, version: version)
            if let a = answers[key] { return a }
            let a = fetch(source, version: version, context: context)
            answers[key] = a
            return a
        }
        func value(_ source: AnalysisCheck.Source, path: String, version: Int) -> (Double?, AnswerProblem?, Answer) {
            let a = answer(source, version: version)
            guard let body = a.body else { return (nil, a.problem, a) }
            switch Self.value(in: body, source: source, path: path, version: version) {
            case .success(let v): return (v, nil, a)
            case .failure(let p): return (nil, p, a)
            }
        }
        func stamped(_ m: AnalysisMeasurement, _ a: Answer) -> AnalysisMeasurement {
            var m = m
            m.source = a.kind
            m.query = a.query
            m.answer = a.raw
            return m
        }
        var results = checks.map { check in
            let (v, problem, a) = value(check.source, path: check.valuePath, version: context.candidate)
            let needsProduction = (check.failIf?.isRelative ?? false) || (check.passIf?.isRelative ?? false)
            var production: Double?
            if needsProduction, let stable = context.stable { production = value(check.source, path: check.valuePath, version: stable).0 }
            return stamped(AnalysisJudge.judge(check, value: v, production: production, problem: problem), a)
        }
        if let minSamples, !checks.isEmpty {
            let (v, problem, a) = value(minSamples.source, path: minSamples.valuePath, version: context.candidate)
            results.append(stamped(minSamples.judge(v, problem: problem), a))
        }
        return results
    }

    /// What a source answered for one version: the body, or why none.
    struct Answer {
        var kind: String
        var query: String
        var body: Data?
        var problem: AnswerProblem?
        /// The body (or the problem) as text, for the record.
        var raw: String { body.map { String(decoding: $0.prefix(AnalysisSampleRecord.maxAnswer * 2), as: UTF8.self) } ?? (problem?.message ?? "") }
    }

    /// Sources answer once per version; a Prometheus query without the
    /// version in it answers once for both.
    static func cacheKey(_ source: AnalysisCheck.Source, version: Int) -> String {
        if case .prometheus(let p) = source, !p.dependsOnVersion { return "\(source)" }
        return "\(source)#\(version)"
    }

    /// The number in an answer: a Prometheus vector matched to the version,
    /// or the value at a JSON path.
    static func value(in body: Data, source: AnalysisCheck.Source, path: String, version: Int) -> Result<Double, AnswerProblem> {
        if case .prometheus(let p) = source { return PrometheusAnswer.value(body, source: p, version: version) }
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) } catch {
            return .failure(AnswerProblem(.error, "the answer is not JSON: '\(String(decoding: body.prefix(60), as: UTF8.self))'"))
        }
        let steps: [JSONValuePath.Step]
        do { steps = try JSONValuePath.parse(path) } catch { return .failure(AnswerProblem(.error, error.message)) }
        switch JSONValuePath.number(in: json, at: steps) {
        case .success(let v): return .success(v)
        case .failure(let e):
            // A missing key or null is no data; a value that is not a number is an error.
            let missing = e.message.hasPrefix("no ")
            return .failure(AnswerProblem(missing ? .noData : .error, "\(path): \(e.message)"))
        }
    }

    public struct SourceError: Error, Sendable { public var message: String }

    func environment(_ context: Context, version: Int) -> [String: String] {
        var env = ["SLIPWAY_ENV": context.environment, "SLIPWAY_MODEL": context.model, "SLIPWAY_VERSION": String(context.candidate),
                   "SLIPWAY_TRAFFIC": String(context.traffic), "SLIPWAY_ANALYSIS_VERSION": String(version),
                   "SLIPWAY_WORKSPACE": workspace.root]
        if let s = context.stable { env["SLIPWAY_STABLE_VERSION"] = String(s) }
        return env
    }

    func fetch(_ source: AnalysisCheck.Source, version: Int, context: Context) -> Answer {
        let result: Result<Data, SourceError>
        let query: String
        switch source {
        case .command(let command):
            query = command
            result = runCommand(command, env: environment(context, version: version), log: context.log, timeout: context.timeout ?? timeout)
        case .http(let address):
            var url = address
            for token in ["${SLIPWAY_ANALYSIS_VERSION}", "$SLIPWAY_ANALYSIS_VERSION"] {
                url = url.replacingOccurrences(of: token, with: String(version))
            }
            query = url
            result = httpGet(url, timeout: context.timeout ?? timeout)
        case .prometheus(let p):
            query = p.queryText(version: version)
            result = httpGet(p.url(version: version), timeout: context.timeout ?? timeout)
        }
        switch result {
        case .success(let d): return Answer(kind: source.kind, query: query, body: d, problem: nil)
        case .failure(let e): return Answer(kind: source.kind, query: query, body: nil, problem: AnswerProblem(.error, e.message))
        }
    }

    /// Runs `command` with `/bin/sh -c` in the workspace; stdout is the
    /// answer, stderr goes to the log.
    func runCommand(_ command: String, env: [String: String], log: String, timeout: Double) -> Result<Data, SourceError> {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        p.currentDirectoryURL = URL(fileURLWithPath: workspace.root)
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let exited = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in exited.signal() }
        do { try p.run() } catch { return .failure(SourceError(message: "cannot run '\(command)': \(error)")) }
        let outData = Mutex(Data()), errData = Mutex(Data())
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { let d = out.fileHandleForReading.readDataToEndOfFile(); outData.withLock { $0 = d }; group.leave() }
        group.enter()
        DispatchQueue.global().async { let d = err.fileHandleForReading.readDataToEndOfFile(); errData.withLock { $0 = d }; group.leave() }
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            kill(-p.processIdentifier, SIGKILL)
            kill(p.processIdentifier, SIGKILL)
            return .failure(SourceError(message: "'\(command)' timed out after \(Durations.format(timeout))"))
        }
        _ = group.wait(timeout: .now() + 2)
        let stderr = errData.withLock { $0 }
        if !stderr.isEmpty { appendLog(log, "[\(command)] " + String(decoding: stderr, as: UTF8.self)) }
        if p.terminationReason == .uncaughtSignal {
            return .failure(SourceError(message: "'\(command)' was terminated by signal \(p.terminationStatus)"))
        }
        guard p.terminationStatus == 0 else {
            return .failure(SourceError(message: "'\(command)' exited \(p.terminationStatus)"))
        }
        return .success(outData.withLock { $0 })
    }

    /// A GET through the HTTP fetcher (curl in production: redirects,
    /// chunked bodies, proxies and TLS handled there); a non-2xx answer is a failure.
    func httpGet(_ address: String, timeout: Double) -> Result<Data, SourceError> {
        do { return .success(try http.get(address, timeout: timeout)) } catch {
            return .failure(SourceError(message: "GET \(address): \(error.message)"))
        }
    }

    func appendLog(_ path: String, _ text: String) {
        guard let fh = FileHandle(forWritingAtPath: path) ?? {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            return FileHandle(forWritingAtPath: path)
        }() else { return }
        fh.seekToEndOfFile()
        fh.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
        try? fh.close()
    }
}
