/// The one error the front API (``SupplierSigner``) throws: what kind of failure, where, and why.
///
/// ```swift
/// do {
///     _ = try signer.sign(xml: bytes, mpid: nil)
/// } catch {
///     switch error.kind {
///     case .input: …              // the document (or a file) is malformed or not acceptable: error.field, error.reason
///     case .credentials: …        // a key or certificate is missing or unusable
///     case .selectionRefused: …   // no single Supplier Party and credential: error.refusal names what conflicts
///     case .signatureInvalid: …   // verify: the signature or its signer is not acceptable
///     case .unavailable: …        // a counter store cannot be reached; nothing was signed
///     }
/// }
/// ```
public struct CoSSignerError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. `cos-signer` maps each to its exit code: input 2, credentials 3, selection refused 4,
    /// signature invalid 10, unavailable 3.
    public enum Kind: String, Sendable, CaseIterable {
        /// The document, or a file it depends on, cannot be read, is malformed or is not acceptable.
        case input
        /// A key or certificate is missing or unusable (including one that may not sign at this time).
        case credentials
        /// No single Supplier Party and credential could be chosen: see ``CoSSignerError/refusal``.
        case selectionRefused
        /// A signature is invalid: its profile, digest, value, certificate or signer.
        case signatureInvalid
        /// A service the signer needs (a counter store) cannot be reached; nothing was signed.
        case unavailable
    }

    /// The kind of failure.
    public let kind: Kind
    /// The document or file concerned, when known (the `source` the caller gave, or a file name).
    public let source: String?
    /// The element (a path from the root with `sr:` prefixes) or setting concerned, when there is one.
    public let field: String?
    /// Why, in words: never a secret and never a document's content.
    public let reason: String
    /// For ``Kind/selectionRefused``: every reason, with the MPIDs, EUI-64s and parties involved.
    public let refusal: KeySelectionRefused?
    /// For ``Kind/signatureInvalid`` from ``SupplierSigner/verify(xml:at:source:)``: why the signature most likely
    /// failed and what would fix it, most likely first (the codes and texts of `cos-signer verify --explain`); empty
    /// when no known cause applies, and for every other kind.
    public let diagnoses: [SignatureDiagnosis]
    /// The error this one reports (the library's own typed error, for its exact message).
    package let underlying: (any Error & Sendable)?

    package init(kind: Kind, source: String? = nil, field: String? = nil, reason: String, refusal: KeySelectionRefused? = nil,
                 diagnoses: [SignatureDiagnosis] = [], underlying: (any Error & Sendable)? = nil) {
        self.kind = kind
        self.source = source
        self.field = field
        self.reason = reason
        self.refusal = refusal
        self.diagnoses = diagnoses
        self.underlying = underlying
    }

    /// The message, as `cos-signer` prints it.
    public var description: String {
        if let underlying = underlying as? any ClassifiedError { return underlying.description }
        return (source.map { "\($0): " } ?? "") + (field.map { "\($0): " } ?? "") + reason
    }

    /// The exit code `cos-signer` gives this failure.
    package var exitCode: Int32 {
        switch kind {
        case .input: FailureClass.input.exitCode
        case .credentials, .unavailable: FailureClass.keyOrCertificate.exitCode
        case .selectionRefused: FailureClass.selectionRefused.exitCode
        case .signatureInvalid: FailureClass.signatureInvalid.exitCode
        }
    }

    /// Wraps any error the signing and verifying machinery throws, keeping its message and classification.
    package init(_ error: any Error, source: String? = nil) {
        if let error = error as? CoSSignerError {
            self = error
            return
        }
        switch error {
        case let refused as KeySelectionRefused:
            self.init(kind: .selectionRefused, source: source, reason: refused.description, refusal: refused, underlying: refused)
        case let invalid as SignatureInvalid:
            self.init(kind: .signatureInvalid, source: invalid.source ?? source, field: invalid.part.rawValue, reason: invalid.reason,
                      diagnoses: invalid.diagnoses, underlying: invalid)
        case let request as DUISRequestError:
            self.init(kind: .input, source: request.source ?? source, field: request.field.isEmpty ? nil : request.field,
                      reason: "\(request.rule.rawValue): \(request.reason)", underlying: request)
        case let store as CounterStoreError:
            self.init(kind: store.kind == .unavailable ? .unavailable : .input, source: store.path, reason: store.reason, underlying: store)
        case let refused as SigningRefused:
            // The reason alone: the source is its own field (the description, for the CLI, keeps both).
            self.init(kind: Self.kind(of: refused.failureClass), source: refused.source ?? source, reason: "cannot sign: \(refused.reason)",
                      underlying: refused)
        case let classified as any ClassifiedError:
            self.init(kind: Self.kind(of: classified.failureClass), source: source, reason: classified.description,
                      underlying: classified)
        default:
            self.init(kind: .input, source: source, reason: "\(error)")
        }
    }

    /// The kind of a failure of `failureClass`.
    private static func kind(of failureClass: FailureClass) -> Kind {
        switch failureClass {
        case .usage, .input: .input
        case .keyOrCertificate: .credentials
        case .selectionRefused: .selectionRefused
        case .signatureInvalid: .signatureInvalid
        }
    }
}
