/// The Supplier Parties this deployment signs for, each with its MPIDs, its User IDs and one XML signing
/// credential (key and certificate) per User ID that signs.
///
/// A registry loads whole or not at all: ``init(contentsOfFile:keyFilePolicy:pkcs11Module:)`` checks everything and
/// throws a ``CoSSignerError`` naming every problem — an MPID or User ID declared by two parties, a duplicate party
/// id, a malformed MPID or
/// EUI-64, a credential for a User ID the party does not declare (or two for one User ID), a certificate whose
/// entity identifier is not its credential's User ID, a certificate that is not an XML signing certificate
/// (organisation certificate, OU `87`, digital signature key usage, ECDSA P-256, valid dates), two certificates
/// with the same issuer and serial, a key that does not match its
/// certificate, a key or certificate that cannot be read or decrypted.
///
/// A credential's key is a file or a key in a PKCS#11 token (`signing_key = "pkcs11:…"`, with the registry's
/// `pkcs11_module` and the credential's `pin_env`/`pin_file`); a token key is found and its token logged in to at
/// load, and must hold the certificate's key. Several credentials on one token share its module, login and
/// session pool.
///
/// Each credential's key is loaded and decrypted exactly once, at load (see ``keyLoadCount``); every
/// ``SupplierSigner`` made from the registry signs with the credential's one loaded key, which many threads share.
public final class PartyRegistry: Sendable {
    /// The registry file, or the name given to an in-memory registry.
    public let source: String
    /// The parties, in declaration order.
    public let parties: [SupplierParty]
    /// How many times a private key was loaded (and decrypted) while the registry was loaded: one per
    /// credential. Selecting never loads a key.
    public let keyLoadCount: Int

    private let byMPID: [MPID: Int]
    private let byUserID: [EUI64: Int]
    private let byID: [String: Int]

    /// The largest registry file read, in bytes.
    public static let maximumFileBytes = 1 << 20

    /// Loads and checks a registry file, reading every credential's key and certificate once. Relative paths in it
    /// are relative to the file's directory.
    /// - Parameters:
    ///   - path: the TOML registry.
    ///   - keyFilePolicy: how the permissions of key, passphrase and PIN files are checked (owner only by default).
    ///   - pkcs11Module: the PKCS#11 module for token keys, instead of the registry's `pkcs11_module`.
    /// - Throws: ``CoSSignerError`` naming the file and every problem: ``CoSSignerError/Kind/selectionRefused``
    ///   for a malformed or ambiguous registry, ``CoSSignerError/Kind/credentials`` for a key or certificate that
    ///   cannot be used.
    public convenience init(contentsOfFile path: String, keyFilePolicy: KeyFilePolicy = .strict,
                            pkcs11Module: String? = nil) throws(CoSSignerError) {
        do {
            try self.init(contentsOfFile: path, loader: .files(keyFilePolicy: keyFilePolicy, pkcs11Module: pkcs11Module))
        } catch {
            throw CoSSignerError(error, source: path)
        }
    }

    /// Loads and checks a registry file. Relative paths in it are relative to the file's directory.
    /// - Parameters:
    ///   - path: the TOML registry.
    ///   - loader: where keys and certificates come from.
    /// - Throws: ``PartyRegistryError`` listing every problem.
    package convenience init(contentsOfFile path: String, loader: PartyCredentialLoader) throws(PartyRegistryError) {
        let (parsed, problems) = try Self.parseFile(path)
        try self.init(parsed: parsed, problems: problems, source: path, loader: loader)
    }

    /// Reads and parses a registry file: its declarations and the problems found so far.
    /// - Throws: ``PartyRegistryError`` if the file cannot be read or is not text.
    static func parseFile(_ path: String) throws(PartyRegistryError) -> ([PartyRegistryFile.Parsed], [PartyRegistryProblem]) {
        let bytes: [UInt8]
        do {
            bytes = try Files.read(path, maxBytes: Self.maximumFileBytes)
        } catch {
            throw PartyRegistryError(source: path, problems: [PartyRegistryProblem(.unreadable, reason: error.reason)])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw PartyRegistryError(source: path, problems: [PartyRegistryProblem(.syntax, reason: "not UTF-8 text")])
        }
        if let nul = text.utf8.firstIndex(of: 0) {
            let line = text.utf8[..<nul].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            throw PartyRegistryError(source: path, problems: [PartyRegistryProblem(.syntax, line: line, reason: "contains a NUL character")])
        }
        return PartyRegistryFile.parse(text, baseDirectory: Files.split(path).directory)
    }

