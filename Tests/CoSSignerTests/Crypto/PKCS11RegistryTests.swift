import CoSSignerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import CoSSigner
@testable import CoSSignerTesting

/// Parties registries whose credentials are token keys, loaded in this process against SoftHSM2. These tests are
/// part of ``PKCS11KeyTests`` (an extension of it), so they run serialized with its tests: a PKCS#11 module is
/// initialised once per process, and that suite checks that no module outlives its last key.
extension PKCS11KeyTests {
    static let otherKeyName = "xml-sign-90B3D51F30020000-ds.key.pem"
    static let gts01 = GTSRegistry.gts01
    static let gts02 = GTSRegistry.gts02

    /// A folder with the two DCC Boxed XML signing certificates and 0600 copies of their key files in `keys/`, and
    /// a 0600 file of the token's PIN in `secrets/`.
    struct RegistryFolder {
        let url: URL
        init(store: SoftHSM) throws {
            url = try TestPaths.temporaryDirectory()
            let keys = url.appendingPathComponent("keys"), secrets = url.appendingPathComponent("secrets")
            try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true)
            for name in ["xml-sign-90B3D51F30010000-ds", "xml-sign-90B3D51F30020000-ds"] {
                try FileManager.default.copyItem(atPath: Fixtures.path("\(Fixtures.keys)/\(name).pem"), toPath: keys.appendingPathComponent("\(name).pem").path)
            }
            for name in [PKCS11KeyTests.keyName, PKCS11KeyTests.otherKeyName] {
                let keyCopy = keys.appendingPathComponent(name).path
                try FileManager.default.copyItem(atPath: Fixtures.path("\(Fixtures.keys)/\(name)"), toPath: keyCopy)
                chmod(keyCopy, 0o600)
            }
            try FileManager.default.copyItem(atPath: try store.pinFile(), toPath: secrets.appendingPathComponent("token.pin").path)
            chmod(secrets.appendingPathComponent("token.pin").path, 0o600)
        }

        func path(_ relative: String) -> String { url.appendingPathComponent(relative).path }

        func write(_ name: String, _ text: String) throws -> String {
            let target = path(name)
            try Data(text.utf8).write(to: URL(fileURLWithPath: target))
            return target
        }

