import Foundation

/// A DUIS Service Request 6.23 "Update Security Credentials (CoS)": the header and the
/// ``UpdateSecurityCredentialsCoS`` body, with every value checked.
///
/// Read one with ``init(parsing:source:)`` (a signed request's
/// `ds:Signature` is accepted as the root's last child and ignored), build one from values with
/// ``init(requestID:commandVariant:firstInSequence:precedingServiceRequestID:body:schemaVersion:)``,
/// and write it with ``xmlBytes()`` (compact, unsigned).
public struct ServiceRequest623: Hashable, Sendable {
    /// The ServiceReference and ServiceReferenceVariant of this request.
    public static let serviceReference = "6.23"
    /// The CommandVariants valid for 6.23: 1, 2 and 3 (non-critical).
    public static let allowedCommandVariants: Set<CommandVariant> = [
        .nonCriticalViaWAN, .nonCriticalForLocalDelivery, .nonCriticalViaWANAndForLocalDelivery,
    ]
    /// The DUIS schema version written by default.
    public static let defaultSchemaVersion = "5.4"

    /// The root's `schemaVersion` attribute, as written (an `xs:decimal`, `5.4` by default).
    public let schemaVersion: String
    /// Business Originator, Business Target and originator counter.
    public let requestID: RequestID
    /// `FirstInSequence`, for sequenced requests (normally absent).
    public let firstInSequence: Bool?
    /// `PrecedingServiceRequestID`, for sequenced requests (normally absent).
    public let precedingServiceRequestID: RequestID?
    /// The CommandVariant: 1, 2 or 3.
    public let commandVariant: CommandVariant
    /// The `UpdateSecurityCredentialsCoS` body.
    public let body: UpdateSecurityCredentialsCoS

    /// Builds a request from values.
    /// - Throws: ``DUISRequestError`` for a CommandVariant other than 1, 2 or 3
    ///   (field `sr:Header/sr:CommandVariant`) or a `schemaVersion` that is not an `xs:decimal`.
    public init(requestID: RequestID,
                commandVariant: CommandVariant = .nonCriticalViaWAN,
                firstInSequence: Bool? = nil,
                precedingServiceRequestID: RequestID? = nil,
                body: UpdateSecurityCredentialsCoS,
                schemaVersion: String = ServiceRequest623.defaultSchemaVersion) throws(DUISRequestError) {
        try Self.checkCommandVariant(commandVariant)
        try Self.checkSchemaVersion(schemaVersion)
        self.schemaVersion = schemaVersion
        self.requestID = requestID
        self.firstInSequence = firstInSequence
        self.precedingServiceRequestID = precedingServiceRequestID
        self.commandVariant = commandVariant
        self.body = body
    }

    /// Parses a 6.23 request, unsigned or signed, from bytes (hardened XML parser, then the strict
    /// rules of the DUIS 5.4 schema and 6.23's own).
    /// - Parameters:
    ///   - bytes: the document (UTF-8).
    ///   - source: a file name for error messages.
    /// - Throws: ``DUISRequestError``; malformed XML gives rule ``DUISRequestError/Rule/wellFormedXML``.
    public init(parsing bytes: [UInt8], source: String? = nil) throws(DUISRequestError) {
        let document: XMLDocument
        do throws(XMLError) {
            document = try XMLDocument(parsing: bytes, source: source)
        } catch {
            throw DUISRequestError(field: "", rule: .wellFormedXML, reason: error.message, line: error.line, source: source)
        }
        try self.init(document: document, source: source)
    }

