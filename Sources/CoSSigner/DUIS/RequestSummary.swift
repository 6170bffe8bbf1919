import Foundation

/// A human and JSON view of a 6.23 request, with its certificates summarised.
package struct RequestSummary: Codable, Sendable, Equatable {
    /// A certificate carried in the request.
    package struct CertificateSummary: Codable, Sendable, Equatable {
        /// The element that carries it, e.g. `DigitalSigningCertificate`.
        package let element: String
        /// The SMKI role code from the subject OU (e.g. `02`), if any.
        package let role: String?
        /// The subject's entity identifier (x500UniqueIdentifier), if any.
        package let entityIdentifier: String?
        /// The subject in RFC 2253 form.
        package let subject: String
        /// The issuer in RFC 2253 form.
        package let issuer: String
        /// The serial number in decimal.
        package let serial: String
        /// Validity start, ISO 8601.
        package let notBefore: String
        /// Validity end, ISO 8601.
        package let notAfter: String
        /// Key usage names.
        package let keyUsage: [String]
        /// Set when the bytes are not a readable certificate.
        package let error: String?
    }

    package let requestID: String
    package let businessOriginator: String
    package let businessTarget: String
    package let counter: String
    package let commandVariant: Int
    package let serviceReference: String
    package let serviceReferenceVariant: String
    package let executionDateTime: String?
    package let supplierFloorSeqNumber: String
    package let supplierPrepaymentTopUpFloorSeqNumber: String?
    package let applyTimeBasedCPVChecks: Bool
    package let importMPxN: String
    package let certificates: [CertificateSummary]

    /// Summarises a request.
    package init(_ request: ServiceRequest623) {
        requestID = request.requestID.description
        businessOriginator = request.requestID.businessOriginator.description
        businessTarget = request.requestID.businessTarget.description
        counter = String(request.requestID.counter)
        commandVariant = Int(request.commandVariant.rawValue)
        serviceReference = ServiceRequest623.serviceReference
        serviceReferenceVariant = ServiceRequest623.serviceReference
        let body = request.body
        executionDateTime = body.executionDateTime?.lexicalValue
        supplierFloorSeqNumber = String(body.supplierFloorSeqNumber)
        supplierPrepaymentTopUpFloorSeqNumber = body.supplierPrepaymentTopUpFloorSeqNumber.map { String($0) }
        applyTimeBasedCPVChecks = body.applyTimeBasedCPVChecks
        importMPxN = body.importMPxN
        var list: [(String, [UInt8])] = [("DigitalSigningCertificate", body.supplierReplacementCertificates.digitalSigningCertificate)]
        if let ka = body.supplierReplacementCertificates.keyAgreementCertificate { list.append(("KeyAgreementCertificate", ka)) }
        if let topUp = body.supplierReplacementCertificates.keyAgreementTopUpCertificate { list.append(("KeyAgreementTopUpCertificate", topUp)) }
        for (i, der) in body.certificationPathCertificates.enumerated() { list.append(("CertificationPathCertificates/Certificate[\(i + 1)]", der)) }
        certificates = list.map { Self.summarise(element: $0.0, der: $0.1) }
    }

    static func summarise(element: String, der: [UInt8]) -> CertificateSummary {
        do {
            let c = try Certificate(encoded: der, source: element)
            let iso = ISO8601DateFormatter()
            return CertificateSummary(
                element: element, role: c.subjectOrganizationalUnit, entityIdentifier: c.entityIdentifier?.description,
                subject: c.subject.rfc2253, issuer: c.issuer.rfc2253, serial: c.serialNumberDecimal,
                notBefore: iso.string(from: c.notBefore), notAfter: iso.string(from: c.notAfter),
                keyUsage: c.keyUsage.map(Self.names) ?? [], error: nil)
        } catch {
            return CertificateSummary(element: element, role: nil, entityIdentifier: nil, subject: "", issuer: "", serial: "",
                                      notBefore: "", notAfter: "", keyUsage: [], error: "\(error)")
        }
    }

    static func names(_ usage: KeyUsage) -> [String] {
        let all: [(KeyUsage, String)] = [
            (.digitalSignature, "digitalSignature"), (.nonRepudiation, "nonRepudiation"), (.keyEncipherment, "keyEncipherment"),
            (.dataEncipherment, "dataEncipherment"), (.keyAgreement, "keyAgreement"), (.keyCertSign, "keyCertSign"),
            (.cRLSign, "cRLSign"), (.encipherOnly, "encipherOnly"), (.decipherOnly, "decipherOnly"),
        ]
        return all.filter { usage.contains($0.0) }.map(\.1)
    }

    /// The summary as indented lines for people.
    package var humanReadable: String {
        var lines = [
            "Service Request 6.23 Update Security Credentials (CoS)",
            "  RequestID                 \(requestID)",
            "    Business Originator     \(businessOriginator)",
            "    Business Target         \(businessTarget)",
            "    Originator counter      \(counter)",
            "  CommandVariant            \(commandVariant)",
            "  ExecutionDateTime         \(executionDateTime ?? "(immediate)")",
            "  SupplierFloorSeqNumber    \(supplierFloorSeqNumber)",
            "  TopUpFloorSeqNumber       \(supplierPrepaymentTopUpFloorSeqNumber ?? "(absent)")",
            "  ApplyTimeBasedCPVChecks   \(applyTimeBasedCPVChecks)",
            "  ImportMPxN                \(importMPxN)",
            "  Certificates",
        ]
        for c in certificates {
            lines.append("    \(c.element)")
            if let error = c.error {
                lines.append("      unreadable: \(error)")
                continue
            }
            lines.append("      role \(c.role ?? "-")  EUI-64 \(c.entityIdentifier ?? "-")  serial \(c.serial)")
            lines.append("      subject \(c.subject)  issuer \(c.issuer)")
            lines.append("      valid \(c.notBefore) to \(c.notAfter)  key usage \(c.keyUsage.joined(separator: ","))")
        }
        return lines.joined(separator: "\n")
    }
}
