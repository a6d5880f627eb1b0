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

        public init(environment: String, model: String, candidate: Int, stable: Int?, traffic: Int, log: String) {
            self.environment = environment
            self.model = model
            self.candidate = candidate
            self.stable = stable
            self.traffic = traffic
            self.log = log
        }
    }

    public func measure(_ checks: [AnalysisCheck], context: Context) -> [AnalysisMeasurement] {
        var answers: [String: Result<Any, SourceError>] = [:]
        func answer(_ source: AnalysisCheck.Source, version: Int) -> Result<Any, SourceError> {
            let key = "\(source)#\(version)"
            if let a = answers[key] { return a }
            let a = fetch(source, version: version, context: context)
            answers[key] = a
            return a
        }
        func value(_ check: AnalysisCheck, version: Int) -> (Double?, String?) {
            let steps: [JSONValuePath.Step]
            do { steps = try JSONValuePath.parse(check.valuePath) } catch { return (nil, error.message) }
            switch answer(check.source, version: version) {
            case .failure(let e): return (nil, e.message)
            case .success(let json):
                switch JSONValuePath.number(in: json, at: steps) {
                case .success(let v): return (v, nil)
                case .failure(let e): return (nil, "\(check.valuePath): \(e.message)")
                }
            }
        }
        return checks.map { check in
            let (v, problem) = value(check, version: context.candidate)
            let needsProduction = (check.failIf?.isRelative ?? false) || (check.passIf?.isRelative ?? false)
            var production: Double?
            if needsProduction, let stable = context.stable { production = value(check, version: stable).0 }
            return AnalysisJudge.judge(check, value: v, production: production, problem: problem)
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

    func fetch(_ source: AnalysisCheck.Source, version: Int, context: Context) -> Result<Any, SourceError> {
        let data: Data
        switch source {
        case .command(let command):
            switch runCommand(command, env: environment(context, version: version), log: context.log) {
            case .success(let d): data = d
            case .failure(let e): return .failure(e)
            }
        case .http(let address):
            var url = address
            for token in ["${SLIPWAY_ANALYSIS_VERSION}", "$SLIPWAY_ANALYSIS_VERSION"] {
                url = url.replacingOccurrences(of: token, with: String(version))
            }
            switch httpGet(url) {
            case .success(let d): data = d
            case .failure(let e): return .failure(e)
            }
        }
        do {
            return .success(try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
        } catch {
            let text = String(decoding: data.prefix(60), as: UTF8.self)
            return .failure(SourceError(message: "the answer is not JSON: '\(text)'"))
        }
    }

    /// Runs `command` with `/bin/sh -c` in the workspace; stdout is the
    /// answer, stderr goes to the log.
    func runCommand(_ command: String, env: [String: String], log: String) -> Result<Data, SourceError> {
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
        guard p.terminationStatus == 0 else {
            return .failure(SourceError(message: "'\(command)' exited \(p.terminationStatus)"))
        }
        return .success(outData.withLock { $0 })
    }

    /// A GET through the HTTP fetcher (curl in production: redirects,
    /// chunked bodies, proxies and TLS handled there); a non-2xx answer is a failure.
    func httpGet(_ address: String) -> Result<Data, SourceError> {
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
