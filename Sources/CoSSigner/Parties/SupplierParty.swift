/// One XML signing credential as a registry declares it: the User ID it signs for, its key and its certificate,
/// before they are loaded.
///
/// Paths are as the loader will open them (a registry file's relative paths are already joined to the registry's
/// directory). The key is a private key file, or a key in a PKCS#11 token named by its RFC 7512 URI
/// (`pkcs11:token=…;object=…;type=private`, kept exactly as written: never joined to a directory), with the
/// token's module (``pkcs11Module``) and user PIN (``pin``).
package struct CredentialDeclaration: Sendable, Equatable {
    /// The User ID (Business Originator) this credential signs for. `nil` in the shorthand form (a party's own
    /// `signing_key`/`signing_certificate`): the User ID is then the certificate's entity identifier.
    package var userID: EUI64?
    /// The XML signing private key: a file (PEM or DER), or a `pkcs11:` URI of a key in a token
    /// (``isPKCS11Key``).
    package var signingKeyPath: String
    /// The XML signing certificate file (PEM or DER): OU `87`, its `x500UniqueIdentifier` equal to ``userID``.
    package var signingCertificatePath: String
    /// Where the passphrase of an encrypted key file comes from, if it is encrypted. Never with a token key.
    package var passphrase: PassphraseSource?
    /// Where a token key's user PIN comes from (a registry credential's `pin_env` / `pin_file`). Only with a
    /// token key.
    package var pin: PINSource?
    /// The PKCS#11 module of a token key, as the registry names it (its top-level `pkcs11_module`); a loader may
    /// be given another (`--pkcs11-module`), which wins. Nil for a file key.
    package var pkcs11Module: String?
    /// The line of the credential's `[[party.credential]]` header (or of the party's header for the shorthand
    /// form) in the registry file, when known.
    package var line: Int?

    package init(userID: EUI64?, signingKeyPath: String, signingCertificatePath: String,
                passphrase: PassphraseSource? = nil, line: Int? = nil) {
        self.userID = userID
        self.signingKeyPath = signingKeyPath
        self.signingCertificatePath = signingCertificatePath
        self.passphrase = passphrase
        self.line = line
    }

    /// A credential whose key is in a PKCS#11 token.
    /// - Parameters:
    ///   - signingKeyURI: the key's RFC 7512 URI (`pkcs11:token=cos;object=ts1-xml-sign;type=private`).
    ///   - pkcs11Module: the module (shared library); may be nil when the URI has `module-path` or the loader is
    ///     given one.
    ///   - pin: where the token's user PIN comes from.
    package init(userID: EUI64?, signingKeyURI: String, signingCertificatePath: String, pkcs11Module: String?,
                pin: PINSource?, line: Int? = nil) {
        self.init(userID: userID, signingKeyPath: signingKeyURI, signingCertificatePath: signingCertificatePath, line: line)
        self.pkcs11Module = pkcs11Module
        self.pin = pin
    }

    /// True when the key is a PKCS#11 URI (a key in a token), not a file.
    package var isPKCS11Key: Bool { PKCS11URI.isPKCS11URI(signingKeyPath) }

    /// The key as it may be shown in messages: a file's path, or the URI without any query part (a URI holding
    /// a PIN is refused when the registry is read, and is never shown whole).
    package var shownSigningKey: String { isPKCS11Key ? PKCS11URI.redacted(signingKeyPath) : signingKeyPath }
}

