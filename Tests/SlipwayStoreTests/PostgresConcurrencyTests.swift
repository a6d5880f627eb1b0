import Foundation
import PostgresTestServer
import SlipwayPostgres
import Synchronization
import Testing
import SlipwayStore
import SlipwayCore
import SlipwayEngine
@testable import SlipwayStore

/// A team at work on one PostgreSQL registry: eight writers (four runs logging
/// metrics and registering versions, two promoting, two voting) and two
/// readers refreshing as consoles do, each with a registry of its own (as
/// separate machines would have), for a bounded time. No point is lost, no
/// write fails (conflicts and deadlocks are retried inside the store), and the
/// chain verifies with its head.
///
/// `SLIPWAY_STRESS_SECONDS` sets the time (default 8 s; docs/team.md reports 60 s).
@Suite struct PostgresConcurrencyTests {
    @Test func eightWritersAndTwoReadersLoseNothing() throws {
        let url = try PostgresTestServer.require().url
        let schema = PostgresTestServer.freshSchemaName("team")
        let seconds = Double(ProcessInfo.processInfo.environment["SLIPWAY_STRESS_SECONDS"] ?? "") ?? 8
        let registries = try (0..<10).map { _ in try PostgresRegistry(url: url, schema: schema) }
        let deadline = Date().addingTimeInterval(seconds)
        let errors = Mutex([String]())
        let pointsWritten = Mutex([Int64: Int]())
        let counts = Mutex([String: Int]())
        @Sendable func count(_ what: String) { counts.withLock { $0[what, default: 0] += 1 } }
        @Sendable func failed(_ who: Int, _ error: any Error) { errors.withLock { $0.append("thread \(who): \(error)") } }
        let provenance = Provenance(user: "u", host: "h", slipwayVersion: "t")
        // A first version, so promotions have something to move.
        let seed = try registries[0].startRun(NewRun(pipeline: "p", trigger: "manual", provenance: provenance, pid: 1, params: [:]))
        _ = try registries[0].finishRun(id: seed.id, status: .succeeded, message: nil,
                                        registering: NewModelVersion(model: "clf", runID: seed.id, pipeline: "p", gitCommit: nil,
                                                                     artifactDigest: "seed", createdBy: "u"))
        onThreads(10) { t in
            let r = registries[t]
            var i = 0
            while Date() < deadline {
                i += 1
                do {
                    switch t {
                    case 0..<4:
                        let run = try r.startRun(NewRun(pipeline: "p", trigger: "manual", provenance: provenance, pid: Int32(t), params: ["t": "\(t)"]))
                        var written = 0
                        for batch in 0..<4 {
                            var points: [MetricRecord] = []
                            for k in 0..<500 {
                                let key = k % 2 == 0 ? "loss" : "acc"
                                let step = Int64(batch * 250 + k / 2)
                                points.append(MetricRecord(runID: run.id, stageRunID: nil, stage: "train", key: key,
                                                           step: step, value: Double(k) / 500, timestamp: Int64(k)))
                            }
                            try r.appendMetrics(points)
                            written += points.count
                        }
                        pointsWritten.withLock { $0[run.id] = written }
                        _ = try r.finishRun(id: run.id, status: .succeeded, message: nil,
                                            registering: NewModelVersion(model: "clf", runID: run.id, pipeline: "p", gitCommit: nil,
                                                                         artifactDigest: "t\(t)-\(i)", createdBy: "u"))
                        count("runs")
                    case 4, 5:
                        let newest = try r.modelVersions(model: "clf", limit: 1).first?.version ?? 1
                        _ = try r.setAlias(model: "clf", environment: t == 4 ? "staging" : "production",
                                           version: i % 3 == 0 ? nil : Int.random(in: 1...newest), actor: "w\(t)",
                                           reason: "stress \(i)", cause: i % 3 == 0 ? .rollback : .promotion)
                        count("promotions")
                    case 6, 7:
                        let request = NewApprovalRequest(model: "clf", version: 1, environment: t == 6 ? "production" : "staging",
                                                         packageDigest: "sha256:p", reasons: ["stress"], evidence: "{}", requester: "ana",
                                                         expiresAt: SystemClock.nowMillis() + 3_600_000, requiredApprovals: 2)
                        let (created, _) = try r.createApprovalRequest(request, actor: "ana")
                        for approver in ["bo", "cy"] {
                            let vote = ApprovalVoteRecord(requestID: created.id, approver: approver, keyFingerprint: "SHA256:\(approver)",
                                                          decision: .approve, comment: "ok", at: SystemClock.nowMillis(),
                                                          payload: "signed \(created.id)", signature: "sig")
                            // Another writer may supersede the request meanwhile: that refusal is the rule, not an error.
                            do {
                                _ = try r.recordApprovalVote(vote, audit: [], check: { req, votes in
                                    guard req.status == .pending else { throw RegistryConflict(reason: "request \(req.id) is \(req.status.rawValue)") }
                                    return votes.count + 1 >= 2 ? .approved : nil
                                })
                                count("votes")
                            } catch is RegistryConflict {
                                count("votes refused (superseded)")
                            }
                        }
                    default:
                        // A console's refresh: the change token, then what the tabs read.
                        _ = try r.changeToken()
                        _ = try r.runs(limit: 20, offset: 0)
                        _ = try r.approvalRequests(all: false, limit: 100)
                        _ = try r.aliasHistory(model: "clf", environment: nil, until: nil)
                        _ = try r.auditEvents(after: max(0, (try r.auditHeadWitness()?.seq ?? 0) - 50), limit: 50)
                        count("console refreshes")
                    }
                } catch {
                    failed(t, error)
                    return
                }
            }
        }
        #expect(errors.withLock { $0 }.isEmpty, "\(errors.withLock { $0 })")
        let check = registries[0]
        for (run, written) in pointsWritten.withLock({ $0 }) {
            #expect(try check.metrics(runID: run).count == written, "run \(run)")
        }
        let events = try check.auditEvents(after: 0, limit: 10_000_000)
        #expect(AuditChain.verify(events) == nil)
        #expect(try check.auditHeadWitness()?.seq == events.last?.seq)
        #expect(try check.auditHeadWitness()?.hash == events.last?.hash)
        let c = counts.withLock { $0 }
        #expect((c["runs"] ?? 0) > 0 && (c["promotions"] ?? 0) > 0 && (c["votes"] ?? 0) > 0 && (c["console refreshes"] ?? 0) > 0, "\(c)")
        print("PostgresConcurrencyTests: \(Int(seconds)) s: \(c.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")), "
              + "\(pointsWritten.withLock { $0.values.reduce(0, +) }) points, \(events.count) audit events")
    }
}
