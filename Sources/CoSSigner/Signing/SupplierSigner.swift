import Foundation

/// Signs and verifies DUIS requests for a supplier: the front of the library, made once and shared by every task
/// and thread of an adapter.
///
/// ```swift
/// let registry = try PartyRegistry(contentsOfFile: "parties.toml")
/// let signer = try SupplierSigner(registry: registry, counters: .store(path: "counters.txt"))
/// let signed = try signer.sign(xml: bytes, mpid: try MPID(parsing: "TS1E"))
/// let verified = try signer.verify(xml: signed.xml)
/// ```
///
/// Each request is checked (a 6.23 against every rule of the typed model, certificates included), its Supplier
/// Party chosen (by the MPID given for the call, else by the request's Business Originator; never split) and then
/// that party's credential for the Business Originator, its RequestID counter set by the counter policy, and it is
/// signed. "Now" is read from the clock for every request (the future-dating check, the registration date, the
/// certificates' validity, the counter floor). Keys are loaded once, when the registry is; the signer's caches
/// (decoded certificates, certificate checks, replacement entities) persist across calls. Every method throws only
/// ``CoSSignerError``.
public final class SupplierSigner: Sendable {
    /// How documents are signed and checked.
    public struct Options: Sendable {
        /// Keep the input's whitespace between elements (the default output is compact, the only form DCC's own
        /// tool accepts). Not allowed with a counter policy that rewrites counters.
        public var keepWhitespace: Bool
        /// Sign with RFC 6979 nonces: the same input, key and counter always give the same bytes.
        public var deterministic: Bool
        /// When set, every certificate of a 6.23 must be valid at this time, instead of its replacement
        /// certificates when the request executes.
        public var certificatesValidAt: Date?
        /// The largest document accepted, in bytes.
        public var maxDocumentBytes: Int
        /// Counters reserved from a store at a time (1: one durable store update per request).
        public var counterBlockSize: UInt64
        /// The default of ``maxDocumentBytes``: the XML reader's own limit.
        public static let defaultMaxDocumentBytes = XMLParseLimits.default.maxDocumentBytes

        /// Options; the defaults sign compact output with random nonces, check replacement certificates at the
        /// request's execution time, and reserve counters 100 at a time.
        public init(keepWhitespace: Bool = false, deterministic: Bool = false, certificatesValidAt: Date? = nil,
                    maxDocumentBytes: Int = Options.defaultMaxDocumentBytes, counterBlockSize: UInt64 = 100) {
            self.keepWhitespace = keepWhitespace
            self.deterministic = deterministic
            self.certificatesValidAt = certificatesValidAt
            self.maxDocumentBytes = maxDocumentBytes
            self.counterBlockSize = counterBlockSize
        }
    }

    /// The parties, when the signer selects by registry.
    public let registry: PartyRegistry?
    /// Where "now" comes from.
    public let clock: any SigningClock
    /// The signing pipeline.
    package let requestSigner: RequestSigner
    /// The verifying pipeline (the registry's certificates, or the explicit one, and any others given).
    package let requestVerifier: RequestVerifier
    /// The same, diagnosing invalid signatures (``CoSSignerError/diagnoses``): the diagnoses run only once a
    /// document was found invalid, never on the valid path.
    package let explainingVerifier: RequestVerifier

    /// A signer that selects each request's party and credential from `registry`.
    /// - Parameters:
    ///   - registry: the Supplier Parties, their MPIDs, User IDs and credentials (keys loaded once).
    ///   - registrationData: when given, the party must also be the one registered for the request's ImportMPxN on
    ///     the day it executes (Europe/London).
    ///   - counters: how RequestID counters are set (``CounterPolicy/preserve`` keeps the adapter's).
    ///   - clock: where "now" comes from (the system clock by default).
    ///   - options: how documents are signed.
    ///   - verificationCertificates: more certificates ``verify(xml:at:source:)`` may use (e.g. the DCC's).
    /// - Throws: ``CoSSignerError`` for an option that cannot be used.
    public init(registry: PartyRegistry, registrationData: RegistrationData? = nil, counters: CounterPolicy = .preserve,
                clock: any SigningClock = SystemClock(), options: Options = Options(),
                verificationCertificates: [Certificate] = []) throws(CoSSignerError) {
        self.registry = registry
        self.clock = clock
        requestSigner = try Self.makeSigner(keys: .selected(KeySelector(registry: registry, registrationData: registrationData),
                                                            mpid: nil, registrationDate: nil),
                                            counters: counters, clock: clock, options: options)
        requestVerifier = try Self.makeVerifier(registry.certificates.certificates + verificationCertificates, clock: clock, options: options)
        explainingVerifier = Self.explaining(requestVerifier)
    }

