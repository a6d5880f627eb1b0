import ArgumentParser
import Foundation
import SlipwayEngine

/// `MODEL[:VERSION]` on the command line.
struct ModelRef: ExpressibleByArgument, CustomStringConvertible {
    var model: String
    var version: Int?

    init?(argument: String) {
        let parts = argument.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let name = parts.first, !name.isEmpty else { return nil }
        model = String(name)
        if parts.count == 2 {
            // Accept `model:3` and `model:3-1a2b3c4` (the package tag form);
            // versions are positive whole numbers (`model:-1` names none).
            let number = parts[1].prefix { $0 != "-" }
            guard !number.isEmpty, number.allSatisfy(\.isASCII), number.allSatisfy(\.isNumber), let v = Int(number), v > 0 else { return nil }
            version = v
        }
    }

    var description: String { version.map { "\(model):\($0)" } ?? model }

    /// The version named, or the newest.
    func resolve(in registry: RegistryConnection) throws -> ModelVersionRecord {
        try ModelLookup(registry: registry).version(model: model, version)
    }
}

struct VersionJSON: Encodable {
    var model: String
    var version: Int
    var run: Int64
    var pipeline: String
    var gitCommit: String?
    var artifactDigest: String
    var createdAt: String?
    var createdBy: String
    var description: String
    var tags: [String: String]
    var environments: [String]?
    var params: [String: String]?
    /// Each key's last value, whichever stage reported it last (see
    /// `metricsByStage` when several stages report one key). Non-finite
    /// values are null here, named in `nonFiniteMetrics`.
    var metrics: [String: Double?]?
    var nonFiniteMetrics: [String: String]?
    /// Stage → key → last value; non-finite values null.
    var metricsByStage: [String: [String: Double?]]?
    var datasets: [[String: String]]?
    var imageDigest: String?
    var imageTag: String?