    /// Reads a 6.23 request from a parsed document, strictly: the DUIS namespace, the schema's
    /// element order, no unknown, duplicate or missing elements, no text in element-only content,
    /// no comments, no attributes other than the root's `schemaVersion`. A `ds:Signature` is
    /// allowed as the root's last child; its content is not examined here.
    /// - Throws: ``DUISRequestError`` naming the element path and its line.
    package init(document: XMLDocument, source: String? = nil) throws(DUISRequestError) {
        let reader = DUISStructure(source: source)
        let root = document.root
        guard root.namespaceURI == DUISNamespace.serviceUserGateway, root.localName == "Request" else {
            throw reader.error(DUISStructure.path("", root), .unexpectedElement,
                               "the root element must be sr:Request in namespace \(DUISNamespace.serviceUserGateway)",
                               line: root.line)
        }
        try reader.requireNoAttributes(root, path: DUISPath.root, except: ["schemaVersion"])
        guard let schemaVersion = root.attribute("schemaVersion") else {
            throw reader.error(DUISPath.root, .attribute, "the schemaVersion attribute is required", line: root.line)
        }
        do throws(DUISRequestError) {
            try Self.checkSchemaVersion(schemaVersion)
        } catch {
            throw error.located(line: root.line, source: source)
        }

        let top = try reader.sequence(of: root, path: "", [
            .init(localName: "Header"),
            .init(localName: "Body"),
            .init(namespaceURI: DUISNamespace.xmldsig, localName: "Signature", minOccurs: 0),
        ])
        let header = top[0][0]
        let bodyElement = top[1][0]

        // Header.
        try reader.requireNoAttributes(header, path: DUISPath.header)
        let h = try reader.sequence(of: header, path: DUISPath.header, [
            .init(localName: "RequestID"),
            .init(localName: "FirstInSequence", minOccurs: 0),
            .init(localName: "PrecedingServiceRequestID", minOccurs: 0),
            .init(localName: "CommandVariant"),
            .init(localName: "ServiceReference"),
            .init(localName: "ServiceReferenceVariant"),
        ])
        let requestID = try Self.parseRequestID(h[0][0], path: DUISPath.requestID, reader: reader)
        let firstInSequence = try h[1].first.map { (e) throws(DUISRequestError) in
            try reader.boolean(reader.text(of: e, path: DUISPath.firstInSequence), path: DUISPath.firstInSequence, line: e.line)
        }
        let preceding = try h[2].first.map { (e) throws(DUISRequestError) in
            try Self.parseRequestID(e, path: DUISPath.precedingServiceRequestID, reader: reader)
        }
        let cvElement = h[3][0]
        let cvText = try reader.text(of: cvElement, path: DUISPath.commandVariant)
        let commandVariant: CommandVariant
        do throws(DUISRequestError) {
            let number = try DUISDecimal.parseUnsigned(cvText, what: "CommandVariant", field: DUISPath.commandVariant,
                                                       allowLeadingZeros: false, maximum: UInt64(UInt8.max))
            guard let cv = CommandVariant(rawValue: UInt8(number)) else {
                throw DUISRequestError(field: DUISPath.commandVariant, rule: .range,
                                       reason: "CommandVariant \(number) does not exist (1 to 9)")
            }
            try Self.checkCommandVariant(cv)
            commandVariant = cv
        } catch {
            throw error.located(line: cvElement.line, source: source)
        }
        for (element, path) in [(h[4][0], DUISPath.serviceReference), (h[5][0], DUISPath.serviceReferenceVariant)] {
            let value = try reader.text(of: element, path: path)
            guard value == Self.serviceReference else {
                let name = path.split(separator: "/").last.map(String.init) ?? path
                throw reader.error(path, .value,
                                   "\(name) must be 6.23 (Update Security Credentials (CoS)), got \(DUISStructure.quote(value))",
                                   line: element.line)
            }
        }

        // Body.
        try reader.requireNoAttributes(bodyElement, path: DUISPath.body)
        let b = try reader.sequence(of: bodyElement, path: DUISPath.body, [.init(localName: "UpdateSecurityCredentialsCoS")])
        let body = try Self.parseBody(b[0][0], reader: reader)

        do throws(DUISRequestError) {
            try self.init(requestID: requestID, commandVariant: commandVariant, firstInSequence: firstInSequence,
                          precedingServiceRequestID: preceding, body: body, schemaVersion: schemaVersion)
        } catch {
            throw error.located(line: root.line, source: source)
        }
    }

    /// Whether a DUIS document presents itself as a 6.23 request, so that it must pass the typed
    /// 6.23 checks rather than only the generic ones: its root is `sr:Request` and its
    /// ServiceReferenceVariant or ServiceReference is `6.23`, or its body holds
    /// `sr:UpdateSecurityCredentialsCoS`. (Any of these suffices, so a request that is only partly
    /// 6.23 is not waved through as "another request".) Surrounding white space is ignored here.
    package static func claims623(_ document: XMLDocument) -> Bool {
        let root = document.root
        guard root.namespaceURI == DUISNamespace.serviceUserGateway, root.localName == "Request" else { return false }
        for part in root.elementChildren where part.namespaceURI == DUISNamespace.serviceUserGateway {
            for child in part.elementChildren where child.namespaceURI == DUISNamespace.serviceUserGateway {
                switch (part.localName, child.localName) {
                case ("Header", "ServiceReferenceVariant"), ("Header", "ServiceReference"):
                    if child.textContent.trimmingCharacters(in: .whitespacesAndNewlines) == serviceReference { return true }
                case ("Body", "UpdateSecurityCredentialsCoS"):
                    return true
                default:
                    continue
                }
            }
        }
        return false
    }

