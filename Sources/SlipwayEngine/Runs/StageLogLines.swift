import Foundation

/// How a stage's log reads to a person: which lines are the stage talking to
/// Slipway (`::metric`, `::progress`) and which line says why it failed.
/// Shared by every face so the console and the CLI name the same error line.
public enum StageLogLines {
    /// What a stage that has no log file says instead: a stage taken from
    /// the cache before anything ran writes no log (a run of 10,000 cached
    /// stages would create 10,000 files); its reason is in its record.
    /// Nil for a stage that has (or will have) a log file.
    public static func withoutLog(_ stage: StageRunRecord) -> String? {
        guard stage.logPath == nil, stage.status == .cached else { return nil }
        return "[slipway] cached: \(stage.reason)"
    }

    /// A line the stage wrote for Slipway rather than for people.
    public static func isControl(_ line: some StringProtocol) -> Bool {
        let t = line.drop { $0 == " " || $0 == "\t" }
        return t.hasPrefix("::metric") || t.hasPrefix("::progress")
    }

    /// The lines a person reads: control lines left out unless asked for.
    public static func readable(_ lines: [String], includingControl: Bool) -> [String] {
        includingControl ? lines : lines.filter { !isControl($0) }
    }

    /// The last line that reports an error (`ERROR`, `Error:`, a Python
    /// exception, `fatal`, a traceback's last line), else the last line that
    /// is not a control line: the failure reason a failed stage shows.
    public static func lastErrorLine(_ lines: [String]) -> String? {
        let readable = lines.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !isControl($0) }
        let markers = ["error", "exception", "fatal", "traceback", "panic", "killed", "assert"]
        if let hit = readable.last(where: { line in
            let lower = line.lowercased()
            return markers.contains { lower.contains($0) } && !lower.hasPrefix("traceback (most recent call last)")
        }) { return hit }
        return readable.last
    }
}
