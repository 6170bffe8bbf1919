import CoSSignerTestSupport
import Foundation
import Testing

@testable import CoSSigner
@testable import CoSSignerTesting

@Suite struct CryptoKeyFormatTests {
    /// Every key shipped with the DCC Boxed signing tool, without extension.
    static func keyNames() throws -> [String] {
        let directory = try CryptoFixtures.path(CryptoFixtures.keys)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".key") }
            .map { String($0.dropLast(4)) }
            .sorted()
        return names
    }

    @Test func allDCCBoxedKeysLoadAsDERAndPEMAndMatchTheirCertificates() throws {
        let names = try Self.keyNames()
        #expect(names.count == 19, "the README lists 19 keys")
        for name in names {
            let der = try SigningKey(contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.keys)/\(name).key"))
            let pem = try SigningKey(contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.keys)/\(name).key.pem"))
            #expect(der.publicKey == pem.publicKey, "\(name): DER and PEM give different keys")
            let certificate = try Certificate(
                contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.keys)/\(name).pem"))
            #expect(certificate.matches(der), "\(name).key does not match \(name).pem")
            #expect(certificate.matches(pem))
            // The bytes-based initialiser too.
            let fromBytes = try SigningKey(encoded: try CryptoFixtures.bytes("\(CryptoFixtures.keys)/\(name).key"))
            #expect(fromBytes.publicKey == der.publicKey)
        }
    }

    @Test func keyDoesNotMatchAnotherCertificate() throws {
        let key = try SigningKey(
            contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.keys)/xml-sign-90B3D51F30010000-ds.key"))
        let other = try Certificate(
            contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.keys)/Z1-supplier2-ds.pem"))
        #expect(!other.matches(key))
    }

    @Test func sec1AndEncryptedPKCS8MadeByOpenSSL() throws {
        let temp = try TestPaths.temporaryDirectory()
        defer { CryptoFixtures.removeTemporary(temp) }
        let source = try CryptoFixtures.path("\(CryptoFixtures.keys)/xml-sign-90B3D51F30010000-ds.key.pem")
        let expected = try SigningKey(contentsOfFile: source).publicKey
        func out(_ name: String) -> String { temp.appendingPathComponent(name).path }

        // SEC1 "EC PRIVATE KEY", PEM and DER.
        try OpenSSLTool.run(["ec", "-in", source, "-out", out("sec1.pem")])
        try OpenSSLTool.run(["ec", "-in", source, "-outform", "DER", "-out", out("sec1.der")])
        let sec1Text = try String(contentsOfFile: out("sec1.pem"), encoding: .utf8)
        #expect(sec1Text.contains("BEGIN EC PRIVATE KEY"))
        #expect(try SigningKey(contentsOfFile: out("sec1.pem")).publicKey == expected)
        #expect(try SigningKey(contentsOfFile: out("sec1.der")).publicKey == expected)

        // Encrypted PKCS#8 (PBES2, AES-256-CBC), PEM and DER.
        try OpenSSLTool.run([
            "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", source, "-passout", "pass:correct horse", "-out",
            out("enc.pem"),
        ])
        try OpenSSLTool.run([
            "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", source, "-passout", "pass:correct horse", "-outform", "DER",
            "-out", out("enc.der"),
        ])
        #expect(try String(contentsOfFile: out("enc.pem"), encoding: .utf8).contains("BEGIN ENCRYPTED PRIVATE KEY"))
        for file in ["enc.pem", "enc.der"] {
            let key = try SigningKey(contentsOfFile: out(file), passphrase: Passphrase("correct horse"))
            #expect(key.publicKey == expected, "\(file)")
            #expect(throws: CryptoError(code: .wrongPassphrase)) {
                try SigningKey(contentsOfFile: out(file), passphrase: Passphrase("wrong horse"))
            }
            #expect(throws: CryptoError(code: .passphraseRequired)) {
                try SigningKey(contentsOfFile: out(file))
            }
        }
        // The wrong-passphrase error names the file and carries OpenSSL's reasons.
        do {
            _ = try SigningKey(contentsOfFile: out("enc.pem"), passphrase: Passphrase("nope"))
            Issue.record("a wrong passphrase was accepted")
        } catch {
            #expect(error.code == .wrongPassphrase)
            #expect(error.context == out("enc.pem"))
            #expect(error.failureClass == .keyOrCertificate)
            #expect(error.description.contains("wrong passphrase"))
            #expect(!error.description.contains("nope"), "the passphrase must never be printed")
        }
        #expect(OpenSSLErrorQueue.drain().isEmpty, "the OpenSSL error queue must be left empty")

        // Legacy encrypted SEC1 PEM (Proc-Type: 4,ENCRYPTED).
        try OpenSSLTool.run(["ec", "-in", source, "-aes256", "-passout", "pass:legacy", "-out", out("sec1-enc.pem")])
        #expect(
            try SigningKey(contentsOfFile: out("sec1-enc.pem"), passphrase: Passphrase("legacy")).publicKey == expected)
        #expect(throws: CryptoError(code: .wrongPassphrase)) {
            try SigningKey(contentsOfFile: out("sec1-enc.pem"), passphrase: Passphrase("illegal"))
        }
    }

    @Test func otherCurvesAndKeyTypesAreRefusedNamingWhatTheyAre() throws {
        let temp = try TestPaths.temporaryDirectory()
        defer { CryptoFixtures.removeTemporary(temp) }
        let p384 = temp.appendingPathComponent("p384.pem").path
        let rsa = temp.appendingPathComponent("rsa.pem").path
        let ed25519 = temp.appendingPathComponent("ed25519.pem").path
        try OpenSSLTool.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", p384])
        try OpenSSLTool.run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsa])
        try OpenSSLTool.run(["genpkey", "-algorithm", "ED25519", "-out", ed25519])
        for (file, mention) in [(p384, "secp384r1"), (rsa, "RSA"), (ed25519, "ED25519")] {
            do {
                _ = try SigningKey(contentsOfFile: file)
                Issue.record("\(file) was accepted")
            } catch {
                #expect(error.code == .unsupportedKey)
                #expect(error.reason.contains(mention), "reason '\(error.reason)' should name \(mention)")
                #expect(error.reason.contains("P-256"))
            }
        }
        // Their public keys are refused as well.
        let p384Public = temp.appendingPathComponent("p384.pub").path
        try OpenSSLTool.run(["pkey", "-in", p384, "-pubout", "-out", p384Public])
        #expect(throws: CryptoError(code: .unsupportedKey)) {
            try PublicKey(encoded: [UInt8](try Data(contentsOf: URL(fileURLWithPath: p384Public))))
        }
    }

    @Test func aBundleOfCertificateAndKeyReadsAsEither() throws {
        let certificate = try CryptoFixtures.bytes("\(CryptoFixtures.keys)/Z1-supplier2-ds.pem")
        let key = try CryptoFixtures.bytes("\(CryptoFixtures.keys)/Z1-supplier2-ds.key.pem")
        for bundle in [certificate + key, key + certificate] {
            let signingKey = try SigningKey(encoded: bundle)
            let cert = try Certificate(encoded: bundle)
            #expect(cert.matches(signingKey))
        }
    }

    @Test func garbageAndWrongObjectsAreRefused() throws {
        #expect(throws: CryptoError(code: .invalidKey)) { try SigningKey(encoded: []) }
        #expect(throws: CryptoError(code: .invalidKey)) { try SigningKey(encoded: Array("hello".utf8)) }
        #expect(throws: CryptoError(code: .invalidKey)) { try SigningKey(encoded: [0x30, 0x03, 0x02, 0x01, 0x01]) }
        let certificate = try CryptoFixtures.bytes("\(CryptoFixtures.keys)/Z1-supplier2-ds.pem")
        #expect(throws: CryptoError(code: .invalidKey)) { try SigningKey(encoded: certificate) }
        // DER with a trailing byte.
        let der = try CryptoFixtures.bytes("\(CryptoFixtures.keys)/Z1-supplier2-ds.key")
        #expect(throws: CryptoError(code: .invalidKey)) { try SigningKey(encoded: der + [0]) }
        #expect(throws: CryptoError(code: .unreadableFile)) {
            try SigningKey(contentsOfFile: "/nonexistent/cos-signer/key.pem")
        }
        #expect(OpenSSLErrorQueue.drain().isEmpty)
    }

    @Test func rawScalarGeneratedKeysAndPKCS8Export() throws {
        // RFC 6979 A.2.5 key.
        let x = hexBytes("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721")
        let key = try SigningKey(rawScalar: x)
        #expect(
            key.publicKey.uncompressedPoint
                == hexBytes(
                    "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
                        + "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"))
        let order = hexBytes("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
        #expect(throws: CryptoError(code: .invalidKey)) { try SigningKey(rawScalar: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: CryptoError(code: .invalidKey)) { try SigningKey(rawScalar: order) }
        #expect(throws: CryptoError(code: .invalidKey)) { try SigningKey(rawScalar: Array(x.dropFirst())) }
        var nMinusOne = order
        nMinusOne[31] -= 1
        _ = try SigningKey(rawScalar: nMinusOne)

        let pem = try key.pkcs8PEM()
        #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        #expect(try SigningKey(encoded: Array(pem.utf8)).publicKey == key.publicKey)

        let generated = try SigningKey.generate()
        let again = try SigningKey(encoded: Array(try generated.pkcs8PEM().utf8))
        #expect(again.publicKey == generated.publicKey)
        #expect(generated.publicKey != key.publicKey)
    }

    @Test func publicKeyForms() throws {
        let spkiPEM = """
            -----BEGIN PUBLIC KEY-----
            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYP7UuiVanTHJYet0xjVtaMBJuJI7
            Yfps5mliLmDyn7Z5A/4QCLi8maQa6elWKLxk8vGyDC1+n1F3o8KU1EYimQ==
            -----END PUBLIC KEY-----
            """
        let fromPEM = try PublicKey(encoded: Array(spkiPEM.utf8))
        let fromDER = try PublicKey(encoded: fromPEM.spkiDER)
        let fromPoint = try PublicKey(uncompressedPoint: fromPEM.uncompressedPoint)
        #expect(fromPEM == fromDER)
        #expect(fromPEM == fromPoint)
        var offCurve = fromPEM.uncompressedPoint
        offCurve[64] ^= 1
        #expect(throws: CryptoError(code: .invalidKey)) { try PublicKey(uncompressedPoint: offCurve) }
        #expect(throws: CryptoError(code: .invalidKey)) { try PublicKey(uncompressedPoint: Array(offCurve.prefix(33))) }
        #expect(throws: CryptoError(code: .invalidKey)) { try PublicKey(encoded: fromPEM.spkiDER + [0]) }
        #expect(OpenSSLErrorQueue.drain().isEmpty)
    }

    @Test func passphraseIsNeverPrinted() {
        let passphrase = Passphrase("s3cret")
        #expect(passphrase.description == "<passphrase>")
        #expect("\(passphrase)" == "<passphrase>")
        #expect(String(reflecting: passphrase) == "<passphrase>")
        #expect(passphrase.count == 6)
    }
}
