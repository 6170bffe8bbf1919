/// The values a 6.23 is built from, as people give them: the options of `cos-signer build` and the JSON of
/// `cos-signer-server`'s `POST /v1/requests/6.23` (one set of names: `originator`, `target`, `counter`,
/// `commandVariant`, `floor`, `topupFloor`, `signingCert`, `keyAgreementCert`, `topupCert`, `pathCert`,
/// `applyCpvChecks`, `mpxn`, `executeAt`). ``ServiceRequest623/init(fields:naming:)`` turns them into a request.
///
/// ```swift
/// let request = try ServiceRequest623(fields: ServiceRequest623Fields(
///     originator: "90-B3-D5-1F-3F-01-00-00", target: "00-DB-12-34-56-78-90-A0", counter: "1", floor: "0",
///     signingCert: dsPEM, pathCert: [issuingCAPEM], mpxn: "1312345678333"))
/// ```
package struct ServiceRequest623Fields: Sendable, Hashable {
    /// One field, by its name.
    package enum Field: String, Sendable, CaseIterable {
        case originator, target, counter, commandVariant, floor, topupFloor, signingCert, keyAgreementCert, topupCert,
             pathCert, applyCpvChecks, mpxn, executeAt
    }

    /// How errors name the fields: the CLI's words (its options and the DUIS elements), or the JSON keys.
    package enum Naming: Sendable {
        /// `--originator`, `--target`, `sr:Header/sr:RequestID (counter)`, `SupplierFloorSeqNumber`, …
        case commandLine
        /// `originator`, `target`, `counter`, `floor`, …, `pathCert[2]`.
        case json

        /// The name of `field` in messages.
        package func name(_ field: Field) -> String {
            switch self {
            case .json: return field.rawValue
            case .commandLine:
                switch field {
                case .originator: return "--originator"
                case .target: return "--target"
                case .counter: return "sr:Header/sr:RequestID (counter)"
                case .commandVariant: return "sr:Header/sr:CommandVariant"
                case .floor: return "SupplierFloorSeqNumber"
                case .topupFloor: return "SupplierPrepaymentTopUpFloorSeqNumber"
                case .signingCert: return "--signing-cert"
                case .keyAgreementCert: return "--key-agreement-cert"
                case .topupCert: return "--topup-cert"
                case .pathCert: return "--path-cert"
                case .applyCpvChecks: return "--apply-cpv-checks"
                case .mpxn: return "--mpxn"
                case .executeAt: return "--execute-at"
                }
            }
        }
    }

    /// Business Originator: the sending User ID (EUI-64 text).
    package var originator: String
    /// Business Target: the meter's device ID (EUI-64 text).
    package var target: String
    /// The originator counter, 1 to 2^64-1 (decimal digits).
    package var counter: String
    /// CommandVariant: 1, 2 or 3.
    package var commandVariant: Int
    /// SupplierFloorSeqNumber, 0 to 2^63-1 (decimal digits).
    package var floor: String
    /// SupplierPrepaymentTopUpFloorSeqNumber, 0 to 2^63-1 (decimal digits).
    package var topupFloor: String?
    /// The replacement DigitalSigningCertificate: PEM, DER or base64 of the DER.
    package var signingCert: [UInt8]
    /// The replacement KeyAgreementCertificate.
    package var keyAgreementCert: [UInt8]?
    /// The replacement KeyAgreementTopUpCertificate.
    package var topupCert: [UInt8]?
    /// The CertificationPathCertificates (1 to 3).
    package var pathCert: [[UInt8]]
    /// ApplyTimeBasedCPVChecks.
    package var applyCpvChecks: Bool
    /// ImportMPxN: the import MPAN or MPRN (1 to 13 characters).
    package var mpxn: String
    /// ExecutionDateTime (ISO 8601 with a time zone) for a future-dated request.
    package var executeAt: String?

    package init(originator: String, target: String, counter: String, commandVariant: Int = 1, floor: String,
                topupFloor: String? = nil, signingCert: [UInt8], keyAgreementCert: [UInt8]? = nil, topupCert: [UInt8]? = nil,
                pathCert: [[UInt8]], applyCpvChecks: Bool = true, mpxn: String, executeAt: String? = nil) {
        self.originator = originator
        self.target = target
        self.counter = counter
        self.commandVariant = commandVariant
        self.floor = floor
        self.topupFloor = topupFloor
        self.signingCert = signingCert
        self.keyAgreementCert = keyAgreementCert
        self.topupCert = topupCert
        self.pathCert = pathCert
        self.applyCpvChecks = applyCpvChecks
        self.mpxn = mpxn
        self.executeAt = executeAt
    }
}

