import Foundation

/// The JSON encoders, in one place: the same value always gives the same bytes.
extension JSONEncoder {
    /// Keys sorted: what the registry stores in its JSON columns and audit
    /// payload details (kept byte for byte: chained events were hashed with it).
    public static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }

    /// Keys sorted, slashes unescaped: content-addressed blobs (OCI manifests,
    /// provenance) and one-object-per-line output.
    public static var canonical: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// ``canonical``, indented: what `--json` prints.
    public static var pretty: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
