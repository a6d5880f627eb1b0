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
        return scan(data, final: false)
    }

    /// The output ended: what was held back is written, masked where it holds a secret.
    mutating func finish() -> [UInt8] { scan(held, final: true) }

    /// Masks each secret in `data`; unless the output has ended, keeps back the rest of it
    /// from where a secret may begin but the data ends first (the longest secret wins, so
    /// a short secret is never masked where a longer one goes on).
    private mutating func scan(_ data: [UInt8], final: Bool) -> [UInt8] {
        held = []
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        var i = 0
        while i < data.count {
            var whole = 0, mayGoOn = false
            for secret in secrets where data[i] == secret[0] {
                let available = min(secret.count, data.count - i)
                guard data[i..<i + available].elementsEqual(secret[..<available]) else { continue }
                if available == secret.count { whole = max(whole, secret.count) } else { mayGoOn = true }
            }
            if mayGoOn && !final {
                held = Array(data[i...])
                break
            }
            if whole > 0 {
                out += Self.mask
                i += whole
            } else {
                out.append(data[i])
                i += 1
            }
        }
        return out
    }
}
