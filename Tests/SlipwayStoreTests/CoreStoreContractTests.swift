import Foundation
import Synchronization
import Testing
import SlipwayStore
import SlipwayCore
import SlipwayEngine
@testable import SlipwayStore

/// More of the contract, for the protocols every store kind implements:
/// datasets, caches, metrics, validation reports, the audit chain under
/// concurrent writers, and registration when a run finishes.
@Suite struct CoreStoreContractTests {
    @Test(arguments: StoreKind.allCases)
    func paramOverridesAreRecordedBesideTheParams(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let plain = try startRun(r, params: ["train.lr": "0.1"])
        let set = try r.startRun(NewRun(pipeline: "p", trigger: "sweep", provenance: contractProvenance, pid: 1,
                                        params: ["train.lr": "0.05", "model.arch": "small"],
                                        overrides: ["train.lr": "0.05", "unused.key": "x"]))
        #expect(try r.params(runID: plain.id) == ["train.lr": "0.1"])
        #expect(try r.paramOverrides(runID: plain.id).isEmpty)
        // An override no stage reads is kept too.
        #expect(try r.params(runID: set.id) == ["train.lr": "0.05", "model.arch": "small", "unused.key": "x"])
        #expect(try r.paramOverrides(runID: set.id) == ["train.lr": "0.05", "unused.key": "x"])
        let started = try r.auditEvents(matching: AuditQuery(kinds: ["run.started"]))
        #expect(started.last?.payload.contains(#""overrides":"train.lr=0.05 unused.key=x""#) == true, "\(started.last?.payload ?? "")")
        #expect(started.first?.payload.contains("overrides") == false)
    }

