/// One thing wrong with a party registry.
package struct PartyRegistryProblem: Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is.
    package enum Kind: String, Sendable, CaseIterable {
        /// The registry file cannot be read.
        case unreadable = "unreadable"
        /// The file is not valid TOML.
        case syntax = "TOML syntax"
        /// A key the format does not define (typo safety).
        case unknownKey = "unknown key"
        /// A required key is missing.
        case missingField = "missing field"
        /// A value of the wrong type or form (malformed MPID or EUI-64, bad id, empty list, ...).
        case invalidValue = "invalid value"
        /// Both `passphrase_env` and `passphrase_file`.
        case conflictingPassphraseSources = "two passphrase sources"
        /// The registry declares no party.
        case noParties = "no parties"
        /// Two parties with the same id.
        case duplicatePartyID = "duplicate party id"
        /// One MPID declared by two parties (or twice by one).
        case duplicateMPID = "duplicate MPID"
        /// One User ID declared by two parties (or twice by one).
        case duplicateUserID = "duplicate User ID"
        /// The key, its passphrase or the certificate cannot be read, decrypted or used.
        case credentialsUnusable = "key or certificate unusable"
        /// The private key is not the key of the party's certificate.
        case keyCertificateMismatch = "key does not match certificate"
        /// The certificate's `x500UniqueIdentifier` is absent, not its credential's User ID, or (shorthand form) not
        /// one of the party's User IDs.
        case certificateIdentity = "certificate entity identifier"
        /// A credential for a User ID the party does not declare.
        case credentialUserID = "credential User ID"
        /// Two credentials of one party for the same User ID.
        case duplicateCredential = "duplicate credential"
        /// A signing certificate that is not a DCC User's XML signing certificate (OU 87, critical keyUsage of
        /// digitalSignature only, not a CA, P-256).
        case signingCertificateRole = "not an XML signing certificate"
        /// Two certificates of the registry with the same issuer and serial.
        case duplicateCertificateSerial = "duplicate issuer and serial"
    }

    /// What kind of problem it is.
    package let kind: Kind
    /// The party concerned (its id, or `#n` for the n-th `[[party]]` when it has no usable id).
    package let party: String?
    /// The registry key concerned (`mpids`, `signing_key`, ...).
    package let field: String?
    /// The 1-based line in the registry file, when known.
    package let line: Int?
    /// What is wrong, in words. Never contains a secret.
    package let reason: String

    package init(_ kind: Kind, party: String? = nil, field: String? = nil, line: Int? = nil, reason: String) {
        self.kind = kind
        self.party = party
        self.field = field
        self.line = line
        self.reason = reason
    }

    /// ``FailureClass/input`` for an unreadable registry file, ``FailureClass/keyOrCertificate`` for a key,
    /// passphrase or certificate that cannot be read, decrypted or used to sign, ``FailureClass/selectionRefused``
    /// for every other (structural) problem.
    package var failureClass: FailureClass {
        switch kind {
        case .unreadable: .input
        case .credentialsUnusable, .signingCertificateRole: .keyOrCertificate
        default: .selectionRefused
        }
    }

    /// `line 7: party gts: mpids: reason`, leaving out what is unknown.
    package var description: String {
        var parts = [String]()
        if let line { parts.append("line \(line)") }
        if let party { parts.append("party \(party)") }
        if let field { parts.append(field) }
        parts.append(reason)
        return parts.joined(separator: ": ")
    }
}

/// A party registry that was refused as a whole. It lists every problem found, not only the first.
///
/// Its ``failureClass`` is the largest exit code among its problems: a structural or selection problem
/// (duplicate identifiers, malformed values, key/certificate mismatch, a certificate of another entity —
/// ``FailureClass/selectionRefused``, exit 4) outranks a key or certificate that cannot be read or
/// decrypted (``FailureClass/keyOrCertificate``, exit 3), which outranks an unreadable registry file
/// (``FailureClass/input``, exit 2).
package struct PartyRegistryError: ClassifiedError, Equatable {
    /// The registry file (or the name given to an in-memory registry).
    package let source: String
    /// Every problem, in file order and then in the order the checks run.
    package let problems: [PartyRegistryProblem]

    package init(source: String, problems: [PartyRegistryProblem]) {
        self.source = source
        self.problems = problems
    }

    package var failureClass: FailureClass {
        problems.map(\.failureClass).max { $0.exitCode < $1.exitCode } ?? .selectionRefused
    }

    /// At most this many problems of each kind are listed by ``description`` and ``renderedProblems``; the others
    /// of that kind are counted in one line (a registry of 30,000 broken parties gives a few hundred lines, not
    /// 150,000).
    package static let maximumListedPerKind = 20
    /// A problem's line is cut after this many characters (a reason naming thousands of parties or lines).
    package static let maximumLineCharacters = 2000

    /// The problems as lines for people: in file order, at most ``maximumListedPerKind`` of each kind, each cut at
    /// ``maximumLineCharacters``; then, for each kind with more, `… and N more <kind> problems`.
    package var renderedProblems: [String] {
        var listed: [PartyRegistryProblem.Kind: Int] = [:]
        var lines: [String] = []
        for problem in problems {
            let count = listed[problem.kind, default: 0]
            listed[problem.kind] = count + 1
            guard count < Self.maximumListedPerKind else { continue }
            lines.append(Self.cut(problem.description))
        }
        for kind in PartyRegistryProblem.Kind.allCases {
            let count = listed[kind, default: 0]
            if count > Self.maximumListedPerKind {
                let more = count - Self.maximumListedPerKind
                lines.append("… and \(more) more '\(kind.rawValue)' problem\(more == 1 ? "" : "s")")
            }
        }
        return lines
    }

    private static func cut(_ line: String) -> String {
        guard line.count > maximumLineCharacters else { return line }
        let rest = line.count - maximumLineCharacters
        return String(line.prefix(maximumLineCharacters)) + "… (\(rest) more characters)"
    }

    package var description: String {
        let lines = renderedProblems
        if problems.count == 1, let only = lines.first {
            return "party registry \(source) refused: \(only)"
        }
        return "party registry \(source) refused, \(problems.count) problems:\n"
            + lines.map { "  \($0)" }.joined(separator: "\n")
    }
}
