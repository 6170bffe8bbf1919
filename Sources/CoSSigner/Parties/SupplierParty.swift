/// One Supplier Party as a registry declares it, before its key and certificate are loaded.
///
/// Paths are as the loader will open them (a registry file's relative paths are already joined
/// to the registry's directory).
public struct PartyDeclaration: Sendable, Equatable {
    /// The party's short identifier (letters, digits, `.`, `_`, `-`), unique in a registry
    /// (compared ignoring case).
    public var id: String
    /// A display name.
    public var name: String
    /// The party's MPIDs.
    public var mpids: [MPID]
    /// The party's User IDs (EUI-64s used as Business Originator IDs).
    public var userIDs: [EUI64]
    /// The XML signing private key file (PEM or DER).
    public var signingKeyPath: String
    /// The XML signing certificate file (PEM or DER); its `x500UniqueIdentifier` must be one of ``userIDs``.
    public var signingCertificatePath: String
    /// Where the passphrase of an encrypted key comes from, if it is encrypted.
    public var passphrase: PassphraseSource?
    /// The line of the party's `[[party]]` header in the registry file, when known.
    public var line: Int?

    public init(id: String, name: String, mpids: [MPID], userIDs: [EUI64], signingKeyPath: String,
                signingCertificatePath: String, passphrase: PassphraseSource? = nil, line: Int? = nil) {
        self.id = id
        self.name = name
        self.mpids = mpids
        self.userIDs = userIDs
        self.signingKeyPath = signingKeyPath
        self.signingCertificatePath = signingCertificatePath
        self.passphrase = passphrase
        self.line = line
    }
}

/// A Supplier Party of a loaded ``PartyRegistry``: its identifiers and its one signer
/// (key and XML signing certificate), loaded once when the registry was loaded.
public struct SupplierParty: Sendable, CustomStringConvertible {
    /// The party's identifier in the registry.
    public let id: String
    /// The display name.
    public let name: String
    /// The party's MPIDs, as declared.
    public let mpids: [MPID]
    /// The party's User IDs, as declared.
    public let userIDs: [EUI64]
    /// The party's signer. Every selection of this party returns this same instance.
    public let signer: DUISSigner
    /// The declaration the party was loaded from.
    public let declaration: PartyDeclaration
    /// The selection reason naming the signing certificate, `signing certificate serial N (issuer DN)`, made once
    /// (every selection of the party ends with it).
    let certificateReason: String

    init(id: String, name: String, mpids: [MPID], userIDs: [EUI64], signer: DUISSigner, declaration: PartyDeclaration) {
        self.id = id
        self.name = name
        self.mpids = mpids
        self.userIDs = userIDs
        self.signer = signer
        self.declaration = declaration
        certificateReason = "signing certificate serial \(signer.certificate.serialNumber) (issuer \(signer.certificate.issuer.rfc2253))"
    }

    /// The party's XML signing certificate.
    public var certificate: Certificate { signer.certificate }

    /// `id (name)`.
    public var description: String { "\(id) (\(name))" }
}

/// How a registry obtains the key and certificate of a party. The default, ``files``, reads
/// ``PartyDeclaration/signingKeyPath`` (decrypting it with the declared passphrase source) and
/// ``PartyDeclaration/signingCertificatePath``; tests may supply keys and certificates from memory.
public struct PartyCredentialLoader: Sendable {
    /// Loads (and decrypts) a party's private key. Called exactly once per party by a registry load.
    public var loadKey: @Sendable (PartyDeclaration) throws -> SigningKey
    /// Loads a party's XML signing certificate.
    public var loadCertificate: @Sendable (PartyDeclaration) throws -> Certificate

    public init(loadKey: @escaping @Sendable (PartyDeclaration) throws -> SigningKey,
                loadCertificate: @escaping @Sendable (PartyDeclaration) throws -> Certificate) {
        self.loadKey = loadKey
        self.loadCertificate = loadCertificate
    }

    /// Reads keys and certificates from the declared files, refusing a key file that its group or others may
    /// access (``KeyFilePolicy/strict``). Passphrases come only from the declared environment variable or file.
    public static let files = files(keyFilePolicy: .strict)

    /// Reads keys and certificates from the declared files, checking each key file's permissions with
    /// `keyFilePolicy` before it is read. Passphrases come only from the declared environment variable or file.
    public static func files(keyFilePolicy: KeyFilePolicy) -> PartyCredentialLoader {
        PartyCredentialLoader(
            loadKey: { declaration in
                try keyFilePolicy.check(declaration.signingKeyPath)
                let passphrase = try declaration.passphrase?.load()
                return try SigningKey(contentsOfFile: declaration.signingKeyPath, passphrase: passphrase)
            },
            loadCertificate: { declaration in
                try Certificate(contentsOfFile: declaration.signingCertificatePath)
            })
    }
}