/// One Supplier Party as a registry declares it, before its keys and certificates are loaded.
package struct PartyDeclaration: Sendable, Equatable {
    /// The party's short identifier (letters, digits, `.`, `_`, `-`), unique in a registry
    /// (compared ignoring case).
    package var id: String
    /// A display name.
    package var name: String
    /// The party's MPIDs.
    package var mpids: [MPID]
    /// All the party's User IDs and entity identifiers (EUI-64s used as Business Originator IDs, or carried by
    /// its replacement certificates).
    package var userIDs: [EUI64]
    /// One credential per User ID that signs.
    package var credentials: [CredentialDeclaration]
    /// The line of the party's `[[party]]` header in the registry file, when known.
    package var line: Int?

    /// A party with credentials per User ID.
    package init(id: String, name: String, mpids: [MPID], userIDs: [EUI64], credentials: [CredentialDeclaration],
                line: Int? = nil) {
        self.id = id
        self.name = name
        self.mpids = mpids
        self.userIDs = userIDs
        self.credentials = credentials
        self.line = line
    }

    /// A party in the shorthand form: one credential whose User ID is its certificate's entity identifier.
    package init(id: String, name: String, mpids: [MPID], userIDs: [EUI64], signingKeyPath: String,
                signingCertificatePath: String, passphrase: PassphraseSource? = nil, line: Int? = nil) {
        self.init(id: id, name: name, mpids: mpids, userIDs: userIDs,
                  credentials: [CredentialDeclaration(userID: nil, signingKeyPath: signingKeyPath,
                                                      signingCertificatePath: signingCertificatePath,
                                                      passphrase: passphrase, line: line)],
                  line: line)
    }
}

/// One loaded XML signing credential of a party: the User ID it signs for and its signer (key and certificate).
package struct PartyCredential: Sendable, CustomStringConvertible {
    /// The User ID (Business Originator) this credential signs for; its certificate's entity identifier.
    package let userID: EUI64
    /// The signer. Every selection of this credential returns this same instance.
    package let signer: DUISSigner
    /// The declaration the credential was loaded from.
    package let declaration: CredentialDeclaration
    /// The selection reason naming the credential, made once (every selection of it ends with it).
    let reason: String

    init(userID: EUI64, signer: DUISSigner, declaration: CredentialDeclaration) {
        self.userID = userID
        self.signer = signer
        self.declaration = declaration
        reason = "credential for User ID \(userID): signing certificate serial \(signer.certificate.serialNumber) (issuer \(signer.certificate.issuer.rfc2253))"
    }

    /// The XML signing certificate.
    package var certificate: Certificate { signer.certificate }

    /// `User ID X, certificate serial N`.
    package var description: String { "User ID \(userID), certificate serial \(certificate.serialNumber)" }
}

/// A Supplier Party of a loaded ``PartyRegistry``: its identifiers and one XML signing credential per User ID that
/// signs, loaded once when the registry was loaded.
public struct SupplierParty: Sendable, CustomStringConvertible {
    /// The party's identifier in the registry.
    public let id: String
    /// The display name.
    public let name: String
    /// The party's MPIDs, as declared.
    public let mpids: [MPID]
    /// The party's User IDs and entity identifiers, as declared.
    public let userIDs: [EUI64]
    /// The party's credentials, in declaration order; one per User ID that signs.
    package let credentials: [PartyCredential]
    /// The declaration the party was loaded from.
    package let declaration: PartyDeclaration
    /// True for the party a signer made with one explicit key and certificate (no registry) stands for: it has
    /// that one credential, no MPID, and the id ``explicitCredentialID``.
    public let isExplicitCredential: Bool

    /// The id of the party of an explicit key and certificate (never a registry id: parentheses are not allowed).
    public static let explicitCredentialID = "(explicit)"

    init(declaration: PartyDeclaration, credentials: [PartyCredential]) {
        id = declaration.id
        name = declaration.name
        mpids = declaration.mpids
        userIDs = declaration.userIDs
        self.credentials = credentials
        self.declaration = declaration
        isExplicitCredential = false
    }

    /// The party of one explicit key and certificate: signs for its certificate's entity.
    init(explicit signer: DUISSigner) {
        let entity = signer.certificate.entityIdentifier ?? EUI64(0)
        let credential = CredentialDeclaration(userID: entity, signingKeyPath: "", signingCertificatePath: signer.certificate.source ?? "")
        declaration = PartyDeclaration(id: Self.explicitCredentialID, name: "the key and certificate given", mpids: [], userIDs: [entity],
                                       credentials: [credential])
        id = declaration.id
        name = declaration.name
        mpids = []
        userIDs = [entity]
        credentials = [PartyCredential(userID: entity, signer: signer, declaration: credential)]
        isExplicitCredential = true
    }

