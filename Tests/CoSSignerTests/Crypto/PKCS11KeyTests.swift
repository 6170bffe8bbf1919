import CoSSignerTestSupport
import Foundation
import Testing

@testable import CoSSigner
@testable import CoSSignerTesting

/// Token keys in this process, against SoftHSM2: loading, signing (alone and from many threads), the checks
/// against the certificate, the lost-session retry and the refusals. Serialized: a PKCS#11 module is
/// initialised once per process, and each test's key (with its module) is released before the next loads.
@Suite(.serialized) struct PKCS11KeyTests {
    static let keyName = "xml-sign-90B3D51F30010000-ds.key.pem"
    static let certificatePath = Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30010000-ds.pem")
    static let otherCertificatePath = Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30020000-ds.pem")

    static func certificate(_ path: String = certificatePath) throws -> Certificate {
        try Certificate(contentsOfFile: path)
    }

    /// A key loaded from a fresh token holding the DCC Boxed key.
    static func loadKey(uri: ((String) -> String)? = nil, certificate path: String = certificatePath) throws -> (PKCS11SigningKey, SoftHSM) {
        let (store, token) = try SharedSoftHSM.token(with: keyName)
        let text = uri?(token) ?? "pkcs11:token=\(token);object=ts1-xml-sign;type=private"
        let key = try PKCS11SigningKey.load(
            uri: text, modulePath: SoftHSM.module, pin: .file(try store.pinFile()), certificate: try certificate(path))
        return (key, store)
    }

    @Test func signsADigestThatVerifiesUnderTheCertificate() throws {
        let (key, _) = try Self.loadKey()
        let certificateKey = try Self.certificate().publicKey()
        #expect(key.publicKey == certificateKey)
        let digest = SHA256.hash(Array("a SignedInfo".utf8))
        let first = try key.signature(forDigest: digest)
        let second = try key.signature(forDigest: digest)
        #expect(first.rawRepresentation.count == 64)
        #expect(certificateKey.isValidSignature(first, forDigest: digest))
        #expect(certificateKey.isValidSignature(second, forDigest: digest))
        #expect(first != second, "the token draws a fresh nonce per signature")
        #expect(throws: CryptoError(code: .invalidDigest)) { try key.signature(forDigest: [1, 2, 3]) }
    }

    @Test func theURIsAttributesFindTheKey() throws {
        for uri in [
            { (token: String) in "pkcs11:token=\(token);id=%01%02" },
            { (token: String) in "pkcs11:token=\(token);object=ts1-xml-sign;id=%01%02;type=private" },
            { (token: String) in "pkcs11:token=\(token)?module-path=\(SoftHSM.module)" },
            { (token: String) in "pkcs11:manufacturer=SoftHSM%20project;token=\(token);object=ts1%2Dxml%2Dsign" },
            { (token: String) in "PKCS11:token=\(token);library-manufacturer=SoftHSM;object=ts1-xml-sign" },
        ] {
            let (key, _) = try Self.loadKey(uri: uri)
            let digest = SHA256.hash(Array(key.uri.text.utf8))
            #expect(try Self.certificate().publicKey().isValidSignature(try key.signature(forDigest: digest), forDigest: digest))
        }
    }

