import Foundation

/// Options for ``ServiceRequest623/validate(_:)``.
package struct DUISValidationOptions: Sendable {
    /// The time of the checks. If set, a future-dated request's `ExecutionDateTime` must be after it, and the
    /// replacement certificates must be valid when the request executes: at its ExecutionDateTime, or at this time
    /// for an immediate request (a meter refuses a certificate outside its validity). A ``RequestSigner`` sets it
    /// from its clock for each request.
    package var now: Date?
    /// Whether to run the certificate checks (``ServiceRequest623/validateCertificates(at:replacementsAt:)``).
    package var checkCertificates: Bool
    /// If set, every certificate (replacement and path) must be valid at this time, instead of the replacement
    /// certificates at the time the request executes.
    package var certificateValidityTime: Date?
    /// If set, the written document must also be valid against this schema.
    package var schema: DUISSchema?

    /// Makes options; by default the certificates are checked without validity dates, there is
    /// no "now" and no schema.
    package init(now: Date? = nil, checkCertificates: Bool = true, certificateValidityTime: Date? = nil, schema: DUISSchema? = nil) {
        self.now = now
        self.checkCertificates = checkCertificates
        self.certificateValidityTime = certificateValidityTime
        self.schema = schema
    }
}

extension ServiceRequest623 {
    /// The OID of ecdsa-with-SHA256.
    package static let ecdsaWithSHA256OID = "1.2.840.10045.4.3.2"
    /// The SMKI remote party role code of a Supplier, carried in the subject OU.
    package static let supplierRoleCode = "02"

    /// Runs every check beyond the structural ones the model already enforces: future dating and the replacement
    /// certificates' validity when the request executes (if `options.now`), certificates (unless switched off),
    /// and the DUIS schema (if given).
    /// - Throws: the first failure: ``DUISRequestError`` or ``DUISSchemaError`` (both input failures).
    package func validate(_ options: DUISValidationOptions) throws {
        if let now = options.now { try checkFutureDated(now: now) }
        if options.checkCertificates {
            let times = certificateTimes(now: options.now, explicit: options.certificateValidityTime)
            try validateCertificates(at: times.all, replacementsAt: times.replacements)
        }
        if let schema = options.schema { try validate(against: schema) }
    }

    /// When the certificates must be valid: every certificate at `explicit` when it is given; otherwise the
    /// replacement certificates when the request executes (its ExecutionDateTime, or `now` for an immediate
    /// request; not checked when `now` is nil).
    public func certificateTimes(now: Date?, explicit: Date?) -> (all: Date?, replacements: Date?) {
        if let explicit { return (explicit, nil) }
        guard let now else { return (nil, nil) }
        return (nil, body.executionDateTime?.date ?? now)
    }

    /// Checks the replacement and certification path certificates; throws the first problem of
    /// ``certificateProblems(at:replacementsAt:)``.
    /// - Parameters:
    ///   - time: if given, every certificate must be valid at this time.
    ///   - replacementTime: if given, the replacement certificates must be valid at this time (when the request
    ///     executes).
    /// - Throws: ``DUISRequestError`` naming the certificate's element and the rule.
    public func validateCertificates(at time: Date? = nil, replacementsAt replacementTime: Date? = nil) throws(DUISRequestError) {
        if let first = certificateProblems(at: time, replacementsAt: replacementTime).first { throw first }
    }

    /// Every certificate problem: first the encoding, key and algorithm of each certificate, then the GBCS §12
    /// profile (extensions and key identifiers), then key usage and role, then the entity identifier, then the
    /// issuer, then validity.
    ///
    /// For each certificate: one DER X.509 certificate, a P-256 public key in uncompressed form, signed with
    /// ecdsa-with-SHA256, keyUsage present and critical, certificatePolicies present and critical, an 8-octet
    /// SubjectKeyIdentifier, and an AuthorityKeyIdentifier holding only an 8-octet keyIdentifier `[0]` (except on a
    /// self-signed root): the rules a meter applies to every certificate it accepts (domain notes §3.1). The
    /// certification path certificates are CAs (basicConstraints cA TRUE, keyCertSign). For the replacement
    /// certificates also: key usage exactly digitalSignature (DigitalSigningCertificate) or exactly keyAgreement
    /// (the two key agreement certificates), subject OU `02` (Supplier), an entity identifier (x500UniqueIdentifier,
    /// EUI-64) that is the same in all of them, and a signature by one of the certification path certificates.
    /// With `time`, every certificate must be valid at that time; with `replacementTime`, the replacement
    /// certificates must be valid then.
    public func certificateProblems(at time: Date? = nil, replacementsAt replacementTime: Date? = nil) -> [DUISRequestError] {
        certificateReport(at: time, replacementsAt: replacementTime).problems
    }

