import ArgumentParser
import CoSSigner

/// Options naming one signing key and its certificate.
struct KeyOptions: ParsableArguments {
    @Option(name: .customLong("key"), help: ArgumentHelp("Private key file (PEM or DER: PKCS#8, SEC1 or encrypted PKCS#8).", valueName: "KEY"))
    var keyPath: String?

    @Option(name: .customLong("cert"), help: ArgumentHelp("Certificate of the key (PEM or DER); its issuer and serial go in KeyInfo.", valueName: "CERT"))
    var certificatePath: String?

    @Option(name: .customLong("passphrase-env"), help: ArgumentHelp("Environment variable holding the key's passphrase.", valueName: "NAME"))
    var passphraseEnvironment: String?

    @Option(name: .customLong("passphrase-file"), help: ArgumentHelp("File whose first line is the key's passphrase.", valueName: "FILE"))
    var passphraseFile: String?

    @Flag(name: .customLong("allow-insecure-key-file"), help: "Accept a private key file that its group or others may read or write (refused by default, as ssh does).")
    var allowInsecureKeyFile = false

    /// How private key files' permissions are checked.
    var keyFilePolicy: KeyFilePolicy { KeyFilePolicy(allowInsecurePermissions: allowInsecureKeyFile) }

    func validate() throws {
        if passphraseEnvironment != nil, passphraseFile != nil {
            throw ValidationError("give the passphrase by --passphrase-env or --passphrase-file, not both")
        }
    }

    var passphraseSource: PassphraseSource? {
        if let name = passphraseEnvironment { return .environment(name) }
        if let path = passphraseFile { return .file(path) }
        return nil
    }

    /// Loads the key and certificate into a signer.
    func makeSigner() throws -> DUISSigner {
        guard let keyPath, let certificatePath else {
            throw ValidationError("--key and --cert are required")
        }
        try keyFilePolicy.check(keyPath)
        let passphrase = try passphraseSource?.load(keyFilePolicy: keyFilePolicy)
        let key = try SigningKey(contentsOfFile: keyPath, passphrase: passphrase)
        let certificate = try Certificate(contentsOfFile: certificatePath)
        return try DUISSigner(key: key, certificate: certificate)
    }
}
