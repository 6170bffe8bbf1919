/// A DUIS CommandVariant (1 ... 9): how the DCC handles the request and its device command.
///
/// Only 1, 2 and 3 are valid for SRV 6.23 (see ``ServiceRequest623/allowedCommandVariants``);
/// the DUIS schema itself does not tie variants to service requests.
public struct CommandVariant: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The value, 1 ... 9.
    public let rawValue: UInt8

    /// Makes a CommandVariant if `rawValue` is 1 ... 9.
    public init?(rawValue: UInt8) {
        guard (1...9).contains(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    private init(unchecked value: UInt8) { rawValue = value }

    /// 1: non-critical; the command is sent to the device via the SM WAN.
    public static let nonCriticalViaWAN = CommandVariant(unchecked: 1)
    /// 2: non-critical; the command is returned to the User for local delivery.
    public static let nonCriticalForLocalDelivery = CommandVariant(unchecked: 2)
    /// 3: non-critical; both sent via the SM WAN and returned for local delivery.
    public static let nonCriticalViaWANAndForLocalDelivery = CommandVariant(unchecked: 3)

    public var description: String { String(rawValue) }
}

/// The certificates that replace the supplier's on the device (`sr:SupplierReplacementCertificates`,
/// schema type `ReplacementCertificatesCoS`), each as DER bytes.
public struct SupplierReplacementCertificates: Hashable, Sendable {
    /// The Supplier digital signing certificate (required).
    public let digitalSigningCertificate: [UInt8]
    /// The Supplier key agreement certificate (optional).
    public let keyAgreementCertificate: [UInt8]?
    /// The Supplier key agreement certificate for prepayment top-up (optional).
    public let keyAgreementTopUpCertificate: [UInt8]?

    /// Makes the set from DER-encoded certificates. The certificates' content is checked when the request is
    /// signed (``SupplierSigner``); here only emptiness is refused.
    /// - Throws: ``DUISRequestError`` if a certificate is empty.
    public init(digitalSigningCertificate: [UInt8], keyAgreementCertificate: [UInt8]? = nil,
                keyAgreementTopUpCertificate: [UInt8]? = nil) throws(DUISRequestError) {
        for (der, field) in [(digitalSigningCertificate, DUISPath.digitalSigning),
                             (keyAgreementCertificate ?? [0], DUISPath.keyAgreement),
                             (keyAgreementTopUpCertificate ?? [0], DUISPath.keyAgreementTopUp)] where der.isEmpty {
            throw DUISRequestError(field: field, rule: .certificateEncoding, reason: "the certificate is empty")
        }
        self.digitalSigningCertificate = digitalSigningCertificate
        self.keyAgreementCertificate = keyAgreementCertificate
        self.keyAgreementTopUpCertificate = keyAgreementTopUpCertificate
    }

    /// The certificates present, in schema order, with their element paths.
    var all: [(field: String, slot: ReplacementSlot, der: [UInt8])] {
        var result = [(DUISPath.digitalSigning, ReplacementSlot.digitalSigning, digitalSigningCertificate)]
        if let keyAgreementCertificate { result.append((DUISPath.keyAgreement, .keyAgreement, keyAgreementCertificate)) }
        if let keyAgreementTopUpCertificate {
            result.append((DUISPath.keyAgreementTopUp, .keyAgreementTopUp, keyAgreementTopUpCertificate))
        }
        return result
    }
}

/// Which slot of `SupplierReplacementCertificates` a certificate is in.
enum ReplacementSlot {
    case digitalSigning, keyAgreement, keyAgreementTopUp
}

/// The body of SRV 6.23 "Update Security Credentials (CoS)" (`sr:UpdateSecurityCredentialsCoS`).
///
/// Its elements, in schema order: optional `ExecutionDateTime` (present = future dated),
/// `SupplierFloorSeqNumber`, optional `SupplierPrepaymentTopUpFloorSeqNumber`,
/// `SupplierReplacementCertificates`, `CertificationPathCertificates` (1 to 3),
/// `ApplyTimeBasedCPVChecks`, `ImportMPxN`. Values are checked when the body is made; the
/// certificates' content when the request is signed (``SupplierSigner``).
public struct UpdateSecurityCredentialsCoS: Hashable, Sendable {
    /// The largest floor sequence number the schema allows, 2^63-1.
    public static let maximumFloorSequenceNumber: UInt64 = 9_223_372_036_854_775_807
    /// How many certification path certificates the schema allows.
    public static let certificationPathCertificateCount: ClosedRange<Int> = 1...3
    /// How many characters `ImportMPxN` may have.
    public static let importMPxNLength: ClosedRange<Int> = 1...13

    /// When the device should execute the request; `nil` for an immediate (on-demand) request.
    public let executionDateTime: ExecutionDateTime?
    /// The anti-replay floor for the supplier role on the device, 0 ... 2^63-1.
    public let supplierFloorSeqNumber: UInt64
    /// The floor for prepayment top-ups, 0 ... 2^63-1, if given.
    public let supplierPrepaymentTopUpFloorSeqNumber: UInt64?
    /// The certificates that will replace the supplier's.
    public let supplierReplacementCertificates: SupplierReplacementCertificates
    /// The certification path (issuing CA) certificates, DER, 1 to 3.
    public let certificationPathCertificates: [[UInt8]]
    /// Whether the device applies time-based checks during certification path validation.
    public let applyTimeBasedCPVChecks: Bool
    /// The import MPAN (ESME) or MPRN (GSME), 1 to 13 characters.
    public let importMPxN: String

    /// Makes the body from values.
    /// - Throws: ``DUISRequestError`` naming the field: a floor above 2^63-1, 0 or more than 3
    ///   path certificates, an empty certificate, or an ImportMPxN not 1 to 13 characters (or with
    ///   whitespace or control characters).
    public init(executionDateTime: ExecutionDateTime? = nil,
                supplierFloorSeqNumber: UInt64,
                supplierPrepaymentTopUpFloorSeqNumber: UInt64? = nil,
                supplierReplacementCertificates: SupplierReplacementCertificates,
                certificationPathCertificates: [[UInt8]],
                applyTimeBasedCPVChecks: Bool,
                importMPxN: String) throws(DUISRequestError) {
        for (value, field) in [(supplierFloorSeqNumber, DUISPath.supplierFloor),
                               (supplierPrepaymentTopUpFloorSeqNumber ?? 0, DUISPath.topUpFloor)]
        where value > Self.maximumFloorSequenceNumber {
            throw DUISRequestError(field: field, rule: .range,
                                   reason: "\(value) is larger than the maximum floor sequence number 9223372036854775807 (2^63-1)")
        }
        guard Self.certificationPathCertificateCount.contains(certificationPathCertificates.count) else {
            throw DUISRequestError(field: DUISPath.path, rule: .cardinality,
                                   reason: "must hold 1 to 3 sr:Certificate elements, got \(certificationPathCertificates.count)")
        }
        for (i, der) in certificationPathCertificates.enumerated() where der.isEmpty {
            throw DUISRequestError(field: DUISPath.pathCertificate(i), rule: .certificateEncoding, reason: "the certificate is empty")
        }
        try Self.checkImportMPxN(importMPxN)
        self.executionDateTime = executionDateTime
        self.supplierFloorSeqNumber = supplierFloorSeqNumber
        self.supplierPrepaymentTopUpFloorSeqNumber = supplierPrepaymentTopUpFloorSeqNumber
        self.supplierReplacementCertificates = supplierReplacementCertificates
        self.certificationPathCertificates = certificationPathCertificates
        self.applyTimeBasedCPVChecks = applyTimeBasedCPVChecks
        self.importMPxN = importMPxN
    }

    /// Whether the request is future dated (has an `ExecutionDateTime`).
    public var isFutureDated: Bool { executionDateTime != nil }

    private static func checkImportMPxN(_ value: String) throws(DUISRequestError) {
        // The usual case, printable ASCII: no whitespace or control character, and the length is the byte count.
        if value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), importMPxNLength.contains(value.utf8.count) { return }
        let length = value.unicodeScalars.count
        guard importMPxNLength.contains(length) else {
            throw DUISRequestError(field: DUISPath.importMPxN, rule: .range,
                                   reason: "must be 1 to 13 characters, got \(length)")
        }
        if let bad = value.unicodeScalars.first(where: { $0.properties.isWhitespace || $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            throw DUISRequestError(field: DUISPath.importMPxN, rule: .lexicalForm,
                                   reason: "'\(value)' contains whitespace or a control character (U+\(String(bad.value, radix: 16, uppercase: true)))")
        }
    }
}