    /// Checks declarations made in memory and loads their keys and certificates.
    /// - Parameters:
    ///   - declarations: the parties, in order.
    ///   - source: a name for messages.
    ///   - loader: where keys and certificates come from.
    /// - Throws: ``PartyRegistryError`` listing every problem.
    package convenience init(declarations: [PartyDeclaration], source: String = "(in memory)",
                            loader: PartyCredentialLoader = .files) throws(PartyRegistryError) {
        var parsed = declarations.enumerated().map { index, declaration in
            PartyRegistryFile.Parsed(declaration: declaration, label: declaration.id.isEmpty ? "#\(index + 1)" : declaration.id,
                                     reportedFields: [])
        }
        let problems = Self.secretSourceProblems(&parsed)
        try self.init(parsed: parsed, problems: problems, source: source, loader: loader)
    }

    /// For declarations made in memory, what the file parser refuses: a PIN source with a key file, a passphrase
    /// source or no PIN source with a token key. Such a credential's key is not loaded.
    static func secretSourceProblems(_ parsed: inout [PartyRegistryFile.Parsed]) -> [PartyRegistryProblem] {
        var problems = [PartyRegistryProblem]()
        for index in parsed.indices {
            let party = parsed[index]
            for (position, credential) in party.declaration.credentials.enumerated() {
                let field = credentialField(party, position)
                func problem(_ kind: PartyRegistryProblem.Kind, _ key: String, _ reason: String) {
                    problems.append(PartyRegistryProblem(kind, party: party.label, field: reportKey(field, key),
                                                         line: credential.line ?? party.declaration.line, reason: reason))
                    parsed[index].reportedFields.insert(reportKey(field, "signing_key"))
                }
                if credential.isPKCS11Key {
                    if credential.passphrase != nil {
                        problem(.invalidValue, "passphrase",
                                "a key in a PKCS#11 token has no passphrase: give the token's user PIN (pin)")
                    }
                    if credential.pin == nil {
                        problem(.missingField, "pin", "a key in a PKCS#11 token needs the token's user PIN")
                    }
                } else if credential.pin != nil || credential.pkcs11Module != nil {
                    problem(.invalidValue, credential.pin != nil ? "pin" : "pkcs11_module",
                            "a PIN source and a PKCS#11 module go with a key in a token (a pkcs11: URI), not with a key file")
                }
            }
        }
        return problems
    }

