import Crypto
import Foundation

/// SSH Ed25519 public keys and SSHSIG signatures (openssh's PROTOCOL.sshsig,
/// the format `git` uses for SSH commit signing and `ssh-keygen -Y sign`
/// writes). Verifying needs no outside tool; anyone can check the same
/// signature with `ssh-keygen -Y verify`.
public enum SSHSig {
    public struct Problem: SlipwayError, Equatable {
        public var message: String
        public var exitStatus: ExitStatus { .checkFailed }
        public var description: String { message }
        public init(_ message: String) { self.message = message }
    }

    /// An `ssh-ed25519 AAAA… comment` public key.
    public struct PublicKey: Sendable, Hashable, Codable, CustomStringConvertible {
        public var raw: [UInt8]
        public var comment: String

        /// Parses an authorized_keys-style line.
        public init(line: String) throws(Problem) {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard parts.count >= 2 else { throw Problem("'\(line.prefix(40))' is not an SSH public key line (ssh-ed25519 AAAA… comment)") }
            guard parts[0] == "ssh-ed25519" else { throw Problem("key type \(parts[0]) is not supported: use an ssh-ed25519 key") }
            guard let blob = Data(base64Encoded: parts[1]) else { throw Problem("the key's base64 does not decode") }
            var r = Reader([UInt8](blob))
            guard let type = r.string(), String(decoding: type, as: UTF8.self) == "ssh-ed25519", let key = r.string(), key.count == 32, r.atEnd else {
                throw Problem("the key blob is not an ssh-ed25519 key")
            }
            raw = key
            comment = parts.dropFirst(2).joined(separator: " ")
        }

        public init(raw: [UInt8], comment: String = "") {
            self.raw = raw
            self.comment = comment
        }

        /// The wire form: string("ssh-ed25519") ‖ string(key).
        public var blob: [UInt8] { Writer().string("ssh-ed25519").string(raw).bytes }

        public var line: String { "ssh-ed25519 " + Data(blob).base64EncodedString() + (comment.isEmpty ? "" : " " + comment) }
        public var description: String { line }

        /// `SHA256:…` as `ssh-keygen -l` prints it.
        public var fingerprint: String {
            "SHA256:" + Data(SHA256.hash(data: blob)).base64EncodedString().replacingOccurrences(of: "=", with: "")
        }
    }

    /// A parsed signature.
    public struct Signature: Sendable, Hashable {
        public var publicKey: PublicKey
        public var namespace: String
        public var hashAlgorithm: String
        public var signature: [UInt8]
        public var armored: String
    }

    static let magic = Array("SSHSIG".utf8)

    /// Parses the armored form (`-----BEGIN SSH SIGNATURE-----` …).
    public static func parse(armored text: String) throws(Problem) -> Signature {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let begin = lines.firstIndex(of: "-----BEGIN SSH SIGNATURE-----"),
              let end = lines.firstIndex(of: "-----END SSH SIGNATURE-----"), begin < end else {
            throw Problem("not an armored SSH signature")
        }
        guard let data = Data(base64Encoded: lines[(begin + 1)..<end].joined()) else { throw Problem("the signature's base64 does not decode") }
        var r = Reader([UInt8](data))
        guard r.bytes(6) == magic else { throw Problem("not an SSHSIG blob") }
        guard r.uint32() == 1 else { throw Problem("unsupported SSHSIG version") }
        guard let pk = r.string(), let ns = r.string(), r.string() != nil, let alg = r.string(), let sigBlob = r.string() else {
            throw Problem("truncated SSHSIG blob")
        }
        var k = Reader(pk)
        guard let kt = k.string(), String(decoding: kt, as: UTF8.self) == "ssh-ed25519", let key = k.string(), key.count == 32 else {
            throw Problem("the signing key is not ssh-ed25519")
        }
        var s = Reader(sigBlob)
        guard let st = s.string(), String(decoding: st, as: UTF8.self) == "ssh-ed25519", let sig = s.string(), sig.count == 64 else {
            throw Problem("the signature is not an ssh-ed25519 signature")
        }
        return Signature(publicKey: PublicKey(raw: key), namespace: String(decoding: ns, as: UTF8.self),
                         hashAlgorithm: String(decoding: alg, as: UTF8.self), signature: sig, armored: text)
    }

    /// The bytes an SSHSIG signature covers.
    public static func signedData(message: [UInt8], namespace: String, hashAlgorithm: String) throws(Problem) -> [UInt8] {
        let digest: [UInt8]
        switch hashAlgorithm {
        case "sha512": digest = Array(SHA512.hash(data: message))
        case "sha256": digest = Array(SHA256.hash(data: message))
        default: throw Problem("unsupported hash algorithm \(hashAlgorithm)")
        }
        return magic + Writer().string(namespace).string("").string(hashAlgorithm).string(digest).bytes
    }

    /// Checks `armored` over `message` in `namespace`; returns the signature
    /// (its key says who signed). Throws when it does not verify.
    @discardableResult
    public static func verify(armored: String, message: [UInt8], namespace: String) throws(Problem) -> Signature {
        let sig = try parse(armored: armored)
        guard sig.namespace == namespace else { throw Problem("signed for namespace '\(sig.namespace)', not '\(namespace)'") }
        let data = try signedData(message: message, namespace: namespace, hashAlgorithm: sig.hashAlgorithm)
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: sig.publicKey.raw),
              key.isValidSignature(sig.signature, for: data) else {
            throw Problem("the signature does not match the signed content (key \(sig.publicKey.fingerprint))")
        }
        return sig
    }

    /// Builds an armored signature from a raw Ed25519 signature (for in-process signers).
    public static func armor(publicKey: PublicKey, namespace: String, hashAlgorithm: String = "sha512", signature: [UInt8]) -> String {
        let sigBlob = Writer().string("ssh-ed25519").string(signature).bytes
        let blob = magic + Writer().uint32(1).string(publicKey.blob).string(namespace).string("").string(hashAlgorithm).string(sigBlob).bytes
        let b64 = Data(blob).base64EncodedString()
        var lines = ["-----BEGIN SSH SIGNATURE-----"]
        var i = b64.startIndex
        while i < b64.endIndex {
            let j = b64.index(i, offsetBy: 70, limitedBy: b64.endIndex) ?? b64.endIndex
            lines.append(String(b64[i..<j]))
            i = j
        }
        lines.append("-----END SSH SIGNATURE-----")
        return lines.joined(separator: "\n") + "\n"
    }

    struct Reader {
        let data: [UInt8]
        var offset = 0
        init(_ data: [UInt8]) { self.data = data }
        var atEnd: Bool { offset == data.count }
        mutating func bytes(_ n: Int) -> [UInt8]? {
            guard n >= 0, offset + n <= data.count else { return nil }
            defer { offset += n }
            return Array(data[offset..<(offset + n)])
        }
        mutating func uint32() -> UInt32? {
            guard let b = bytes(4) else { return nil }
            return UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
        }
        mutating func string() -> [UInt8]? {
            guard let n = uint32() else { return nil }
            return bytes(Int(n))
        }
    }

    struct Writer {
        var bytes: [UInt8] = []
        func uint32(_ v: UInt32) -> Writer {
            var w = self
            w.bytes += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
            return w
        }
        func string(_ s: [UInt8]) -> Writer {
            var w = uint32(UInt32(s.count))
            w.bytes += s
            return w
        }
        func string(_ s: String) -> Writer { string(Array(s.utf8)) }
    }
}
