import CoSSignerTestSupport
import Foundation
import Testing

/// `--key pkcs11:…` on the command line, against SoftHSM2: each test makes its own token store (a temporary
/// folder and its `SOFTHSM2_CONF`) and imports the DCC Boxed key into a token, signs with the built cos-signer
/// and verifies with xmlsec1; and each refusal, with its exit code and message, never showing the PIN.
@Suite struct CLIPKCS11Tests {
    static let keyName = "xml-sign-90B3D51F30010000-ds.key.pem"
    static let cert = Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30010000-ds.pem")
    static let otherCert = Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30020000-ds.pem")
    static let template = Fixtures.path("\(Fixtures.templates)/\(Fixtures.template623Names[0])")
    static let uri = "pkcs11:token=cos;object=ts1-xml-sign;type=private"

    /// A token store with token `cos` holding the DCC Boxed key as `ts1-xml-sign` (id 01 02).
    static func store() throws -> SoftHSM {
        let store = try SoftHSM()
        try store.initToken("cos")
        try store.importKey(keyName, token: "cos", label: "ts1-xml-sign", id: "0102")
        return store
    }

    /// Runs cos-signer with the store's environment (and `extra`).
    static func run(_ store: SoftHSM, _ arguments: [String], environment extra: [String: String] = [:]) throws -> ProcessResult {
        try CLI.run(arguments, environment: store.environment.merging(extra) { $1 })
    }

    static func xmlsec1Verifies(_ paths: [String], cert: String = cert) throws -> ProcessResult {
        try TestProcess.run("xmlsec1", ["--verify", "--enabled-reference-uris", "empty", "--pubkey-cert-pem", cert] + paths)
    }

    /// The PIN and the wrong PINs the tests use: none may ever be printed.
    static let secrets = [SoftHSM.userPIN, SoftHSM.soPIN, "Wrong-PIN-0000"]

    static func expectNoSecret(_ result: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) {
        for secret in secrets {
            #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret), "a PIN was printed: \(result.stderr)", sourceLocation: sourceLocation)
        }
    }

