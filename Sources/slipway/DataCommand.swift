import ArgumentParser
import Foundation
import SlipwayEngine

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Version datasets by content hash.",
        subcommands: [Add.self, List.self, Check.self, Schema.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "check", 
            abstract: "Check a dataset against a schema and, with a reference, for drift.",
            discussion: "Exit status: 0 every check passed, 3 a check failed, 2 unreadable input or a bad schema.")
        @Argument(help: "The dataset (CSV, or JSON Lines as .jsonl/.ndjson).") var data: String
        @Option(help: "The schema YAML.") var schema: String?
        @Option(help: "A reference dataset to compare distributions with.") var reference: String?
        @Flag(help: "Print the report as JSON (every statistic as a number).") var json = false

        func run() throws {
            var parsed: DataSchema?
            if let schema {
                guard let text = FileManager.default.contents(atPath: schema) else { throw Failure(status: .usage, message: "\(schema): cannot be read") }
                parsed = try DataSchema.parse(yaml: String(decoding: text, as: UTF8.self), file: schema)
            }
            let report: ValidationReport
            do {
                report = try DataValidator.validate(dataPath: data, dataName: data, schema: parsed, referencePath: reference, referenceName: reference)
            } catch let e as DataFileError {
                throw Failure(status: .usage, message: e.description)
            }
            if json {
                Output.say(String(decoding: try ValidationReport.encoder(pretty: true).encode(report), as: UTF8.self))
            } else {
                Output.say(Output.safe(ValidationText.render(report)), terminator: "")
            }
            if !report.passed { throw Failure(status: .checkFailed, message: "validation failed: " + report.failureSummary) }
        }
    }

    struct Schema: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "schema", abstract: "Schemas for datasets.", subcommands: [Infer.self])

        struct Infer: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "infer", 
                abstract: "Print a schema inferred from data: types, observed ranges, few-valued categories, missing limits.")
            @Argument(help: "The dataset.") var data: String
            @Option(help: "A second dataset whose values the schema must also accept.") var reference: String?

            func run() throws {
                do {
                    var profiles = [try DatasetProfile.read(path: data, displayName: data, types: [:])]
                    if let reference { profiles.append(try DatasetProfile.read(path: reference, displayName: reference, types: [:])) }
                    for i in profiles.indices { for j in profiles[i].columns.indices { profiles[i].columns[j].sortNumbers() } }
                    Output.say(SchemaInference.infer(profiles), terminator: "")
                } catch let e as DataFileError {
                    throw Failure(status: .usage, message: e.description)
                }
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Record the current content of a file or folder as a dataset version.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The dataset's path, relative to the workspace or the current folder.") var path: String
        @Flag(help: "Print as JSON.") var json = false

        func run() throws {
            let (ws, registry) = try global.open()
            let relative = try workspaceRelative(path, in: ws)
            let service = DatasetService(workspace: ws, registry: registry)
            let candidate = try service.locate(relative)
            let progress = Output.stderrIsTTY && !json && candidate.size >= 64 << 20 ? HashProgress(total: candidate.size, name: relative) : nil
            progress?.start()
            defer { progress?.stop() }
            let (record, isNew) = try service.add(candidate, actor: Provenance.currentUser())
            progress?.stop()
            if json { try Output.json(DatasetJSON(record, current: true)); return }
            Output.say("\(relative)  \(record.hash.prefix(12))  \(DataCommand.bytes(record.size))  " + (isNew ? "new version" : "unchanged (version from \(Output.timestamp(record.addedAt)))"))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List dataset versions.")

        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print as JSON.") var json = false

        func run() throws {
            let (ws, registry) = try global.open()
            let all = try DatasetService(workspace: ws, registry: registry).list()
            if json { try Output.json(all.map { DatasetJSON($0.record, current: $0.current) }); return }
            if all.isEmpty { Output.say("No datasets yet. Add one with `slipway data add PATH`."); return }
            let rows = all.map { (d, current) in
                [(current ? "* " : "  ") + Output.safe(d.path), String(d.hash.prefix(12)), DataCommand.bytes(d.size),
                 d.addedBy, Output.timestamp(d.addedAt)]
            }
            Output.say(Output.table(["  path", "hash", "size", "added by", "added"], rows))
            Output.say("(* the version the file has now)")
        }
    }

    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var v = Double(n), i = 0
        while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }
}

/// A path given on the command line, as a normalised workspace-relative path.
/// A relative path is read against the workspace when it exists there (so
/// `slipway -C DIR data add data/train.csv` works from anywhere), else against
/// the current folder.
func workspaceRelative(_ path: String, in ws: Workspace, cwd: String = FileManager.default.currentDirectoryPath) throws -> String {
    let absolute: String
    if path.hasPrefix("/") {
        absolute = path
    } else if FileSystem.exists(ws.root + "/" + path) || !FileSystem.exists(cwd + "/" + path) {
        absolute = ws.root + "/" + path
    } else {
        absolute = cwd + "/" + path
    }
    let resolvedParent = FileSystem.realPath((absolute as NSString).deletingLastPathComponent) ?? (absolute as NSString).deletingLastPathComponent
    let full = resolvedParent + "/" + (absolute as NSString).lastPathComponent
    let root = FileSystem.realPath(ws.root) ?? ws.root
    guard full != root, WorkspacePath.contains(root, full) else {
        throw Failure(status: .usage, message: "\(path) is outside the workspace \(ws.root)")
    }
    switch WorkspacePath.normalize(String(full.dropFirst(root.count + 1))) {
    case .success(let p): return p
    case .failure(let problem): throw Failure(status: .usage, message: "\(path) \(problem)")
    }
}

/// A progress line on stderr while a big file is hashed (by watching how far
/// the stat cache's hashing has read is not possible, so it shows elapsed time
/// and the rate so far against the total size).
final class HashProgress: @unchecked Sendable {
    let total: Int64
    let name: String
    private var timer: DispatchSourceTimer?
    private let started = Date()

    init(total: Int64, name: String) { self.total = total; self.name = name }

    func start() {
        let t = DispatchSource.makeTimerSource(queue: .global())
        t.schedule(deadline: .now() + 0.5, repeating: 0.5)
        t.setEventHandler { [self] in
            let s = Date().timeIntervalSince(started)
            FileHandle.standardError.write(Data("\r\u{1B}[Khashing \(name) (\(DataCommand.bytes(total))) … \(String(format: "%.1f", s))s".utf8))
        }
        t.resume()
        timer = t
    }

    func stop() {
        timer?.cancel()
        if Date().timeIntervalSince(started) >= 0.5 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