    init(_ v: ModelVersionRecord) {
        model = v.model; version = v.version; run = v.runID; pipeline = v.pipeline; gitCommit = v.gitCommit
        artifactDigest = v.artifactDigest; createdAt = Output.iso(v.createdAt); createdBy = v.createdBy
        description = v.description; tags = v.tags
        imageDigest = v.imageDigest; imageTag = v.imageTag
    }
}

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "models", 
        abstract: "The model registry: models, versions, where each version is live.",
        subcommands: [List.self, ShowVersion.self, History.self, Tag.self, Describe.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List models with their newest version and live versions.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print as JSON.") var json = false

        func run() throws {
            let (_, registry) = try global.open()
            let models = try registry.models()
            if json { try Output.json(models); return }
            if models.isEmpty { Output.say("No models yet. A successful run registers its pipeline's model."); return }
            let rows = models.map { m in
                [m.name, m.latestVersion.map { ":\($0)" } ?? "—", "\(m.versionCount)",
                 m.environments.sorted { $0.key < $1.key }.map { "\($0.key)=:\($0.value)" }.joined(separator: " ")]
            }
            Output.say(Output.table(["model", "newest", "versions", "live"], rows))
        }
    }

    struct ShowVersion: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "A version with its lineage: run, commit, datasets, params, metrics, digest.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "MODEL or MODEL:VERSION (default: the newest).") var ref: ModelRef
        @Flag(help: "Print as JSON.") var json = false

        func run() throws {
            let (ws, registry) = try global.open()
            let v = try ref.resolve(in: registry)
            let params = try registry.params(runID: v.runID)
            let recorded = try registry.metrics(runID: v.runID)
            let metrics = GateEvaluator.namedValues(recorded)
            let datasets = try registry.runDatasets(runID: v.runID)
            let live = try registry.liveVersions(model: v.model).filter { $0.value == v.version }.map(\.key).sorted()
            if json {
                var j = VersionJSON(v)
                // The keys as they always were; per stage beside them.
                let byKey = GateEvaluator.lastValues(recorded)
                j.environments = live; j.params = params; j.metrics = byKey.mapValues { $0.isFinite ? $0 : nil }
                let nonFinite = byKey.compactMapValues(NonFinite.name)
                j.metricsByStage = Dictionary(grouping: recorded, by: \.stage).mapValues {
                    GateEvaluator.lastValues($0).mapValues { $0.isFinite ? $0 : nil }
                }
                j.nonFiniteMetrics = nonFinite.isEmpty ? nil : nonFinite
                j.datasets = datasets.map { ["stage": $0.stage, "path": $0.path, "hash": $0.hash] }
                try Output.json(j)
                return
            }
            Output.say("\(v.model):\(v.version)" + (live.isEmpty ? "" : "  live in \(live.joined(separator: ", "))"))
            Output.say("  registered  \(Output.timestamp(v.createdAt)) by \(v.createdBy)")
            Output.say("  run         \(v.runID) (pipeline \(v.pipeline))")
            Output.say("  commit      \(v.gitCommit ?? GitState.noCommitReason(in: ws.root))")
            Output.say("  digest      \(v.artifactDigest)")
            if let tag = v.imageTag { Output.say("  image       \(tag)  (\(ws.sharedStore == nil ? ".slipway/images" : Output.safe(ws.imagesDir))/\(v.model), `slipway verify \(v.label)`)") }
            if !v.description.isEmpty { Output.say("  description \(Output.safe(v.description))") }
            if !v.tags.isEmpty { Output.say("  tags        " + v.tags.sorted { $0.key < $1.key }.map { "\(Output.field($0.key))=\(Output.field($0.value))" }.joined(separator: " ")) }
            if !params.isEmpty {
                Output.say("params")
                for (k, val) in params.sorted(by: { $0.key < $1.key }) { Output.say("  \(Output.field(k)) = \(Output.field(val))") }
            }
            if !metrics.isEmpty {
                Output.say("metrics")
                for (k, val) in metrics.sorted(by: { $0.key < $1.key }) { Output.say("  \(Output.field(k)) = \(Gates.format(val))") }
            }
            if !datasets.isEmpty {
                Output.say("inputs")
                for d in datasets { Output.say("  \(Output.field(d.stage)): \(Output.field(d.path)) \(d.hash.prefix(12))") }
            }
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "history", 
            abstract: "Which version was live in each environment, and when it changed.",
            discussion: "With --at TIME: what was live then (TIME: 2026-11-24, '2026-11-24 03:00', 2026-11-24T03:00:00Z).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The model.") var model: String
        @Option(help: "One environment.") var env: String?
        @Option(help: "Answer for this moment (local time unless it has a zone).") var at: String?
        @Flag(help: "Print as JSON.") var json = false

        struct AtJSON: Encodable { var environment: String; var version: Int?; var at: String? }

        func run() throws {
            let (_, registry) = try global.open()
            let time = try at.map { text -> Millis in
                guard let t = TimeParsing.millis(text) else {
                    throw Failure(status: .usage, message: "'\(text)' is not a time: write 2026-11-24, '2026-11-24 03:00' or 2026-11-24T03:00:00Z")
                }
                return t
            }
            let events = try registry.aliasHistory(model: model, environment: env, until: time)
            if let time {
                let envs = env.map { [$0] } ?? Array(Set(events.map(\.environment))).sorted()
                let answers = try envs.map { AtJSON(environment: $0, version: try registry.alias(model: model, environment: $0, at: time), at: Output.iso(time)) }
                if json { try Output.json(answers); return }
                if answers.isEmpty { Output.say("Nothing of '\(model)' was live anywhere at \(Output.timestamp(time))."); return }
                for a in answers {
                    Output.say("\(a.environment): " + (a.version.map { "\(model):\($0)" } ?? "nothing") + " at \(Output.timestamp(time))")
                }
                return
            }
            if json {
                try Output.json(events.map { e in
                    ["environment": e.environment, "version": e.version.map(String.init) ?? "", "previous": e.previousVersion.map(String.init) ?? "",
                     "at": Output.iso(e.at) ?? "", "actor": e.actor, "reason": e.reason]
                })
                return
            }
            if events.isEmpty { Output.say("No version of '\(model)' has been promoted yet."); return }
            let rows = events.map { e in
                [Output.timestamp(e.at), e.environment,
                 (e.previousVersion.map { ":\($0)" } ?? "—") + " → " + (e.version.map { ":\($0)" } ?? "—"), e.actor, Output.safe(e.reason)]
            }
            Output.say(Output.table(["when", "environment", "change", "by", "why"], rows))
        }
    }

    struct Tag: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "tag", abstract: "Set (KEY=VALUE) or remove (KEY=) tags of a version; audited.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "MODEL:VERSION") var ref: ModelRef
        @Argument(help: "KEY=VALUE pairs.") var pairs: [String]

        func run() throws {
            let (_, registry) = try global.open()
            let v = try ref.resolve(in: registry)
            let tags = try ModelCatalog.parseTags(pairs)
            let edited = try ModelCatalog(registry: registry).tag(model: v.model, version: v.version, tags: tags, actor: Provenance.currentUser())
            Output.say("\(edited.model):\(edited.version) tags: " + edited.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
    }

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "describe", abstract: "Set the description of a version; audited.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "MODEL:VERSION") var ref: ModelRef
        @Argument(help: "The description.") var text: String

        func run() throws {
            let (_, registry) = try global.open()
            let v = try ref.resolve(in: registry)
            _ = try ModelCatalog(registry: registry).describe(model: v.model, version: v.version, text: text, actor: Provenance.currentUser())
            Output.say("\(v.model):\(v.version) described")
        }
    }
}