    /// A signer with one explicit credential (a key and its XML signing certificate): it signs only requests whose
    /// Business Originator is the certificate's entity.
    /// - Throws: ``CoSSignerError`` (``CoSSignerError/Kind/credentials``) when the certificate is not an XML signing
    ///   certificate or the key is not its key.
    public init(credential: SigningCredential, counters: CounterPolicy = .preserve, clock: any SigningClock = SystemClock(),
                options: Options = Options(), verificationCertificates: [Certificate] = []) throws(CoSSignerError) {
        registry = nil
        self.clock = clock
        requestSigner = try Self.makeSigner(keys: .fixed(credential.signer), counters: counters, clock: clock, options: options)
        requestVerifier = try Self.makeVerifier([credential.certificate] + verificationCertificates, clock: clock, options: options)
        explainingVerifier = Self.explaining(requestVerifier)
    }

    private static func explaining(_ verifier: RequestVerifier) -> RequestVerifier {
        var duis = verifier.verifier
        duis.explainsFailures = true
        return RequestVerifier(verifier: duis, clock: verifier.clock)
    }

    private static func makeSigner(keys: SigningKeySource, counters: CounterPolicy, clock: any SigningClock,
                                   options: Options) throws(CoSSignerError) -> RequestSigner {
        if options.keepWhitespace, counters != .preserve {
            throw CoSSignerError(kind: .input, field: "keepWhitespace",
                                 reason: "keeping the input's whitespace cannot be combined with the counter policy \(counters): a rewritten counter rebuilds the request in compact form")
        }
        var limits = XMLParseLimits.default
        limits.maxDocumentBytes = options.maxDocumentBytes
        let signing = RequestSigningOptions(
            signing: SigningOptions(keepWhitespace: options.keepWhitespace, deterministic: options.deterministic, limits: limits),
            validation: DUISValidationOptions(certificateValidityTime: options.certificatesValidAt))
        let assigner = counters == .preserve ? nil
            : CounterAssigner(policy: counters, blockSize: options.counterBlockSize)
        return RequestSigner(keys: keys, options: signing, counters: assigner, clock: clock)
    }

    private static func makeVerifier(_ certificates: [Certificate], clock: any SigningClock,
                                     options: Options) throws(CoSSignerError) -> RequestVerifier {
        let set: CertificateSet
        do {
            set = try CertificateSet(checking: certificates)
        } catch {
            throw CoSSignerError(error)
        }
        var limits = XMLParseLimits.default
        limits.maxDocumentBytes = options.maxDocumentBytes
        return RequestVerifier(verifier: DUISVerifier(certificates: set.certificates, limits: limits), clock: clock)
    }

    /// Signs one DUIS request.
    /// - Parameters:
    ///   - xml: the request (UTF-8 XML).
    ///   - mpid: the MPID to select the Supplier Party by; nil selects by the request's Business Originator.
    ///   - source: a name for messages (a file name, a message id).
    /// - Returns: the signed request, its RequestID, party, User ID and certificate.
    /// - Throws: ``CoSSignerError``; nothing is signed and no counter is used up when a check fails.
    public func sign(xml: [UInt8], mpid: MPID? = nil, source: String? = nil) throws(CoSSignerError) -> SignedRequest {
        try sign(xml: xml, mpid: mpid, source: source, call: SigningCall())
    }

    /// ``sign(xml:mpid:source:)`` with this call's own choices (keep the counter, deterministic, the parties the
    /// caller may sign for): the service's form.
    package func sign(xml: [UInt8], mpid: MPID? = nil, source: String? = nil,
                      call: SigningCall) throws(CoSSignerError) -> SignedRequest {
        do {
            return try requestSigner.sign(xml, source: source, mpid: mpid, call: call)
        } catch {
            throw CoSSignerError(error, source: source)
        }
    }

    /// Signs a typed 6.23 without writing it out and parsing it again: checked, its party and credential chosen,
    /// its counter set by the counter policy, and its compact form signed.
    /// - Throws: ``CoSSignerError``.
    public func sign(request: ServiceRequest623, mpid: MPID? = nil, source: String? = nil) throws(CoSSignerError) -> SignedRequest {
        try sign(request: request, mpid: mpid, source: source, call: SigningCall())
    }

    /// ``sign(request:mpid:source:)`` with this call's own choices.
    package func sign(request: ServiceRequest623, mpid: MPID? = nil, source: String? = nil,
                      call: SigningCall) throws(CoSSignerError) -> SignedRequest {
        do {
            return try requestSigner.sign(request: request, source: source, mpid: mpid, call: call)
        } catch {
            throw CoSSignerError(error, source: source)
        }
    }