    /// The credential that signs for `userID` (a Business Originator), if the party has one.
    package func credential(for userID: EUI64) -> PartyCredential? {
        credentials.first { $0.userID == userID }
    }

    /// The User IDs the party can sign for (one per credential).
    public var signingUserIDs: [EUI64] { credentials.map(\.userID) }

    /// `id (name)`.
    public var description: String { "\(id) (\(name))" }
}

/// How a registry obtains the keys and certificates of its credentials. The default, ``files``, reads
/// ``CredentialDeclaration/signingCertificatePath`` and loads ``CredentialDeclaration/signingKeyPath`` with
/// ``AnySigningKey/load(_:certificate:pkcs11Module:pin:passphrase:keyFilePolicy:)``: a key file (decrypted with
/// the declared passphrase source) or a key in a PKCS#11 token (with the declared module and PIN source); either
/// must be the certificate's key. Tests may supply keys and certificates from memory.
package struct PartyCredentialLoader: Sendable {
    /// Loads (and decrypts, or finds in its token and logs in to) a credential's private key, checked against the
    /// credential's certificate (already loaded by ``loadCertificate``). Called at most once per credential by a
    /// registry load, and only when the certificate could be read.
    package var loadKey: @Sendable (CredentialDeclaration, Certificate) throws -> AnySigningKey
    /// Loads a credential's XML signing certificate.
    package var loadCertificate: @Sendable (CredentialDeclaration) throws -> Certificate

    package init(loadKey: @escaping @Sendable (CredentialDeclaration, Certificate) throws -> AnySigningKey,
                loadCertificate: @escaping @Sendable (CredentialDeclaration) throws -> Certificate) {
        self.loadKey = loadKey
        self.loadCertificate = loadCertificate
    }

    /// A loader of file keys held in memory (or read by the caller): `loadKey` returns a ``SigningKey``, which the
    /// registry compares with the certificate.
    package init(loadKey: @escaping @Sendable (CredentialDeclaration) throws -> SigningKey,
                loadCertificate: @escaping @Sendable (CredentialDeclaration) throws -> Certificate) {
        self.init(loadKey: { declaration, _ in AnySigningKey(try loadKey(declaration)) }, loadCertificate: loadCertificate)
    }

    /// Reads keys and certificates from the declared files and tokens, refusing a key file or PIN file that its
    /// group or others may access (``KeyFilePolicy/strict``). Passphrases and PINs come only from the declared
    /// environment variables or files; a token key's module is the one its declaration names.
    package static let files = files(keyFilePolicy: .strict)

    /// Reads keys and certificates from the declared files and tokens.
    /// - Parameters:
    ///   - keyFilePolicy: how key files' and PIN files' permissions are checked before they are read.
    ///   - pkcs11Module: the PKCS#11 module for every token key (`--pkcs11-module`): when given it wins over the
    ///     registry's `pkcs11_module` (so one registry serves machines that install the module in different
    ///     places); when nil, each credential's ``CredentialDeclaration/pkcs11Module`` is used. A URI's own
    ///     `module-path` must name the same module.
    ///   - deterministic: the keys are to make RFC 6979 signatures (`--deterministic`). A token key cannot (RFC 6979
    ///     needs the private scalar), so each is refused before its module is loaded or its PIN read, with
    ///     ``PKCS11Error/Code/deterministicUnsupported``.
    package static func files(keyFilePolicy: KeyFilePolicy, pkcs11Module: String? = nil, deterministic: Bool = false) -> PartyCredentialLoader {
        PartyCredentialLoader(
            loadKey: { declaration, certificate in
                if declaration.isPKCS11Key, deterministic {
                    throw AnySigningKey.deterministicRefusal(uri: declaration.signingKeyPath)
                }
                return try AnySigningKey.load(
                    declaration.signingKeyPath, certificate: certificate,
                    pkcs11Module: pkcs11Module ?? declaration.pkcs11Module, pin: declaration.pin,
                    passphrase: declaration.passphrase, keyFilePolicy: keyFilePolicy)
            },
            loadCertificate: { declaration in
                try Certificate(contentsOfFile: declaration.signingCertificatePath)
            })
    }
}
