/// The agent's watch over runs whose `slipway` process died: each pass it
/// settles them as every command does when it opens the registry, so a run
/// killed while its cluster jobs are queued or running is taken over and
/// followed even when no one types a command.
public struct ReaperDuty: AgentDuty {
    let reaper: RunReaper

    public init(reaper: RunReaper) { self.reaper = reaper }

    public var name: String { "runs" }

    public func pass(_ c: AgentContext) throws -> [String] {
        try reaper.reap(c.registry).map { "run \($0): its process had died; its state is recorded" }
    }
}
