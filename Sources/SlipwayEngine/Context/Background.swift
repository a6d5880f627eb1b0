import Foundation
import Synchronization

/// A value worked out on a dispatch worker while the caller goes on with
/// something else; ``wait()`` hands it over (or throws what the work threw).
/// For the few fixed costs of a command that do not depend on each other
/// (reading the spec while the registry opens, writing a run's pending stages
/// while its plan is worked out).
public final class Background<Value>: @unchecked Sendable {
    private let group = DispatchGroup()
    /// Set by the worker before it leaves the group; read after `wait`.
    private var result: Result<Value, any Error>?
    private let failed = Mutex(false)

    public init(_ work: @escaping @Sendable () throws -> Value) {
        DispatchQueue.global(qos: .userInitiated).async(group: group) { [self] in
            let outcome = Result(catching: work)
            result = outcome
            if case .failure = outcome { failed.withLock { $0 = true } }
        }
    }

    /// Whether the work failed, known before ``wait()`` when it is over already.
    public var hasFailed: Bool { failed.withLock { $0 } }

    /// The value, once the work is done.
    public func wait() throws -> Value {
        group.wait()
        return try result!.get()
    }
}
