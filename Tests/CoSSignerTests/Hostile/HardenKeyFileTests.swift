import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

/// Private key files: refused when their group or others may access them (as ssh does) unless
/// --allow-insecure-key-file is given; and no passphrase, key byte or document body ever reaches the logs,
/// the errors or the report, verbose or not.
@Suite struct HardenKeyFileTests {
    static let keyName = "xml-sign-90B3D51F30010000-ds"

    /// A copy of the test key with `mode`, in `workspace`.
    static func key(mode: Int, in workspace: HostileWorkspace, name: String = "key.pem") throws -> String {
        let target = workspace.path(name)
        try FileManager.default.copyItem(atPath: Fixtures.path("\(Fixtures.keys)/\(keyName).key.pem"), toPath: target)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: target)
        return target
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o666, 0o444, 0o601])
    func theLibraryPolicyRefusesGroupOrOtherAccess(mode: Int) throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let path = try Self.key(mode: mode, in: workspace)
        let error = try #require(#expect(throws: KeyFilePermissionError.self) { try KeyFilePolicy.strict.check(path) })
        #expect(error.failureClass.exitCode == 3)
        #expect(error.description.contains(path) && error.description.contains("chmod 600 \(path)"), "\(error)")
        #expect(error.description.contains("0\(String(mode, radix: 8))"), "\(error)")
        try KeyFilePolicy.allowInsecure.check(path)
    }

    @Test(arguments: [0o600, 0o400])
    func ownerOnlyKeysPass(mode: Int) throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        try KeyFilePolicy.strict.check(try Self.key(mode: mode, in: workspace))
    }

    @Test func signAndBuildRefuseAnInsecureKeyUnlessAllowed() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let key = try Self.key(mode: 0o644, in: workspace)
        let out = workspace.path("signed.xml")
        let before = workspace.contents()
        let refused = try HostileCLI.run(["sign", "--key", key, "--cert", HostileKeys.cert, "-o", out, HostileKeys.template])
        #expect(refused.status == 3, "\(refused)")
        #expect(refused.stderr.contains(key) && refused.stderr.contains("chmod 600 \(key)") && refused.stderr.contains("--allow-insecure-key-file"), "\(refused)")
        #expect(workspace.contents() == before)
        let allowed = try HostileCLI.run(["sign", "--allow-insecure-key-file", "--key", key, "--cert", HostileKeys.cert, "-o", out, HostileKeys.template])
        #expect(allowed.status == 0, "\(allowed)")
        #expect(FileManager.default.fileExists(atPath: out))

        let build = CLIBuildInspectTests.templateArguments() + ["--key", key, "--cert", HostileKeys.cert, "-o", workspace.path("built.xml")]
        let buildRefused = try HostileCLI.run(build)
        #expect(buildRefused.status == 3 && buildRefused.stderr.contains("chmod 600"), "\(buildRefused)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("built.xml")))
        let buildAllowed = try HostileCLI.run(build + ["--allow-insecure-key-file"])
        #expect(buildAllowed.status == 0, "\(buildAllowed)")
    }

    @Test func registriesRefuseAnInsecureKeyUnlessAllowed() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let registry = try workspace.registry([.gts])
        let keyPath = workspace.path("keys/\(PartiesEntry.gts.identity).key.pem")
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: keyPath)
        // The library: the default loader refuses, naming the file and the fix; the policy can allow it.
        let error = try #require(#expect(throws: PartyRegistryError.self) { try PartyRegistry(contentsOfFile: registry, loader: .files) })
        #expect(error.failureClass.exitCode == 3, "\(error)")
        #expect(error.problems.contains { $0.kind == .credentialsUnusable && $0.reason.contains("chmod 600 \(keyPath)") }, "\(error)")
        let loaded = try PartyRegistry(contentsOfFile: registry, loader: .files(keyFilePolicy: .allowInsecure))
        #expect(loaded.parties.count == 1)
        // The CLI: parties check and sign --parties.
        let check = try HostileCLI.run(["parties", "check", registry])
        #expect(check.status == 3 && check.stderr.contains("chmod 600"), "\(check)")
        #expect(try HostileCLI.run(["parties", "check", "--allow-insecure-key-file", registry]).status == 0)
        let out = workspace.path("signed.xml")
        let sign = try HostileCLI.run(["sign", "--parties", registry, "--mpid", "GTSE", "-o", out, HostileKeys.template])
        #expect(sign.status == 3 && sign.stderr.contains("chmod 600"), "\(sign)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    // MARK: - Secrets stay out of logs and errors

    /// Strings that must never be printed: the passphrase, every base64 line of the plain and the encrypted key
    /// file, and pieces of the document body (the ImportMPxN value and the embedded certificates' base64).
    static func secrets(passphrase: String, keyFiles: [String], document: String) throws -> [String] {
        var secrets = [passphrase]
        for file in keyFiles {
            let text = hostileText(file)
            secrets += text.split(separator: "\n").filter { !$0.hasPrefix("-----") && $0.count >= 16 }.map(String.init)
        }
        secrets.append("1312345678333")
        // 40-character pieces of each certificate the request carries.
        var rest = Substring(document)
        while let open = rest.range(of: "Certificate>"), let close = rest.range(of: "</", range: open.upperBound..<rest.endIndex) {
            let value = rest[open.upperBound..<close.lowerBound].filter { !$0.isWhitespace }
            if value.count > 80 { secrets.append(String(value.dropFirst(40).prefix(40))) }
            rest = rest[close.upperBound...]
        }
        #expect(secrets.count > 8, "too few secrets found to make the test meaningful")
        return secrets
    }

    static func expectNoSecrets(_ run: HostileRun, _ secrets: [String], also files: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) {
        var texts = [("stdout", run.stdout), ("stderr", run.stderr)]
        for file in files { texts.append((file, hostileText(file))) }
        for (name, text) in texts {
            for secret in secrets where text.contains(secret) {
                Issue.record("\(name) contains a secret (\(secret.prefix(12))…): \(text.prefix(800))", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func verboseSigningWithAnEncryptedKeyLogsNoSecret() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let plain = try Self.key(mode: 0o600, in: workspace, name: "plain.key.pem")
        let encrypted = workspace.path("enc.key.pem")
        let passphrase = "Harden-passphrase-7f3a91c2"
        let made = try TestProcess.run("openssl", ["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", plain, "-out", encrypted, "-passout", "env:HARDEN_PASS"],
                                  environment: ["HARDEN_PASS": passphrase])
        try #require(made.status == 0, "\(made.stderr)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: encrypted)
        let document = try Fixtures.template623(Fixtures.template623Names[0]).utf8String
        let secrets = try Self.secrets(passphrase: passphrase, keyFiles: [plain, encrypted], document: document)
        let environment = ["HARDEN_PASS": passphrase]

        // One document, verbose, to a file: the log names the input, the output and the serial only.
        let out = workspace.path("signed.xml")
        let single = try HostileCLI.run(["sign", "--verbose", "--key", encrypted, "--passphrase-env", "HARDEN_PASS", "--cert", HostileKeys.cert,
                                         "-o", out, HostileKeys.template], environment: environment)
        #expect(single.status == 0, "\(single)")
        #expect(single.stderr.contains(Fixtures.template623Names[0]) && single.stderr.contains("27572613927499351639968579586655397031"), "\(single)")
        Self.expectNoSecrets(single, secrets)

        // A batch with a report, verbose: one good and one bad input.
        let inputs = workspace.path("in")
        try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: HostileKeys.template, toPath: "\(inputs)/good.xml")
        try Data(document.replacingOccurrences(of: "<sr:CommandVariant>1<", with: "<sr:CommandVariant>7<").utf8).write(to: URL(fileURLWithPath: "\(inputs)/bad.xml"))
        let outputs = workspace.path("out")
        try FileManager.default.createDirectory(atPath: outputs, withIntermediateDirectories: true)
        let report = workspace.path("report.jsonl")
        let batch = try HostileCLI.run(["sign", "--verbose", "--key", encrypted, "--passphrase-env", "HARDEN_PASS", "--cert", HostileKeys.cert,
                                        "--output-dir", outputs, "--report", report, inputs], environment: environment)
        #expect(batch.status == 2, "\(batch)")
        #expect(batch.stderr.contains("good.xml") && batch.stderr.contains("bad.xml"), "\(batch)")
        Self.expectNoSecrets(batch, secrets, also: [report])

        // A wrong passphrase: exit 3, the file named, the (wrong) passphrase not.
        let wrong = "Wrong-passphrase-0c55e1"
        let refused = try HostileCLI.run(["sign", "--verbose", "--key", encrypted, "--passphrase-env", "HARDEN_PASS", "--cert", HostileKeys.cert,
                                          "-o", workspace.path("never.xml"), HostileKeys.template], environment: ["HARDEN_PASS": wrong])
        #expect(refused.status == 3 && refused.stderr.contains("enc.key.pem"), "\(refused)")
        Self.expectNoSecrets(refused, secrets + [wrong])
        // A passphrase file: same.
        let passphraseFile = workspace.path("pass.txt")
        try Data((passphrase + "\n").utf8).write(to: URL(fileURLWithPath: passphraseFile))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: passphraseFile)  // the key-file rule
        let viaFile = try HostileCLI.run(["sign", "--verbose", "--key", encrypted, "--passphrase-file", passphraseFile, "--cert", HostileKeys.cert,
                                          "-o", workspace.path("via-file.xml"), HostileKeys.template])
        #expect(viaFile.status == 0, "\(viaFile)")
        Self.expectNoSecrets(viaFile, secrets)
    }

    @Test func failingVerificationPrintsNoDocumentBody() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let (text, _) = try HostileSignatureTests.signed()
        let secrets = try Self.secrets(passphrase: "unused-\(UUID().uuidString)", keyFiles: [HostileKeys.key], document: text)
        let tampered = workspace.path("tampered.xml")
        try Data(text.replacingOccurrences(of: "<sr:CommandVariant>1<", with: "<sr:CommandVariant>2<").utf8).write(to: URL(fileURLWithPath: tampered))
        let report = workspace.path("report.jsonl")
        for arguments in [["verify", "--cert", HostileKeys.cert, tampered],
                          ["verify", "--verbose", "--report", report, "--cert", HostileKeys.cert, tampered]] {
            let run = try HostileCLI.run(arguments)
            #expect(run.status == 10, "\(run)")
            #expect(run.stdout.contains("tampered.xml") && run.stdout.contains("digest"), "\(run)")
            Self.expectNoSecrets(run, secrets, also: [report])
        }
    }
}
