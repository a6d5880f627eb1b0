import Foundation
import Testing
import SlipwayCore
@testable import SlipwayStore

/// Where versions' images were pushed, and reads that status makes in one
/// query: the same answers from SQLite and PostgreSQL.
@Suite struct ImagePushContractTests {
    @Test(arguments: StoreKind.allCases)
    func pushesAreRecordedAuditedAndReadBackInOrder(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run = try startRun(r)
        let v = try r.registerVersion(newVersion(run.id))
        #expect(try r.imagePushes(model: "clf", version: v.version).isEmpty)
        let first = try r.recordImagePush(ImagePushRecord(model: "clf", version: v.version, reference: "docker://reg.example/ml/clf:1-abc",
                                                          digest: "sha256:" + String(repeating: "a", count: 64), pushedAt: 0, pushedBy: "ana"))
        let second = try r.recordImagePush(ImagePushRecord(model: "clf", version: v.version, reference: "docker://other.example/clf:prod",
                                                           digest: "sha256:" + String(repeating: "a", count: 64), pushedAt: 0, pushedBy: "bo"))
        #expect(first.id > 0 && second.id > first.id && first.pushedAt > 0)
        let back = try r.imagePushes(model: "clf", version: v.version)
        #expect(back == [first, second])
        #expect(try r.imagePushes(model: "clf", version: v.version + 1).isEmpty)
        let events = try r.auditEvents(matching: AuditQuery(kinds: [AuditKind.imagePushed.rawValue]))
        #expect(events.count == 2 && events.allSatisfy { $0.subject == "model/clf/\(v.version)" })
        #expect(events.first?.payload.contains("docker://reg.example/ml/clf:1-abc") == true)
    }

    @Test(arguments: StoreKind.allCases)
    func validationsOfSeveralRunsAgreeWithOneAtATime(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        var runs: [Int64] = []
        for i in 0..<5 {
            let run = try startRun(r)
            runs.append(run.id)
            for d in 0..<(i % 3) {
                try r.recordValidation(ValidationRecord(runID: run.id, stageRunID: nil, dataset: "d\(d).csv", passed: d == 0, report: "{\"i\":\(i)}"))
            }
        }
        let together = try r.validations(runIDs: runs + [999_999])
        #expect(together == (try runs.flatMap { try r.validations(runID: $0) }).sorted { ($0.runID ?? 0, $0.dataset) < ($1.runID ?? 0, $1.dataset) })
        #expect(try r.validations(runIDs: []).isEmpty)
    }
}
