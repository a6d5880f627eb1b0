/// What a service reaches the world through: the time, HTTP, processes and
/// the measuring of canary analyses. Production wires the real ones
/// (``live``); tests wire fakes (a ``ManualClock`` they move on, ``FakeHTTP``,
/// an executor or an analysis measurer whose answers they script), so
/// nothing in a test sleeps or runs a process it did not ask for.
public struct EngineContext: Sendable {
    /// When things are due: canary intervals, the watch, call stamps.
    public var clock: any Clock
    /// Fetches analyses' `http:` and `prometheus:` sources.
    public var http: any HTTPFetcher
    /// Runs environments' deploy commands.
    public var executor: any Executor
    /// Measures canary analyses in a workspace, through the context's HTTP.
    public var analyses: @Sendable (Workspace, any HTTPFetcher) -> any AnalysisMeasuring

    public init(clock: any Clock, http: any HTTPFetcher, executor: any Executor,
                analyses: @escaping @Sendable (Workspace, any HTTPFetcher) -> any AnalysisMeasuring = { AnalysisRunner(workspace: $0, http: $1) }) {
        self.clock = clock
        self.http = http
        self.executor = executor
        self.analyses = analyses
    }

    /// The real world: the system clock, curl, processes on this machine.
    public static var live: EngineContext {
        EngineContext(clock: SystemClock(), http: CurlFetcher(), executor: ProcessExecutor())
    }
}

/// Takes one measurement of an analysis (``AnalysisRunner`` in production).
public protocol AnalysisMeasuring: Sendable {
    func measure(_ checks: [AnalysisCheck], minSamples: MinSamples?, context: AnalysisRunner.Context) -> [AnalysisMeasurement]
}

extension AnalysisRunner: AnalysisMeasuring {}
