/// The exit codes of the `slipway` command, as documented in docs/cli.md.
///
/// Scripts and CI systems rely on these values; they never change meaning.
public enum ExitStatus: Int32, Sendable, CaseIterable {
    /// Everything asked for succeeded.
    case success = 0
    /// A stage failed (its command exited non-zero, timed out, or was cancelled).
    case stageFailed = 1
    /// The command line or `slipway.yaml` is wrong; nothing ran.
    case usage = 2
    /// A validation check or a gate failed.
    case checkFailed = 3
    /// Slipway itself failed (a bug, a full disk, a corrupt registry).
    case internalError = 4
}

/// An error that knows how the `slipway` command reports it: one line of text
/// and its exit status. Every error type of the project conforms, so a new
/// kind of failure chooses its exit code where it is defined, and only errors
/// from outside the project (a database driver, the OS) end as
/// ``ExitStatus/internalError`` by default.
public protocol SlipwayError: Error, CustomStringConvertible {
    var exitStatus: ExitStatus { get }
}