    /// The 6.23 in a verified document's signed content (canonical form), when it presents itself as one and reads
    /// strictly: from the bytes when it is in the plain shape, else from a tree. `nil` for other documents and for a
    /// signed content that is not a valid 6.23.
    static func readIfClaimed(canonical: [UInt8], source: String?) -> ServiceRequest623? {
        if let request = ServiceRequest623FastReader.read(canonical: canonical) { return request }
        guard let document = try? XMLDocument(parsing: canonical, source: source), claims623(document) else { return nil }
        return try? ServiceRequest623(document: document, source: source)
    }

    // MARK: - Parsing helpers

    private static func parseRequestID(_ element: XMLElement, path: String, reader: DUISStructure) throws(DUISRequestError) -> RequestID {
        let text = try reader.text(of: element, path: path)
        do throws(DUISRequestError) {
            return try RequestID(parsing: text)
        } catch {
            throw error.located(field: path, line: element.line, source: reader.source)
        }
    }

    private static func parseBody(_ element: XMLElement, reader: DUISStructure) throws(DUISRequestError) -> UpdateSecurityCredentialsCoS {
        try reader.requireNoAttributes(element, path: DUISPath.cos)
        let c = try reader.sequence(of: element, path: DUISPath.cos, [
            .init(localName: "ExecutionDateTime", minOccurs: 0),
            .init(localName: "SupplierFloorSeqNumber"),
            .init(localName: "SupplierPrepaymentTopUpFloorSeqNumber", minOccurs: 0),
            .init(localName: "SupplierReplacementCertificates"),
            .init(localName: "CertificationPathCertificates"),
            .init(localName: "ApplyTimeBasedCPVChecks"),
            .init(localName: "ImportMPxN"),
        ])
        let executionDateTime = try c[0].first.map { (e) throws(DUISRequestError) in
            let text = try reader.text(of: e, path: DUISPath.executionDateTime)
            do throws(DUISRequestError) {
                return try ExecutionDateTime(parsing: text)
            } catch {
                throw error.located(field: DUISPath.executionDateTime, line: e.line, source: reader.source)
            }
        }
        let floor = try floorNumber(c[1][0], path: DUISPath.supplierFloor, reader: reader)
        let topUpFloor = try c[2].first.map { (e) throws(DUISRequestError) in
            try floorNumber(e, path: DUISPath.topUpFloor, reader: reader)
        }

        let replacementElement = c[3][0]
        try reader.requireNoAttributes(replacementElement, path: DUISPath.replacement)
        let r = try reader.sequence(of: replacementElement, path: DUISPath.replacement, [
            .init(localName: "DigitalSigningCertificate"),
            .init(localName: "KeyAgreementCertificate", minOccurs: 0),
            .init(localName: "KeyAgreementTopUpCertificate", minOccurs: 0),
        ])
        let ds = try certificate(r[0][0], path: DUISPath.digitalSigning, reader: reader)
        let ka = try r[1].first.map { (e) throws(DUISRequestError) in try certificate(e, path: DUISPath.keyAgreement, reader: reader) }
        let topUp = try r[2].first.map { (e) throws(DUISRequestError) in
            try certificate(e, path: DUISPath.keyAgreementTopUp, reader: reader)
        }
        let replacement: SupplierReplacementCertificates
        do throws(DUISRequestError) {
            replacement = try SupplierReplacementCertificates(
                digitalSigningCertificate: ds, keyAgreementCertificate: ka, keyAgreementTopUpCertificate: topUp)
        } catch {
            throw error.located(line: replacementElement.line, source: reader.source)
        }

        let pathElement = c[4][0]
        try reader.requireNoAttributes(pathElement, path: DUISPath.path)
        let p = try reader.sequence(of: pathElement, path: DUISPath.path, [
            .init(localName: "Certificate", minOccurs: 1, maxOccurs: UpdateSecurityCredentialsCoS.certificationPathCertificateCount.upperBound),
        ])
        var pathCertificates: [[UInt8]] = []
        for (i, e) in p[0].enumerated() {
            pathCertificates.append(try certificate(e, path: DUISPath.pathCertificate(i), reader: reader))
        }

        let cpvElement = c[5][0]
        let cpv = try reader.boolean(reader.text(of: cpvElement, path: DUISPath.applyTimeBasedCPVChecks),
                                     path: DUISPath.applyTimeBasedCPVChecks, line: cpvElement.line)
        let mpxnElement = c[6][0]
        let mpxn = try reader.text(of: mpxnElement, path: DUISPath.importMPxN)

        do throws(DUISRequestError) {
            return try UpdateSecurityCredentialsCoS(
                executionDateTime: executionDateTime, supplierFloorSeqNumber: floor,
                supplierPrepaymentTopUpFloorSeqNumber: topUpFloor, supplierReplacementCertificates: replacement,
                certificationPathCertificates: pathCertificates, applyTimeBasedCPVChecks: cpv, importMPxN: mpxn)
        } catch {
            // Attach the line of the element the error names.
            let line = [(DUISPath.importMPxN, mpxnElement.line), (DUISPath.path, pathElement.line)]
                .first { error.field.hasPrefix($0.0) }?.1 ?? element.line
            throw error.located(line: line, source: reader.source)
        }
    }

