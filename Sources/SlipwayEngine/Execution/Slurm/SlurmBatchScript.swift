import Foundation

/// The batch script a stage is submitted as: it exports the stage's
/// environment (params, `SLIPWAY_*`), enters the workspace and replaces
/// itself with the stage's command, so Slurm sees the command's own exit
/// code or signal, exactly as a local run would report it.
///
/// Every value is single-quoted for the shell: quotes, `$`, backquotes and
/// line breaks in a param reach the command as written.
enum SlurmBatchScript {
    /// `'text'`, with each `'` written as `'\''`.
    static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// A name the shell can export.
    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    struct BadVariable: Error, CustomStringConvertible {
        var name: String
        var description: String { "environment variable name '\(name)' cannot be exported by a shell" }
    }

    static func text(for job: Job, title: String) throws -> String {
        var lines = [
            "#!/bin/sh",
            "# " + title.replacingOccurrences(of: "\n", with: " "),
            "# Written by slipway; the job's output is the stage log. Edits are overwritten.",
        ]
        for (name, value) in job.environment.sorted(by: { $0.key < $1.key }) {
            guard isVariableName(name) else { throw BadVariable(name: name) }
            lines.append("export \(name)=\(quote(value))")
        }
        let dir = quote(job.workingDirectory)
        lines.append("cd -- \(dir) || { echo \"slipway: cannot enter the workspace \"\(dir)\" on $(hostname): it must be on a filesystem every node shares\" >&2; exit 1; }")
        lines.append("exec /bin/sh -c \(quote(job.command))")
        return lines.joined(separator: "\n") + "\n"
    }
}