    /// Verifies a signed DUIS document: the signature strictly against the DUIS profile, the certificate by its
    /// issuer and serial among the registry's credentials (and the certificates given), and for a request its signer
    /// (the Business Originator's own XML signing certificate, valid at `time`).
    /// - Parameters:
    ///   - xml: the signed document.
    ///   - time: when the certificate must be valid (the clock's now by default).
    ///   - source: a name for messages.
    /// - Returns: the verified content, its certificate, RequestID, party and typed 6.23 when it is one.
    /// - Throws: ``CoSSignerError`` (``CoSSignerError/Kind/signatureInvalid`` for an invalid signature, with its
    ///   ``CoSSignerError/diagnoses``: why it most likely failed and the fix, as `cos-signer verify --explain` says).
    public func verify(xml: [UInt8], at time: Date? = nil, source: String? = nil) throws(CoSSignerError) -> VerifiedRequest {
        try verify(xml: xml, at: time, source: source, explain: true)
    }

    /// ``verify(xml:at:source:)``, with the diagnoses of an invalid signature only when `explain` is set (a caller
    /// that reports only the reason saves their cost).
    package func verify(xml: [UInt8], at time: Date? = nil, source: String? = nil, explain: Bool) throws(CoSSignerError) -> VerifiedRequest {
        let verified: VerifiedMessage
        do {
            verified = try (explain ? explainingVerifier : requestVerifier).verify(xml, source: source, at: time)
        } catch {
            throw CoSSignerError(error, source: source)
        }
        let certificate = verified.certificate
        let found = registry?.credential(issuer: certificate.issuer, serial: certificate.serialNumber)
        let request = ServiceRequest623.readIfClaimed(canonical: verified.signedContent, source: source)
        let requestID = verified.requestID ?? request?.requestID
            ?? RequestSigner.genericRequestID(canonical: verified.signedContent, source: source)
        return VerifiedRequest(signedContent: verified.signedContent, certificate: certificate, isRequest: verified.isRequest,
                               requestID: requestID, request: request, party: found?.party, userID: certificate.entityIdentifier)
    }
}

/// A document whose signature verified, with its signer.
public struct VerifiedRequest: Sendable {
    /// The signed content: the canonical form of the document without its Signature, exactly the octets the
    /// signature covers. Read this, never the unverified input.
    public let signedContent: [UInt8]
    /// The certificate whose key verified the signature.
    public let certificate: Certificate
    /// True when the document is a request (`sr:Request`), whose signer is its Business Originator.
    public let isRequest: Bool
    /// The RequestID, when the document has one.
    public let requestID: RequestID?
    /// The typed 6.23, when the signed content is one.
    public let request: ServiceRequest623?
    /// The Supplier Party whose credential signed, when the signer's registry holds the certificate.
    public let party: SupplierParty?
    /// The signing certificate's entity identifier (for a request, its Business Originator).
    public let userID: EUI64?
}

/// One XML signing credential given explicitly: a private key and its certificate (a DCC User's XML signing
/// certificate, OU `87`).
public struct SigningCredential: Sendable {
    /// The signer (key and certificate).
    package let signer: DUISSigner

    /// The certificate.
    public var certificate: Certificate { signer.certificate }

    /// Loads a key file (PEM or DER; an encrypted key with `passphrase`) and its certificate file.
    /// - Parameters:
    ///   - keyFile: the private key; refused when its group or others may read it (unless `keyFilePolicy` allows).
    ///   - certificateFile: its XML signing certificate.
    ///   - passphrase: where the passphrase of an encrypted key comes from (never the command line).
    ///   - keyFilePolicy: how the key file's permissions are checked.
    /// - Throws: ``CoSSignerError`` (``CoSSignerError/Kind/credentials``).
    public init(keyFile: String, certificateFile: String, passphrase: PassphraseSource? = nil,
                keyFilePolicy: KeyFilePolicy = .strict) throws(CoSSignerError) {
        do {
            try keyFilePolicy.check(keyFile)
            let secret = try passphrase?.load(keyFilePolicy: keyFilePolicy)
            let key = try SigningKey(contentsOfFile: keyFile, passphrase: secret)
            let certificate = try Certificate(contentsOfFile: certificateFile)
            try SigningCertificateRules.requireUserSigningCertificate(certificate)
            signer = try DUISSigner(key: key, certificate: certificate)
        } catch {
            throw CoSSignerError(error, source: keyFile)
        }
    }

    /// A credential from a loaded signer (the CLI's `--key/--cert`, a token key).
    /// - Throws: ``CoSSignerError`` when the certificate is not an XML signing certificate.
    package init(signer: DUISSigner) throws(CoSSignerError) {
        do {
            try SigningCertificateRules.requireUserSigningCertificate(signer.certificate)
        } catch {
            throw CoSSignerError(error)
        }
        self.signer = signer
    }
}
