import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `sign --parties` with a registry whose credentials are keys in a SoftHSM2 token (`signing_key = "pkcs11:…"`,
/// `pkcs11_module`, `pin_env`/`pin_file`): each test makes its own token store (a temporary folder and its
/// `SOFTHSM2_CONF`) with the DCC Boxed keys of User IDs …30-01 and …30-02, signs with the built cos-signer and
/// verifies with xmlsec1; each refusal with its exit code and message, never showing the PIN; `verify --parties`
/// without module or PIN; `--jobs 2` over a batch; and `testpki --pkcs11` end to end.
@Suite struct CLIPartiesPKCS11Tests {
    static let gts01 = GTSRegistry.gts01
    static let gts02 = GTSRegistry.gts02
    static let serials = [gts01: "27572613927499351639968579586655397031", gts02: "40938316298935008147424226388667426413"]
    static let names = GTSRegistry.names

    /// A token store with token `cos` holding …30-01's key as `gts-30-01` (id 01) and …30-02's as `gts-30-02`
    /// (id 02); in its folder: `keys/` (certificates, 0600 key copies), `secrets/token.pin` (0600), and the
    /// IMMEDIATE template as `req-01.xml` and, with originator …30-02, `req-02.xml`.
    static func store() throws -> SoftHSM {
        let store = try SoftHSM()
        try store.initToken("cos")
        try store.importKey("\(names[gts01]!).key.pem", token: "cos", label: "gts-30-01", id: "01")
        try store.importKey("\(names[gts02]!).key.pem", token: "cos", label: "gts-30-02", id: "02")
        let keys = store.directory.appendingPathComponent("keys"), secrets = store.directory.appendingPathComponent("secrets")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true)
        for name in names.values {
            try FileManager.default.copyItem(atPath: Fixtures.path("\(Fixtures.keys)/\(name).pem"), toPath: keys.appendingPathComponent("\(name).pem").path)
            let key = keys.appendingPathComponent("\(name).key.pem").path
            try FileManager.default.copyItem(atPath: Fixtures.path("\(Fixtures.keys)/\(name).key.pem"), toPath: key)
            chmod(key, 0o600)
        }
        try FileManager.default.moveItem(atPath: try store.pinFile(), toPath: secrets.appendingPathComponent("token.pin").path)
        let template = try Fixtures.template623(Fixtures.template623Names[0]).utf8String
        for originator in [gts01, gts02] {
            let request = template.replacingOccurrences(of: "<sr:RequestID>\(gts01):", with: "<sr:RequestID>\(originator):")
            try Data(request.utf8).write(to: store.directory.appendingPathComponent("req-\(originator.dropFirst(15).prefix(2)).xml"))
        }
        return store
    }

    static func path(_ store: SoftHSM, _ relative: String) -> String { store.directory.appendingPathComponent(relative).path }

    /// Party gts with credentials for …30-01 (`first`: its key lines) and …30-02 (`second`), and the module line
    /// when given. With a module, the first credential's header is line 8, its key lines 11 on.
    static func registry(_ store: SoftHSM, _ name: String = "parties.toml", module: String? = SoftHSM.module,
                         first: String, second: String) throws -> String {
        let text = GTSRegistry.text(module: module, first: first, second: second)
        let target = path(store, name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: target))
        return target
    }

    static let token01 = "signing_key = \"pkcs11:token=cos;object=gts-30-01;type=private\"\npin_file = \"secrets/token.pin\""
    static let token02 = "signing_key = \"pkcs11:token=cos;object=gts-30-02;type=private\"\npin_file = \"secrets/token.pin\""
    static let file02 = "signing_key = \"keys/xml-sign-90B3D51F30020000-ds.key.pem\""

    static func run(_ store: SoftHSM, _ arguments: [String], environment extra: [String: String] = [:]) throws -> ProcessResult {
        try CLI.run(arguments, environment: store.environment.merging(extra) { $1 })
    }

    static func xmlsec1Verifies(_ paths: [String], certificate: String) throws -> ProcessResult {
        try TestProcess.run("xmlsec1", ["--verify", "--enabled-reference-uris", "empty", "--pubkey-cert-pem", certificate] + paths)
    }

    static let secrets = [SoftHSM.userPIN, SoftHSM.soPIN, "Wrong-PIN-0000"]

    static func expectNoSecret(_ result: ProcessResult, also more: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) {
        for secret in secrets + more {
            #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret), "a PIN was printed: \(result.stderr)",
                    sourceLocation: sourceLocation)
        }
    }

    /// Signs `req-NN.xml` of each originator; each output must carry that originator's certificate and verify under
    /// it with xmlsec1 (and not under the other's) and with `verify --parties`.
    static func signBothOriginators(_ store: SoftHSM, registry: String, extra: [String] = [], environment: [String: String] = [:],
                                    sourceLocation: SourceLocation = #_sourceLocation) throws {
        for originator in [gts01, gts02] {
            let number = originator.dropFirst(15).prefix(2)
            let output = path(store, "out-\(number)-\(UUID().uuidString).xml")
            let r = try run(store, ["sign", "--parties", registry, "--mpid", "GTSE", "-o", output] + extra + [path(store, "req-\(number).xml")],
                            environment: environment)
            #expect(r.status == 0, "\(r.stderr)", sourceLocation: sourceLocation)
            expectNoSecret(r, sourceLocation: sourceLocation)
            let signed = try String(contentsOfFile: output, encoding: .utf8)
            #expect(signed.contains("<ds:X509SerialNumber>\(serials[originator]!)</ds:X509SerialNumber>"), sourceLocation: sourceLocation)
            let other = originator == gts01 ? gts02 : gts01
            let xmlsec = try xmlsec1Verifies([output], certificate: path(store, "keys/\(names[originator]!).pem"))
            #expect(xmlsec.status == 0, "xmlsec1: \(xmlsec.stderr)", sourceLocation: sourceLocation)
            #expect(try xmlsec1Verifies([output], certificate: path(store, "keys/\(names[other]!).pem")).status != 0, sourceLocation: sourceLocation)
            let v = try run(store, ["verify", "--parties", registry, output])
            #expect(v.status == 0 && v.stdout.contains("party gts"), "\(v.stdout)\(v.stderr)", sourceLocation: sourceLocation)
        }
    }

    @Test func aTokenCredentialAndAFileCredentialSignTheirOriginatorsRequests() throws {
        let store = try Self.store()
        defer { store.remove() }
        // …30-01 in the token (pin_file relative to the registry), …30-02 from its key file.
        let mixed = try Self.registry(store, first: Self.token01, second: Self.file02)
        try Self.signBothOriginators(store, registry: mixed)

        let check = try Self.run(store, ["parties", "check", mixed])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("key: pkcs11:token=cos;object=gts-30-01;type=private (in a PKCS#11 token), PIN from file \(Self.path(store, "secrets/token.pin"))"), "\(check.stdout)")
        #expect(check.stdout.contains("key: \(Self.path(store, "keys/xml-sign-90B3D51F30020000-ds.key.pem"))"), "\(check.stdout)")
        Self.expectNoSecret(check)
        let select = try Self.run(store, ["parties", "select", mixed, "--request", Self.path(store, "req-01.xml")])
        #expect(select.status == 0 && select.stdout.contains("key pkcs11:token=cos;object=gts-30-01;type=private"), "\(select.stdout)\(select.stderr)")

        // Both credentials on the one token, the PIN from the environment, and the module from --pkcs11-module only.
        let pinEnv = "pin_env = \"COS_TEST_TOKEN_PIN\""
        let both = try Self.registry(store, "both.toml", module: nil,
                                     first: "signing_key = \"pkcs11:token=cos;object=gts-30-01\"\n\(pinEnv)",
                                     second: "signing_key = \"pkcs11:token=cos;id=%02\"\n\(pinEnv)")
        try Self.signBothOriginators(store, registry: both, extra: ["--pkcs11-module", SoftHSM.module],
                                     environment: ["COS_TEST_TOKEN_PIN": SoftHSM.userPIN])
        // --pkcs11-module wins over the registry's pkcs11_module.
        let elsewhere = try Self.registry(store, "elsewhere.toml", module: "/nonexistent/libsofthsm2.so", first: Self.token01, second: Self.token02)
        try Self.signBothOriginators(store, registry: elsewhere, extra: ["--pkcs11-module", SoftHSM.module])

        // The shorthand form in the party's own table.
        let shorthand = Self.path(store, "shorthand.toml")
        try Data("""
            pkcs11_module = "\(SoftHSM.module)"
            [[party]]
            id = "gts"
            name = "GIT Test Supplier"
            mpids = ["GTSE"]
            user_ids = ["\(Self.gts01)", "90-B3-D5-1F-30-03-00-00"]
            signing_key = "pkcs11:token=cos;object=gts-30-01;type=private"
            signing_certificate = "keys/xml-sign-90B3D51F30010000-ds.pem"
            pin_file = "secrets/token.pin"

            """.utf8).write(to: URL(fileURLWithPath: shorthand))
        let r = try Self.run(store, ["sign", "--parties", shorthand, Self.path(store, "req-01.xml")])
        #expect(r.status == 0 && r.stdout.contains("<ds:X509SerialNumber>\(Self.serials[Self.gts01]!)</ds:X509SerialNumber>"), "\(r.stderr)")
    }

    @Test func verifyPartiesNeedsNoModuleAndNoPIN() throws {
        let store = try Self.store()
        defer { store.remove() }
        let signing = try Self.registry(store, first: Self.token01, second: Self.token02)
        let signed = Self.path(store, "signed.xml")
        let s = try Self.run(store, ["sign", "--parties", signing, "-o", signed, Self.path(store, "req-01.xml")])
        #expect(s.status == 0, "\(s.stderr)")
        // A registry naming a module that is not there, a PIN variable that is not set and a PIN file that is not
        // there; no token store either.
        let verifying = try Self.registry(
            store, "verify.toml", module: "/nonexistent/libsofthsm2.so",
            first: "signing_key = \"pkcs11:token=cos;object=gts-30-01\"\npin_env = \"COS_TEST_UNSET_PIN\"",
            second: "signing_key = \"pkcs11:token=cos;object=gts-30-02\"\npin_file = \"secrets/absent.pin\"")
        try FileManager.default.removeItem(atPath: Self.path(store, "secrets/token.pin"))
        for registry in [signing, verifying] {
            let v = try CLI.run(["verify", "--parties", registry, signed], environment: ["SOFTHSM2_CONF": "/nonexistent/softhsm2.conf"])
            #expect(v.status == 0, "\(v.stdout)\(v.stderr)")
            #expect(v.stdout.contains("valid (certificate serial \(Self.serials[Self.gts01]!), party gts)"), "\(v.stdout)")
        }
        // Signing with it needs them (exit 3).
        let refused = try CLI.run(["sign", "--parties", verifying, Self.path(store, "req-01.xml")], environment: store.environment)
        #expect(refused.status == 3, "\(refused.stderr)")
    }

    /// Each refusal: its exit code, the registry line, party and field, nothing written, and no PIN in any output.
    @Test func refusalsExitWithTheirCodesNameTheLineAndNeverThePIN() throws {
        let store = try Self.store()
        defer { store.remove() }
        let out = Self.path(store, "never.xml")
        let uri = "pkcs11:token=cos;object=gts-30-01;type=private"
        try Data("Wrong-PIN-0000\n".utf8).write(to: URL(fileURLWithPath: Self.path(store, "secrets/wrong.pin")))
        chmod(Self.path(store, "secrets/wrong.pin"), 0o600)
        let openPIN = Self.path(store, "secrets/open.pin")
        try Data((SoftHSM.userPIN + "\n").utf8).write(to: URL(fileURLWithPath: openPIN))
        chmod(openPIN, 0o644)
        func sign(_ first: String, module: String? = SoftHSM.module, second: String = Self.file02, extra: [String] = [],
                  environment: [String: String] = [:]) throws -> ProcessResult {
            let registry = try Self.registry(store, "case-\(UUID().uuidString).toml", module: module, first: first, second: second)
            return try Self.run(store, ["sign", "--parties", registry, "-o", out] + extra + [Self.path(store, "req-01.xml")], environment: environment)
        }
        let cases: [(String, ProcessResult, Int32, String)] = [
            ("module missing", try sign(Self.token01, module: "/nonexistent/libsofthsm2.so"), 3,
             "line 8: party gts: pkcs11_module: PKCS#11 module not found (\(uri)): no PKCS#11 module at /nonexistent/libsofthsm2.so"),
            ("no module at all", try sign(Self.token01, module: nil), 3,
             "line 6: party gts: pkcs11_module: PKCS#11 module not found (\(uri)): no PKCS#11 module given: use --pkcs11-module PATH (pkcs11_module in a registry)"),
            ("token missing", try sign("signing_key = \"pkcs11:token=no-such-token;object=gts-30-01\"\npin_file = \"secrets/token.pin\""), 3,
             "line 8: party gts: credential[1].signing_key: token not found (pkcs11:token=no-such-token;object=gts-30-01): no token matches the URI (tokens present: 'cos')"),
            ("object missing", try sign("signing_key = \"pkcs11:token=cos;object=no-such-key\"\npin_file = \"secrets/token.pin\""), 3,
             "line 8: party gts: credential[1].signing_key: key object not found (pkcs11:token=cos;object=no-such-key): token 'cos' has no private key object with label 'no-such-key'"),
            ("wrong PIN (file)", try sign("signing_key = \"\(uri)\"\npin_file = \"secrets/wrong.pin\""), 3,
             "line 8: party gts: credential[1].pin_file: wrong PIN (\(uri)): token 'cos' refused the user PIN [CKR_PIN_INCORRECT]"),
            ("wrong PIN (environment)", try sign("signing_key = \"\(uri)\"\npin_env = \"COS_TEST_PIN\"", environment: ["COS_TEST_PIN": "Wrong-PIN-0000"]), 3,
             "line 8: party gts: credential[1].pin_env: wrong PIN (\(uri))"),
            ("PIN file readable by others", try sign("signing_key = \"\(uri)\"\npin_file = \"secrets/open.pin\""), 3,
             "line 8: party gts: credential[1].pin_file: PIN unavailable (\(uri)): \(openPIN): the PIN file is accessible by group or others (mode 0644)"),
            ("pin_* with a key file", try sign("signing_key = \"keys/xml-sign-90B3D51F30010000-ds.key.pem\"\npin_file = \"secrets/token.pin\""), 4,
             "line 12: party gts: credential[1].pin_file: pin_file gives the user PIN of a key in a PKCS#11 token, but signing_key is a key file"),
            ("passphrase_* with a token key", try sign(Self.token01 + "\npassphrase_file = \"secrets/token.pin\""), 4,
             "line 13: party gts: credential[1].passphrase_file: a key in a PKCS#11 token (signing_key = \"pkcs11:…\") has no passphrase"),
            ("token key with no PIN", try sign("signing_key = \"\(uri)\""), 4,
             "line 11: party gts: credential[1].pin_env: a key in a PKCS#11 token (signing_key = \"pkcs11:…\") needs the token's user PIN"),
            ("PIN in the URI", try sign("signing_key = \"\(uri)?pin-value=\(SoftHSM.userPIN)\"\npin_file = \"secrets/token.pin\""), 4,
             "line 11: party gts: credential[1].signing_key: not a usable PKCS#11 URI: 'pin-value' is not accepted"),
            ("token key of another certificate", try sign("signing_key = \"pkcs11:token=cos;object=gts-30-02\"\npin_file = \"secrets/token.pin\""), 4,
             "line 8: party gts: credential[1].signing_key: the token key pkcs11:token=cos;object=gts-30-02 is not the key of the certificate \(Self.path(store, "keys/xml-sign-90B3D51F30010000-ds.pem")) (serial \(Self.serials[Self.gts01]!)): the token's public key is not the certificate's"),
            ("deterministic", try sign(Self.token01, extra: ["--deterministic"]), 3,
             "line 8: party gts: credential[1].signing_key: deterministic signing unsupported (\(uri)): --deterministic (RFC 6979) needs the private scalar"),
        ]
        for (name, result, code, message) in cases {
            #expect(result.status == code, "\(name): exit \(result.status): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(name): \(result.stderr)")
            Self.expectNoSecret(result)
            #expect(!FileManager.default.fileExists(atPath: out), "\(name): an output was written")
        }
        // A PIN file readable by others is accepted with --allow-insecure-key-file; with a registry of file keys
        // only, --deterministic signs as before.
        #expect(try sign("signing_key = \"\(uri)\"\npin_file = \"secrets/open.pin\"", extra: ["--allow-insecure-key-file"]).status == 0)
        try? FileManager.default.removeItem(atPath: out)
        let files = try sign("signing_key = \"keys/xml-sign-90B3D51F30010000-ds.key.pem\"", extra: ["--deterministic"])
        #expect(files.status == 0, "\(files.stderr)")

        // Usage errors (exit 1).
        let registry = try Self.registry(store, first: Self.token01, second: Self.file02)
        let usage: [([String], String)] = [
            (["--parties", registry, "--pin-env", "COS_TEST_PIN"], "--pin-env and --pin-file go with --key pkcs11:…; with --parties each credential names its PIN"),
            (["--parties", registry, "--pin-file", Self.path(store, "secrets/token.pin")], "with --parties each credential names its PIN"),
            (["--pkcs11-module", SoftHSM.module], "--pkcs11-module goes with --key pkcs11:… or --parties"),
            (["--key", Self.path(store, "keys/xml-sign-90B3D51F30010000-ds.key.pem"), "--cert", Self.path(store, "keys/xml-sign-90B3D51F30010000-ds.pem"),
              "--pkcs11-module", SoftHSM.module], "--pkcs11-module, --pin-env and --pin-file go with --key pkcs11:"),
        ]
        for (arguments, message) in usage {
            let r = try Self.run(store, ["sign"] + arguments + [Self.path(store, "req-01.xml")])
            #expect(r.status == 1, "\(arguments): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(arguments): \(r.stderr)")
        }
    }

    @Test func twoJobsSignABatchWithTheRegistrysTokenKeys() throws {
        let store = try Self.store()
        defer { store.remove() }
        let registry = try Self.registry(store, first: Self.token01, second: Self.token02)
        let inputs = store.directory.appendingPathComponent("in"), outputs = store.directory.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: inputs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
        let count = 600
        var byOriginator = [Self.gts01: [String](), Self.gts02: [String]()]
        for i in 0..<count {
            let originator = i % 2 == 0 ? Self.gts01 : Self.gts02
            let request = try String(contentsOfFile: Self.path(store, "req-\(originator.dropFirst(15).prefix(2)).xml"), encoding: .utf8)
                .replacingOccurrences(of: "00-DB-12-34-56-78-90-A0:1006</sr:RequestID>", with: "00-DB-12-34-56-78-90-A0:\(20_000 + i)</sr:RequestID>")
            try Data(request.utf8).write(to: inputs.appendingPathComponent("r\(i).xml"))
            byOriginator[originator, default: []].append(outputs.appendingPathComponent("r\(i).xml").path)
        }
        let r = try Self.run(store, ["sign", "--parties", registry, "--jobs", "2", "--output-dir", outputs.path, inputs.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("signed \(count), failed 0"), "\(r.stderr)")
        Self.expectNoSecret(r)
        let v = try CLI.run(["verify", "--parties", registry, "--jobs", "2", "--quiet", outputs.path])
        #expect(v.status == 0, "\(v.stdout.suffix(500))\(v.stderr)")
        // Each originator's outputs verify with xmlsec1 under its own certificate (one xmlsec1 run per originator).
        for (originator, paths) in byOriginator {
            let xmlsec = try Self.xmlsec1Verifies(paths, certificate: Self.path(store, "keys/\(Self.names[originator]!).pem"))
            #expect(xmlsec.status == 0, "\(originator): \(xmlsec.stderr.suffix(500))")
            #expect((xmlsec.stdout + "\n" + xmlsec.stderr).split(separator: "\n").filter { $0 == "OK" }.count == paths.count)
            let sample = try String(contentsOfFile: paths[paths.count - 1], encoding: .utf8)
            #expect(sample.contains("<ds:X509SerialNumber>\(Self.serials[originator]!)</ds:X509SerialNumber>"))
        }
    }

    /// `testpki --pkcs11`: the token, its PIN file and a registry signing with it; the default files unchanged.
    @Test func testpkiPutsThePartiesKeysIntoATokenAndItsRegistrySigns() throws {
        let base = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: base) }
        let pki = base.appendingPathComponent("pki").path, plain = base.appendingPathComponent("plain").path
        let made = try CLI.run(["testpki", pki, "--seed", "token", "--parties", "3", "--pkcs11", SoftHSM.module])
        #expect(made.status == 0, "\(made.stderr)")
        let configuration = "\(pki)/softhsm/softhsm2.conf"
        #expect(made.stdout.contains("\nexport SOFTHSM2_CONF=\(configuration)\n"), "\(made.stdout)")
        let pin = try String(contentsOfFile: "\(pki)/softhsm/user.pin", encoding: .utf8).trimmingCharacters(in: .newlines)
        let soPIN = try String(contentsOfFile: "\(pki)/softhsm/so.pin", encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(pin.count == 16 && soPIN.count == 16 && pin != soPIN)
        Self.expectNoSecret(made, also: [pin, soPIN])
        for file in ["softhsm/user.pin", "softhsm/so.pin", "softhsm/softhsm2.conf"] {
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: "\(pki)/\(file)")[.posixPermissions] as? Int)
            #expect(mode == 0o600, "\(file): \(String(mode, radix: 8))")
        }
        let registry = try String(contentsOfFile: "\(pki)/parties-pkcs11.toml", encoding: .utf8)
        #expect(registry.contains("pkcs11_module = \"\(SoftHSM.module)\"\n"))
        #expect(registry.contains("signing_key = \"pkcs11:token=cossigner-test;object=ts3-xml-sign;type=private\"\nsigning_certificate = \"keys/ts3-xml-sign.pem\"\npin_file = \"softhsm/user.pin\"\n"), "\(registry)")
        #expect(!registry.contains(pin))

        // The default files are those of a run without --pkcs11, byte for byte, and so is the output before the token's.
        let plainRun = try CLI.run(["testpki", plain, "--seed", "token", "--parties", "3"])
        #expect(plainRun.status == 0)
        #expect(made.stdout.hasPrefix(plainRun.stdout.replacingOccurrences(of: plain, with: pki)), "\(made.stdout)")
        let plainFiles = try FileManager.default.subpathsOfDirectory(atPath: plain).filter { !Files.isDirectory("\(plain)/\($0)") }
        #expect(plainFiles.count == 37)
        for file in plainFiles {
            #expect(FileManager.default.contents(atPath: "\(pki)/\(file)") == FileManager.default.contents(atPath: "\(plain)/\(file)"), "\(file)")
        }

        // Sign with the token's keys (the module finds the token through SOFTHSM2_CONF), verify with the file registry.
        let environment = ["SOFTHSM2_CONF": configuration]
        for party in ["ts1", "ts3"] {
            let signed = base.appendingPathComponent("\(party).xml").path
            let s = try CLI.run(["sign", "--parties", "\(pki)/parties-pkcs11.toml", "-o", signed, "\(pki)/requests/\(party)-future-dated.xml"],
                                environment: environment)
            #expect(s.status == 0, "\(s.stderr)")
            Self.expectNoSecret(s, also: [pin, soPIN])
            let v = try CLI.run(["verify", "--parties", "\(pki)/parties.toml", signed])
            #expect(v.status == 0 && v.stdout.contains("party \(party)"), "\(v.stdout)\(v.stderr)")
            #expect(try Self.xmlsec1Verifies([signed], certificate: "\(pki)/keys/\(party)-xml-sign.pem").status == 0)
        }
        let check = try CLI.run(["parties", "check", "\(pki)/parties-pkcs11.toml"], environment: environment)
        #expect(check.status == 0 && check.stdout.contains("3 keys loaded"), "\(check.stdout)\(check.stderr)")

        // Again with --force: the token store is made afresh (one token of that label, so the keys are found).
        let again = try CLI.run(["testpki", pki, "--seed", "token", "--parties", "3", "--pkcs11", SoftHSM.module, "--force"])
        #expect(again.status == 0, "\(again.stderr)")
        let afresh = try CLI.run(["sign", "--parties", "\(pki)/parties-pkcs11.toml", "\(pki)/requests/ts2-immediate.xml"], environment: environment)
        #expect(afresh.status == 0 && afresh.stdout.contains("<ds:SignatureValue>"), "\(afresh.stderr)")
    }

    @Test func testpkiWithoutSoftHSM2FailsWithExit3AndWritesNothing() throws {
        let base = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: base) }
        let noTool = try CLI.run(["testpki", base.appendingPathComponent("a").path, "--pkcs11", SoftHSM.module],
                                 environment: ["PATH": base.appendingPathComponent("no-bin").path])
        #expect(noTool.status == 3)
        #expect(noTool.stderr.contains("softhsm2-util is not on PATH: --pkcs11 puts the keys into a SoftHSM2 token with SoftHSM2's own tool (Debian and Ubuntu: apt-get install softhsm2)"), "\(noTool.stderr)")
        #expect(!FileManager.default.fileExists(atPath: base.appendingPathComponent("a").path))
        let noModule = try CLI.run(["testpki", base.appendingPathComponent("b").path, "--pkcs11", "/nonexistent/libsofthsm2.so"])
        #expect(noModule.status == 3)
        #expect(noModule.stderr.contains("/nonexistent/libsofthsm2.so: cannot put the keys into a PKCS#11 token: no PKCS#11 module there"), "\(noModule.stderr)")
        #expect(!FileManager.default.fileExists(atPath: base.appendingPathComponent("b").path))
        // A module that is not SoftHSM2's: the keys go into the token, but the registry does not load through it.
        let other = try CLI.run(["testpki", base.appendingPathComponent("c").path, "--pkcs11", "/usr/lib/x86_64-linux-gnu/libz.so.1"])
        #expect(other.status == 3)
        #expect(other.stderr.contains("the registry does not load through /usr/lib/x86_64-linux-gnu/libz.so.1 (is it SoftHSM2's module?)"), "\(other.stderr)")
    }
}
