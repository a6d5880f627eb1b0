import Foundation
import Testing

/// What a newcomer reads in their first minutes says what is true.
@Suite struct FirstMinutesTests {
    @Test func aRunInARepositoryWithNoCommitsSaysNoCommitsYet() throws {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: fresh
        pipelines:
          main:
            stages:
              a: {cmd: "echo hi"}
        """)
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "init", "-q", s.root]
        try git.run()
        git.waitUntilExit()
        #expect(s.run("run").status == 0)
        let show = s.run("show", "latest")
        #expect(show.stdout.contains("commit    no commits yet"), "\(show.stdout)")
        #expect(!show.stdout.contains("not a git repository"))
    }

    @Test func oneAgentPassDoesNotSayTheAgentStarted() {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: once
        pipelines:
          main:
            stages:
              a: {cmd: "true"}
        """)
        let once = s.run("agent", "--once")
        #expect(once.status == 0, "\(once.stderr)")
        #expect(!once.stdout.contains("agent started"), "\(once.stdout)")
        #expect(once.stdout.contains("agent: one pass"))
    }
}