    private init(parsed: [PartyRegistryFile.Parsed], problems initial: [PartyRegistryProblem], source: String,
                 loader: PartyCredentialLoader) throws(PartyRegistryError) {
        var problems = Self.declarationProblems(parsed, initial: initial)
        var certificates = [CheckedCredentialCertificate]()

        // Keys and certificates: each key loaded once, even when other problems already refuse the registry,
        // so that one run names every problem.
        var parties = [SupplierParty]()
        var keyLoads = 0
        var complete = true
        for party in parsed {
            var loaded = [PartyCredential]()
            for (position, credential) in party.declaration.credentials.enumerated() {
                let field = Self.credentialField(party, position)
                func problem(_ kind: PartyRegistryProblem.Kind, _ key: String, _ reason: String) {
                    // The module is the registry's (top-level pkcs11_module), not the credential's.
                    let name = key == "pkcs11_module" ? key : Self.reportKey(field, key)
                    problems.append(PartyRegistryProblem(kind, party: party.label, field: name,
                                                         line: credential.line ?? party.declaration.line, reason: reason))
                }
                // The certificate first: a key is loaded against it (a token key is found by its URI and must hold
                // the certificate's key).
                let checked = Self.checkedCertificate(party, position, loader.loadCertificate, problem: problem)
                var key: AnySigningKey?
                if !party.reportedFields.contains(Self.reportKey(field, "signing_key")) {
                    if credential.signingKeyPath.isEmpty {
                        problem(.missingField, "signing_key", "no signing key file")
                    } else if let certificate = checked?.certificate, certificate.isP256 {
                        keyLoads += 1
                        do {
                            key = try loader.loadKey(credential, certificate)
                        } catch {
                            let (kind, key, reason) = Self.keyProblem(error, credential: credential, certificate: certificate)
                            problem(kind, key, reason)
                        }
                    }
                }
                var signer: DUISSigner?
                if let checked, let key {
                    if checked.certificate.matches(key) {
                        do {
                            signer = try DUISSigner(key: key, certificate: checked.certificate)
                        } catch {
                            problem(.credentialsUnusable, "signing_key", Self.describe(error, path: credential.shownSigningKey))
                        }
                    } else {
                        problem(.keyCertificateMismatch, "signing_key", Self.mismatch(credential, checked.certificate))
                    }
                }
                if let checked { certificates.append(checked) }
                if let signer, let userID = checked?.userID {
                    loaded.append(PartyCredential(userID: userID, signer: signer, declaration: credential))
                } else {
                    complete = false
                }
            }
            parties.append(SupplierParty(declaration: party.declaration, credentials: loaded))
        }
        problems += Self.duplicateCertificateProblems(certificates)
        guard problems.isEmpty, complete else {
            throw PartyRegistryError(source: source, problems: problems)
        }
        var byMPID = [MPID: Int](), byUserID = [EUI64: Int](), byID = [String: Int]()
        for (index, party) in parties.enumerated() {
            for mpid in party.mpids { byMPID[mpid] = index }
            for userID in party.userIDs { byUserID[userID] = index }
            byID[party.id.lowercased()] = index
        }
        self.source = source
        self.parties = parties
        self.keyLoadCount = keyLoads
        self.byMPID = byMPID
        self.byUserID = byUserID
        self.byID = byID
    }

    // MARK: Look-ups

    /// The party that declares `mpid`, if any.
    public func party(forMPID mpid: MPID) -> SupplierParty? { byMPID[mpid].map { parties[$0] } }

    /// The party that declares `userID` as a User ID, if any.
    public func party(forUserID userID: EUI64) -> SupplierParty? { byUserID[userID].map { parties[$0] } }

    /// The party with this id (compared ignoring case), if any.
    public func party(id: String) -> SupplierParty? { byID[id.lowercased()].map { parties[$0] } }

    /// Every credential's XML signing certificate, for resolving a signature's `X509IssuerSerial`
    /// (`verify --parties`). No two share an issuer and serial (the registry would not have loaded).
    package var certificates: CertificateSet { CertificateSet(parties.flatMap { $0.credentials.map(\.certificate) }) }

    /// The party and credential whose signing certificate has this issuer and serial, if any.
    package func credential(issuer: DistinguishedName, serial: SerialNumber) -> (party: SupplierParty, credential: PartyCredential)? {
        for party in parties {
            if let credential = party.credentials.first(where: { $0.certificate.isIdentified(byIssuer: issuer, serial: serial) }) {
                return (party, credential)
            }
        }
        return nil
    }

    /// The party whose signing certificate has this issuer and serial, if any.
    public func party(issuer: DistinguishedName, serial: SerialNumber) -> SupplierParty? {
        credential(issuer: issuer, serial: serial)?.party
    }

    // MARK: Checks

    /// The problems found before any key or certificate is read: the parser's (`initial`), a registry without
    /// parties, then ``structuralProblems(_:)``.
    static func declarationProblems(_ parsed: [PartyRegistryFile.Parsed], initial: [PartyRegistryProblem]) -> [PartyRegistryProblem] {
        var problems = initial
        if parsed.isEmpty, !problems.contains(where: { $0.kind == .syntax || $0.kind == .noParties || $0.kind == .invalidValue }) {
            problems.append(PartyRegistryProblem(.noParties, reason: "the registry declares no party"))
        }
        return problems + structuralProblems(parsed)
    }

