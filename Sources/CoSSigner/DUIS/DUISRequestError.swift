/// Why a DUIS Service Request (or one of its values) was refused.
///
/// Always an input failure (``CoSSignerError/Kind/input``, exit code 2). ``field`` names the element as a
/// path from the root `sr:Request` with the canonical `sr:` prefix (for example
/// `sr:Header/sr:CommandVariant`), ``rule`` says which rule was broken and ``reason`` says how.
public struct DUISRequestError: ClassifiedError, Equatable {
    /// The rule a request broke.
    public enum Rule: String, Sendable, CaseIterable {
        /// The bytes are not well-formed XML (or were refused by the hardened parser).
        case wellFormedXML = "well-formed XML"
        /// An element that the DUIS schema does not allow here (unknown name or wrong namespace).
        case unexpectedElement = "unexpected element"
        /// An element that must be present is missing.
        case missingElement = "missing element"
        /// An element appears more often than the schema allows.
        case duplicateElement = "duplicate element"
        /// Elements are not in schema order.
        case elementOrder = "schema order"
        /// An element occurs fewer or more times than allowed (e.g. 1 to 3 path certificates).
        case cardinality = "cardinality"
        /// Text where the schema allows only elements.
        case unexpectedText = "element-only content"
        /// A comment, processing instruction or CDATA section where none is accepted.
        case unexpectedNode = "unexpected node"
        /// An attribute the schema does not allow, or a required one missing.
        case attribute = "attribute"
        /// A value not in its lexical form (pattern, digits, leading zeros, signs, base64, ...).
        case lexicalForm = "lexical form"
        /// A number outside its range.
        case range = "range"
        /// A value that is well-formed but not acceptable for SRV 6.23.
        case value = "value"
        /// A future-dated request whose ExecutionDateTime is not in the future.
        case futureDated = "future dated"
        /// A certificate that is not one DER-encoded X.509 certificate.
        case certificateEncoding = "DER X.509 certificate"
        /// A certificate whose public key is not on P-256.
        case certificatePublicKey = "P-256 public key"
        /// A certificate not signed with ecdsa-with-SHA256.
        case certificateSignatureAlgorithm = "ecdsa-with-SHA256 signature"
        /// A certificate whose key usage is not the one its slot requires.
        case certificateKeyUsage = "key usage"
        /// A certificate whose subject OU is not the Supplier role code `02`.
        case certificateRole = "supplier role (OU 02)"
        /// Replacement certificates without, or with different, entity identifiers.
        case certificateEntityIdentifier = "entity identifier"
        /// A replacement certificate not issued by any of the certification path certificates.
        case certificateChain = "issued by a path certificate"
        /// A certificate outside its validity period at the time the caller gave, or a replacement certificate
        /// outside it when the request executes.
        case certificateValidity = "validity period"
        /// A certificate whose keyUsage or certificatePolicies extension is missing or not critical (GBCS §12).
        case certificateExtensions = "critical extensions"
        /// A certificate without an 8-octet SubjectKeyIdentifier, or (unless a self-signed root) an 8-octet
        /// AuthorityKeyIdentifier keyIdentifier (GBCS §12).
        case certificateKeyIdentifiers = "key identifiers"
        /// A certification path certificate that is not a CA (basicConstraints cA, keyCertSign).
        case certificateAuthority = "certification authority"
    }

    /// The element, as a path from the root with `sr:` prefixes (`sr:Request` for the root itself,
    /// empty when the document could not be parsed at all).
    public let field: String
    /// The rule that was broken.
    public let rule: Rule
    /// How it was broken.
    public let reason: String
    /// The 1-based line of the element, when the request came from a document.
    public var line: Int?
    /// The file name the caller gave, if any.
    public var source: String?

    /// Makes an error.
    public init(field: String, rule: Rule, reason: String, line: Int? = nil, source: String? = nil) {
        self.field = field
        self.rule = rule
        self.reason = reason
        self.line = line
        self.source = source
    }

    package var failureClass: FailureClass { .input }

    /// `SOURCE:LINE: FIELD: RULE: REASON` (parts not known are left out).
    public var description: String {
        var location: [String] = []
        if let source { location.append(source) }
        if let line { location.append(String(line)) }
        var text = location.isEmpty ? "" : location.joined(separator: ":") + ": "
        if !field.isEmpty { text += field + ": " }
        return text + rule.rawValue + ": " + reason
    }

    /// The same error with a location added (keeps a location already present).
    func located(field: String? = nil, line: Int?, source: String?) -> DUISRequestError {
        var copy = self
        if let field { copy = DUISRequestError(field: field, rule: rule, reason: reason, line: copy.line, source: copy.source) }
        if copy.line == nil { copy.line = line }
        if copy.source == nil { copy.source = source }
        return copy
    }
}
