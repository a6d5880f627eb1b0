import ArgumentParser
import Foundation
import SlipwayEngine

struct MonitorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor", abstract: "Production monitors: feed batches.", subcommands: [Ingest.self])

    struct Ingest: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ingest", 
            abstract: "Record a production batch (CSV or JSON Lines; - reads stdin), score its drift, and start the monitor's pipeline if it drifted.",
            discussion: """
            A batch whose bytes the monitor already has is recorded once. A drifted batch (or a performance breach) \
            raises an alert; unless inside the monitor's cool-down, that starts one run of its pipeline in the background \
            (no agent needed). Exit 0 when recorded (drifted or not), 3 when the batch was rejected, 2 for a usage error.
            """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The monitor (under monitors: in slipway.yaml).") var monitor: String
        @Argument(help: "The batch file, or - for stdin.") var file: String
        @Flag(help: "Print the result as JSON.") var json = false

        struct IngestJSON: Encodable {
            var batch: Int64
            var duplicate: Bool
            var status: String
            var rows: Int
            var reason: String
            var drifted: [String]
            var alert: Int64?
            var suppressed: String?
            var triggerEvents: [Int64]
            var runs: [Int64]
        }

        func run() throws {
            let (ws, registry) = try global.open()
            let spec = try ws.loadSpec().spec
            let service = MonitorService(workspace: ws, registry: registry, spec: spec)
            _ = try service.monitor(monitor)
            var path: String
            let source: String
            var temporary: String?
            if file == "-" {
                let data = FileHandle.standardInput.readDataToEndOfFile()
                let dir = ws.stateDir + "/tmp"
                try FileSystem.makeDirectory(dir)
                path = dir + "/stdin-\(getpid())" + (data.first == UInt8(ascii: "{") ? ".jsonl" : ".csv")
                try FileSystem.writeFile(path, data)
                temporary = path
                source = "stdin"
            } else {
                path = file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
                guard FileSystem.isFile(path) else { throw Failure(status: .usage, message: "\(file): no such file") }
                source = (file as NSString).lastPathComponent
            }
            defer { if let temporary { try? FileSystem.remove(temporary) } }
            let triggers = TriggerService(workspace: ws, registry: registry, spec: spec, launcher: SelfLauncher(workspace: ws))
            let outcome = try triggers.ingestAndStart(monitor: monitor, path: path, source: source, actor: Provenance.currentUser())
            let result = outcome.ingest
            let launched = !outcome.started.isEmpty
            // The run claims its events within moments; say which it is.
            let runs = launched ? try triggers.runs(claiming: result.events, within: 5) : []
            if json {
                try Output.json(IngestJSON(batch: result.batch.id, duplicate: !result.isNew, status: result.batch.status.rawValue, rows: result.batch.rows,
                                           reason: result.batch.reason, drifted: result.scores.filter(\.drifted).map(\.feature),
                                           alert: result.alert?.id, suppressed: result.alert?.suppressed, triggerEvents: result.events.map(\.id), runs: runs))
            } else {
                Output.say(DropFolderDuty.describe(result, source))
                for s in result.scores {
                    Output.say("  \(s.drifted ? "▲" : " ") \(s.feature)  \(s.method) \(Gates.format(s.score)) (threshold \(Gates.format(s.threshold)))")
                }
                for (k, v) in result.batch.performanceValues.sorted(by: { $0.key < $1.key }) where k != "labelled_rows" {
                    Output.say("    \(k) \(Gates.format(v))")
                }
                if launched {
                    Output.say(runs.isEmpty ? "  a run is starting in the background (see `slipway runs`)"
                               : "  started run \(runs.map(String.init).joined(separator: ", ")) in the background (trigger: \(result.alert?.kind ?? "drift"))")
                } else if !result.events.isEmpty {
                    Output.say("  queued: starts when the running run of \(result.events.map(\.pipeline).joined(separator: ", ")) finishes")
                }
            }
            if result.batch.status == .rejected && result.isNew {
                throw Failure(status: .checkFailed, message: "batch rejected: \(result.batch.reason)")
            }
        }
    }
}

