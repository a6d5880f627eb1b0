import CLibPQ

/// libpq, opened on first use.
///
/// `slipway` does not link libpq: linking it would make every command load
/// libpq and the twenty libraries it depends on at start-up (measured in
/// docs/benchmarks.md), and would stop `slipway` from starting at all on a
/// machine without libpq. The table's entries have libpq's own prototypes
/// (see `Sources/CLibPQ/shim.h`), so calls through it are type-checked.
enum LibPQ {
    /// The sonames tried, in order (Debian's `libpq5`, then an unversioned development link).
    static let candidates = ["libpq.so.5", "libpq.so"]

    private static let loaded: Result<slipway_libpq, PGError> = {
        var reasons: [String] = []
        for name in candidates {
            var table = slipway_libpq()
            if let failure = slipway_libpq_load(name, &table) {
                reasons.append(String(cString: failure))
                continue
            }
            return .success(table)
        }
        return .failure(PGError(kind: .library, message: "cannot load libpq (\(reasons.joined(separator: "; "))); "
                                + "a PostgreSQL registry needs libpq 5 (Debian: apt-get install libpq5)"))
    }()

    /// The function table, or why libpq cannot be used here.
    static func api() throws(PGError) -> slipway_libpq {
        try loaded.get()
    }

    /// libpq's version as a number (150018 for 15.18), or nil when it cannot be loaded.
    public static var version: Int? {
        guard let pq = try? api() else { return nil }
        return Int(pq.PQlibVersion!())
    }
}

/// The version of the libpq this process would use (nil when it cannot load it).
public var libpqVersion: Int? { LibPQ.version }
