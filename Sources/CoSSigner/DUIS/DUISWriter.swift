extension ServiceRequest623 {
    /// The XML declaration and root start tag every written request starts with, exactly as the
    /// DCC Boxed 6.23 templates have them (the `ds` and `xsi` declarations are part of the bytes an
    /// inclusive-C14N Reference digest covers, so they are kept).
    static func prologue(schemaVersion: String) -> String {
        xmlDeclaration + rootStartTag(schemaVersion: schemaVersion)
    }

    static let xmlDeclaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"

    /// The root start tag alone (the canonical form has no XML declaration).
    static func rootStartTag(schemaVersion: String) -> String {
        "<sr:Request xmlns:ds=\"\(DUISNamespace.xmldsig)\" xmlns:sr=\"\(DUISNamespace.serviceUserGateway)\""
            + " xmlns:xsi=\"\(DUISNamespace.xsi)\" schemaVersion=\"\(DUISWriter.escape(schemaVersion, attribute: true))\">"
    }

    /// The request as a compact, unsigned DUIS document in UTF-8: the XML declaration, then
    /// `sr:Request` (namespace `http://www.dccinterface.co.uk/ServiceUserGateway`, with the
    /// template's `ds`/`xsi` declarations and `schemaVersion`) with no white space between
    /// elements, and one line feed after the root end tag. The DUIS schema accepts it.
    ///
    /// For a request parsed from a DCC Boxed 6.23 template this is the template's compact form
    /// byte for byte. Values are written canonically: RequestIDs in upper case, booleans as
    /// `true`/`false`, certificates as one line of base64; `ExecutionDateTime` exactly as read.
    public func xmlBytes() -> [UInt8] {
        written(canonical: false)
    }

    /// The request's canonical form (inclusive C14N 1.0, as a signature's Reference digests it): ``xmlBytes()``
    /// without the XML declaration and the final line feed. `FastSigningPathTests` checks that canonicalizing
    /// ``xmlBytes()`` gives exactly these bytes.
    func canonicalBytes() -> [UInt8] {
        written(canonical: true)
    }

    private func written(canonical: Bool) -> [UInt8] {
        var w = DUISWriter()
        if !canonical { w.raw(Self.xmlDeclaration) }
        w.raw(Self.rootStartTag(schemaVersion: schemaVersion))
        w.open("Header")
        w.leaf("RequestID", requestID.description)
        if let firstInSequence { w.leaf("FirstInSequence", firstInSequence ? "true" : "false") }
        if let precedingServiceRequestID { w.leaf("PrecedingServiceRequestID", precedingServiceRequestID.description) }
        w.leaf("CommandVariant", commandVariant.description)
        w.leaf("ServiceReference", Self.serviceReference)
        w.leaf("ServiceReferenceVariant", Self.serviceReference)
        w.close("Header")
        w.open("Body")
        w.open("UpdateSecurityCredentialsCoS")
        if let execution = body.executionDateTime { w.leaf("ExecutionDateTime", execution.lexicalValue) }
        w.leaf("SupplierFloorSeqNumber", String(body.supplierFloorSeqNumber))
        if let topUp = body.supplierPrepaymentTopUpFloorSeqNumber { w.leaf("SupplierPrepaymentTopUpFloorSeqNumber", String(topUp)) }
        let replacement = body.supplierReplacementCertificates
        w.open("SupplierReplacementCertificates")
        w.leaf("DigitalSigningCertificate", Base64.encode(replacement.digitalSigningCertificate))
        if let ka = replacement.keyAgreementCertificate { w.leaf("KeyAgreementCertificate", Base64.encode(ka)) }
        if let topUp = replacement.keyAgreementTopUpCertificate { w.leaf("KeyAgreementTopUpCertificate", Base64.encode(topUp)) }
        w.close("SupplierReplacementCertificates")
        w.open("CertificationPathCertificates")
        for certificate in body.certificationPathCertificates { w.leaf("Certificate", Base64.encode(certificate)) }
        w.close("CertificationPathCertificates")
        w.leaf("ApplyTimeBasedCPVChecks", body.applyTimeBasedCPVChecks ? "true" : "false")
        w.leaf("ImportMPxN", body.importMPxN)
        w.close("UpdateSecurityCredentialsCoS")
        w.close("Body")
        w.raw(canonical ? "</sr:Request>" : "</sr:Request>\n")
        return w.bytes
    }
}

/// Appends compact `sr:` markup to a byte buffer.
struct DUISWriter {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(4096) }

    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    mutating func open(_ name: String) { raw("<sr:\(name)>") }

    mutating func close(_ name: String) { raw("</sr:\(name)>") }

    mutating func leaf(_ name: String, _ value: String) {
        open(name)
        raw(Self.escape(value, attribute: false))
        close(name)
    }

    /// Escapes character data: `&`, `<`, `>` and CR always; `"` too in attribute values.
    static package func escape(_ text: String, attribute: Bool) -> String {
        guard text.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x0D || (attribute && $0 == 0x22) }) else {
            return text
        }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\r": result += "&#13;"
            case "\"" where attribute: result += "&quot;"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