        func remove() { try? FileManager.default.removeItem(at: url) }
    }

    /// Party gts with credentials for …30-01 and …30-02, given as TOML (``GTSRegistry``).
    static func gtsRegistry(module: String? = SoftHSM.module, first: String, second: String) -> String {
        GTSRegistry.text(module: module, first: first, second: second)
    }

    /// The DCC Boxed IMMEDIATE template with its Business Originator set to `originator`.
    static func request(originator: String) throws -> [UInt8] {
        Array(try Fixtures.template623(Fixtures.template623Names[0]).utf8String
            .replacingOccurrences(of: "<sr:RequestID>\(gts01):", with: "<sr:RequestID>\(originator):").utf8)
    }

    static func xmlsec1Verifies(_ bytes: [UInt8], certificate: String, in folder: RegistryFolder) throws -> Bool {
        let path = folder.path("signed-\(UUID().uuidString).xml")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let result = try TestProcess.run("xmlsec1", ["--verify", "--enabled-reference-uris", "empty", "--pubkey-cert-pem", certificate, path])
        return result.status == 0
    }

    @Test func aRegistryOfTokenKeysSignsAndItsKeysShareOneModuleAndLogin() throws {
        let (store, token) = try SharedSoftHSM.token(with: Self.keyName, label: "gts-30-01", id: "01")
        try store.importKey(Self.otherKeyName, token: token, label: "gts-30-02", id: "02")
        let folder = try RegistryFolder(store: store)
        defer { folder.remove() }
        let path = try folder.write("parties.toml", Self.gtsRegistry(
            first: "signing_key = \"pkcs11:token=\(token);object=gts-30-01;type=private\"\npin_file = \"secrets/token.pin\"",
            second: "signing_key = \"pkcs11:token=\(token);id=%02\"\npin_file = \"secrets/token.pin\""))
        do {
            let registry = try PartyRegistry(contentsOfFile: path, loader: .files)
            #expect(registry.keyLoadCount == 2)
            let credentials = registry.parties[0].credentials
            // As declared: the URI exactly as written (never joined to the folder), the PIN file joined to it.
            #expect(credentials[0].declaration.signingKeyPath == "pkcs11:token=\(token);object=gts-30-01;type=private")
            #expect(credentials[0].declaration.pin == .file(folder.path("secrets/token.pin")))
            #expect(credentials[0].declaration.pkcs11Module == SoftHSM.module)
            let keys = try credentials.map { try #require($0.signer.key.pkcs11Key) }
            // Two keys on one token: one module instance, one token (one login, one session pool).
            #expect(keys[0].token === keys[1].token)
            #expect(PKCS11Module.liveCount == 1 && PKCS11Token.liveCount == 1)

            let signer = RequestSigner(keys: .selected(KeySelector(registry: registry), mpid: nil, registrationDate: nil))
            let verifier = DUISVerifier(certificates: credentials.map(\.certificate))
            for (originator, credential) in [(Self.gts01, credentials[0]), (Self.gts02, credentials[1])] {
                let signed = try signer.sign(try Self.request(originator: originator))
                #expect(signed.userID.description == originator)
                #expect(signed.certificate == credential.certificate)
                #expect(try verifier.verify(signed.xml).certificate == credential.certificate)
                #expect(try Self.xmlsec1Verifies(signed.xml, certificate: folder.path("keys/xml-sign-90B3D51F30\(originator.dropFirst(15).prefix(2))0000-ds.pem"), in: folder))
            }
        }
        #expect(PKCS11Module.liveCount == 0, "the registry's module is released with it")
    }

    @Test func aRegistryMixesFileAndTokenKeysAndTheLoadersModuleWins() throws {
        let (store, token) = try SharedSoftHSM.token(with: Self.keyName, label: "gts-30-01", id: "01")
        let folder = try RegistryFolder(store: store)
        defer { folder.remove() }
        // The registry names a module that is not there; the loader's (--pkcs11-module) wins.
        let path = try folder.write("mixed.toml", Self.gtsRegistry(
            module: "/nonexistent/libsofthsm2.so",
            first: "signing_key = \"pkcs11:token=\(token);object=gts-30-01\"\npin_file = \"secrets/token.pin\"",
            second: "signing_key = \"keys/xml-sign-90B3D51F30020000-ds.key.pem\""))
        let refused = try #require(#expect(throws: PartyRegistryError.self) { try PartyRegistry(contentsOfFile: path, loader: .files) })
        #expect(refused.problems.count == 1 && refused.problems[0].field == "pkcs11_module", "\(refused)")
        #expect(refused.problems[0].description.contains("no PKCS#11 module at /nonexistent/libsofthsm2.so"), "\(refused)")
        #expect(refused.failureClass == .keyOrCertificate)

        let registry = try PartyRegistry(contentsOfFile: path, loader: .files(keyFilePolicy: .strict, pkcs11Module: SoftHSM.module))
        let credentials = registry.parties[0].credentials
        #expect(credentials[0].signer.key.pkcs11Key != nil && credentials[1].signer.key.fileKey != nil)
        let signer = RequestSigner(keys: .selected(KeySelector(registry: registry), mpid: try MPID(parsing: "GTSG"), registrationDate: nil))
        for originator in [Self.gts01, Self.gts02] {
            let signed = try signer.sign(try Self.request(originator: originator))
            #expect(signed.userID.description == originator)
            #expect(try DUISVerifier(certificates: [signed.certificate]).verify(signed.xml).certificate == signed.certificate)
        }
    }

    @Test func verifyingCertificatesNeverLoadsAModuleOrReadsAPIN() throws {
        let (store, token) = try SharedSoftHSM.token(with: Self.keyName, label: "gts-30-01", id: "01")
        let folder = try RegistryFolder(store: store)
        defer { folder.remove() }
        // A module that is not there, a PIN variable that is not set, a PIN file that is not there.
        let path = try folder.write("verify.toml", Self.gtsRegistry(
            module: "/nonexistent/libsofthsm2.so",
            first: "signing_key = \"pkcs11:token=\(token);object=gts-30-01\"\npin_env = \"COSSIGNER_TEST_UNSET_PIN_VARIABLE\"",
            second: "signing_key = \"pkcs11:token=\(token);object=gts-30-02\"\npin_file = \"secrets/absent.pin\""))
        let certificates = try PartySigningCertificates(contentsOfFile: path)
        #expect(certificates.entries.map(\.userID.description) == [Self.gts01, Self.gts02])
        #expect(PKCS11Module.liveCount == 0 && PKCS11Token.liveCount == 0)
    }

    @Test func deterministicSigningRefusesTokenKeysBeforeTheirModuleIsLoaded() throws {
        let (store, token) = try SharedSoftHSM.token(with: Self.keyName, label: "gts-30-01", id: "01")
        let folder = try RegistryFolder(store: store)
        defer { folder.remove() }
        let path = try folder.write("det.toml", Self.gtsRegistry(
            first: "signing_key = \"pkcs11:token=\(token);object=gts-30-01\"\npin_file = \"secrets/token.pin\"",
            second: "signing_key = \"keys/xml-sign-90B3D51F30020000-ds.key.pem\""))
        let error = try #require(#expect(throws: PartyRegistryError.self) {
            try PartyRegistry(contentsOfFile: path, loader: .files(keyFilePolicy: .strict, deterministic: true))
        })
        #expect(error.problems.count == 1, "\(error)")
        #expect(error.problems[0].party == "gts" && error.problems[0].field == "credential[1].signing_key" && error.problems[0].line == 8)
        #expect(error.problems[0].reason.contains("deterministic signing unsupported"))
        #expect(error.failureClass == .keyOrCertificate)
        #expect(PKCS11Module.liveCount == 0, "no module was loaded")
        // A registry of file keys signs deterministically as before.
        let files = try folder.write("files.toml", """
            [[party]]
            id = "gtn"
            name = "GIT Test Network Operator"
            mpids = ["GTNO"]
            user_ids = ["\(Self.gts02)"]
            signing_key = "keys/xml-sign-90B3D51F30020000-ds.key.pem"
            signing_certificate = "keys/xml-sign-90B3D51F30020000-ds.pem"

            """)
        #expect(try PartyRegistry(contentsOfFile: files, loader: .files(keyFilePolicy: .strict, deterministic: true)).keyLoadCount == 1)
    }

    /// Each refusal of a token credential: its kind, exit code, party, field and line, the reason, never the PIN.
    @Test func tokenProblemsAreNamedByPartyFieldAndLineAndNeverShowThePIN() throws {
        let (store, token) = try SharedSoftHSM.token(with: Self.keyName, label: "gts-30-01", id: "01")
        try store.importKey(Self.otherKeyName, token: token, label: "gts-30-02", id: "02")
        let folder = try RegistryFolder(store: store)
        defer { folder.remove() }
        _ = try folder.write("secrets/wrong.pin", "Wrong-PIN-0000\n")
        chmod(folder.path("secrets/wrong.pin"), 0o600)
        _ = try folder.write("secrets/open.pin", SoftHSM.userPIN + "\n")
        chmod(folder.path("secrets/open.pin"), 0o644)
        let fileKey = "signing_key = \"keys/xml-sign-90B3D51F30020000-ds.key.pem\""
        let uri = "pkcs11:token=\(token);object=gts-30-01;type=private"
        let pin = "pin_file = \"secrets/token.pin\""
        // With pkcs11_module (lines 1-2), the first credential's header is line 8, its own lines 11 on; without, 6.
        let cases: [(first: String, module: String?, kind: PartyRegistryProblem.Kind, exit: Int32, field: String, line: Int, text: String)] = [
            ("signing_key = \"pkcs11:token=no-such-token;object=gts-30-01\"\n\(pin)", SoftHSM.module,
             .credentialsUnusable, 3, "credential[1].signing_key", 8, "token not found (pkcs11:token=no-such-token;object=gts-30-01): no token matches the URI"),
            ("signing_key = \"pkcs11:token=\(token);object=no-such-key\"\n\(pin)", SoftHSM.module,
             .credentialsUnusable, 3, "credential[1].signing_key", 8, "token '\(token)' has no private key object with label 'no-such-key'"),
            ("signing_key = \"\(uri)\"\npin_file = \"secrets/wrong.pin\"", SoftHSM.module,
             .credentialsUnusable, 3, "credential[1].pin_file", 8, "wrong PIN (\(uri)): token '\(token)' refused the user PIN [CKR_PIN_INCORRECT]"),
            ("signing_key = \"\(uri)\"\npin_file = \"secrets/open.pin\"", SoftHSM.module,
             .credentialsUnusable, 3, "credential[1].pin_file", 8, "the PIN file is accessible by group or others (mode 0644)"),
            ("signing_key = \"\(uri)\"\npin_env = \"COSSIGNER_TEST_UNSET_PIN_VARIABLE\"", SoftHSM.module,
             .credentialsUnusable, 3, "credential[1].pin_env", 8, "the PIN environment variable COSSIGNER_TEST_UNSET_PIN_VARIABLE is not set"),
            ("signing_key = \"\(uri)\"\n\(pin)", nil,
             .credentialsUnusable, 3, "pkcs11_module", 6, "PKCS#11 module not found (\(uri)): no PKCS#11 module given"),
            ("signing_key = \"\(uri)\"\n\(pin)", "/nonexistent/libsofthsm2.so",
             .credentialsUnusable, 3, "pkcs11_module", 8, "no PKCS#11 module at /nonexistent/libsofthsm2.so"),
            ("signing_key = \"\(uri)\"\n\(pin)", "/usr/lib/x86_64-linux-gnu/libz.so.1",
             .credentialsUnusable, 3, "pkcs11_module", 8, "has no C_GetFunctionList"),
            ("signing_key = \"pkcs11:token=\(token);object=gts-30-02\"\n\(pin)", SoftHSM.module,
             .keyCertificateMismatch, 4, "credential[1].signing_key", 8,
             "the token key pkcs11:token=\(token);object=gts-30-02 is not the key of the certificate \(folder.path("keys/xml-sign-90B3D51F30010000-ds.pem"))"),
            ("signing_key = \"\(uri)\"\n\(pin)\npassphrase_env = \"X\"", SoftHSM.module,
             .invalidValue, 4, "credential[1].passphrase_env", 13, "a key in a PKCS#11 token (signing_key = \"pkcs11:…\") has no passphrase"),
            ("signing_key = \"\(uri)\"", SoftHSM.module,
             .missingField, 4, "credential[1].pin_env", 11, "needs the token's user PIN: pin_env = \"NAME\" or pin_file = \"FILE\""),
            ("signing_key = \"\(uri)\"\n\(pin)\npin_env = \"X\"", SoftHSM.module,
             .invalidValue, 4, "credential[1].pin_file", 12, "give pin_env or pin_file, not both"),
            ("signing_key = \"keys/xml-sign-90B3D51F30010000-ds.key.pem\"\npin_env = \"X\"", SoftHSM.module,
             .invalidValue, 4, "credential[1].pin_env", 12, "pin_env gives the user PIN of a key in a PKCS#11 token, but signing_key is a key file"),
            ("signing_key = \"\(uri)?pin-value=\(SoftHSM.userPIN)\"\n\(pin)", SoftHSM.module,
             .invalidValue, 4, "credential[1].signing_key", 11, "not a usable PKCS#11 URI: 'pin-value' is not accepted"),
            ("signing_key = \"\(uri)\"\n\(pin)", "",
             .invalidValue, 4, "pkcs11_module", 1, "must name the PKCS#11 module"),
        ]
        for c in cases {
            let path = try folder.write("case-\(UUID().uuidString).toml", Self.gtsRegistry(module: c.module, first: c.first, second: fileKey))
            let error: PartyRegistryError
            do {
                _ = try PartyRegistry(contentsOfFile: path, loader: .files)
                Issue.record("no refusal where '\(c.text)' was expected")
                continue
            } catch let refused {
                error = refused
            }
            #expect(error.problems.count == 1, "\(c.field): \(error)")
            let problem = try #require(error.problems.first)
            #expect(problem.kind == c.kind, "\(c.field): \(error)")
            #expect(error.failureClass.exitCode == c.exit, "\(c.field): \(error)")
            #expect(problem.party == (c.field == "pkcs11_module" && c.line == 1 ? nil : "gts"), "\(error)")
            #expect(problem.field == c.field, "\(error)")
            #expect(problem.line == c.line, "\(c.field): \(error)")
            #expect(problem.description.contains(c.text), "\(error)")
            #expect(!error.description.contains(SoftHSM.userPIN) && !error.description.contains("Wrong-PIN-0000"), "a PIN in: \(error)")
        }
        #expect(PKCS11Module.liveCount == 0)
    }

    @Test func declarationsMadeInMemoryLoadTokenKeysAndRefuseMisplacedSecrets() throws {
        let (store, token) = try SharedSoftHSM.token(with: Self.keyName, label: "gts-30-01", id: "01")
        let folder = try RegistryFolder(store: store)
        defer { folder.remove() }
        let certificate = folder.path("keys/xml-sign-90B3D51F30010000-ds.pem")
        func party(_ credential: CredentialDeclaration) throws -> PartyDeclaration {
            PartyDeclaration(id: "gts", name: "GIT Test Supplier", mpids: [try MPID(parsing: "GTSE")],
                             userIDs: [try EUI64(parsing: Self.gts01)], credentials: [credential])
        }
        let tokenCredential = CredentialDeclaration(
            userID: try EUI64(parsing: Self.gts01), signingKeyURI: "pkcs11:token=\(token);object=gts-30-01",
            signingCertificatePath: certificate, pkcs11Module: SoftHSM.module, pin: .file(folder.path("secrets/token.pin")))
        #expect(tokenCredential.isPKCS11Key)
        let registry = try PartyRegistry(declarations: [try party(tokenCredential)])
        #expect(registry.parties[0].credentials[0].signer.key.pkcs11Key != nil)

        var withPassphrase = tokenCredential
        withPassphrase.passphrase = .environment("X")
        var withoutPIN = tokenCredential
        withoutPIN.pin = nil
        var fileWithPIN = CredentialDeclaration(userID: try EUI64(parsing: Self.gts01), signingKeyPath: Fixtures.privateKeyCopy(Self.keyName),
                                                signingCertificatePath: certificate)
        fileWithPIN.pin = .environment("X")
        for (declaration, field) in [(withPassphrase, "credential[1].passphrase"), (withoutPIN, "credential[1].pin"), (fileWithPIN, "credential[1].pin")] {
            let error = try #require(#expect(throws: PartyRegistryError.self) { try PartyRegistry(declarations: [try party(declaration)]) })
            #expect(error.problems.map(\.field) == [field], "\(error)")
        }
    }
}
