import Foundation
import SlipwayCore

/// Named places where the crash harness (Tests/SlipwayEndToEndTests/Crash)
/// kills the process, to prove that `kill -9` between two writes loses
/// nothing and leaves nothing half done.
///
/// With `SLIPWAY_TEST_CRASH_AT=NAME` in its environment, the process sends
/// itself SIGKILL the first time it reaches the point NAME. Without it (always,
/// outside the harness) a point costs one comparison of an optional.
public enum CrashPoint {
    static let armed: String? = ProcessInfo.processInfo.environment["SLIPWAY_TEST_CRASH_AT"].flatMap { $0.isEmpty ? nil : $0 }

    /// The points, so the harness can name every one.
    public static let all = [
        "audit.before-head",        // a transaction with audit events committed; the head file not yet moved
        "run.before-finish",        // every stage done; the run not yet finished (nor its version registered)
        "run.after-register",       // the run finished and its version registered; its image not yet published
        "deploy.before-journal",    // a deploy call made; its end not yet journalled
        "deployment.after-alias",   // a deployment's version made live; the deployment not yet marked so
        "rollback.after-alias",     // a rollback's alias moved; its deploy call not yet started
        "approve.after-vote",       // the deciding vote recorded; the promotion not yet started
    ]

    @inline(__always)
    public static func reach(_ name: String) {
        guard let armed, armed == name else { return }
        kill(getpid(), SIGKILL)
    }
}