    /// Problems that need no key material: ids, names, empty lists, identifiers declared twice, credentials for
    /// User IDs the party does not declare or declared twice.
    static func structuralProblems(_ parsed: [PartyRegistryFile.Parsed]) -> [PartyRegistryProblem] {
        var problems = [PartyRegistryProblem]()
        var idOwners = [String: [Int]]()
        for (index, party) in parsed.enumerated() {
            let d = party.declaration
            func problem(_ kind: PartyRegistryProblem.Kind, _ field: String, _ reason: String, line: Int? = nil) {
                problems.append(PartyRegistryProblem(kind, party: party.label, field: field, line: line ?? d.line, reason: reason))
            }
            if !party.reportedFields.contains("id") {
                if d.id.isEmpty {
                    problem(.missingField, "id", "the party has no id")
                } else if !isValidPartyID(d.id) {
                    problem(.invalidValue, "id", "'\(d.id)' is not a party id: use 1 to 64 letters, digits, '.', '_' or '-'")
                } else {
                    idOwners[d.id.lowercased(), default: []].append(index)
                }
            }
            if !party.reportedFields.contains("name"), d.name.isEmpty {
                problem(.missingField, "name", "the party has no name")
            }
            if !party.reportedFields.contains("mpids"), d.mpids.isEmpty {
                problem(.invalidValue, "mpids", "the party declares no MPID")
            }
            if !party.reportedFields.contains("user_ids"), d.userIDs.isEmpty {
                problem(.invalidValue, "user_ids", "the party declares no User ID")
            }
            if !party.reportedFields.contains("credential"), d.credentials.isEmpty {
                problem(.missingField, "credential",
                        "the party has no XML signing credential: give signing_key and signing_certificate, or one [[party.credential]] table per User ID that signs")
            }
            // Credentials: each for one of the party's User IDs, at most one per User ID.
            var credentialOwners = [EUI64: [Int]]()
            for (position, credential) in d.credentials.enumerated() {
                guard let userID = credential.userID else { continue }
                let field = credentialField(party, position).map { "\($0).user_id" } ?? "user_id"
                if !d.userIDs.contains(userID) {
                    let declared = d.userIDs.map(\.description).joined(separator: ", ")
                    problem(.credentialUserID, field,
                            "the credential is for User ID \(userID), which the party does not declare in user_ids (\(declared.isEmpty ? "none declared" : declared))",
                            line: credential.line)
                }
                credentialOwners[userID, default: []].append(position)
            }
            for (userID, positions) in credentialOwners.sorted(by: { $0.value[0] < $1.value[0] }) where positions.count > 1 {
                let lines = positions.compactMap { d.credentials[$0].line }.map(String.init)
                problem(.duplicateCredential, credentialField(party, positions[1]).map { "\($0).user_id" } ?? "user_id",
                        "\(positions.count) credentials sign for User ID \(userID)" + (lines.isEmpty ? "" : " (lines \(lines.joined(separator: ", ")))")
                            + "; a User ID has exactly one XML signing credential",
                        line: d.credentials[positions[1]].line)
            }
        }
        for (_, owners) in idOwners.sorted(by: { $0.value[0] < $1.value[0] }) where owners.count > 1 {
            let lines = owners.compactMap { parsed[$0].declaration.line }.map(String.init)
            problems.append(PartyRegistryProblem(
                .duplicatePartyID, party: parsed[owners[0]].label, field: "id", line: parsed[owners[1]].declaration.line,
                reason: "\(owners.count) parties have the id '\(parsed[owners[0]].declaration.id)'"
                    + (lines.isEmpty ? "" : " (lines \(lines.joined(separator: ", ")))")))
        }
        problems += duplicates(parsed, field: "mpids", kind: .duplicateMPID, what: "MPID", values: \.mpids)
        problems += duplicates(parsed, field: "user_ids", kind: .duplicateUserID, what: "User ID", values: \.userIDs)
        return problems
    }

