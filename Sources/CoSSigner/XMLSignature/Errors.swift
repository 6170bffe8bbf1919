/// Why a signature is invalid, and which part of it failed.
package struct SignatureInvalid: ClassifiedError, Equatable {
    /// The part of the signature that failed.
    package enum Part: String, Sendable, CaseIterable {
        /// The document carries no signature at all.
        case missing
        /// A DCC acknowledgement without a signature: the DCC does not sign acknowledgements, so this is
        /// expected, but nothing vouches for its content (callers may choose to accept it).
        case unsigned
        /// The signature's shape or algorithms are outside the DUIS profile.
        case profile
        /// KeyInfo is malformed or names a certificate the verifier was not given.
        case keyInfo
        /// The Reference digest does not match the document.
        case referenceDigest
        /// The SignatureValue is malformed or does not verify.
        case signatureValue
        /// The signature verifies, but the certificate may not sign requests (not a DCC User's XML signing
        /// certificate: a CA, key agreement or device certificate).
        case signingCertificate
        /// The signature verifies, but the request's Business Originator is not the signing certificate's entity (or
        /// the request's RequestID cannot be read).
        case originator
        /// The signature verifies, but the certificate is not valid at the time of verification.
        case certificateValidity
    }

    /// The part that failed.
    package let part: Part
    /// Why, in words.
    package let reason: String
    /// The document (file name) when known.
    package var source: String?
    /// Why it most likely failed and what would fix it, most likely first: filled by
    /// ``DUISVerifier/verify(_:source:)-([UInt8],_)`` when ``DUISVerifier/explainsFailures`` is set (see
    /// ``DUISVerifier/explain(_:source:)``), else empty.
    package var diagnoses: [SignatureDiagnosis] = []

    package init(_ part: Part, _ reason: String, source: String? = nil) {
        self.part = part
        self.reason = reason
        self.source = source
    }

    package var failureClass: FailureClass { .signatureInvalid }
    package var description: String {
        "\(source.map { "\($0): " } ?? "")signature invalid (\(part.rawValue)): \(reason)"
    }
}

/// A document that cannot be signed as asked.
package struct SigningRefused: ClassifiedError, Equatable {
    /// Why, in words.
    package let reason: String
    /// The document (file name) when known.
    package var source: String?
    /// The class of the failure (input by default).
    package var failureClass: FailureClass

    package init(_ reason: String, source: String? = nil, failureClass: FailureClass = .input) {
        self.reason = reason
        self.source = source
        self.failureClass = failureClass
    }

    package var description: String { "\(source.map { "\($0): " } ?? "")cannot sign: \(reason)" }
}
