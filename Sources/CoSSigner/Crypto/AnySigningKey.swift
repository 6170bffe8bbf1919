/// A signing key of either kind: a file key (``SigningKey``: the private scalar in cleansed memory) or a token
/// key (``PKCS11SigningKey``: the key stays in the HSM). ``DUISSigner`` signs through it.
///
/// A struct over a two-case enum, so the file key's signing call costs one switch and no dynamic dispatch.
package struct AnySigningKey: Sendable, CustomStringConvertible {
    private enum Backing: Sendable {
        case file(SigningKey)
        case pkcs11(PKCS11SigningKey)
    }

    private let backing: Backing

    /// A file key.
    package init(_ key: SigningKey) { backing = .file(key) }

    /// A PKCS#11 token key.
    package init(_ key: PKCS11SigningKey) { backing = .pkcs11(key) }

    /// The public key.
    package var publicKey: PublicKey {
        switch backing {
        case .file(let key): key.publicKey
        case .pkcs11(let key): key.publicKey
        }
    }

    /// The file key, if this is one.
    package var fileKey: SigningKey? {
        if case .file(let key) = backing { return key }
        return nil
    }

    /// The token key, if this is one.
    package var pkcs11Key: PKCS11SigningKey? {
        if case .pkcs11(let key) = backing { return key }
        return nil
    }

    /// False for a token key: RFC 6979 needs the private scalar, which a token never reveals.
    package var supportsDeterministicSignatures: Bool { fileKey != nil }

    /// Signs a SHA-256 digest (32 bytes) with a random nonce (a token key: the token's own).
    /// - Throws: ``CryptoError``; for a token key also ``PKCS11Error``.
    @inline(__always)
    package func signature(forDigest digest: [UInt8]) throws -> ECDSASignature {
        switch backing {
        case .file(let key): try key.signature(forDigest: digest)
        case .pkcs11(let key): try key.signature(forDigest: digest)
        }
    }

    /// Signs a SHA-256 digest with the RFC 6979 deterministic nonce.
    /// - Throws: ``CryptoError``; for a token key always ``PKCS11Error`` with code
    ///   ``PKCS11Error/Code/deterministicUnsupported`` (exit code 3).
    package func deterministicSignature(forDigest digest: [UInt8]) throws -> ECDSASignature {
        switch backing {
        case .file(let key): return try key.deterministicSignature(forDigest: digest)
        case .pkcs11(let key): throw Self.deterministicRefusal(uri: key.uri.text)
        }
    }

    /// The refusal of RFC 6979 for a token key (also what the CLI says to `--deterministic` with `--key pkcs11:…`).
    package static func deterministicRefusal(uri: String) -> PKCS11Error {
        PKCS11Error(
            code: .deterministicUnsupported,
            reason: "--deterministic (RFC 6979) needs the private scalar, which a PKCS#11 key never reveals; sign without it (the token draws the nonce)",
            uri: PKCS11URI.redacted(uri))
    }

    package var description: String {
        switch backing {
        case .file(let key): key.description
        case .pkcs11(let key): key.description
        }
    }

    // MARK: The factory for key references

    /// Loads the signing key a credential names, checked against its certificate: a `pkcs11:` URI (a token key,
    /// ``PKCS11SigningKey/load(uri:modulePath:pin:certificate:pinFilePolicy:)``) or a private key file.
    ///
    /// For a parties registry: a credential's `signing_key = "pkcs11:token=cos;object=ts1-xml-sign;type=private"`
    /// is passed as `reference`, the registry's top-level `pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"` as
    /// `pkcs11Module`, and the credential's `pin_env = "NAME"` / `pin_file = "PATH"` as `pin`
    /// (``PINSource/environment(_:)`` / ``PINSource/file(_:)``; a relative `pin_file` resolved against the
    /// registry's folder first, as `signing_key` files are). A file reference is resolved the same way by the
    /// caller; `passphrase` is for an encrypted key file. `keyFilePolicy` is the permission rule for both key
    /// files and PIN files (`--allow-insecure-key-file`). Keys are loaded once, when the registry is read; the
    /// key's errors name the URI or file and never the PIN or passphrase.
    /// - Throws: ``PKCS11Error`` for a token key; ``KeyFilePermissionError``, ``FileError`` or ``CryptoError`` for
    ///   a file key, and ``CryptoError`` (``CryptoError/Code/keyMismatch``) when the file key is not the
    ///   certificate's. All are of the key-or-certificate class (exit code 3).
    package static func load(
        _ reference: String, certificate: Certificate, pkcs11Module: String? = nil, pin: PINSource? = nil,
        passphrase: PassphraseSource? = nil, keyFilePolicy: KeyFilePolicy = .strict
    ) throws -> AnySigningKey {
        if PKCS11URI.isPKCS11URI(reference) {
            return AnySigningKey(
                try PKCS11SigningKey.load(
                    uri: reference, modulePath: pkcs11Module, pin: pin, certificate: certificate,
                    pinFilePolicy: keyFilePolicy))
        }
        try keyFilePolicy.check(reference)
        let key = try SigningKey(contentsOfFile: reference, passphrase: try passphrase?.load(keyFilePolicy: keyFilePolicy))
        guard certificate.matches(key) else {
            throw CryptoError(
                code: .keyMismatch,
                reason: "the private key does not belong to the certificate (serial \(certificate.serialNumber), issuer \(certificate.issuer.rfc2253))",
                context: reference)
        }
        return AnySigningKey(key)
    }
}

extension Certificate {
    /// True when `key` is the private key of this certificate's subject public key.
    package func matches(_ key: AnySigningKey) -> Bool {
        guard let publicKey = try? publicKey() else { return false }
        return publicKey == key.publicKey
    }
}
