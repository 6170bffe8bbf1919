/// The XML signing certificates of a parties registry, loaded without any private key: what verifying needs
/// (`cos-signer verify --parties`), so that a machine that only verifies need not hold, decrypt or be allowed to
/// read the parties' signing keys.
///
/// The registry is checked as ``PartyRegistry`` checks it, except for the keys: ids, names, MPIDs and User IDs
/// (each declared by one party), credentials (one per User ID, each for a User ID of its party), and each signing
/// certificate (readable, an XML signing certificate, its entity identifier its credential's User ID, no two with
/// the same issuer and serial). It loads whole or not at all, throwing a ``PartyRegistryError`` naming every
/// problem.
///
/// It never opens a key file, never loads a PKCS#11 module (`pkcs11_module`, a URI's `module-path`) and never reads
/// a passphrase or PIN (`passphrase_*`, `pin_*`): a registry whose keys are in a token verifies on a machine that
/// has neither the token nor its module.
package struct PartySigningCertificates: Sendable {
    /// One credential's signing certificate.
    package struct Entry: Sendable {
        /// The party's identifier in the registry.
        package let partyID: String
        /// The party's display name.
        package let partyName: String
        /// The User ID the certificate signs for (its entity identifier).
        package let userID: EUI64
        /// The XML signing certificate.
        package let certificate: Certificate
    }

    /// The registry file, or the name given to an in-memory registry.
    package let source: String
    /// One entry per credential, in declaration order.
    package let entries: [Entry]

    /// Loads and checks a registry file's signing certificates; its key files are not opened.
    /// - Parameters:
    ///   - path: the TOML registry. Relative paths in it are relative to the file's directory.
    ///   - loadCertificate: where certificates come from (the declared files by default).
    /// - Throws: ``PartyRegistryError`` listing every problem.
    package init(
        contentsOfFile path: String,
        loadCertificate: (CredentialDeclaration) throws -> Certificate = { try Certificate(contentsOfFile: $0.signingCertificatePath) }
    ) throws(PartyRegistryError) {
        let (parsed, parseProblems) = try PartyRegistry.parseFile(path)
        var problems = PartyRegistry.declarationProblems(parsed, initial: parseProblems)
        var entries = [Entry]()
        var checked = [PartyRegistry.CheckedCredentialCertificate]()
        var complete = true
        for party in parsed {
            let declaration = party.declaration
            for (position, credential) in declaration.credentials.enumerated() {
                let field = PartyRegistry.credentialField(party, position)
                let certificate = PartyRegistry.checkedCertificate(party, position, loadCertificate) { kind, key, reason in
                    problems.append(PartyRegistryProblem(kind, party: party.label, field: PartyRegistry.reportKey(field, key),
                                                         line: credential.line ?? declaration.line, reason: reason))
                }
                if let certificate { checked.append(certificate) }
                if let certificate, let userID = certificate.userID {
                    entries.append(Entry(partyID: declaration.id, partyName: declaration.name, userID: userID,
                                         certificate: certificate.certificate))
                } else {
                    complete = false
                }
            }
        }
        problems += PartyRegistry.duplicateCertificateProblems(checked)
        guard problems.isEmpty, complete else {
            throw PartyRegistryError(source: path, problems: problems)
        }
        source = path
        self.entries = entries
    }

    /// The signing certificates of a loaded registry (whose keys were loaded and checked as well).
    package init(_ registry: PartyRegistry) {
        source = registry.source
        entries = registry.parties.flatMap { party in
            party.credentials.map { Entry(partyID: party.id, partyName: party.name, userID: $0.userID, certificate: $0.certificate) }
        }
    }

    /// Every credential's signing certificate, for resolving a signature's `X509IssuerSerial`.
    package var certificates: CertificateSet { CertificateSet(entries.map(\.certificate)) }

    /// The entry whose signing certificate has this issuer and serial, if any.
    package func entry(issuer: DistinguishedName, serial: SerialNumber) -> Entry? {
        entries.first { $0.certificate.isIdentified(byIssuer: issuer, serial: serial) }
    }

    /// The id of the party whose signing certificate has this issuer and serial, if any.
    package func partyID(issuer: DistinguishedName, serial: SerialNumber) -> String? {
        entry(issuer: issuer, serial: serial)?.partyID
    }
}