extension ServiceRequest623 {
    /// Builds a 6.23 from its fields: each value read strictly (an error names the field as `naming` says), then the
    /// request made as ``init(requestID:commandVariant:firstInSequence:precedingServiceRequestID:body:schemaVersion:)``
    /// makes it. The request is not yet checked against every rule: call ``validate(_:)``, or sign it (signing checks).
    /// - Throws: ``DUISRequestError`` naming the field.
    package init(fields: ServiceRequest623Fields, naming: ServiceRequest623Fields.Naming = .json) throws(DUISRequestError) {
        func eui(_ text: String, _ field: ServiceRequest623Fields.Field) throws(DUISRequestError) -> EUI64 {
            do { return try EUI64(parsing: text) } catch {
                throw DUISRequestError(field: naming.name(field), rule: .lexicalForm, reason: error.description)
            }
        }
        func number(_ text: String, _ field: ServiceRequest623Fields.Field) throws(DUISRequestError) -> UInt64 {
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = UInt64(text) else {
                throw DUISRequestError(field: naming.name(field), rule: .range,
                                       reason: "'\(text)' is not a whole number from 0 to 18446744073709551615")
            }
            return value
        }
        func der(_ encoded: [UInt8], _ field: ServiceRequest623Fields.Field, _ index: Int? = nil) throws(DUISRequestError) -> [UInt8] {
            let name = naming.name(field) + (index.map { "[\($0 + 1)]" } ?? "")
            do { return try Certificate(encoded: encoded, source: name).derBytes } catch {
                throw DUISRequestError(field: name, rule: .certificateEncoding, reason: error.reason)
            }
        }

        let requestID = try RequestID(businessOriginator: try eui(fields.originator, .originator),
                                      businessTarget: try eui(fields.target, .target),
                                      counter: try number(fields.counter, .counter))
        guard let raw = UInt8(exactly: fields.commandVariant), let variant = CommandVariant(rawValue: raw) else {
            throw DUISRequestError(field: naming.name(.commandVariant), rule: .range,
                                   reason: "\(fields.commandVariant) is not a CommandVariant (1 to 9)")
        }
        let certificates = try SupplierReplacementCertificates(
            digitalSigningCertificate: try der(fields.signingCert, .signingCert),
            keyAgreementCertificate: try fields.keyAgreementCert.map { (encoded) throws(DUISRequestError) in try der(encoded, .keyAgreementCert) },
            keyAgreementTopUpCertificate: try fields.topupCert.map { (encoded) throws(DUISRequestError) in try der(encoded, .topupCert) })
        var path = [[UInt8]]()
        for (index, encoded) in fields.pathCert.enumerated() {
            path.append(try der(encoded, .pathCert, fields.pathCert.count > 1 || naming == .json ? index : nil))
        }
        let body = try UpdateSecurityCredentialsCoS(
            executionDateTime: try fields.executeAt.map { (text) throws(DUISRequestError) in try ExecutionDateTime(parsing: text) },
            supplierFloorSeqNumber: try number(fields.floor, .floor),
            supplierPrepaymentTopUpFloorSeqNumber: try fields.topupFloor.map { (text) throws(DUISRequestError) in try number(text, .topupFloor) },
            supplierReplacementCertificates: certificates,
            certificationPathCertificates: path,
            applyTimeBasedCPVChecks: fields.applyCpvChecks,
            importMPxN: fields.mpxn)
        try self.init(requestID: requestID, commandVariant: variant, body: body)
    }
}
