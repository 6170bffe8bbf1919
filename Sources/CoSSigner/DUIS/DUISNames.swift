/// Namespace URIs of DUIS documents.
package enum DUISNamespace {
    /// `sr:`, the DUIS request namespace.
    package static let serviceUserGateway = "http://www.dccinterface.co.uk/ServiceUserGateway"
    /// `ds:`, XML Signature.
    package static let xmldsig = "http://www.w3.org/2000/09/xmldsig#"
    /// `xsi:`, XML Schema instance.
    package static let xsi = "http://www.w3.org/2001/XMLSchema-instance"
}

/// Element paths used in error messages (relative to the root `sr:Request`).
enum DUISPath {
    static let root = "sr:Request"
    static let header = "sr:Header"
    static let requestID = "sr:Header/sr:RequestID"
    static let firstInSequence = "sr:Header/sr:FirstInSequence"
    static let precedingServiceRequestID = "sr:Header/sr:PrecedingServiceRequestID"
    static let commandVariant = "sr:Header/sr:CommandVariant"
    static let serviceReference = "sr:Header/sr:ServiceReference"
    static let serviceReferenceVariant = "sr:Header/sr:ServiceReferenceVariant"
    static let body = "sr:Body"
    static let cos = "sr:Body/sr:UpdateSecurityCredentialsCoS"
    static let executionDateTime = cos + "/sr:ExecutionDateTime"
    static let supplierFloor = cos + "/sr:SupplierFloorSeqNumber"
    static let topUpFloor = cos + "/sr:SupplierPrepaymentTopUpFloorSeqNumber"
    static let replacement = cos + "/sr:SupplierReplacementCertificates"
    static let digitalSigning = replacement + "/sr:DigitalSigningCertificate"
    static let keyAgreement = replacement + "/sr:KeyAgreementCertificate"
    static let keyAgreementTopUp = replacement + "/sr:KeyAgreementTopUpCertificate"
    static let path = cos + "/sr:CertificationPathCertificates"
    static func pathCertificate(_ index: Int) -> String { path + "/sr:Certificate[\(index + 1)]" }
    static let applyTimeBasedCPVChecks = cos + "/sr:ApplyTimeBasedCPVChecks"
    static let importMPxN = cos + "/sr:ImportMPxN"
}
