import Foundation

/// What the runner intends for one stage, before running it.
public struct StagePlan: Sendable, Hashable {
    public enum Decision: Sendable, Hashable {
        /// Same inputs as a stored result: its outs will be restored.
        case cached(fromRun: Int64?)
        /// Its inputs changed (or it never ran): it will run, for these reasons.
        case run(reasons: [String])
        /// It reads what an upstream stage that will run produces: decided then.
        case afterUpstream([String])
        /// It reads a folder around (or a path inside) what these cached
        /// stages restore, changed by the restore: decided once they are in place.
        case afterRestore([String])
        /// It cannot run: a dep is missing and no stage makes it.
        case blocked(String)
    }

    public var stage: String
    public var decision: Decision

    public var explanation: String {
        switch decision {
        case .cached(let run): return "cached" + (run.map { " (same inputs as run \($0))" } ?? "")
        case .run(let reasons): return "will run: " + reasons.joined(separator: "; ")
        case .afterUpstream(let ups): return "decided after \(ups.joined(separator: ", ")) (which will run)"
        case .afterRestore(let ups): return "decided after \(ups.joined(separator: ", ")) \(ups.count == 1 ? "is" : "are") restored from the cache (which changes what it reads)"
        case .blocked(let why): return "cannot run: \(why)"
        }
    }
}