    /// Every value declared more than once (by two parties, or twice by one), naming all the parties.
    private static func duplicates<Value: Hashable & Comparable & CustomStringConvertible>(
        _ parsed: [PartyRegistryFile.Parsed], field: String, kind: PartyRegistryProblem.Kind, what: String,
        values: KeyPath<PartyDeclaration, [Value]>
    ) -> [PartyRegistryProblem] {
        var owners = [Value: [Int]]()
        for (index, party) in parsed.enumerated() {
            for value in party.declaration[keyPath: values] { owners[value, default: []].append(index) }
        }
        var problems = [PartyRegistryProblem]()
        for (value, indices) in owners.sorted(by: { $0.key < $1.key }) where indices.count > 1 {
            let distinct = indices.reduce(into: [Int]()) { if !$0.contains($1) { $0.append($1) } }
            let names = distinct.map { index -> String in
                let declaration = parsed[index].declaration
                let details = [declaration.name.isEmpty ? nil : declaration.name, declaration.line.map { "line \($0)" }].compactMap { $0 }
                return parsed[index].label + (details.isEmpty ? "" : " (\(details.joined(separator: ", ")))")
            }
            let last = distinct.last ?? distinct[0]
            let reason = distinct.count == 1
                ? "\(what) \(value) is declared more than once by party \(names[0])"
                : "\(what) \(value) is declared by \(distinct.count) parties: \(names.joined(separator: " and ")); an identifier must belong to one Supplier Party"
            problems.append(PartyRegistryProblem(kind, party: parsed[last].label, field: field,
                                                 line: parsed[last].declaration.line, reason: reason))
        }
        return problems
    }