    @Test func signsWithTheTokenKeyAndXmlsec1Verifies() throws {
        let store = try Self.store()
        defer { store.remove() }
        let pin = try store.pinFile()
        let byToken = store.directory.appendingPathComponent("by-token.xml").path
        let r = try Self.run(store, ["sign", "--key", Self.uri, "--pkcs11-module", SoftHSM.module, "--pin-file", pin,
                                     "--cert", Self.cert, "-o", byToken, Self.template])
        #expect(r.status == 0, "\(r.stderr)")
        Self.expectNoSecret(r)
        // The same request signed by the file key: both verify under the one certificate, with xmlsec1 and with ours.
        let byFile = store.directory.appendingPathComponent("by-file.xml").path
        let f = try CLI.run(["sign", "--key", Fixtures.privateKeyCopy(Self.keyName), "--cert", Self.cert, "-o", byFile, Self.template])
        #expect(f.status == 0, "\(f.stderr)")
        for path in [byToken, byFile] {
            let xmlsec = try Self.xmlsec1Verifies([path])
            #expect(xmlsec.status == 0, "xmlsec1 refuses \(path): \(xmlsec.stderr)")
            let ours = try CLI.run(["verify", "--cert", Self.cert, path])
            #expect(ours.status == 0, "\(ours.stdout)\(ours.stderr)")
            // And not under another certificate.
            #expect(try Self.xmlsec1Verifies([path], cert: Self.otherCert).status != 0)
        }
        let tokenText = try String(contentsOfFile: byToken, encoding: .utf8)
        let fileText = try String(contentsOfFile: byFile, encoding: .utf8)
        func digest(_ text: String) -> String? { text.range(of: #"<ds:DigestValue>[^<]*"#, options: .regularExpression).map { String(text[$0]) } }
        #expect(digest(tokenText) != nil && digest(tokenText) == digest(fileText), "the same request, the same digest")

        // The PIN from the environment, and the module from the URI's module-path.
        let viaEnv = try Self.run(store, ["sign", "--key", "pkcs11:token=cos;id=%01%02?module-path=\(SoftHSM.module)",
                                          "--pin-env", "COS_TEST_PIN", "--cert", Self.cert, Self.template],
                                  environment: ["COS_TEST_PIN": SoftHSM.userPIN])
        #expect(viaEnv.status == 0, "\(viaEnv.stderr)")
        #expect(viaEnv.stdout.contains("<ds:SignatureValue>"))
        Self.expectNoSecret(viaEnv)
    }

    @Test func buildSignsWithTheTokenKey() throws {
        let store = try Self.store()
        defer { store.remove() }
        let out = store.directory.appendingPathComponent("built.xml").path
        let r = try Self.run(store, CLIBuildInspectTests.templateArguments() + [
            "--key", Self.uri, "--pkcs11-module", SoftHSM.module, "--pin-file", try store.pinFile(), "--cert", Self.cert, "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Self.xmlsec1Verifies([out]).status == 0)
        let deterministic = try Self.run(store, CLIBuildInspectTests.templateArguments() + [
            "--key", Self.uri, "--pkcs11-module", SoftHSM.module, "--pin-file", try store.pinFile(), "--cert", Self.cert,
            "--deterministic", "-o", out + ".det"])
        #expect(deterministic.status == 3)
        #expect(deterministic.stderr.contains("deterministic signing unsupported (\(Self.uri))"), "\(deterministic.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + ".det"))
    }

    @Test func twoJobsSign2000RequestsWithOneToken() throws {
        let store = try Self.store()
        defer { store.remove() }
        let inputs = store.directory.appendingPathComponent("in")
        let outputs = store.directory.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: inputs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
        let template = try String(contentsOfFile: Self.template, encoding: .utf8)
        let count = 2000
        for i in 0..<count {
            let request = template.replacingOccurrences(of: "00-DB-12-34-56-78-90-A0:1006</sr:RequestID>", with: "00-DB-12-34-56-78-90-A0:\(10_000 + i)</sr:RequestID>")
            try Data(request.utf8).write(to: inputs.appendingPathComponent("r\(i).xml"))
        }
        let r = try Self.run(store, ["sign", "--key", Self.uri, "--pkcs11-module", SoftHSM.module, "--pin-file", try store.pinFile(),
                                     "--cert", Self.cert, "--jobs", "2", "--output-dir", outputs.path, inputs.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("signed \(count), failed 0"), "\(r.stderr)")
        let signed = try FileManager.default.contentsOfDirectory(atPath: outputs.path).filter { $0.hasSuffix(".xml") }.sorted()
        #expect(signed.count == count)
        // Every output verifies: with ours, and with xmlsec1 (all of them in one xmlsec1 process).
        let ours = try CLI.run(["verify", "--cert", Self.cert, "--jobs", "2", "--quiet", outputs.path])
        #expect(ours.status == 0, "\(ours.stdout.suffix(500))\(ours.stderr)")
        let xmlsec = try Self.xmlsec1Verifies(signed.map { outputs.appendingPathComponent($0).path })
        #expect(xmlsec.status == 0, "\(xmlsec.stderr.suffix(500))")
        // xmlsec1 stops at the first document that fails; it says OK for each that verifies.
        #expect((xmlsec.stdout + "\n" + xmlsec.stderr).split(separator: "\n").filter { $0 == "OK" }.count == count)
        // Each output carries its own RequestID.
        let sample = try String(contentsOf: outputs.appendingPathComponent("r1999.xml"), encoding: .utf8)
        #expect(sample.contains(":11999</sr:RequestID>"))
    }

    /// Each refusal: exit 3, its message naming the URI, nothing written, and no PIN in any output.
    @Test func refusalsExitWith3AndNameTheURIButNeverThePIN() throws {
        let store = try Self.store()
        defer { store.remove() }
        let pin = try store.pinFile()
        let out = store.directory.appendingPathComponent("never.xml").path
        func sign(_ key: String = Self.uri, module: String = SoftHSM.module, pinArguments: [String]? = nil, cert: String = Self.cert,
                  extra: [String] = [], environment: [String: String] = [:]) throws -> ProcessResult {
            try Self.run(store, ["sign", "--key", key, "--pkcs11-module", module] + (pinArguments ?? ["--pin-file", pin])
                         + ["--cert", cert, "-o", out] + extra + [Self.template], environment: environment)
        }
        let fault = try FaultModule.path()
        let cases: [(String, ProcessResult, String)] = [
            ("module not found", try sign(module: store.directory.appendingPathComponent("no-such-module.so").path),
             "PKCS#11 module not found (\(Self.uri)): no PKCS#11 module at"),
            ("not a PKCS#11 module (a library)", try sign(module: "/usr/lib/x86_64-linux-gnu/libz.so.1"),
             "not a PKCS#11 module (\(Self.uri)): /usr/lib/x86_64-linux-gnu/libz.so.1 has no C_GetFunctionList"),
            ("not a PKCS#11 module (not a library)", try sign(module: pin),
             "not a PKCS#11 module (\(Self.uri)): \(pin) cannot be loaded as a shared library"),
            ("token missing", try sign("pkcs11:token=no-such-token;object=ts1-xml-sign"),
             "token not found (pkcs11:token=no-such-token;object=ts1-xml-sign): no token matches the URI (tokens present: 'cos')"),
            ("object missing", try sign("pkcs11:token=cos;object=no-such-key;type=private"),
             "key object not found (pkcs11:token=cos;object=no-such-key;type=private): token 'cos' has no private key object with label 'no-such-key'"),
            ("wrong PIN", try sign(pinArguments: ["--pin-env", "COS_TEST_PIN"], environment: ["COS_TEST_PIN": "Wrong-PIN-0000"]),
             "wrong PIN (\(Self.uri)): token 'cos' refused the user PIN [CKR_PIN_INCORRECT]"),
            ("PIN locked", try sign(module: fault, environment: ["COS_P11_FAULT_LOGIN": "pin-locked"]),
             "PIN locked (\(Self.uri)): the user PIN of token 'cos' is locked [CKR_PIN_LOCKED]"),
            ("PIN variable unset", try sign(pinArguments: ["--pin-env", "COS_TEST_NO_SUCH_PIN"]),
             "PIN unavailable (\(Self.uri)): the PIN environment variable COS_TEST_NO_SUCH_PIN is not set"),
            ("PIN file open to others", try sign(pinArguments: ["--pin-file", try store.pinFile(mode: 0o644)]),
             "the PIN file is accessible by group or others (mode 0644)"),
            ("PIN in the URI", try sign(Self.uri + "?pin-value=" + SoftHSM.userPIN),
             "invalid PKCS#11 URI (\(Self.uri)?…): 'pin-value' is not accepted: PINs come from --pin-env/--pin-file/pin_env/pin_file only"),
            ("key of another certificate", try sign(cert: Self.otherCert),
             "token key does not match the certificate (\(Self.uri)): the token's public key is not the certificate's"),
            ("deterministic", try sign(extra: ["--deterministic"]),
             "deterministic signing unsupported (\(Self.uri)): --deterministic (RFC 6979) needs the private scalar"),
            ("session lost twice", try sign(module: fault, environment: ["COS_P11_FAULT_LOSE_AFTER": "1", "COS_P11_FAULT_LOSE": "2"]),
             "token session lost (\(Self.uri)): the session with token 'cos' was lost (CKR_SESSION_HANDLE_INVALID), and again with a new session"),
        ]
        for (name, result, message) in cases {
            #expect(result.status == 3, "\(name): exit \(result.status): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(name): \(result.stderr)")
            Self.expectNoSecret(result)
            #expect(!FileManager.default.fileExists(atPath: out), "\(name): an output was written")
        }
        // An insecure PIN file is accepted with --allow-insecure-key-file.
        let allowed = try sign(pinArguments: ["--pin-file", try store.pinFile(mode: 0o644)], extra: ["--allow-insecure-key-file"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
    }

    @Test func aMechanismTheTokenLacksIsRefused() throws {
        let store = try Self.store()
        defer { store.remove() }
        // SoftHSM2 offers only the mechanisms its configuration lists: everything ECDSA but CKM_ECDSA itself.
        try store.writeConfiguration(mechanisms: "CKM_SHA256,CKM_ECDSA_SHA256,CKM_EC_KEY_PAIR_GEN")
        let r = try Self.run(store, ["sign", "--key", Self.uri, "--pkcs11-module", SoftHSM.module, "--pin-file", try store.pinFile(),
                                     "--cert", Self.cert, Self.template])
        #expect(r.status == 3)
        #expect(r.stderr.contains("mechanism unsupported (\(Self.uri)): token 'cos' does not offer CKM_ECDSA"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        Self.expectNoSecret(r)
    }

    /// A session lost once is retried with a new session (and a new login: the lost session was the token's last),
    /// for each return value that means a lost session; lost again, the run fails with exit 3.
    @Test(arguments: ["0xB3", "0xB0", "0x32", "0xE0"])
    func aLostSessionIsRetriedOnce(_ returnValue: String) throws {
        let store = try Self.store()
        defer { store.remove() }
        let fault = try FaultModule.path()
        let out = store.directory.appendingPathComponent("retried.xml").path
        let arguments = ["sign", "--key", Self.uri, "--pkcs11-module", fault, "--pin-file", try store.pinFile(), "--cert", Self.cert]
        // The first C_Sign (the key check at load) succeeds; the next loses its session once.
        let once = try Self.run(store, arguments + ["-o", out, Self.template],
                                environment: ["COS_P11_FAULT_LOSE_AFTER": "1", "COS_P11_FAULT_LOSE": "1", "COS_P11_FAULT_RV": returnValue])
        #expect(once.status == 0, "\(once.stderr)")
        #expect(try Self.xmlsec1Verifies([out]).status == 0)
        let twice = try Self.run(store, arguments + ["-o", out + ".2", Self.template],
                                 environment: ["COS_P11_FAULT_LOSE_AFTER": "1", "COS_P11_FAULT_LOSE": "2", "COS_P11_FAULT_RV": returnValue])
        #expect(twice.status == 3)
        #expect(twice.stderr.contains("token session lost (\(Self.uri))"), "\(twice.stderr)")
        #expect(twice.stderr.contains("again with a new session"))
        #expect(!FileManager.default.fileExists(atPath: out + ".2"))
        Self.expectNoSecret(twice)
    }

    @Test func usageErrorsExitWith1() throws {
        let store = try Self.store()
        defer { store.remove() }
        let pin = try store.pinFile()
        let cases: [([String], String)] = [
            (["--key", Self.uri, "--pkcs11-module", SoftHSM.module], "needs the token's user PIN: --pin-env NAME or --pin-file FILE"),
            (["--key", Self.uri, "--pkcs11-module", SoftHSM.module, "--pin-file", pin, "--pin-env", "X"], "give the PIN by --pin-env or --pin-file, not both"),
            (["--key", Self.uri, "--pin-file", pin], "needs the module: --pkcs11-module PATH"),
            (["--key", Self.uri, "--pkcs11-module", SoftHSM.module, "--pin-file", pin, "--passphrase-env", "X"], "a PKCS#11 key has no passphrase"),
            (["--key", Fixtures.privateKeyCopy(Self.keyName), "--pin-file", pin], "--pkcs11-module, --pin-env and --pin-file go with --key pkcs11:"),
            (["--key", Fixtures.privateKeyCopy(Self.keyName), "--pkcs11-module", SoftHSM.module], "--pkcs11-module, --pin-env and --pin-file go with --key pkcs11:"),
        ]
        for (arguments, message) in cases {
            let r = try Self.run(store, ["sign"] + arguments + ["--cert", Self.cert, Self.template])
            #expect(r.status == 1, "\(arguments): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(arguments): \(r.stderr)")
            Self.expectNoSecret(r)
        }
    }
}
