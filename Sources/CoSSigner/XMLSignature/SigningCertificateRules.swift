import Foundation

/// The rules for the certificate that signs a DUIS request (domain notes §2.2, §3.2, §4.2): a DCC User's XML
/// signing certificate, one per User ID. Checked when a key and certificate are loaded for signing (`--key/--cert`,
/// every registry credential) and when a request's signature is verified, so that a CA, a key agreement, a device
/// (OU `02`) or an expired certificate never signs or verifies a request.
package enum SigningCertificateRules {
    /// The SMKI remote party role of a DCC User's XML signing certificate (XmlSign), carried in the subject OU.
    package static let userXMLSigningRole = "87"
    /// The role of the DCC's own (DSP) XML signing certificate, which signs responses.
    package static let dspXMLSigningRole = "89"

    /// The SMKI remote party roles by their OU code (domain notes §3.2), for messages.
    static let roleNames: [String: String] = [
        "00": "Root", "01": "Recovery", "02": "Supplier (device certificate)", "03": "Network Operator",
        "04": "Access Control Broker", "05": "Transitional Change of Supplier", "06": "WAN Provider",
        "07": "Issuing Authority (CA)", "08": "Load Controller", "7F": "Other", "87": "XmlSign", "89": "DspXmlSign",
    ]

    /// `OU 02 (Supplier (device certificate))`, `no OU`.
    static func describeRole(_ ou: String?) -> String {
        guard let ou else { return "no OU" }
        return "OU \(ou)" + (roleNames[ou.uppercased()].map { " (\($0))" } ?? "")
    }

    /// Why `certificate` may not sign DUIS requests as a User, empty when it may: subject OU `87` (XmlSign);
    /// keyUsage present, critical and exactly digitalSignature; not a CA; a P-256 key; a 64-bit entity identifier.
    /// Validity dates are not checked here (see ``validityProblem(_:at:)``).
    package static func problems(_ certificate: Certificate) -> [String] {
        var problems = [String]()
        let ou = certificate.subjectOrganizationalUnit
        if ou != userXMLSigningRole {
            problems.append("its subject has \(describeRole(ou)); a DCC User's XML signing certificate has OU \(userXMLSigningRole) (XmlSign)")
        }
        switch certificate.profile.keyUsage {
        case .absent:
            problems.append("it has no keyUsage extension; an XML signing certificate has a critical keyUsage of digitalSignature only")
        case .nonCritical:
            problems.append("its keyUsage extension is not critical")
        case .critical:
            break
        }
        if let usage = certificate.keyUsage, usage != .digitalSignature {
            problems.append("its key usage is \(usage); an XML signing certificate has digitalSignature only")
        }
        if certificate.profile.isCA {
            problems.append("it is a CA certificate (basicConstraints cA TRUE)")
        }
        if !certificate.isP256 {
            problems.append("its public key is not a P-256 key")
        }
        if certificate.entityIdentifier == nil {
            problems.append("its subject has no 64-bit x500UniqueIdentifier (entity identifier)")
        }
        return problems
    }

    /// Refuses a certificate that may not sign DUIS requests as a User (see ``problems(_:)``).
    /// - Throws: ``CryptoError`` (``CryptoError/Code/unsupportedCertificate``, key or certificate class) listing
    ///   every reason.
    package static func requireUserSigningCertificate(_ certificate: Certificate) throws(CryptoError) {
        let problems = problems(certificate)
        guard problems.isEmpty else {
            throw CryptoError.plain(.unsupportedCertificate,
                                    "certificate serial \(certificate.serialNumber) is not an XML signing certificate and cannot sign DUIS requests: "
                                        + problems.joined(separator: "; "),
                                    context: certificate.source)
        }
    }

    /// Why `certificate` may not sign (or have signed) at `time`: outside its validity period. `nil` when valid.
    package static func validityProblem(_ certificate: Certificate, at time: Date) -> String? {
        guard !certificate.isValid(at: time) else { return nil }
        let state = time < certificate.notBefore ? "not yet valid" : "expired"
        return "certificate serial \(certificate.serialNumber) is \(state) at \(time.formatted(.iso8601)) (valid from \(certificate.notBefore.formatted(.iso8601)) to \(certificate.notAfter.formatted(.iso8601)))"
    }

    /// `certificate serial N (issuer DN)`, for messages.
    static func name(_ certificate: Certificate) -> String {
        "certificate serial \(certificate.serialNumber) (issuer \(certificate.issuer.rfc2253))"
    }
}
