/// The Supplier Parties this deployment signs for, each with its MPIDs, its User IDs and its one
/// XML signing key and certificate.
///
/// A registry loads whole or not at all: ``init(contentsOfFile:loader:)`` and
/// ``init(declarations:source:loader:)`` check everything and throw a ``PartyRegistryError`` naming
/// every problem — an MPID or User ID declared by two parties, a duplicate party id, a malformed MPID or
/// EUI-64, a key that does not match its certificate, a certificate whose `x500UniqueIdentifier` is not
/// one of the party's User IDs, a key or certificate that cannot be read or decrypted.
///
/// Each party's key is loaded and decrypted exactly once, at load (see ``keyLoadCount``); selections
/// (``KeySelector``) hand out the party's one ``DUISSigner``, which may be shared by many threads.
public final class PartyRegistry: Sendable {
    /// The registry file, or the name given to an in-memory registry.
    public let source: String
    /// The parties, in declaration order.
    public let parties: [SupplierParty]
    /// How many times a private key was loaded (and decrypted) while the registry was loaded: one per
    /// party. Selecting never loads a key.
    public let keyLoadCount: Int

    private let byMPID: [MPID: Int]
    private let byUserID: [EUI64: Int]
    private let byID: [String: Int]

    /// The largest registry file read, in bytes.
    public static let maximumFileBytes = 1 << 20

    /// Loads and checks a registry file. Relative paths in it are relative to the file's directory.
    /// - Parameters:
    ///   - path: the TOML registry.
    ///   - loader: where keys and certificates come from (the declared files by default).
    /// - Throws: ``PartyRegistryError`` listing every problem.
    public convenience init(contentsOfFile path: String, loader: PartyCredentialLoader = .files) throws(PartyRegistryError) {
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
    public convenience init(declarations: [PartyDeclaration], source: String = "(in memory)",
                            loader: PartyCredentialLoader = .files) throws(PartyRegistryError) {
        let parsed = declarations.enumerated().map { index, declaration in
            PartyRegistryFile.Parsed(declaration: declaration, label: declaration.id.isEmpty ? "#\(index + 1)" : declaration.id,
                                     reportedFields: [])
        }
        try self.init(parsed: parsed, problems: [], source: source, loader: loader)
    }

    private init(parsed: [PartyRegistryFile.Parsed], problems initial: [PartyRegistryProblem], source: String,
                 loader: PartyCredentialLoader) throws(PartyRegistryError) {
        var problems = Self.declarationProblems(parsed, initial: initial)

        // Keys and certificates: each key loaded once, even when other problems already refuse the registry,
        // so that one run names every problem.
        var signers = [DUISSigner?]()
        var keyLoads = 0
        for party in parsed {
            let declaration = party.declaration
            func problem(_ kind: PartyRegistryProblem.Kind, _ field: String, _ reason: String) {
                problems.append(PartyRegistryProblem(kind, party: party.label, field: field, line: declaration.line, reason: reason))
            }
            var key: SigningKey?
            if !party.reportedFields.contains("signing_key") {
                if declaration.signingKeyPath.isEmpty {
                    problem(.missingField, "signing_key", "no signing key file")
                } else {
                    keyLoads += 1
                    do {
                        key = try loader.loadKey(declaration)
                    } catch {
                        problem(.credentialsUnusable, "signing_key", Self.describe(error, path: declaration.signingKeyPath))
                    }
                }
            }
            let certificate = Self.checkedCertificate(party, loader.loadCertificate, problem: problem)
            var signer: DUISSigner?
            if let certificate, certificate.isP256, let key {
                if certificate.matches(key) {
                    do {
                        signer = try DUISSigner(key: key, certificate: certificate)
                    } catch {
                        problem(.credentialsUnusable, "signing_key", Self.describe(error, path: declaration.signingKeyPath))
                    }
                } else {
                    problem(.keyCertificateMismatch, "signing_key",
                            "the key \(declaration.signingKeyPath) is not the key of the certificate \(declaration.signingCertificatePath) (serial \(certificate.serialNumber))")
                }
            }
            signers.append(signer)
        }

        var parties = [SupplierParty]()
        for (party, signer) in zip(parsed, signers) {
            guard let signer else { continue }
            let d = party.declaration
            parties.append(SupplierParty(id: d.id, name: d.name, mpids: d.mpids, userIDs: d.userIDs, signer: signer, declaration: d))
        }
        guard problems.isEmpty, parties.count == parsed.count else {
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

    /// Every party's XML signing certificate, for resolving a signature's `X509IssuerSerial`
    /// (`verify --parties`).
    public var certificates: CertificateSet { CertificateSet(parties.map(\.certificate)) }

    /// The party whose signing certificate has this issuer and serial, if any.
    public func party(issuer: DistinguishedName, serial: SerialNumber) -> SupplierParty? {
        parties.first { $0.certificate.isIdentified(byIssuer: issuer, serial: serial) }
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

    /// Problems that need no key material: ids, names, empty lists, identifiers declared twice.
    static func structuralProblems(_ parsed: [PartyRegistryFile.Parsed]) -> [PartyRegistryProblem] {
        var problems = [PartyRegistryProblem]()
        var idOwners = [String: [Int]]()
        for (index, party) in parsed.enumerated() {
            let d = party.declaration
            func problem(_ kind: PartyRegistryProblem.Kind, _ field: String, _ reason: String) {
                problems.append(PartyRegistryProblem(kind, party: party.label, field: field, line: d.line, reason: reason))
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

    /// Loads a party's signing certificate and checks it: readable, a P-256 key, its entity identifier one of the
    /// party's User IDs. Each problem is passed to `problem` (kind, field, reason); returns the certificate when it
    /// could be read (even with problems, so that the key can still be compared with it).
    static func checkedCertificate(
        _ party: PartyRegistryFile.Parsed, _ load: (PartyDeclaration) throws -> Certificate,
        problem: (PartyRegistryProblem.Kind, String, String) -> Void
    ) -> Certificate? {
        let declaration = party.declaration
        guard !party.reportedFields.contains("signing_certificate") else { return nil }
        guard !declaration.signingCertificatePath.isEmpty else {
            problem(.missingField, "signing_certificate", "no signing certificate file")
            return nil
        }
        let certificate: Certificate
        do {
            certificate = try load(declaration)
        } catch {
            problem(.credentialsUnusable, "signing_certificate", describe(error, path: declaration.signingCertificatePath))
            return nil
        }
        if let identity = certificate.entityIdentifier {
            if !declaration.userIDs.contains(identity) {
                let declared = declaration.userIDs.map(\.description).joined(separator: ", ")
                problem(.certificateIdentity, "signing_certificate",
                        "the certificate (serial \(certificate.serialNumber)) belongs to entity \(identity), which is not a User ID of this party (\(declared.isEmpty ? "none declared" : declared))")
            }
        } else {
            problem(.certificateIdentity, "signing_certificate",
                    "the certificate (serial \(certificate.serialNumber)) has no 64-bit x500UniqueIdentifier (entity identifier)")
        }
        if !certificate.isP256 {
            problem(.credentialsUnusable, "signing_certificate", "the certificate (serial \(certificate.serialNumber)) does not hold a P-256 key")
        }
        return certificate
    }

    /// An error's message, with the path prefixed unless the message already names it. Never a secret:
    /// passphrase errors name the variable or file, not the value.
    static func describe(_ error: any Error, path: String) -> String {
        let text = (error as? any ClassifiedError)?.description ?? "\(error)"
        return text.contains(path) ? text : "\(path): \(text)"
    }
}
