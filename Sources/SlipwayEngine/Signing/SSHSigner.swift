import Foundation

/// Signs with a person's SSH key through `ssh-keygen -Y sign`, so keys in
/// ssh-agent and passphrase-protected keys work as they do for `git commit -S`.
public struct SSHSigner: Sendable {
    /// The private key file (or its `.pub` when the private half is in ssh-agent).
    public var keyPath: String

    public init(keyPath: String) { self.keyPath = keyPath }

    public struct Failure: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String { message }
    }

    /// The public key that goes with the key file: its `.pub` beside it, else
    /// derived with `ssh-keygen -y`.
    public func publicKey() throws -> SSHSig.PublicKey {
        let pub = keyPath.hasSuffix(".pub") ? keyPath : keyPath + ".pub"
        if let data = FileManager.default.contents(atPath: pub) {
            do { return try SSHSig.PublicKey(line: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) }
            catch { throw Failure(message: "\(pub): \(error)") }
        }
        let out = try Self.sshKeygen(["-y", "-f", keyPath])
        do { return try SSHSig.PublicKey(line: out.trimmingCharacters(in: .whitespacesAndNewlines)) }
        catch { throw Failure(message: "\(keyPath): \(error)") }
    }

    /// True when signing will ask for a passphrase: an encrypted private key
    /// file (not a `.pub` whose private half is in ssh-agent).
    public var mayPrompt: Bool {
        guard !keyPath.hasSuffix(".pub"), let data = FileManager.default.contents(atPath: keyPath) else { return false }
        let text = String(decoding: data, as: UTF8.self)
        let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let blob = Data(base64Encoded: body), blob.count > 19 else { return false }
        let bytes = [UInt8](blob)
        let magic = Array("openssh-key-v1".utf8) + [0]
        guard Array(bytes.prefix(magic.count)) == magic else { return false }
        let n = Int(bytes[15]) << 24 | Int(bytes[16]) << 16 | Int(bytes[17]) << 8 | Int(bytes[18])
        guard 19 + n <= bytes.count else { return false }
        return String(decoding: bytes[19..<(19 + n)], as: UTF8.self) != "none"
    }

    /// Signs `message` in `namespace`; returns the armored signature.
    public func sign(_ message: [UInt8], namespace: String) throws -> String {
        guard FileManager.default.fileExists(atPath: keyPath) else {
            throw Failure(message: "no signing key at \(keyPath) (make one with `slipway keys generate`)")
        }
        let dir = NSTemporaryDirectory() + "slipway-sign-\(UUID().uuidString.prefix(8))"
        try FileSystem.makeDirectory(dir, mode: 0o700)
        defer { try? FileSystem.remove(dir) }
        let file = dir + "/message"
        try FileSystem.writeFile(file, Data(message), mode: 0o600)
        _ = try Self.sshKeygen(["-Y", "sign", "-f", keyPath, "-n", namespace, file])
        return String(decoding: try FileSystem.readFile(file + ".sig"), as: UTF8.self)
    }

    /// Makes a new unencrypted Ed25519 key pair at `path` (and `path.pub`).
    public static func generate(at path: String, comment: String) throws -> SSHSig.PublicKey {
        guard !FileManager.default.fileExists(atPath: path) else { throw Failure(message: "\(path) exists; not overwriting a key") }
        try FileSystem.makeDirectory((path as NSString).deletingLastPathComponent, mode: 0o700)
        _ = try sshKeygen(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path])
        return try SSHSigner(keyPath: path).publicKey()
    }

    /// Runs ssh-keygen; its prompts (a passphrase) use the terminal directly.
    static func sshKeygen(_ args: [String]) throws -> String {
        let r: OutsideTool.Result
        do { r = try OutsideTool.run(["ssh-keygen"] + args, inheritInput: true) } catch {
            throw Failure(message: "cannot run ssh-keygen (install openssh-client): \(error)")
        }
        guard r.succeeded else {
            let why = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure(message: "ssh-keygen \(args.first ?? "") failed: \(why.isEmpty ? "exit \(r.status)" : why)")
        }
        return r.stdout
    }
}
