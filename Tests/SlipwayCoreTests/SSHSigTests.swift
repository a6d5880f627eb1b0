import Crypto
import Foundation
import Testing
@testable import SlipwayCore

@Suite struct SSHSigTests {
    func signed(_ message: [UInt8], namespace: String = "slipway-package") throws -> (String, SSHSig.PublicKey) {
        let key = Curve25519.Signing.PrivateKey()
        let pub = SSHSig.PublicKey(raw: Array(key.publicKey.rawRepresentation), comment: "ana@example.org")
        let data = try SSHSig.signedData(message: message, namespace: namespace, hashAlgorithm: "sha512")
        let sig = Array(try key.signature(for: data))
        return (SSHSig.armor(publicKey: pub, namespace: namespace, signature: sig), pub)
    }

    @Test func roundTripsAndNamesTheKey() throws {
        let (armored, pub) = try signed(Array("sha256:abc".utf8))
        #expect(armored.hasPrefix("-----BEGIN SSH SIGNATURE-----\n"))
        let sig = try SSHSig.verify(armored: armored, message: Array("sha256:abc".utf8), namespace: "slipway-package")
        #expect(sig.publicKey.raw == pub.raw)
        #expect(try SSHSig.PublicKey(line: pub.line) == pub)
        #expect(pub.fingerprint.hasPrefix("SHA256:") && !pub.fingerprint.hasSuffix("="))
    }

    @Test func anyChangeFailsVerification() throws {
        let (armored, _) = try signed(Array("sha256:abc".utf8))
        #expect(throws: SSHSig.Problem.self) { try SSHSig.verify(armored: armored, message: Array("sha256:abd".utf8), namespace: "slipway-package") }
        #expect(throws: SSHSig.Problem.self) { try SSHSig.verify(armored: armored, message: Array("sha256:abc".utf8), namespace: "slipway-approval") }
        #expect(throws: SSHSig.Problem.self) { try SSHSig.parse(armored: "-----BEGIN SSH SIGNATURE-----\nnot base64!\n-----END SSH SIGNATURE-----") }
        #expect(throws: SSHSig.Problem.self) { try SSHSig.PublicKey(line: "ssh-rsa AAAAB3NzaC1yc2E= bob") }
        #expect(throws: SSHSig.Problem.self) { try SSHSig.PublicKey(line: "ssh-ed25519") }
    }
}