struct Promote: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "promote", abstract: "Make a version the live one in an environment (recorded and audited).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "MODEL:VERSION") var ref: ModelRef?
    @Option(help: "The environment (declared under environments: in slipway.yaml).") var to: String?
    @Option(name: .customLong("continue"), help: ArgumentHelp("Continue the paused canary in ENV as if its analysis had passed.", valueName: "ENV"))
    var continueEnvironment: String?
    @Option(help: "Why (kept in the history and the audit trail).") var reason: String?

    func run() throws {
        let (ws, registry) = try global.open()
        let loaded = try ws.loadSpec()
        if let env = continueEnvironment {
            let p = try DeploymentService(workspace: ws, registry: registry, spec: loaded.spec)
                .continuePaused(environment: env, actor: Provenance.currentUser())
            let outcome = PromotionService.outcome(p)
            Output.say(outcome.summary("\(p.deployment.model):\(p.deployment.version)"))
            if case .failed = outcome { throw Failure(status: .checkFailed, message: outcome.summary(p.deployment.label)) }
            return
        }
        guard let ref, let to else { throw Failure(status: .usage, message: "name what to promote: slipway promote MODEL:VERSION --to ENV (or --continue ENV)") }
        guard let version = ref.version else { throw Failure(status: .usage, message: "name the version: \(ref.model):VERSION") }
        let service = ApprovalService(workspace: ws, registry: registry, spec: loaded.spec)
        let request = PromotionService.Request(model: ref.model, version: version, environment: to,
                                               actor: Provenance.currentUser(), reason: reason ?? "promoted")
        switch try service.requestPromotion(request) {
        case .alreadyLive:
            Output.say("\(ref.model):\(version) is already live in \(to)")
        case .decided(let outcome, let reasons):
            Output.say(outcome.summary("\(ref.model):\(version)")
                       + (loaded.spec.rules.highRiskWhen.isEmpty ? "" : " · low risk: " + reasons.joined(separator: "; ")))
            if case .failed = outcome { throw Failure(status: .checkFailed, message: outcome.summary("\(ref.model):\(version)")) }
        case .queued(let r, let superseded):
            Output.say("\(ref.model):\(version) → \(to) is high risk: waiting for \(r.requiredApprovals) approval\(r.requiredApprovals == 1 ? "" : "s") (request \(r.id))")
            for reason in r.reasonList { Output.say("  · \(reason)") }
            if !superseded.isEmpty { Output.say("  supersedes request \(superseded.map(String.init).joined(separator: ", "))") }
            Output.say("  an approver runs: slipway approve \(r.id) --comment \"…\"")
        }
    }
}

enum TimeParsing {
    /// Parses `2026-11-24`, `2026-11-24 03:00[:ss]`, `2026-11-24T03:00[:ss][Z|±hh:mm]`.
    static func millis(_ text: String) -> Millis? {
        let iso = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            iso.formatOptions = options
            if let d = iso.date(from: text) { return Millis((d.timeIntervalSince1970 * 1000).rounded()) }
        }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone.current
        for format in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm", "yyyy-MM-dd"] {
            f.dateFormat = format
            if let d = f.date(from: text) { return Millis((d.timeIntervalSince1970 * 1000).rounded()) }
        }
        return nil
    }
}