    /// The validity periods of a certificate set: the times at which every replacement certificate, and every
    /// certificate, is valid (nil when there is no such time).
    struct CertificateValidityWindows: Sendable, Equatable {
        var replacements: ClosedRange<Date>?
        var all: ClosedRange<Date>?

        init(replacements: ClosedRange<Date>? = nil, all: ClosedRange<Date>? = nil) {
            self.replacements = replacements
            self.all = all
        }

        /// Whether the set passes the validity checks at these times.
        func admits(all time: Date?, replacements replacementTime: Date?) -> Bool {
            if let time, !(self.all?.contains(time) ?? false) { return false }
            if let replacementTime, !(replacements?.contains(replacementTime) ?? false) { return false }
            return true
        }
    }

    /// ``certificateProblems(at:replacementsAt:)`` and the set's validity windows (meaningful when the
    /// certificates decoded).
    func certificateReport(at time: Date? = nil, replacementsAt replacementTime: Date? = nil)
        -> (problems: [DUISRequestError], windows: CertificateValidityWindows)
    {
        var problems: [DUISRequestError] = []
        func problem(_ field: String, _ rule: DUISRequestError.Rule, _ reason: String) {
            problems.append(DUISRequestError(field: field, rule: rule, reason: reason))
        }

        /// Decodes and applies the checks common to every certificate.
        func decode(_ der: [UInt8], field: String) -> Certificate? {
            guard der.first == 0x30 else {
                problem(field, .certificateEncoding, "the bytes are not a DER SEQUENCE (first byte 0x\(der.first.map(hexByte) ?? "--"))")
                return nil
            }
            let certificate: Certificate
            do throws(CryptoError) {
                certificate = try Certificate(encoded: der, source: field)
            } catch {
                problem(field, .certificateEncoding, "not a DER X.509 certificate: \(error.reason)")
                return nil
            }
            guard certificate.derBytes == der else {
                problem(field, .certificateEncoding, "the encoding is not the DER of one X.509 certificate")
                return nil
            }
            if !certificate.isP256 {
                problem(field, .certificatePublicKey, "the subject public key must be an EC key on P-256 (prime256v1)")
            } else if !certificate.profile.publicKeyIsUncompressedPoint {
                problem(field, .certificatePublicKey, "the P-256 public key must be in uncompressed form (04 || X || Y): a meter accepts no other")
            }
            if certificate.signatureAlgorithmOID != Self.ecdsaWithSHA256OID {
                problem(field, .certificateSignatureAlgorithm,
                        "signed with \(certificate.signatureAlgorithmOID), expected ecdsa-with-SHA256 (\(Self.ecdsaWithSHA256OID))")
            }
            return certificate
        }

        let replacements = body.supplierReplacementCertificates.all.map { item in
            (item.field, item.slot, decode(item.der, field: item.field))
        }
        let path = body.certificationPathCertificates.enumerated().map { index, der in
            decode(der, field: DUISPath.pathCertificate(index))
        }

        // The GBCS §12 profile of every certificate a meter accepts.
        let everyCertificate = replacements.map { ($0.0, $0.2) } + path.enumerated().map { (DUISPath.pathCertificate($0.offset), $0.element) }
        for (field, certificate) in everyCertificate {
            guard let certificate else { continue }
            let fields = certificate.profile
            switch fields.keyUsage {
            case .absent: problem(field, .certificateExtensions, "keyUsage must be present and critical; the certificate has no keyUsage extension")
            case .nonCritical: problem(field, .certificateExtensions, "keyUsage must be critical")
            case .critical: break
            }
            switch fields.certificatePolicies {
            case .absent: problem(field, .certificateExtensions, "certificatePolicies must be present and critical; the certificate has none")
            case .nonCritical: problem(field, .certificateExtensions, "certificatePolicies must be critical")
            case .critical: break
            }
            if let ski = fields.subjectKeyIdentifier {
                if ski.count != 8 {
                    problem(field, .certificateKeyIdentifiers, "the SubjectKeyIdentifier must be 8 octets (RFC 5280 method 2), got \(ski.count)")
                }
            } else {
                problem(field, .certificateKeyIdentifiers, "the SubjectKeyIdentifier extension is missing")
            }
            if let aki = fields.authorityKeyIdentifier {
                if aki.count != 8 {
                    problem(field, .certificateKeyIdentifiers, "the AuthorityKeyIdentifier keyIdentifier [0] must be 8 octets, got \(aki.count)")
                }
                if fields.authorityKeyIdentifierHasIssuerAndSerial {
                    problem(field, .certificateKeyIdentifiers, "the AuthorityKeyIdentifier must hold only the keyIdentifier [0], not the issuer and serial")
                }
            } else if !certificate.isSelfSigned {
                problem(field, .certificateKeyIdentifiers,
                        fields.authorityKeyIdentifierHasIssuerAndSerial
                            ? "the AuthorityKeyIdentifier must hold a keyIdentifier [0] (only a self-signed root may omit it)"
                            : "the AuthorityKeyIdentifier extension is missing (only a self-signed root may omit it)")
            }
        }
        // Certification path certificates are CAs.
        for (index, certificate) in path.enumerated() {
            guard let certificate else { continue }
            let field = DUISPath.pathCertificate(index)
            if !certificate.profile.isCA {
                problem(field, .certificateAuthority, "a certification path certificate must be a CA (basicConstraints cA TRUE)")
            }
            if !(certificate.keyUsage?.contains(.keyCertSign) ?? false) {
                problem(field, .certificateAuthority, "a certification path certificate must have the keyCertSign key usage")
            }
        }

        // Role checks: key usage and OU.
        for (field, slot, certificate) in replacements {
            guard let certificate else { continue }
            let required: KeyUsage = slot == .digitalSigning ? .digitalSignature : .keyAgreement
            let requiredName = slot == .digitalSigning ? "digitalSignature" : "keyAgreement"
            if let usage = certificate.keyUsage {
                if usage != required {
                    problem(field, .certificateKeyUsage, "key usage must be exactly \(requiredName), got \(usage)")
                }
            } else {
                problem(field, .certificateKeyUsage, "key usage must be exactly \(requiredName), but the certificate has no keyUsage extension")
            }
            let ou = certificate.subjectOrganizationalUnit
            if ou != Self.supplierRoleCode {
                problem(field, .certificateRole,
                        "the subject OU must be the Supplier role code 02, got \(ou.map { "'\($0)'" } ?? "none")")
            }
        }

        // One entity identifier across the replacement certificates.
        var firstEntity: (field: String, id: EUI64)?
        for (field, _, certificate) in replacements {
            guard let certificate else { continue }
            guard let id = certificate.entityIdentifier else {
                problem(field, .certificateEntityIdentifier,
                        "the subject has no x500UniqueIdentifier holding a 64-bit entity identifier (EUI-64)")
                continue
            }
            if let firstEntity {
                if firstEntity.id != id {
                    let other = firstEntity.field.split(separator: "/").last.map(String.init) ?? firstEntity.field
                    problem(field, .certificateEntityIdentifier,
                            "entity identifier \(id) differs from \(firstEntity.id) in \(other): all replacement certificates must belong to one entity")
                }
            } else {
                firstEntity = (field, id)
            }
        }

        // Each replacement certificate is signed by one of the path certificates.
        let issuers = path.compactMap { $0 }
        if !issuers.isEmpty {
            for (field, _, certificate) in replacements {
                guard let certificate, !issuers.contains(where: { certificate.isIssued(by: $0) }) else { continue }
                problem(field, .certificateChain,
                        "not issued by any sr:CertificationPathCertificates certificate (its issuer is '\(certificate.issuer.rfc2253)'; no path certificate with that name verifies its signature)")
            }
        }

        // Validity at the caller's time, and of the replacement certificates when the request executes.
        func window(_ certificates: [Certificate?]) -> ClosedRange<Date>? {
            let decoded = certificates.compactMap { $0 }
            guard let start = decoded.map(\.notBefore).max(), let end = decoded.map(\.notAfter).min(), start <= end else { return nil }
            return start...end
        }
        let windows = CertificateValidityWindows(replacements: window(replacements.map(\.2)), all: window(everyCertificate.map(\.1)))
        if let time {
            for (field, certificate) in everyCertificate {
                guard let certificate, !certificate.isValid(at: time) else { continue }
                problem(field, .certificateValidity,
                        "not valid at \(time.formatted(.iso8601)) (valid from \(certificate.notBefore.formatted(.iso8601)) to \(certificate.notAfter.formatted(.iso8601)))")
            }
        }
        if let replacementTime {
            let when = body.executionDateTime.map { "at its ExecutionDateTime \($0.lexicalValue)" } ?? "now (\(replacementTime.formatted(.iso8601)))"
            for (field, _, certificate) in replacements {
                guard let certificate, !certificate.isValid(at: replacementTime) else { continue }
                problem(field, .certificateValidity,
                        "the meter would refuse it: the request executes \(when), outside the certificate's validity (\(certificate.notBefore.formatted(.iso8601)) to \(certificate.notAfter.formatted(.iso8601)))")
            }
        }
        return (problems, windows)
    }
}