    private static func floorNumber(_ element: XMLElement, path: String, reader: DUISStructure) throws(DUISRequestError) -> UInt64 {
        let text = try reader.text(of: element, path: path)
        do throws(DUISRequestError) {
            return try DUISDecimal.parseUnsigned(text, what: "the floor sequence number", field: path, allowLeadingZeros: false,
                                                 maximum: UpdateSecurityCredentialsCoS.maximumFloorSequenceNumber)
        } catch {
            throw error.located(line: element.line, source: reader.source)
        }
    }

    private static func certificate(_ element: XMLElement, path: String, reader: DUISStructure) throws(DUISRequestError) -> [UInt8] {
        let text = try reader.text(of: element, path: path)
        let der: [UInt8]
        do throws(Base64Error) {
            der = try Base64.decode(text)
        } catch {
            throw reader.error(path, .lexicalForm, "not base64: \(error.reason)", line: element.line)
        }
        guard !der.isEmpty else {
            throw reader.error(path, .certificateEncoding, "the certificate is empty", line: element.line)
        }
        return der
    }

    // MARK: - Rules

    static func checkCommandVariant(_ cv: CommandVariant) throws(DUISRequestError) {
        guard allowedCommandVariants.contains(cv) else {
            throw DUISRequestError(field: DUISPath.commandVariant, rule: .value,
                                   reason: "CommandVariant \(cv.rawValue) is not allowed for 6.23 (only 1, 2 or 3)")
        }
    }

    /// `xs:decimal` lexical form: optional sign, digits, optional fraction.
    static func checkSchemaVersion(_ text: String) throws(DUISRequestError) {
        let b = Array(text.utf8)
        var i = 0
        if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
        var digits = 0
        var dot = false
        while i < b.count {
            if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) {
                digits += 1
            } else if b[i] == UInt8(ascii: "."), !dot {
                dot = true
            } else {
                digits = 0
                break
            }
            i += 1
        }
        guard digits > 0, i == b.count else {
            throw DUISRequestError(field: DUISPath.root, rule: .attribute,
                                   reason: "schemaVersion \(DUISStructure.quote(text)) is not an xs:decimal")
        }
    }

    // MARK: - Checks beyond structure

    /// Refuses a future-dated request whose `ExecutionDateTime` is not after `now`.
    /// Immediate requests (no `ExecutionDateTime`) always pass.
    /// - Throws: ``DUISRequestError`` with rule ``DUISRequestError/Rule/futureDated``.
    public func checkFutureDated(now: Date) throws(DUISRequestError) {
        guard let execution = body.executionDateTime else { return }
        guard execution.isFutureDated(relativeTo: now) else {
            // Milliseconds when "now" has a fraction: in the second after the ExecutionDateTime both read the same.
            let wholeSecond = now.timeIntervalSince1970.rounded(.down) == now.timeIntervalSince1970
            throw DUISRequestError(field: DUISPath.executionDateTime, rule: .futureDated,
                                   reason: "\(execution.lexicalValue) is not after the current time \(now.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: !wholeSecond)))")
        }
    }
}
