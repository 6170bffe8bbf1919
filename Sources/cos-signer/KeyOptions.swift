import ArgumentParser
import CoSSigner
import CoSSignerTesting

/// Options naming one signing key and its certificate.
struct KeyOptions: ParsableArguments {
    @Option(name: .customLong("key"), help: ArgumentHelp("Private key file (PEM or DER: PKCS#8, SEC1 or encrypted PKCS#8), or a PKCS#11 URI of a key in a token (pkcs11:token=…;object=…;type=private).", valueName: "KEY"))
    var keyPath: String?

    @Option(name: .customLong("cert"), help: ArgumentHelp("Certificate of the key (PEM or DER); its issuer and serial go in KeyInfo.", valueName: "CERT"))
    var certificatePath: String?

    @Option(name: .customLong("passphrase-env"), help: ArgumentHelp("Environment variable holding the key's passphrase.", valueName: "NAME"))
    var passphraseEnvironment: String?

    @Option(name: .customLong("passphrase-file"), help: ArgumentHelp("File whose first line is the key's passphrase.", valueName: "FILE"))
    var passphraseFile: String?

    @Option(name: .customLong("pkcs11-module"), help: ArgumentHelp("PKCS#11 module (shared library) for --key pkcs11:…, or for the token keys of --parties (wins over the registry's pkcs11_module), e.g. /usr/lib/softhsm/libsofthsm2.so.", valueName: "PATH"))
    var pkcs11Module: String?

    @Option(name: .customLong("pin-env"), help: ArgumentHelp("Environment variable holding the token's user PIN (--key pkcs11:…).", valueName: "NAME"))
    var pinEnvironment: String?

    @Option(name: .customLong("pin-file"), help: ArgumentHelp("File whose first line is the token's user PIN (--key pkcs11:…; mode 600, as for key files).", valueName: "FILE"))
    var pinFile: String?

    @Flag(name: .customLong("allow-insecure-key-file"), help: "Accept a private key file (or PIN file) that its group or others may read or write (refused by default, as ssh does).")
    var allowInsecureKeyFile = false

    /// How private key files' permissions are checked.
    var keyFilePolicy: KeyFilePolicy { KeyFilePolicy(allowInsecurePermissions: allowInsecureKeyFile) }

    /// True when --key is a PKCS#11 URI.
    var isPKCS11: Bool { keyPath.map(PKCS11URI.isPKCS11URI) ?? false }

    func validate() throws {
        if passphraseEnvironment != nil, passphraseFile != nil {
            throw ValidationError("give the passphrase by --passphrase-env or --passphrase-file, not both")
        }
        if pinEnvironment != nil, pinFile != nil {
            throw ValidationError("give the PIN by --pin-env or --pin-file, not both")
        }
        if isPKCS11 {
            if passphraseEnvironment != nil || passphraseFile != nil {
                throw ValidationError("a PKCS#11 key has no passphrase: give the token's PIN with --pin-env or --pin-file")
            }
            if pinEnvironment == nil, pinFile == nil {
                throw ValidationError("--key pkcs11:… needs the token's user PIN: --pin-env NAME or --pin-file FILE")
            }
            if pkcs11Module == nil, let key = keyPath, let uri = try? PKCS11URI(parsing: key), uri.modulePath == nil {
                throw ValidationError("--key pkcs11:… needs the module: --pkcs11-module PATH (or module-path= in the URI)")
            }
        } else if keyPath != nil, pkcs11Module != nil || pinEnvironment != nil || pinFile != nil {
            throw ValidationError("--pkcs11-module, --pin-env and --pin-file go with --key pkcs11:… (or, --pkcs11-module only, with --parties)")
        } else if keyPath == nil, pinEnvironment != nil || pinFile != nil {
            throw ValidationError("--pin-env and --pin-file go with --key pkcs11:…; with --parties each credential names its PIN (pin_env or pin_file in the registry)")
        }
    }

    var passphraseSource: PassphraseSource? {
        if let name = passphraseEnvironment { return .environment(name) }
        if let path = passphraseFile { return .file(path) }
        return nil
    }

    var pinSource: PINSource? {
        if let name = pinEnvironment { return .environment(name) }
        if let path = pinFile { return .file(path) }
        return nil
    }

    /// Loads the key and certificate into a signer.
    /// - Parameter deterministic: whether RFC 6979 signatures are asked for; a PKCS#11 key refuses them
    ///   (exit 3) before the module is loaded.
    func makeSigner(deterministic: Bool = false) throws -> DUISSigner {
        guard let keyPath, let certificatePath else {
            throw ValidationError("--key and --cert are required")
        }
        if isPKCS11 {
            if deterministic { throw AnySigningKey.deterministicRefusal(uri: keyPath) }
            let certificate = try Certificate(contentsOfFile: certificatePath)
            let key = try AnySigningKey.load(
                keyPath, certificate: certificate, pkcs11Module: pkcs11Module, pin: pinSource,
                keyFilePolicy: keyFilePolicy)
            return try DUISSigner(key: key, certificate: certificate)
        }
        try keyFilePolicy.check(keyPath)
        let passphrase = try passphraseSource?.load(keyFilePolicy: keyFilePolicy)
        let key = try SigningKey(contentsOfFile: keyPath, passphrase: passphrase)
        let certificate = try Certificate(contentsOfFile: certificatePath)
        // Only a DCC User's XML signing certificate signs requests: never a CA, key agreement or device certificate.
        try SigningCertificateRules.requireUserSigningCertificate(certificate)
        return try DUISSigner(key: key, certificate: certificate)
    }
}