struct Drift: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "drift", 
        abstract: "Monitors' drift: the latest score per feature with its threshold and state, and the history.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The monitor (default: every monitor).") var monitor: String?
    @Option(help: "Batches of history per feature.") var history = 50
    @Flag(help: "Print as JSON.") var json = false

    struct FeatureJSON: Encodable {
        var feature: String
        var method: String
        var score: Double
        var threshold: Double
        var drifted: Bool
        /// Oldest first: [batch id, score].
        var history: [[Double]]
    }

    struct BatchJSON: Encodable {
        var id: Int64
        var at: String?
        var rows: Int
        var status: String
        var driftShare: Double?
        var performance: [String: Double]
    }

    struct AlertJSON: Encodable {
        var id: Int64
        var batch: Int64
        var kind: String
        var at: String?
        var suppressed: String?
        var run: Int64?
    }

    struct MonitorJSON: Encodable {
        var monitor: String
        var state: String
        var batches: Int
        var features: [FeatureJSON]
        var recent: [BatchJSON]
        var alerts: [AlertJSON]
    }

    func validate() throws { if history < 1 { throw ValidationError("--history must be at least 1") } }

    func run() throws {
        let (ws, registry) = try global.open()
        let spec = try ws.loadSpec().spec
        var names = spec.monitorSpecs.map(\.name)
        if let monitor {
            _ = try MonitorService(workspace: ws, registry: registry, spec: spec).monitor(monitor)
            names = [monitor]
        }
        var out: [MonitorJSON] = []
        for name in names {
            let recent = try registry.batches(monitor: name, limit: history)
            let latest = recent.first { $0.status != .rejected }
            let scores = try latest.map { try registry.scores(batchID: $0.id) } ?? []
            var features: [FeatureJSON] = []
            let recentScores = try registry.recentScores(monitor: name, batches: history)
            for s in scores {
                let h = recentScores[s.feature] ?? []
                features.append(FeatureJSON(feature: s.feature, method: s.method, score: s.score, threshold: s.threshold, drifted: s.drifted,
                                            history: h.map { [Double($0.batchID), $0.score] }))
            }
            let alerts = try registry.alerts(monitor: name, limit: 20)
            var alertRows: [AlertJSON] = []
            let started = alerts.contains { $0.triggerID != nil } ? try registry.triggerEvents(pipeline: nil, state: .started, limit: 200) : []
            for a in alerts {
                let run = a.triggerID.flatMap { id in started.first { $0.id == id }?.runID }
                alertRows.append(AlertJSON(id: a.id, batch: a.batchID, kind: a.kind, at: Output.iso(a.at), suppressed: a.suppressed, run: run))
            }
            out.append(MonitorJSON(monitor: name, state: latest.map { $0.status == .drifted ? "alert" : "calm" } ?? "no batches",
                                   batches: try registry.batchCount(monitor: name), features: features,
                                   recent: recent.map { BatchJSON(id: $0.id, at: Output.iso($0.receivedAt), rows: $0.rows, status: $0.status.rawValue,
                                                                  driftShare: $0.driftShare, performance: $0.performanceValues) },
                                   alerts: alertRows))
        }
        if json { try Output.json(monitor == nil ? AnyEncodable(out) : AnyEncodable(out.first)); return }
        if out.isEmpty { Output.say("slipway.yaml declares no monitors."); return }
        for m in out {
            Output.say("\(m.monitor)  \(m.state == "alert" ? "▲ ALERT" : m.state)  ·  \(m.batches) batch\(m.batches == 1 ? "" : "es")")
            if !m.features.isEmpty {
                Output.say(Output.table(["  feature", "method", "score", "threshold", "state", "history"], m.features.map { f in
                    ["  " + f.feature, f.method, Gates.format(f.score), Gates.format(f.threshold), f.drifted ? "▲ drifted" : "ok",
                     Output.sparkline(f.history.map { $0[1] })]
                }))
            }
            for a in m.alerts.prefix(5) {
                Output.say("  alert \(a.id) (batch \(a.batch), \(a.kind)) " + (a.run.map { "→ run \($0)" } ?? (a.suppressed.map { "started nothing: \($0)" } ?? "queued")))
            }
        }
    }
}

/// Encodes any Encodable (for "one monitor or all").
struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
