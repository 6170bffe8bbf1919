import Foundation

/// Options for ``ServiceRequest623/validate(_:)``.
public struct DUISValidationOptions: Sendable {
    /// If set, a future-dated request's `ExecutionDateTime` must be after this time.
    public var now: Date?
    /// Whether to run the certificate checks (``ServiceRequest623/validateCertificates(at:)``).
    public var checkCertificates: Bool
    /// If set, every certificate must be valid at this time. `nil` skips validity dates (the
    /// public DCC Boxed test certificates have expired).
    public var certificateValidityTime: Date?
    /// If set, the written document must also be valid against this schema.
    public var schema: DUISSchema?

    /// Makes options; by default the certificates are checked without validity dates, there is
    /// no "now" and no schema.
    public init(now: Date? = nil, checkCertificates: Bool = true, certificateValidityTime: Date? = nil, schema: DUISSchema? = nil) {
        self.now = now
        self.checkCertificates = checkCertificates
        self.certificateValidityTime = certificateValidityTime
        self.schema = schema
    }
}

extension ServiceRequest623 {
    /// The OID of ecdsa-with-SHA256.
    public static let ecdsaWithSHA256OID = "1.2.840.10045.4.3.2"
    /// The SMKI remote party role code of a Supplier, carried in the subject OU.
    public static let supplierRoleCode = "02"

    /// Runs every check beyond the structural ones the model already enforces: future dating
    /// (if `options.now`), certificates (unless switched off), and the DUIS schema (if given).
    /// - Throws: the first failure: ``DUISRequestError`` or ``DUISSchemaError`` (both input failures).
    public func validate(_ options: DUISValidationOptions) throws {
        if let now = options.now { try checkFutureDated(now: now) }
        if options.checkCertificates { try validateCertificates(at: options.certificateValidityTime) }
        if let schema = options.schema { try validate(against: schema) }
    }

    /// Checks the replacement and certification path certificates; throws the first problem of
    /// ``certificateProblems(at:)``.
    /// - Parameter time: if given, every certificate must be valid at this time.
    /// - Throws: ``DUISRequestError`` naming the certificate's element and the rule.
    public func validateCertificates(at time: Date? = nil) throws(DUISRequestError) {
        if let first = certificateProblems(at: time).first { throw first }
    }

    /// Every certificate problem: first the encoding, key and algorithm of each certificate, then
    /// key usage and role, then the entity identifier, then the issuer, then (with `time`) validity.
    ///
    /// For each certificate: one DER X.509 certificate, a P-256 public key, signed with
    /// ecdsa-with-SHA256. For the replacement certificates also: key usage exactly
    /// digitalSignature (DigitalSigningCertificate) or exactly keyAgreement (the two key agreement
    /// certificates), subject OU `02` (Supplier), an entity identifier (x500UniqueIdentifier,
    /// EUI-64) that is the same in all of them, and a signature by one of the certification path
    /// certificates. With `time`, every certificate must be valid at that time.
    public func certificateProblems(at time: Date? = nil) -> [DUISRequestError] {
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

        // Validity at the caller's time.
        if let time {
            let all = replacements.map { ($0.0, $0.2) } + path.enumerated().map { (DUISPath.pathCertificate($0.offset), $0.element) }
            for (field, certificate) in all {
                guard let certificate, !certificate.isValid(at: time) else { continue }
                problem(field, .certificateValidity,
                        "not valid at \(time.formatted(.iso8601)) (valid from \(certificate.notBefore.formatted(.iso8601)) to \(certificate.notAfter.formatted(.iso8601)))")
            }
        }
        return problems
    }
}
