import CoSSigner
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What ``TestPKI/writeSoftHSMToken(to:module:force:)`` made: a SoftHSM2 token of its own in the test PKI's
/// folder holding the parties' XML signing keys, its PIN file, and a parties registry that signs with them.
/// NOT FOR PRODUCTION.
package struct TestPKISoftHSMToken: Sendable, Equatable {
    /// The token's label (``TestPKI/softHSMTokenLabel``).
    package let tokenLabel: String
    /// The PKCS#11 module the registry names (`pkcs11_module`), an absolute path.
    package let module: String
    /// The absolute path of the token store's `softhsm2.conf`: SoftHSM2 finds the token through the
    /// `SOFTHSM2_CONF` environment variable, which must name this file when the registry is used.
    package let configurationPath: String
    /// The file holding the token's user PIN (mode 0600).
    package let pinFile: String
    /// The file holding the token's security officer PIN (mode 0600), to change or re-initialise the token.
    package let soPINFile: String
    /// The parties registry whose credentials are the token's keys (`parties-pkcs11.toml`).
    package let registryPath: String
    /// The files written, in order.
    package let written: [String]

    /// `export SOFTHSM2_CONF=…`: the line a shell needs before it uses the registry (the path quoted when it has
    /// characters a shell would read otherwise).
    package var exportLine: String { Self.exportLine(configurationPath) }

    static func exportLine(_ configurationPath: String) -> String { "export SOFTHSM2_CONF=\(shellQuoted(configurationPath))" }

    static func shellQuoted(_ text: String) -> String {
        let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+,:@%")
        if !text.isEmpty, text.allSatisfy({ plain.contains($0) }) { return text }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

extension TestPKI {
    /// The label of the token `testpki --pkcs11` makes.
    package static let softHSMTokenLabel = "cossigner-test"
    /// The folder of the token store, relative to the test PKI's folder.
    package static let softHSMFolder = "softhsm"
    /// The registry that uses the token's keys, relative to the test PKI's folder.
    package static let pkcs11RegistryName = "parties-pkcs11.toml"
    /// SoftHSM2's tool, looked up on `PATH`.
    package static let softHSMUtilName = "softhsm2-util"

    /// The RFC 7512 URI of a party's XML signing key in the token: `pkcs11:token=cossigner-test;object=ts1-xml-sign;type=private`.
    package func pkcs11URI(of party: TestPKIParty) -> String {
        "pkcs11:token=\(Self.softHSMTokenLabel);object=\(party.xmlSigning.stem);type=private"
    }

    /// The `CKA_ID` of a party's key in the token, as hex: the party's number (`01` for `ts1`).
    func pkcs11ID(of index: Int) -> String {
        let digits = String(index + 1, radix: 16)
        return digits.count % 2 == 0 ? digits : "0" + digits
    }

    /// `parties-pkcs11.toml`: the registry of ``partiesTOML`` with each XML signing key in the token (paths of
    /// certificates and the PIN file relative to the registry file).
    /// - Parameters:
    ///   - module: the PKCS#11 module (`pkcs11_module`).
    ///   - configurationPath: the token store's `softhsm2.conf`, named in a comment for the `SOFTHSM2_CONF` line.
    package func pkcs11PartiesTOML(module: String, configurationPath: String) -> String {
        var text = "# CoSSigner test PKI — NOT FOR PRODUCTION\n"
        text += "# The XML signing keys are in the SoftHSM2 token '\(Self.softHSMTokenLabel)' (\(Self.softHSMFolder)/tokens); before using\n"
        text += "# this registry:  \(TestPKISoftHSMToken.exportLine(configurationPath))\n"
        text += "pkcs11_module = \(Self.tomlString(module))\n"
        for party in parties {
            text += "\n"
            text += "[[party]]\n"
            text += "id = \"\(party.id)\"\n"
            text += "name = \"\(party.name)\"\n"
            text += "mpids = [" + party.mpids.map { "\"\($0)\"" }.joined(separator: ", ") + "]\n"
            text += "user_ids = [\"\(party.userID)\"]\n"
            text += "signing_key = \"\(pkcs11URI(of: party))\"\n"
            text += "signing_certificate = \"\(party.xmlSigning.certificatePath)\"\n"
            text += "pin_file = \"\(Self.softHSMFolder)/user.pin\"\n"
        }
        return text
    }

    /// A TOML basic string.
    static func tomlString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16, uppercase: true)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Checks what ``writeSoftHSMToken(to:module:force:)`` needs, before anything is written: SoftHSM2's
    /// `softhsm2-util` on `PATH` and a file at `module`.
    /// - Returns: the path of `softhsm2-util`.
    /// - Throws: ``TestPKIError`` of kind ``TestPKIError/Kind/tokenUnavailable`` (exit code 3) saying what is
    ///   missing and how to install it.
    package static func softHSMPrerequisites(module: String) throws(TestPKIError) -> String {
        guard let tool = executable(named: softHSMUtilName) else {
            throw TestPKIError(
                kind: .tokenUnavailable,
                reason: "\(softHSMUtilName) is not on PATH: --pkcs11 puts the keys into a SoftHSM2 token with SoftHSM2's own tool (Debian and Ubuntu: apt-get install softhsm2)")
        }
        var info = stat()
        guard stat(module, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw TestPKIError(
                kind: .tokenUnavailable, path: module,
                reason: "no PKCS#11 module there: give SoftHSM2's (Debian and Ubuntu: /usr/lib/softhsm/libsofthsm2.so, from the softhsm2 package)")
        }
        return tool
    }

    /// The first executable file called `name` in the directories of `PATH`.
    static func executable(named name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Puts the parties' XML signing keys into a new SoftHSM2 token in `directory` (where ``write(to:force:)``
    /// wrote the PKI) and writes a registry that signs with them. NOT FOR PRODUCTION.
    ///
    /// Makes `softhsm/` (mode 0700) with its own `softhsm2.conf` and `tokens/` folder, initialises the token
    /// ``softHSMTokenLabel`` there (`softhsm2-util --init-token --free`) with a random user PIN and SO PIN (written
    /// to `softhsm/user.pin` and `softhsm/so.pin`, mode 0600), imports each party's `keys/<stem>.key.pem` as the
    /// object `<stem>` with `CKA_ID` the party's number (`softhsm2-util --import`), and writes
    /// ``pkcs11RegistryName`` (``pkcs11PartiesTOML(module:configurationPath:)``). `softhsm2-util` takes the PINs on
    /// its command line only (it reads a terminal otherwise), so they are visible to local users while it runs:
    /// acceptable for a test token, never for a real one. With `force`, a token store already in `softhsm/` is
    /// replaced.
    /// - Parameters:
    ///   - directory: the test PKI's folder.
    ///   - module: SoftHSM2's PKCS#11 module (`pkcs11_module`; made absolute).
    ///   - force: replace the token store of an earlier run.
    /// - Throws: ``TestPKIError``: ``TestPKIError/Kind/tokenUnavailable`` (exit code 3) when SoftHSM2 is missing or
    ///   `softhsm2-util` fails (with its output), ``TestPKIError/Kind/io`` when a file cannot be written.
    package func writeSoftHSMToken(to directory: String, module: String, force: Bool = false) throws(TestPKIError) -> TestPKISoftHSMToken {
        let tool = try Self.softHSMPrerequisites(module: module)
        guard let root = Files.realPath(directory) else {
            throw TestPKIError(kind: .io, path: directory, reason: "the test PKI's folder is not there")
        }
        let moduleCanonical = module.hasPrefix("/") ? module : FileManager.default.currentDirectoryPath + "/" + module
        let store = root + "/" + Self.softHSMFolder
        let tokens = store + "/tokens"
        if force, FileManager.default.fileExists(atPath: tokens) {
            do {
                try FileManager.default.removeItem(atPath: tokens)
            } catch {
                throw TestPKIError(kind: .io, path: tokens, reason: "cannot remove the earlier token store: \(error.localizedDescription)")
            }
        }
        try Self.makeFolder(store)
        try Self.makeFolder(tokens)
        var written = [String]()
        func write(_ text: String, to path: String, mode: mode_t) throws(TestPKIError) {
            do {
                try Files.writeAtomically(Array(text.utf8), to: path, mode: mode)
            } catch {
                throw TestPKIError(kind: .io, path: path, reason: error.reason)
            }
            written.append(path)
        }
        let configuration = store + "/softhsm2.conf"
        try write("""
            # SoftHSM2 token store of the CoSSigner test PKI — NOT FOR PRODUCTION
            directories.tokendir = \(tokens)
            objectstore.backend = file
            log.level = ERROR
            slots.removable = false

            """, to: configuration, mode: 0o600)
        let userPIN = Self.randomPIN(), soPIN = Self.randomPIN()
        let pinFile = store + "/user.pin", soPINFile = store + "/so.pin"
        try write(userPIN + "\n", to: pinFile, mode: 0o600)
        try write(soPIN + "\n", to: soPINFile, mode: 0o600)

        let secrets = [userPIN, soPIN]
        func run(_ arguments: [String], _ what: String) throws(TestPKIError) {
            let result: (status: Int32, output: String)
            do {
                result = try Self.runTool(tool, arguments, environment: ["SOFTHSM2_CONF": configuration])
            } catch {
                throw TestPKIError(kind: .tokenUnavailable, reason: "cannot run \(tool): \(error.localizedDescription)")
            }
            guard result.status == 0 else {
                var output = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
                for secret in secrets { output = output.replacingOccurrences(of: secret, with: "<PIN>") }
                throw TestPKIError(kind: .tokenUnavailable, path: store,
                                   reason: "\(Self.softHSMUtilName) \(what) failed (exit \(result.status))\(output.isEmpty ? "" : ": \(output)")")
            }
        }
        try run(["--init-token", "--free", "--label", Self.softHSMTokenLabel, "--pin", userPIN, "--so-pin", soPIN],
                "--init-token (token '\(Self.softHSMTokenLabel)')")
        for (index, party) in parties.enumerated() {
            let stem = party.xmlSigning.stem
            try run(["--import", root + "/" + party.xmlSigning.keyPath, "--token", Self.softHSMTokenLabel, "--label", stem,
                     "--id", pkcs11ID(of: index), "--pin", userPIN],
                    "--import of \(party.xmlSigning.keyPath)")
        }
        let registry = root + "/" + Self.pkcs11RegistryName
        try write(pkcs11PartiesTOML(module: moduleCanonical, configurationPath: configuration), to: registry, mode: 0o644)
        return TestPKISoftHSMToken(
            tokenLabel: Self.softHSMTokenLabel, module: moduleCanonical, configurationPath: configuration, pinFile: pinFile,
            soPINFile: soPINFile, registryPath: registry, written: written)
    }

    /// 16 random hexadecimal digits.
    static func randomPIN() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(UInt8.random(in: 0..<16, using: &generator), radix: 16) }.joined()
    }

    private static func makeFolder(_ path: String) throws(TestPKIError) {
        if mkdir(path, 0o700) == 0 { return }
        let code = errno
        var info = stat()
        if code == EEXIST, stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { return }
        throw TestPKIError(kind: .io, path: path, reason: "cannot create the directory: \(String(cString: strerror(code)))")
    }

    /// Runs `tool` with `arguments` and `environment` added to this process's, standard input closed; returns its
    /// exit status and its standard output and error together.
    private static func runTool(_ tool: String, _ arguments: [String], environment: [String: String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