    @Test func theSameRequestSignedByTheFileKeyAndTheTokenKeyVerifiesUnderOneCertificate() throws {
        let (tokenKey, store) = try Self.loadKey()
        let certificate = try Self.certificate()
        let fileKey = try SigningKey(contentsOfFile: Fixtures.privateKeyCopy(Self.keyName))
        let template = try Fixtures.template623(Fixtures.template623Names[0])
        let byToken = try DUISSigner(key: AnySigningKey(tokenKey), certificate: certificate).sign(template)
        let byFile = try DUISSigner(key: fileKey, certificate: certificate).sign(template)
        #expect(byToken.digestValue == byFile.digestValue, "the same document, the same digest")
        #expect(byToken.signatureValue != byFile.signatureValue)
        let verifier = DUISVerifier(certificates: [certificate])
        for signed in [byToken, byFile] {
            #expect(try verifier.verify(signed.bytes).certificate == certificate)
            let path = store.directory.appendingPathComponent("signed-\(UUID().uuidString).xml").path
            try Data(signed.bytes).write(to: URL(fileURLWithPath: path))
            let xmlsec = try TestProcess.run("xmlsec1", ["--verify", "--enabled-reference-uris", "empty", "--pubkey-cert-pem", Self.certificatePath, path])
            #expect(xmlsec.status == 0, "xmlsec1: \(xmlsec.stderr)")
        }
        // Through the full signer too (6.23 model and checks), and a token key refuses RFC 6979.
        let requestSigner = RequestSigner(signer: try DUISSigner(key: AnySigningKey(tokenKey), certificate: certificate))
        #expect(try verifier.verify(try requestSigner.sign(template).document.bytes).certificate == certificate)
        var deterministic = SigningOptions()
        deterministic.deterministic = true
        #expect(throws: PKCS11Error(code: .deterministicUnsupported)) {
            try DUISSigner(key: AnySigningKey(tokenKey), certificate: certificate).sign(template, options: deterministic)
        }
        #expect(!AnySigningKey(tokenKey).supportsDeterministicSignatures)
    }

    @Test func manyThreadsSignAtOnceThroughTheSessionPool() async throws {
        let (key, _) = try Self.loadKey()
        let certificateKey = try Self.certificate().publicKey()
        let threads = 8, perThread = 150
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for t in 0..<threads {
                group.addTask {
                    var valid = 0
                    for i in 0..<perThread {
                        let digest = SHA256.hash(Array("document \(t)-\(i)".utf8))
                        if certificateKey.isValidSignature(try key.signature(forDigest: digest), forDigest: digest) { valid += 1 }
                    }
                    return valid
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(results == threads * perThread)
        #expect(key.token.openSessionCount >= 1)
        #expect(key.token.openSessionCount <= PKCS11Token.defaultMaxSessions)
    }

    @Test func aLostSessionIsRetriedOnceWithANewSessionAndLogin() throws {
        let (key, _) = try Self.loadKey()
        let certificateKey = try Self.certificate().publicKey()
        // Every session of the process closes, and the login with them (as when the token is pulled and put back).
        key.token.closeAllSessionsForTesting()
        let digest = SHA256.hash(Array("after the loss".utf8))
        #expect(key.token.discardedSessionCount == 0)
        #expect(certificateKey.isValidSignature(try key.signature(forDigest: digest), forDigest: digest))
        #expect(key.token.discardedSessionCount >= 1, "the lost session was replaced")
        let afterFirst = key.token.discardedSessionCount
        key.token.closeAllSessionsForTesting()
        #expect(certificateKey.isValidSignature(try key.signature(forDigest: digest), forDigest: digest))
        #expect(key.token.discardedSessionCount > afterFirst)
        // Without a loss, sessions are reused, not replaced.
        let steady = key.token.discardedSessionCount
        for _ in 0..<5 { _ = try key.signature(forDigest: digest) }
        #expect(key.token.discardedSessionCount == steady)
    }

    @Test func keysOnOneTokenShareItsLoginAndAnotherPINIsRefused() throws {
        let (store, token) = try SharedSoftHSM.token(with: Self.keyName)
        try store.importKey("xml-sign-90B3D51F30020000-ds.key.pem", token: token, label: "ts2-xml-sign", id: "0203")
        let first = try PKCS11SigningKey.load(
            uri: "pkcs11:token=\(token);object=ts1-xml-sign", modulePath: SoftHSM.module, pin: .file(try store.pinFile()),
            certificate: try Self.certificate())
        let second = try PKCS11SigningKey.load(
            uri: "pkcs11:token=\(token);object=ts2-xml-sign", modulePath: SoftHSM.module, pin: .file(try store.pinFile()),
            certificate: try Self.certificate(Self.otherCertificatePath))
        #expect(first.token === second.token)
        #expect(throws: PKCS11Error(code: .pinIncorrect)) {
            try PKCS11SigningKey.load(
                uri: "pkcs11:token=\(token);object=ts2-xml-sign", modulePath: SoftHSM.module,
                pin: .file(try store.pinFile("another-pin")), certificate: try Self.certificate(Self.otherCertificatePath))
        }
        let digest = SHA256.hash(Array("two keys".utf8))
        #expect(try Self.certificate(Self.otherCertificatePath).publicKey().isValidSignature(try second.signature(forDigest: digest), forDigest: digest))
    }

    @Test func aTokenKeyThatIsNotTheCertificatesDoesNotLoad() throws {
        // The token's public key object (CKA_EC_POINT) differs from the certificate's.
        do {
            _ = try Self.loadKey(certificate: Self.otherCertificatePath)
            Issue.record("a token key loaded against another certificate")
        } catch let error as PKCS11Error {
            #expect(error.code == .keyMismatch)
            #expect(error.description.contains("the token's public key is not the certificate's"), "\(error)")
        }
        // Without a public key object on the token, the signature made at load does not verify.
        let (store, token) = try SharedSoftHSM.token(with: Self.keyName)
        try store.deletePublicKey(token: token, id: "0102")
        do {
            _ = try PKCS11SigningKey.load(
                uri: "pkcs11:token=\(token);object=ts1-xml-sign", modulePath: SoftHSM.module, pin: .file(try store.pinFile()),
                certificate: try Self.certificate(Self.otherCertificatePath))
            Issue.record("a token key without a public key object loaded against another certificate")
        } catch let error as PKCS11Error {
            #expect(error.code == .keyMismatch)
            #expect(error.description.contains("does not verify under the certificate's key"), "\(error)")
        }
        // And with its own certificate it loads and signs.
        let key = try PKCS11SigningKey.load(
            uri: "pkcs11:token=\(token);object=ts1-xml-sign", modulePath: SoftHSM.module, pin: .file(try store.pinFile()),
            certificate: try Self.certificate())
        let digest = SHA256.hash(Array("no public object".utf8))
        #expect(try Self.certificate().publicKey().isValidSignature(try key.signature(forDigest: digest), forDigest: digest))
    }

    @Test func refusalsNameTheURIAndTheReason() throws {
        let (store, token) = try SharedSoftHSM.token(with: Self.keyName)
        let pinPath = try store.pinFile()
        let certificate = try Self.certificate()
        func refusal(_ uri: String, module: String? = SoftHSM.module, pin: PINSource? = nil) -> PKCS11Error? {
            do {
                _ = try PKCS11SigningKey.load(uri: uri, modulePath: module, pin: pin ?? .file(pinPath), certificate: certificate)
                return nil
            } catch {
                return error
            }
        }
        let good = "pkcs11:token=\(token);object=ts1-xml-sign"
        let cases: [(PKCS11Error?, PKCS11Error.Code, String)] = [
            (refusal(good, module: "/no/such/module.so"), .moduleNotFound, "no PKCS#11 module at /no/such/module.so"),
            (refusal(good, module: nil), .moduleNotFound, "no PKCS#11 module given"),
            (refusal(good, module: "/etc/hostname"), .notAModule, "cannot be loaded as a shared library"),
            (refusal(good, module: "/usr/lib/x86_64-linux-gnu/libz.so.1"), .notAModule, "has no C_GetFunctionList"),
            (refusal("pkcs11:token=no-such-token;object=ts1-xml-sign"), .tokenNotFound, "no token matches the URI"),
            (refusal("pkcs11:token=\(token);object=no-such-key"), .objectNotFound, "has no private key object with label 'no-such-key'"),
            (refusal("pkcs11:token=\(token);id=%FF"), .objectNotFound, "id ff"),
            (refusal(good, pin: .file(try store.pinFile("wrong-pin"))), .pinIncorrect, "refused the user PIN"),
            (refusal(good, pin: .environment("COSSIGNER_TEST_NO_SUCH_PIN_VARIABLE")), .pinUnavailable, "COSSIGNER_TEST_NO_SUCH_PIN_VARIABLE is not set"),
            (refusal(good, pin: .file(try store.pinFile(mode: 0o640))), .pinUnavailable, "the PIN file is accessible by group or others (mode 0640)"),
            (refusal(good + "?pin-value=\(SoftHSM.userPIN)"), .invalidURI, "PINs come from --pin-env/--pin-file/pin_env/pin_file only"),
            (refusal(good + ";type=public"), .invalidURI, "type=public"),
            (refusal(good + "?module-path=/elsewhere/libsofthsm2.so"), .invalidURI, "is not the module given"),
        ]
        for (error, code, text) in cases {
            guard let error else {
                Issue.record("no refusal where '\(text)' was expected")
                continue
            }
            #expect(error.code == code, "\(error)")
            #expect(error.description.contains(text), "\(error)")
            #expect(error.failureClass == .keyOrCertificate)
            #expect(!error.description.contains(SoftHSM.userPIN), "the PIN appears in: \(error)")
            #expect(!error.description.contains("wrong-pin"))
        }
        // The wrong PIN's refusal carries CKR_PIN_INCORRECT.
        #expect(cases[7].0?.description.contains("CKR_PIN_INCORRECT") == true)
        // An insecure PIN file is accepted when the policy allows it.
        let key = try PKCS11SigningKey.load(
            uri: good, modulePath: SoftHSM.module, pin: .file(try store.pinFile(mode: 0o644)), certificate: certificate,
            pinFilePolicy: .allowInsecure)
        #expect(key.publicKey == (try certificate.publicKey()))
    }

    @Test func theFactoryLoadsFileKeysAndTokenKeys() throws {
        let (store, token) = try SharedSoftHSM.token(with: Self.keyName)
        let certificate = try Self.certificate()
        let tokenKey = try AnySigningKey.load(
            "pkcs11:token=\(token);object=ts1-xml-sign", certificate: certificate, pkcs11Module: SoftHSM.module,
            pin: .file(try store.pinFile()))
        #expect(tokenKey.pkcs11Key != nil && tokenKey.fileKey == nil)
        let fileKey = try AnySigningKey.load(Fixtures.privateKeyCopy(Self.keyName), certificate: certificate)
        #expect(fileKey.fileKey != nil && fileKey.pkcs11Key == nil)
        #expect(tokenKey.publicKey == fileKey.publicKey)
        #expect(certificate.matches(tokenKey) && certificate.matches(fileKey))
        #expect(throws: CryptoError(code: .keyMismatch)) {
            try AnySigningKey.load(Fixtures.privateKeyCopy(Self.keyName), certificate: try Self.certificate(Self.otherCertificatePath))
        }
    }

    @Test func theTokensPublicKeyIsReadInBothForms() {
        let point: [UInt8] = [0x04] + [UInt8](repeating: 0xAB, count: 64)
        #expect(PKCS11SigningKey.ecPoint(point) == point)
        #expect(PKCS11SigningKey.ecPoint([0x04, 0x41] + point) == point)
        #expect(PKCS11SigningKey.ecPoint([0x04, 0x40] + point.dropFirst()) == nil)
        #expect(PKCS11SigningKey.ecPoint([0x03] + point.dropFirst(33)) == nil)
    }

    @Test func modulesAndTokensAreReleasedWithTheirLastKey() throws {
        do {
            let (key, _) = try Self.loadKey()
            #expect(key.token.openSessionCount >= 1)
            #expect(PKCS11Module.liveCount == 1 && PKCS11Token.liveCount == 1)
        }
        // The suite is serialized and no other suite loads a module in this process: none is left.
        #expect(PKCS11Module.liveCount == 0 && PKCS11Token.liveCount == 0)
        // Another key loads afresh after the first (with its module and token) was released.
        let (again, _) = try Self.loadKey()
        let digest = SHA256.hash(Array("again".utf8))
        #expect(try Self.certificate().publicKey().isValidSignature(try again.signature(forDigest: digest), forDigest: digest))
    }

    @Test func finalizingBeforeExitEndsTheModuleOnThisThreadAndHeldKeysFailTyped() throws {
        let (key, _) = try Self.loadKey()
        let digest = SHA256.hash(Array("before exit".utf8))
        #expect(try Self.certificate().publicKey().isValidSignature(try key.signature(forDigest: digest), forDigest: digest))
        #expect(PKCS11Modules.finalizeBeforeExit() == 1)
        #expect(key.token.module.isFinalized)
        #expect(PKCS11Module.liveCount == 0 && PKCS11Token.liveCount == 0, "finalised instances are forgotten")
        #expect(PKCS11Modules.finalizeBeforeExit() == 0, "nothing left to finalise")
        // A key still held refuses (its sessions went with C_Finalize); it does not crash, nor sign.
        #expect(throws: PKCS11Error.self) { try key.signature(forDigest: digest) }
        // A key loaded afterwards initialises the module again and signs; the old one is released without C calls.
        let (again, _) = try Self.loadKey()
        #expect(again.token.module !== key.token.module && !again.token.module.isFinalized)
        #expect(try Self.certificate().publicKey().isValidSignature(try again.signature(forDigest: digest), forDigest: digest))
    }
}
