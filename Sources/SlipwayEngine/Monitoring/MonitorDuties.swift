import Foundation
import SlipwayStore

/// The agent's drop folders: each monitor's `incoming:` folder. A file is
/// read only once it is complete: it was renamed into place (names starting
/// with `.` or ending in `.tmp`/`.part`/`.partial` are never read) and its
/// size and modification time are the same on two looks in a row. After it is
/// recorded, it moves to `processed/`; a file that fails the monitor's schema
/// moves to `rejected/` with `NAME.reason.txt` beside it (so does a file that
/// stays empty over two looks). Nothing is deleted.
public final class DropFolderDuty: AgentDuty, @unchecked Sendable {
    public var name: String { "monitors" }
    let launcher: any RunLauncher
    private let lock = NSLock()
    /// Path → (size, mtime ns) at the previous look.
    private var looks: [String: (Int64, Int64)] = [:]
    private var loaded = false

    public init(launcher: any RunLauncher) { self.launcher = launcher }

    /// The looks are kept in `.slipway/drop-looks.json` too, so the second
    /// look can be another process's (`agent --once` from cron).
    func loadLooks(_ ws: Workspace) {
        guard !loaded else { return }
        loaded = true
        guard let data = try? FileSystem.readFile(ws.stateDir + "/drop-looks.json"),
              let saved = try? JSONDecoder().decode([String: [Int64]].self, from: data) else { return }
        looks = saved.compactMapValues { $0.count == 2 ? ($0[0], $0[1]) : nil }
    }

    func saveLooks(_ ws: Workspace) {
        let object = looks.mapValues { [$0.0, $0.1] }
        try? FileSystem.writeFile(ws.stateDir + "/drop-looks.json", (try? JSONEncoder.sorted.encode(object)) ?? Data("{}".utf8))
    }

    static func skipped(_ name: String) -> Bool {
        name.hasPrefix(".") || name.hasSuffix(".tmp") || name.hasSuffix(".part") || name.hasSuffix(".partial") || name.hasSuffix(".reason.txt")
    }

    public func pass(_ c: AgentContext) throws -> [String] {
        var lines: [String] = []
        let service = MonitorService(workspace: c.workspace, registry: c.registry, spec: c.spec)
        var fired = false
        lock.withLock { loadLooks(c.workspace) }
        defer { lock.withLock { saveLooks(c.workspace) } }
        for monitor in c.spec.monitorSpecs {
            guard let incoming = monitor.incoming, !c.stopping() else { continue }
            let dir = c.workspace.absolute(incoming)
            try FileSystem.makeDirectory(dir)
            // The folder itself must not lead out of the workspace (a symlink).
            guard let real = FileSystem.realPath(dir), let root = FileSystem.realPath(c.workspace.root),
                  WorkspacePath.contains(root, real) else {
                lines.append("monitor \(monitor.name): \(incoming) leads outside the workspace; not read")
                continue
            }
            for sub in ["processed", "rejected"] { try FileSystem.makeDirectory(dir + "/" + sub) }
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !Self.skipped($0) }.sorted()
            var seen = Set<String>()
            for file in names where file != "processed" && file != "rejected" {
                let path = dir + "/" + file
                guard let st = FileSystem.linkStatus(path) else { continue }
                seen.insert(path)
                let display = incoming + "/" + file
                if (st.st_mode & S_IFMT) != S_IFREG {
                    if (st.st_mode & S_IFMT) == S_IFLNK {
                        try move(path, to: dir + "/rejected", reason: "\(display) is a symbolic link: drop the file itself")
                        lines.append("monitor \(monitor.name): rejected \(display): a symbolic link")
                    }
                    continue
                }
                let now = (Int64(st.st_size), Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
                let before = lock.withLock { looks[path] }
                lock.withLock { looks[path] = now }
                // Unchanged over two looks: complete (an empty file too, which is rejected).
                guard let before, before == now else { continue }
                if c.stopping() { break }
                let ingest = try service.ingest(monitor: monitor.name, path: path, source: display, actor: c.actor)
                lock.withLock { _ = looks.removeValue(forKey: path) }
                if ingest.batch.status == .rejected {
                    try move(path, to: dir + "/rejected", reason: ingest.batch.reason)
                    lines.append("monitor \(monitor.name): rejected \(display): \(ingest.batch.reason)")
                } else {
                    try move(path, to: dir + "/processed", reason: nil)
                    lines.append(Self.describe(ingest, display))
                }
                if !ingest.events.isEmpty { fired = true }
            }
            lock.withLock { looks = looks.filter { !$0.key.hasPrefix(dir + "/") || seen.contains($0.key) } }
        }
        if fired {
            lines += try TriggerService(workspace: c.workspace, registry: c.registry, spec: c.spec, launcher: launcher).startQueued()
        }
        return lines
    }

    /// One line for a batch: recorded, drifted, duplicate, alert and what it started.
    public static func describe(_ i: MonitorService.Ingest, _ display: String) -> String {
        let b = i.batch
        guard i.isNew else { return "monitor \(b.monitor): \(display) is batch \(b.id) again (same sha256): recorded once" }
        var line = "monitor \(b.monitor): batch \(b.id) from \(display), \(b.rows) rows: "
        switch b.status {
        case .rejected: line += "rejected: \(b.reason)"
        case .drifted: line += "DRIFTED (\(b.driftedFeatures) of \(b.features) features)"
        case .calm: line += "calm (\(b.driftedFeatures) of \(b.features) features drifted)"
        }
        if let a = i.alert {
            line += "; alert \(a.id)"
            if let why = a.suppressed { line += " starts nothing: \(why)" }
            for e in i.events { line += "; trigger event \(e.id) for \(e.pipeline)" }
        }
        return line
    }

    /// Moves a file into `folder` under a name not taken yet.
    func move(_ path: String, to folder: String, reason: String?) throws {
        let name = (path as NSString).lastPathComponent
        var target = folder + "/" + name
        var n = 1
        while FileSystem.exists(target) { n += 1; target = folder + "/\(n)-" + name }
        guard rename(path, target) == 0 else { throw FileSystem.Failure(path: path, operation: "rename", code: errno) }
        if let reason { try FileSystem.writeFile(target + ".reason.txt", Data((reason + "\n").utf8)) }
    }
}

/// Commits, datasets and schedules into trigger events; queued events into runs.
public final class TriggerDuty: AgentDuty, @unchecked Sendable {
    public var name: String { "triggers" }
    let launcher: any RunLauncher
    private let lock = NSLock()
    private var state = TriggerService.WatchState()

    public init(launcher: any RunLauncher) { self.launcher = launcher }

    public func pass(_ c: AgentContext) throws -> [String] {
        let service = TriggerService(workspace: c.workspace, registry: c.registry, spec: c.spec, launcher: launcher)
        var s = lock.withLock { state }
        var lines = try service.watch(&s)
        lock.withLock { state = s }
        lines += try service.startQueued()
        return lines
    }
}
