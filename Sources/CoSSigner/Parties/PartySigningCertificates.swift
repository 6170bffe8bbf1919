/// The XML signing certificates of a parties registry, loaded without any private key: what verifying needs
/// (`cos-signer verify --parties`), so that a machine that only verifies need not hold, decrypt or be allowed to
/// read the parties' signing keys.
///
/// The registry is checked as ``PartyRegistry`` checks it, except for the keys: ids, names, MPIDs and User IDs
/// (each declared by one party), and each signing certificate (readable, a P-256 key, its entity identifier one
/// of its party's User IDs). It loads whole or not at all, throwing a ``PartyRegistryError`` naming every problem.
public struct PartySigningCertificates: Sendable {
    /// One party's signing certificate.
    public struct Entry: Sendable {
        /// The party's identifier in the registry.
        public let partyID: String
        /// The party's display name.
        public let partyName: String
        /// The party's XML signing certificate.
        public let certificate: Certificate
    }

    /// The registry file, or the name given to an in-memory registry.
    public let source: String
    /// One entry per party, in declaration order.
    public let entries: [Entry]

    /// Loads and checks a registry file's signing certificates; its key files are not opened.
    /// - Parameters:
    ///   - path: the TOML registry. Relative paths in it are relative to the file's directory.
    ///   - loadCertificate: where certificates come from (the declared files by default).
    /// - Throws: ``PartyRegistryError`` listing every problem.
    public init(
        contentsOfFile path: String,
        loadCertificate: (PartyDeclaration) throws -> Certificate = { try Certificate(contentsOfFile: $0.signingCertificatePath) }
    ) throws(PartyRegistryError) {
        let (parsed, parseProblems) = try PartyRegistry.parseFile(path)
        var problems = PartyRegistry.declarationProblems(parsed, initial: parseProblems)
        var entries = [Entry]()
        for party in parsed {
            let declaration = party.declaration
            let certificate = PartyRegistry.checkedCertificate(party, loadCertificate) { kind, field, reason in
                problems.append(PartyRegistryProblem(kind, party: party.label, field: field, line: declaration.line, reason: reason))
            }
            if let certificate {
                entries.append(Entry(partyID: declaration.id, partyName: declaration.name, certificate: certificate))
            }
        }
        guard problems.isEmpty, entries.count == parsed.count else {
            throw PartyRegistryError(source: path, problems: problems)
        }
        source = path
        self.entries = entries
    }

    /// The signing certificates of a loaded registry (whose keys were loaded and checked as well).
    public init(_ registry: PartyRegistry) {
        source = registry.source
        entries = registry.parties.map { Entry(partyID: $0.id, partyName: $0.name, certificate: $0.certificate) }
    }

    /// Every party's signing certificate, for resolving a signature's `X509IssuerSerial`.
    public var certificates: CertificateSet { CertificateSet(entries.map(\.certificate)) }

    /// The id of the party whose signing certificate has this issuer and serial, if any.
    public func partyID(issuer: DistinguishedName, serial: SerialNumber) -> String? {
        entries.first { $0.certificate.isIdentified(byIssuer: issuer, serial: serial) }?.partyID
    }
}
