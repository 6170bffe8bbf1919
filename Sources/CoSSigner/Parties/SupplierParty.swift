/// One XML signing credential as a registry declares it: the User ID it signs for, its key and its certificate,
/// before they are loaded.
///
/// Paths are as the loader will open them (a registry file's relative paths are already joined to the registry's
/// directory).
public struct CredentialDeclaration: Sendable, Equatable {
    /// The User ID (Business Originator) this credential signs for. `nil` in the shorthand form (a party's own
    /// `signing_key`/`signing_certificate`): the User ID is then the certificate's entity identifier.
    public var userID: EUI64?
    /// The XML signing private key file (PEM or DER).
    public var signingKeyPath: String
    /// The XML signing certificate file (PEM or DER): OU `87`, its `x500UniqueIdentifier` equal to ``userID``.
    public var signingCertificatePath: String
    /// Where the passphrase of an encrypted key comes from, if it is encrypted.
    public var passphrase: PassphraseSource?
    /// The line of the credential's `[[party.credential]]` header (or of the party's header for the shorthand
    /// form) in the registry file, when known.
    public var line: Int?

    public init(userID: EUI64?, signingKeyPath: String, signingCertificatePath: String,
                passphrase: PassphraseSource? = nil, line: Int? = nil) {
        self.userID = userID
        self.signingKeyPath = signingKeyPath
        self.signingCertificatePath = signingCertificatePath
        self.passphrase = passphrase
        self.line = line
    }
}

/// One Supplier Party as a registry declares it, before its keys and certificates are loaded.
public struct PartyDeclaration: Sendable, Equatable {
    /// The party's short identifier (letters, digits, `.`, `_`, `-`), unique in a registry
    /// (compared ignoring case).
    public var id: String
    /// A display name.
    public var name: String
    /// The party's MPIDs.
    public var mpids: [MPID]
    /// All the party's User IDs and entity identifiers (EUI-64s used as Business Originator IDs, or carried by
    /// its replacement certificates).
    public var userIDs: [EUI64]
    /// One credential per User ID that signs.
    public var credentials: [CredentialDeclaration]
    /// The line of the party's `[[party]]` header in the registry file, when known.
    public var line: Int?

    /// A party with credentials per User ID.
    public init(id: String, name: String, mpids: [MPID], userIDs: [EUI64], credentials: [CredentialDeclaration],
                line: Int? = nil) {
        self.id = id
        self.name = name
        self.mpids = mpids
        self.userIDs = userIDs
        self.credentials = credentials
        self.line = line
    }

    /// A party in the shorthand form: one credential whose User ID is its certificate's entity identifier.
    public init(id: String, name: String, mpids: [MPID], userIDs: [EUI64], signingKeyPath: String,
                signingCertificatePath: String, passphrase: PassphraseSource? = nil, line: Int? = nil) {
        self.init(id: id, name: name, mpids: mpids, userIDs: userIDs,
                  credentials: [CredentialDeclaration(userID: nil, signingKeyPath: signingKeyPath,
                                                      signingCertificatePath: signingCertificatePath,
                                                      passphrase: passphrase, line: line)],
                  line: line)
    }
}

/// One loaded XML signing credential of a party: the User ID it signs for and its signer (key and certificate).
public struct PartyCredential: Sendable, CustomStringConvertible {
    /// The User ID (Business Originator) this credential signs for; its certificate's entity identifier.
    public let userID: EUI64
    /// The signer. Every selection of this credential returns this same instance.
    public let signer: DUISSigner
    /// The declaration the credential was loaded from.
    public let declaration: CredentialDeclaration
    /// The selection reason naming the credential, made once (every selection of it ends with it).
    let reason: String

    init(userID: EUI64, signer: DUISSigner, declaration: CredentialDeclaration) {
        self.userID = userID
        self.signer = signer
        self.declaration = declaration
        reason = "credential for User ID \(userID): signing certificate serial \(signer.certificate.serialNumber) (issuer \(signer.certificate.issuer.rfc2253))"
    }

    /// The XML signing certificate.
    public var certificate: Certificate { signer.certificate }

    /// `User ID X, certificate serial N`.
    public var description: String { "User ID \(userID), certificate serial \(certificate.serialNumber)" }
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
    public let credentials: [PartyCredential]
    /// The declaration the party was loaded from.
    public let declaration: PartyDeclaration
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
    public func credential(for userID: EUI64) -> PartyCredential? {
        credentials.first { $0.userID == userID }
    }

    /// The User IDs the party can sign for (one per credential).
    public var signingUserIDs: [EUI64] { credentials.map(\.userID) }

    /// `id (name)`.
    public var description: String { "\(id) (\(name))" }
}

/// How a registry obtains the keys and certificates of its credentials. The default, ``files``, reads
/// ``CredentialDeclaration/signingKeyPath`` (decrypting it with the declared passphrase source) and
/// ``CredentialDeclaration/signingCertificatePath``; tests may supply keys and certificates from memory.
public struct PartyCredentialLoader: Sendable {
    /// Loads (and decrypts) a credential's private key. Called exactly once per credential by a registry load.
    public var loadKey: @Sendable (CredentialDeclaration) throws -> SigningKey
    /// Loads a credential's XML signing certificate.
    public var loadCertificate: @Sendable (CredentialDeclaration) throws -> Certificate

    public init(loadKey: @escaping @Sendable (CredentialDeclaration) throws -> SigningKey,
                loadCertificate: @escaping @Sendable (CredentialDeclaration) throws -> Certificate) {
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
                let passphrase = try declaration.passphrase?.load(keyFilePolicy: keyFilePolicy)
                return try SigningKey(contentsOfFile: declaration.signingKeyPath, passphrase: passphrase)
            },
            loadCertificate: { declaration in
                try Certificate(contentsOfFile: declaration.signingCertificatePath)
            })
    }
}
