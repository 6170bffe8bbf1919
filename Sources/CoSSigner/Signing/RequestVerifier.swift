import Foundation

/// A DUIS document whose signature verified and whose signer may sign it.
package struct VerifiedMessage: Sendable {
    /// The verified document: its signed content (read this, never the unverified input), the certificate whose
    /// key verified it, and the DigestValue.
    package let document: VerifiedDocument
    /// True when the document is a request (`sr:Request`), whose signer is its Business Originator.
    package let isRequest: Bool
    /// A request's RequestID (nil for other documents).
    package let requestID: RequestID?

    /// The certificate whose key verified the signature.
    package var certificate: Certificate { document.certificate }
    /// The signed content.
    package var signedContent: [UInt8] { document.signedContent }
}

/// Verifies DUIS documents: the XML signature strictly against the profile (``DUISVerifier``), then the signer.
///
/// A request (`sr:Request`) must be signed with its Business Originator's own XML signing certificate: the
/// certificate must be a DCC User's XML signing certificate (``SigningCertificateRules``) whose entity identifier is
/// the request's Business Originator. Every certificate must be valid at the time of verification (the clock's
/// now, or the time given). Responses, acknowledgements and alerts are signed by the DCC and are exempt from the
/// originator rule.
package struct RequestVerifier: Sendable {
    /// The signature verifier (the certificates KeyInfo may name).
    package let verifier: DUISVerifier
    /// Where "now" comes from, read once per document when no time is given.
    package let clock: any SigningClock

    package init(verifier: DUISVerifier, clock: any SigningClock = SystemClock()) {
        self.verifier = verifier
        self.clock = clock
    }

    /// Verifies one document.
    /// - Parameters:
    ///   - bytes: the document.
    ///   - source: its name for messages.
    ///   - time: when the certificate must be valid (the clock's now when nil).
    /// - Throws: ``SignatureInvalid`` naming the part that failed (``SignatureInvalid/Part/signingCertificate``,
    ///   ``SignatureInvalid/Part/originator`` and ``SignatureInvalid/Part/certificateValidity`` for the signer);
    ///   ``XMLError`` when the bytes are not acceptable XML.
    package func verify(_ bytes: [UInt8], source: String? = nil, at time: Date? = nil) throws -> VerifiedMessage {
        let verified = try verifier.verify(bytes, source: source)
        let header = DUISMessageHeader.read(canonical: verified.signedContent, source: source)
        let certificate = verified.certificate
        let name = SigningCertificateRules.name(certificate)
        /// A failure of the signer; with the diagnosis that explains it when the verifier explains failures.
        func invalid(_ part: SignatureInvalid.Part, _ reason: String, _ diagnosis: SignatureDiagnosis? = nil) -> SignatureInvalid {
            var failure = SignatureInvalid(part, reason, source: source)
            if verifier.explainsFailures, let diagnosis { failure.diagnoses = [diagnosis] }
            return failure
        }
        var requestID: RequestID?
        if header.isRequest {
            if let problem = SigningCertificateRules.problems(certificate).first {
                throw invalid(.signingCertificate, "\(name) may not sign a request: \(problem)")
            }
            switch header.requestID {
            case .success(let id):
                let entity = certificate.entityIdentifier
                guard entity == id.businessOriginator else {
                    let reason = "the request's Business Originator \(id.businessOriginator) is not the entity \(entity.map(\.description) ?? "(none)") of the signing \(name): a request must be signed with its Business Originator's own XML signing certificate"
                    throw invalid(.originator, reason, SignatureDiagnosis(
                        code: .originatorNotSigner,
                        detail: "the signature verifies with \(name), which belongs to entity \(entity.map(\.description) ?? "(none)"); the request's Business Originator (the first EUI-64 of its RequestID) is \(id.businessOriginator)",
                        fix: "sign the request with the XML signing key and certificate of User ID \(id.businessOriginator) (a parties registry credential for that User ID), or correct the RequestID's Business Originator if the request was built for the wrong User ID"))
                }
                requestID = id
            case .failure(let error):
                throw invalid(.originator, "the request's RequestID cannot be read, so its signer cannot be checked: \(error.description)")
            case nil:
                throw invalid(.originator, "the request has no RequestID, so its signer cannot be checked")
            }
        }
        let when = time ?? clock.now()
        if let problem = SigningCertificateRules.validityProblem(certificate, at: when) {
            throw invalid(.certificateValidity, "the signing \(problem)", SignatureDiagnosis(
                code: .certificateExpired,
                detail: "the signature verifies, but \(problem)",
                fix: when < certificate.notBefore
                    ? "verify at a time inside the certificate's validity (--at), or check the clock of the machine that signed"
                    : "sign again with the User ID's current XML signing certificate; to check an old message as of when it was signed, verify with --at that time"))
        }
        return VerifiedMessage(document: verified, isRequest: header.isRequest, requestID: requestID)
    }
}
