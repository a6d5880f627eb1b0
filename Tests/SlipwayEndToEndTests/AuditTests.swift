import Foundation
import Testing

/// Runs SQL on a workspace's registry with the stock sqlite3 tool, as someone
/// with write access to the file would (dropping the append-only triggers first).
func tamper(_ s: Sandbox, _ sql: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["sqlite3", s.root + "/.slipway/registry.sqlite", """
        DROP TRIGGER IF EXISTS auditEvent_no_update; DROP TRIGGER IF EXISTS auditEvent_no_delete; \(sql)
        """]
    p.standardOutput = FileHandle.nullDevice
    try! p.run()
    p.waitUntilExit()
    #expect(p.terminationStatus == 0, "sqlite3 failed on: \(sql)")
}

@Suite struct AuditEndToEndTests {
    /// A workspace with two runs, a promotion and gate results.
    func promoted() -> Sandbox {
        let s = gatedWorkspace()
        #expect(s.run("run").status == 0)
        #expect(s.run("promote", "clf:1", "--to", "production").status == 0)
        s.write("params.yaml", "train:\n  lr: 0.2\n")
        #expect(s.run("run").status == 0)
        return s
    }

    @Test func listsAndFiltersEvents() throws {
        let s = promoted()
        let all = try #require(try s.json("audit", "--json") as? [[String: Any]])
        #expect(all.count > 10)
        #expect(all.map { $0["seq"] as? Int } == (1...all.count).map { $0 })
        let promotions = try #require(try s.json("audit", "--kind", "alias.changed", "--json") as? [[String: Any]])
        #expect(promotions.count == 1)
        #expect((promotions[0]["payload"] as? String)?.contains("\"version\":\"1\"") == true)
        let run2 = try #require(try s.json("audit", "--subject", "run/2/", "--json") as? [[String: Any]])
        #expect(!run2.isEmpty && run2.allSatisfy { ($0["subject"] as? String)?.hasPrefix("run/2/") == true })
        let newest = try #require(try s.json("audit", "--limit", "2", "--json") as? [[String: Any]])
        #expect(newest.map { $0["seq"] as? Int } == [all.count - 1, all.count])
        #expect(try #require(try s.json("audit", "--since", "1h", "--json") as? [[String: Any]]).count == all.count)
        #expect(try #require(try s.json("audit", "--since", "2100-01-01", "--json") as? [[String: Any]]).isEmpty)
        let bad = s.run("audit", "--kind", "alias.change")
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("did you mean 'alias.changed'?"))
        #expect(s.run("audit").stdout.contains("alias.changed"))
    }

    @Test func verifyHoldsOnAnUntouchedTrail() throws {
        let s = promoted()
        let r = s.run("audit", "verify")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("audit trail verified"))
        let j = try #require(try s.json("audit", "verify", "--json") as? [String: Any])
        #expect(j["ok"] as? Bool == true)
        #expect((j["records"] as? Int ?? 0) >= 5)
        #expect(s.run("status").stdout.contains("audit        verified"))
    }

    @Test func verifyNamesAnAlteredEvent() throws {
        let s = promoted()
        tamper(s, "UPDATE auditEvent SET actor = 'mallory' WHERE seq = 5;")
        let r = s.run("audit", "verify")
        #expect(r.status == 3)
        #expect(r.stderr.contains("event 5 was altered"), "\(r.stderr)")
    }

    @Test func verifyCatchesRemovedAndReorderedEvents() throws {
        let s = promoted()
        tamper(s, "DELETE FROM auditEvent WHERE seq = 4;")
        let gap = s.run("audit", "verify")
        #expect(gap.status == 3)
        #expect(gap.stderr.contains("event 4 was removed"), "\(gap.stderr)")

        let t = promoted()
        // Two events swapped (their seq exchanged): the chain links no longer hold.
        tamper(t, "UPDATE auditEvent SET seq = -1 WHERE seq = 6; UPDATE auditEvent SET seq = 6 WHERE seq = 7; UPDATE auditEvent SET seq = 7 WHERE seq = -1;")
        let swapped = t.run("audit", "verify")
        #expect(swapped.status == 3)
        #expect(swapped.stderr.contains("event 6"), "\(swapped.stderr)")
    }

    @Test func verifyCatchesDeletingTheNewestEvents() throws {
        let s = promoted()
        let count = try #require(try s.json("audit", "--json") as? [[String: Any]]).count
        // The chain that is left verifies on its own: only the head kept elsewhere shows the loss.
        tamper(s, "DELETE FROM auditEvent WHERE seq > \(count - 3);")
        let r = s.run("audit", "verify")
        #expect(r.status == 3)
        #expect(r.stderr.contains("events \(count - 2)…\(count), the newest, were removed"), "\(r.stderr)")
        #expect(s.run("status").stdout.contains("DOES NOT VERIFY"))
        let status = try #require(try s.json("status", "--json") as? [String: Any])
        #expect(status["auditChain"] as? String == "broken")
    }

    @Test func verifyCatchesEditedDecisionRecords() throws {
        // A failed gate turned into a pass.
        let s = gatedWorkspace()
        s.write("scores.env", "ACC=0.90\nLAT=99\n")
        #expect(s.run("run").status == 3)
        tamper(s, "UPDATE gateResult SET passed = 1 WHERE passed = 0;")
        let gate = s.run("audit", "verify")
        #expect(gate.status == 3)
        #expect(gate.stderr.contains("gate/") && gate.stderr.contains("was altered after event"), "\(gate.stderr)")

        // Production pointed at another version without an event.
        let t = promoted()
        tamper(t, "UPDATE aliasEvent SET version = 2;")
        let alias = t.run("audit", "verify")
        #expect(alias.status == 3)
        #expect(alias.stderr.contains("alias/1 was altered"), "\(alias.stderr)")

        // A model version's artifact digest swapped.
        let u = promoted()
        tamper(u, "UPDATE modelVersion SET artifactDigest = 'sha256:0000' WHERE version = 1;")
        let version = u.run("audit", "verify")
        #expect(version.status == 3)
        #expect(version.stderr.contains("model-version/1 was altered"), "\(version.stderr)")
    }

    @Test func verifyCatchesAMissingHeadRecord() throws {
        let s = promoted()
        s.remove(".slipway/registry.sqlite.head")
        #expect(s.run("run").status == 0)
        #expect(!s.exists(".slipway/registry.sqlite.head"), "a deleted head record is never re-created silently")
        let r = s.run("audit", "verify")
        #expect(r.status == 3)
        #expect(r.stderr.contains("record of the chain head"), "\(r.stderr)")
    }
}