    @Test(arguments: StoreKind.allCases)
    func finishingARunWithAVersionRegistersItOnce(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let one = try startRun(r)
        guard case .registered(let v1) = try r.finishRun(id: one.id, status: .succeeded, message: nil,
                                                          registering: newVersion(one.id, digest: "d1")) else {
            Issue.record("not registered"); return
        }
        #expect(v1.version == 1 && v1.runID == one.id && v1.artifactDigest == "d1" && v1.tags.isEmpty)
        let two = try startRun(r)
        #expect(try r.finishRun(id: two.id, status: .succeeded, message: nil, registering: newVersion(two.id, digest: "d1"))
                == .unchanged(v1))
        let three = try startRun(r)
        var numbered = newVersion(three.id, digest: "d2")
        numbered.expectedVersion = 5
        // Built for a number that is not the next: refused, and the run stays unfinished.
        #expect(throws: RegistryConflict.self) {
            try r.finishRun(id: three.id, status: .succeeded, message: nil, registering: numbered)
        }
        #expect(try r.run(id: three.id)?.status == .running)
        numbered.expectedVersion = 2
        guard case .registered(let v2) = try r.finishRun(id: three.id, status: .succeeded, message: nil, registering: numbered) else {
            Issue.record("not registered"); return
        }
        #expect(v2.version == 2)
        // Back to the first config: its package was built as :1, which the
        // run makes again. That is version 1, not a conflict or a copy.
        let four = try startRun(r)
        var again = newVersion(four.id, digest: "d1")
        again.expectedVersion = 1
        #expect(try r.finishRun(id: four.id, status: .succeeded, message: nil, registering: again) == .madeAgain(v1))
        #expect(try r.run(id: four.id)?.status == .succeeded)
        // Each run is recorded as having made its version, new or not; a failed one made none.
        #expect(try [one, two, three, four].map { try r.modelVersion(runID: $0.id)?.version } == [1, 1, 2, 1])
        let failed = try startRun(r)
        try r.finishRun(id: failed.id, status: .failed, message: "no", registering: nil)
        #expect(try r.modelVersion(runID: failed.id) == nil)
        let registered = try r.auditEvents(matching: AuditQuery(kinds: ["model.registered"]))
        #expect(registered.map(\.subject) == ["model/clf/1", "model/clf/2"])
        #expect(AuditChain.verify(try r.auditEvents(after: 0, limit: 100)) == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func auditAppendsFromManyConnectionsFormOneChain(_ kind: StoreKind) throws {
        let (first, connect) = try kind.makeStore()
        let writers = try (0..<4).map { _ in try connect() }
        DispatchQueue.concurrentPerform(iterations: 4) { w in
            for i in 0..<25 {
                if i % 5 == 0 {
                    try! writers[w].appendAudit([AuditDraft(actor: "w\(w)", kind: .datasetAdded, subject: "batch/\(w)/\(i)"),
                                                 AuditDraft(actor: "w\(w)", kind: .datasetAdded, subject: "batch/\(w)/\(i)b")])
                } else {
                    try! writers[w].appendAudit(AuditDraft(actor: "w\(w)", kind: .datasetAdded, subject: "one/\(w)/\(i)"))
                }
            }
        }
        let events = try first.auditEvents(after: 0, limit: 1000)
        #expect(events.count == 120)
        #expect(events.map(\.seq) == Array(1...120))
        #expect(AuditChain.verify(events) == nil)
        #expect(try first.auditHeadWitness() == AuditHeadWitness(seq: 120, hash: events.last!.hash))
        // A batch's events are adjacent: nothing interleaves with a transaction.
        for w in 0..<4 {
            for i in stride(from: 0, to: 25, by: 5) {
                let a = try #require(events.firstIndex { $0.subject == "batch/\(w)/\(i)" })
                #expect(events[a + 1].subject == "batch/\(w)/\(i)b")
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func theAuditLogIsReadInOrderWithoutHoldingItAll(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let drafts = (0..<6_001).map { i in
            AuditDraft(actor: "ana", kind: i % 2 == 0 ? .datasetAdded : .runStarted, subject: i % 3 == 0 ? "run/\(i)/x" : "dataset/\(i)")
        }
        try r.appendAudit(drafts)
        var seen: [Int64] = []
        try r.forEachAuditEvent(after: 0) { seen.append($0.seq); return true }
        #expect(seen == Array(1...6_001))
        var stopped: [Int64] = []
        try r.forEachAuditEvent(after: 5_990) { stopped.append($0.seq); return $0.seq < 5_995 }
        #expect(stopped == Array(5_991...5_995))
        #expect(try r.latestAuditSeq() == 6_001)
        #expect(try r.auditEvents(matching: AuditQuery(kinds: ["run.started"], limit: 2)).map(\.seq) == [5_998, 6_000])
        #expect(try r.auditEvents(matching: AuditQuery(subject: "run/3/")).map(\.subject) == ["run/3/x"])
        #expect(try r.auditEvents(matching: AuditQuery(subject: "run/")).count == 2_001)
        #expect(try r.auditEvents(matching: AuditQuery(since: 0, kinds: ["nothing"])).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func datasetVersionsAreRecordedOnceAndRunsNameTheirs(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let (a, isNew) = try r.addDataset(path: "data/b.csv", hash: "h1", size: 10, addedBy: "ana")
        #expect(isNew && a.path == "data/b.csv" && a.size == 10)
        let again = try r.addDataset(path: "data/b.csv", hash: "h1", size: 10, addedBy: "bob")
        #expect(!again.isNew && again.record == a)
        _ = try r.addDataset(path: "data/b.csv", hash: "h2", size: 11, addedBy: "ana")
        _ = try r.addDataset(path: "data/a.csv", hash: "h3", size: 12, addedBy: "ana")
        #expect(try r.datasets().map(\.hash) == ["h3", "h1", "h2"])
        #expect(try r.auditEvents(matching: AuditQuery(kinds: ["dataset.added"])).count == 3)
        let run = try startRun(r)
        try r.recordRunDatasets(runID: run.id, stage: "train", versions: [("data/b.csv", "h1"), ("data/a.csv", "h3")])
        try r.recordRunDatasets(runID: run.id, stage: "train", versions: [("data/b.csv", "h2")])
        try r.recordRunDatasets(runID: run.id, stage: "eval", versions: [])
        let used = try r.runDatasets(runID: run.id)
        #expect(used.map(\.path) == ["data/a.csv", "data/b.csv"] && used.map(\.hash) == ["h3", "h2"])
    }

    @Test(arguments: StoreKind.allCases)
    func fileStatesAreReplacedByPath(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        #expect(try r.fileStates(paths: []).isEmpty)
        try r.saveFileStates([FileState(path: "a", size: 1, mtimeNanos: 2, inode: 3, hash: "x"),
                              FileState(path: "b \"quoted\", with comma", size: 4, mtimeNanos: 5, inode: 6, hash: "y")])
        try r.saveFileStates([FileState(path: "a", size: 7, mtimeNanos: 8, inode: 9, hash: "z")])
        let states = try r.fileStates(paths: ["a", "b \"quoted\", with comma", "missing"])
        #expect(states.count == 2 && states["a"]?.hash == "z" && states["a"]?.size == 7)
        #expect(states["b \"quoted\", with comma"]?.inode == 6)
        let entry = CacheEntry(key: "k", pipeline: "p", stage: "s", stageRunID: 3, outputs: [:], createdAt: 1)
        try r.saveCacheEntry(entry)
        var changed = entry
        changed.outputs = ["out/m.json": "sha256:bb", "out/x": "sha256:cc"]
        try r.saveCacheEntry(changed)
        #expect(try r.cacheEntry(key: "k") == changed)
    }

    @Test(arguments: StoreKind.allCases)
    func metricPointsComeBackInTheOrderTheyArrived(_ kind: StoreKind) throws {
        let (r, connect) = try kind.makeStore()
        let run = try startRun(r)
        let stage = try r.addStageRuns(runID: run.id, stages: ["train"])[0]
        // A large batch (several series interleaved), then small ones, with NaN, no step and no stage run.
        var big: [MetricRecord] = []
        for i in 0..<20_000 {
            big.append(MetricRecord(runID: run.id, stageRunID: stage.id, stage: "train", key: i % 3 == 0 ? "loss" : "acc",
                                    step: Int64(i), value: i == 7 ? .nan : Double(i) * 0.001, timestamp: Int64(1_000 + i)))
        }
        try r.appendMetrics(big)
        let small = [MetricRecord(runID: run.id, stageRunID: nil, stage: "eval", key: "auc", step: nil, value: 0.93, timestamp: 5),
                     MetricRecord(runID: run.id, stageRunID: stage.id, stage: "train", key: "loss", step: 20_000, value: -.infinity, timestamp: 6)]
        try r.appendMetrics(small)
        try r.appendMetrics([])
        let back = try r.metrics(runID: run.id)
        #expect(back.count == 20_002)
        #expect(zip(back, big + small).allSatisfy { a, b in
            a.key == b.key && a.stage == b.stage && a.stageRunID == b.stageRunID && a.step == b.step && a.timestamp == b.timestamp
                && (a.value == b.value || (a.value.isNaN && b.value.isNaN))
        })
        // Two writers at once lose nothing.
        let other = try connect()
        let runs = [run.id, try startRun(r).id]
        DispatchQueue.concurrentPerform(iterations: 2) { w in
            let store: any CoreStores = w == 0 ? r : other
            for batch in 0..<10 {
                try! store.appendMetrics((0..<500).map { i in
                    MetricRecord(runID: runs[w], stageRunID: nil, stage: "w", key: "k\(i % 4)", step: Int64(batch * 500 + i), value: 1,
                                 timestamp: 0)
                })
            }
        }
        #expect(try r.metrics(runID: runs[0]).count == 20_002 + 5_000)
        #expect(try r.metrics(runID: runs[1]).map(\.step) == (0..<5_000).map { Int64($0) })
    }

    @Test(arguments: StoreKind.allCases)
    func validationReportsAreAuditedWhenTheyBelongToARun(_ kind: StoreKind) throws {
        let r = try kind.makeStore().first
        let run = try startRun(r)
        try r.recordValidation(ValidationRecord(runID: nil, stageRunID: nil, dataset: "loose.csv", passed: false, report: "{}", createdAt: 1))
        try r.recordValidation(ValidationRecord(runID: run.id, stageRunID: 9, dataset: "d.csv", passed: true, report: "{\"rows\":3}", createdAt: 2))
        #expect(try r.validations(runID: run.id).map(\.dataset) == ["d.csv"])
        let events = try r.auditEvents(matching: AuditQuery(kinds: ["data.validated"]))
        #expect(events.map(\.subject) == ["run/\(run.id)/d.csv"] && events[0].actor == "ana")
        let digests = try r.auditedRecordDigests()
        let payload = try #require(try JSONSerialization.jsonObject(with: Data(events[0].payload.utf8)) as? [String: String])
        #expect(digests[payload["record"]!] == payload["record_sha256"])
    }
}