    static func isValidPartyID(_ id: String) -> Bool {
        (1...64).contains(id.unicodeScalars.count) && id.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": true
            default: false
            }
        }
    }

    /// `credential[2]` for the third `[[party.credential]]` table of a party, nil for the shorthand form (the
    /// party's own `signing_key`/`signing_certificate` keys).
    static func credentialField(_ party: PartyRegistryFile.Parsed, _ position: Int) -> String? {
        party.declaration.credentials[position].userID == nil && !party.hasCredentialTables ? nil : "credential[\(position + 1)]"
    }

    /// The key under which the parser reports a field of a credential (`signing_key`, `credential[1].signing_key`).
    static func reportKey(_ credentialField: String?, _ key: String) -> String {
        credentialField.map { "\($0).\(key)" } ?? key
    }

    /// A credential's certificate that was read, with the User ID it signs for (nil when that could not be
    /// established), for the checks that span the whole registry.
    struct CheckedCredentialCertificate {
        let certificate: Certificate
        let userID: EUI64?
        let party: String
        let field: String
        let path: String
        let line: Int?
    }

    /// Loads a credential's signing certificate and checks it: readable, an XML signing certificate
    /// (``SigningCertificateRules``), its entity identifier the credential's User ID (or, in the shorthand form, one
    /// of the party's User IDs). Each problem is passed to `problem` (kind, key, reason); returns the certificate
    /// when it could be read (even with problems, so that the key can still be compared with it and the registry's
    /// serials checked).
    static func checkedCertificate(
        _ party: PartyRegistryFile.Parsed, _ position: Int, _ load: (CredentialDeclaration) throws -> Certificate,
        problem: (PartyRegistryProblem.Kind, String, String) -> Void
    ) -> CheckedCredentialCertificate? {
        let declaration = party.declaration
        let credential = declaration.credentials[position]
        let field = credentialField(party, position)
        guard !party.reportedFields.contains(reportKey(field, "signing_certificate")) else { return nil }
        guard !credential.signingCertificatePath.isEmpty else {
            problem(.missingField, "signing_certificate", "no signing certificate file")
            return nil
        }
        let certificate: Certificate
        do {
            certificate = try load(credential)
        } catch {
            problem(.credentialsUnusable, "signing_certificate", describe(error, path: credential.signingCertificatePath))
            return nil
        }
        var userID: EUI64?
        if let identity = certificate.entityIdentifier {
            if let declared = credential.userID {
                if identity == declared {
                    userID = declared
                } else {
                    problem(.certificateIdentity, "signing_certificate",
                            "the certificate (serial \(certificate.serialNumber)) belongs to entity \(identity), not to the credential's User ID \(declared): a credential's certificate must be its User ID's own XML signing certificate")
                }
            } else if declaration.userIDs.contains(identity) {
                userID = identity
            } else {
                let declared = declaration.userIDs.map(\.description).joined(separator: ", ")
                problem(.certificateIdentity, "signing_certificate",
                        "the certificate (serial \(certificate.serialNumber)) belongs to entity \(identity), which is not a User ID of this party (\(declared.isEmpty ? "none declared" : declared))")
            }
        } else {
            problem(.certificateIdentity, "signing_certificate",
                    "the certificate (serial \(certificate.serialNumber)) has no 64-bit x500UniqueIdentifier (entity identifier)")
        }
        for rule in SigningCertificateRules.problems(certificate) where !rule.contains("x500UniqueIdentifier") {
            problem(.signingCertificateRole, "signing_certificate",
                    "the certificate \(credential.signingCertificatePath) (serial \(certificate.serialNumber)) is not an XML signing certificate: \(rule)")
        }
        return CheckedCredentialCertificate(certificate: certificate, userID: userID, party: party.label,
                                            field: reportKey(field, "signing_certificate"), path: credential.signingCertificatePath,
                                            line: credential.line ?? declaration.line)
    }

    /// Two certificates of the registry that share an issuer and serial (compared as a distinguished name and as the
    /// signed DER integer): a signature's `X509IssuerSerial` could not tell them apart.
    static func duplicateCertificateProblems(_ certificates: [CheckedCredentialCertificate]) -> [PartyRegistryProblem] {
        struct IssuerSerial: Hashable {
            let issuer: DistinguishedName
            let serial: SerialNumber
        }
        var seen = [IssuerSerial: Int]()
        var problems = [PartyRegistryProblem]()
        for (index, entry) in certificates.enumerated() {
            let key = IssuerSerial(issuer: entry.certificate.issuer, serial: entry.certificate.serialNumber)
            if let first = seen[key] {
                let other = certificates[first]
                problems.append(PartyRegistryProblem(
                    .duplicateCertificateSerial, party: entry.party, field: entry.field, line: entry.line,
                    reason: "the certificate \(entry.path) has the same issuer (\(entry.certificate.issuer.rfc2253)) and serial (\(entry.certificate.serialNumber)) as \(other.path) of party \(other.party): a signature's X509IssuerSerial could not tell them apart"))
            } else {
                seen[key] = index
            }
        }
        return problems
    }

    /// "the key K is not the key of the certificate C (serial N)".
    static func mismatch(_ credential: CredentialDeclaration, _ certificate: Certificate) -> String {
        "the \(credential.isPKCS11Key ? "token key" : "key") \(credential.shownSigningKey) is not the key of the certificate \(credential.signingCertificatePath) (serial \(certificate.serialNumber))"
    }

    /// A key that did not load, as a problem: its kind, the field it is reported under (the PIN source for a PIN
    /// that is missing, wrong or locked; `pkcs11_module` for a module that cannot be loaded; else `signing_key`)
    /// and the reason (naming the key's file or URI, never the PIN or passphrase).
    static func keyProblem(_ error: any Error, credential: CredentialDeclaration, certificate: Certificate)
        -> (PartyRegistryProblem.Kind, String, String)
    {
        if let error = error as? PKCS11Error {
            if error.code == .keyMismatch {
                return (.keyCertificateMismatch, "signing_key", mismatch(credential, certificate) + ": \(error.reason)")
            }
            if [.pinUnavailable, .pinIncorrect, .pinLocked].contains(error.code) {
                let field: String
                switch credential.pin {
                case .file?: field = "pin_file"
                case .environment?: field = "pin_env"
                case nil: field = "pin_env"
                }
                return (.credentialsUnusable, field, describe(error, path: credential.shownSigningKey))
            }
            if [.moduleNotFound, .notAModule, .moduleFailed].contains(error.code) {
                return (.credentialsUnusable, "pkcs11_module", describe(error, path: credential.shownSigningKey))
            }
        }
        if let error = error as? CryptoError, error.code == .keyMismatch {
            return (.keyCertificateMismatch, "signing_key", mismatch(credential, certificate))
        }
        return (.credentialsUnusable, "signing_key", describe(error, path: credential.shownSigningKey))
    }

    /// An error's message, with the path prefixed unless the message already names it. Never a secret:
    /// passphrase errors name the variable or file, not the value.
    static func describe(_ error: any Error, path: String) -> String {
        let text = (error as? any ClassifiedError)?.description ?? "\(error)"
        return text.contains(path) ? text : "\(path): \(text)"
    }
}
