import FuzzSupport
import SlipwayCore

// An approval's or a package's signature as it comes out of the audit trail
// or an image layout (armored SSHSIG), and a public key line from
// policy.approvers or signing.signers: ARMORED \0 KEY-LINE.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSSHSig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = Fuzz.parts(data, size, limit: 2).map { String(decoding: $0, as: UTF8.self) }
    do {
        let sig = try SSHSig.parse(armored: parts[0])
        if sig.publicKey.raw.count != 32 || sig.signature.count != 64 { Fuzz.fail("a parsed signature with a wrong-sized key or signature") }
        // Nothing the fuzzer makes verifies: that would be a forged signature.
        if (try? SSHSig.verify(armored: parts[0], message: Array("slipway".utf8), namespace: sig.namespace)) != nil {
            Fuzz.fail("a signature the fuzzer made verifies")
        }
    } catch {
        Fuzz.requireClear(error, inputSize: size)
    }
    if parts.count > 1 {
        do {
            let key = try SSHSig.PublicKey(line: parts[1])
            if key.raw.count != 32 { Fuzz.fail("a \(key.raw.count)-byte ed25519 key") }
            // A key reads back as itself.
            guard let again = try? SSHSig.PublicKey(line: key.line), again.raw == key.raw else { Fuzz.fail("\(key.line) does not read back") }
        } catch {
            Fuzz.requireClear(error, inputSize: size)
        }
    }
    return 0
}
