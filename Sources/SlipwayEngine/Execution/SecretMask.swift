/// Keeps secrets out of what a stage's output becomes (its log, the lines read for
/// metrics): each occurrence of one is written as `***`, however the output is split
/// into reads. The MLflow client names its tracking URI, the scope's token in its path,
/// in its error and retry messages; the token never reaches the log.
///
/// Only bytes that could begin a secret are held back at the end of a read (until the
/// next read shows whether they do), so output without secrets streams as before.
struct SecretMask {
    static let mask = Array("***".utf8)
    private let secrets: [[UInt8]]
    private var held: [UInt8] = []

    init(_ secrets: [String]) {
        self.secrets = secrets.filter { !$0.isEmpty }.map { Array($0.utf8) }
    }

    var isEmpty: Bool { secrets.isEmpty }

    /// What can be written of the output so far: `chunk` after what was held back.
    mutating func pass(_ chunk: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var data = held
        data.append(contentsOf: chunk)
        held = []
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        var i = 0
        scan: while i < data.count {
            for secret in secrets where data[i] == secret[0] {
                let available = min(secret.count, data.count - i)
                guard data[i..<i + available].elementsEqual(secret[..<available]) else { continue }
                if available == secret.count {
                    out += Self.mask
                    i += secret.count
                    continue scan
                }
                // The read ends inside what may be a secret: wait for the rest.
                held = Array(data[i...])
                break scan
            }
            out.append(data[i])
            i += 1
        }
        return out
    }

    /// The output ended: what was held back is not a secret.
    mutating func finish() -> [UInt8] {
        defer { held = [] }
        return held
    }
}
