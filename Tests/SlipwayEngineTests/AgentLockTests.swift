import Foundation
import Testing
@testable import SlipwayEngine

/// One agent per workspace, and a second one is told which process holds the workspace.
@Suite struct AgentLockTests {
    @Test func aSecondAgentNamesTheFirstAgentsPid() throws {
        let (ws, _, registry) = try makeWorkspace("project: p\npipelines: {main: {stages: {a: {cmd: a}}}}\n")
        let first = Agent(workspace: ws, registry: registry)
        try first.acquireLock()
        // Its heartbeat not written yet (or removed): the lock itself says who holds it.
        unlink(first.heartbeatPath)
        let second = Agent(workspace: ws, registry: registry)
        do {
            try second.acquireLock()
            Issue.record("a second agent took the lock")
        } catch let e as Agent.AlreadyRunning {
            #expect(e.pid == getpid())
            #expect(e.description.contains("kill -TERM \(getpid())"), "\(e.description)")
            #expect(!e.description.contains("PID"), "\(e.description)")
        }
    }
}
