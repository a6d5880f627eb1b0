/// The executors a run chooses from: each command stage runs on the one its
/// `executor: {kind: …}` names (local by default). Also what crash recovery
/// asks to cancel or follow a job by its handle.
public struct Executors: Sendable {
    public var local: any Executor
    public var slurm: any Executor

    public init(local: any Executor = ProcessExecutor(), slurm: (any Executor)? = nil) {
        self.local = local
        self.slurm = slurm ?? SlurmExecutor()
    }

    /// The executor a stage with this spec runs on.
    public func executor(for spec: ExecutorSpec) -> any Executor {
        switch spec.kind {
        case .local: return local
        case .slurm: return slurm
        }
    }

    /// The executor that issued a handle, if it is one of these.
    public func executor(for handle: JobHandle) -> (any Executor)? {
        all.first { $0.name == handle.executor }
    }

    public var all: [any Executor] { [local, slurm] }
}
