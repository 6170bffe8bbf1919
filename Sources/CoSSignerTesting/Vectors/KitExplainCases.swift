import CoSSigner
import Foundation

/// The DCC Boxed material the explain and responses cases are built from (`shared/vectors/dccboxed/`): the
/// three 6.23 templates, supplier 1's XmlSign key and certificate (OU 87), the DSP's XML signing key and
/// certificate (OU 89) and DCC's unsigned acknowledgement sample. Only the certificates and the derived
/// documents go into the kit, never the private keys.
struct KitDCCBoxed {
    static let templateNames = ["IMMEDIATE", "FUTURE_DATED", "CANCELLATION"].map {
        "CS02bSupplierByTransCoS_6.23_\($0)_SUCCESS_REQUEST_DUIS.XML"
    }
    static let userCertificateName = "xml-sign-90B3D51F30010000-ds"
    static let dspCertificateName = "dsp-xml-sign-90B3D51F30000002-ds"

    let templates: [String]
    let userKey: SigningKey
    let userCertificate: Certificate
    let dspKey: SigningKey
    let dspCertificate: Certificate
    let acknowledgementError: [UInt8]

    init(shared: String) throws {
        let base = shared + "/vectors/dccboxed"
        func read(_ path: String) throws -> [UInt8] {
            do {
                return try Files.read(base + "/" + path, maxBytes: 1 << 20)
            } catch {
                throw KitError(path: base + "/" + path,
                               reason: "the explain and responses cases are built from the DCC Boxed material in \(base) (set COSSIGNER_SHARED or --shared): \(error.reason)")
            }
        }
        templates = try Self.templateNames.map { String(decoding: try read("templates/\($0)"), as: UTF8.self) }
        userKey = try SigningKey(encoded: try read("keys/\(Self.userCertificateName).key.pem"))
        userCertificate = try Certificate(encoded: try read("keys/\(Self.userCertificateName).pem"))
        dspKey = try SigningKey(encoded: try read("keys/\(Self.dspCertificateName).key.pem"))
        dspCertificate = try Certificate(encoded: try read("keys/\(Self.dspCertificateName).pem"))
        acknowledgementError = try read("signing-tool/acknowledgement-error.xml")
    }
}

extension KitMaker {
    static let explainUserCertificatePath = "explain/certificates/\(KitDCCBoxed.userCertificateName).pem"
    static let responsesDSPCertificatePath = "responses/certificates/\(KitDCCBoxed.dspCertificateName).pem"
    static let responsesUserCertificatePath = "responses/certificates/\(KitDCCBoxed.userCertificateName).pem"

    // MARK: - 5. Explain

    /// One invalid document per diagnosis code (and a few more), each a DCC Boxed template signed with the DCC Boxed
    /// XmlSign key, then broken in exactly one way.
    mutating func explainCases() throws {
        let boxed = try KitDCCBoxed(shared: shared)
        try add(Self.explainUserCertificatePath, boxed.userCertificate.pem())
        let certificate = Self.explainUserCertificatePath
        let signer = try DUISSigner(key: boxed.userKey, certificate: boxed.userCertificate)
        func signed(_ template: Int, keepWhitespace: Bool = false) throws -> String {
            let out = try signer.sign(Array(boxed.templates[template].utf8), options: SigningOptions(keepWhitespace: keepWhitespace, deterministic: true))
            return String(decoding: out.bytes, as: UTF8.self)
        }
        func explain(_ name: String, _ description: String, _ text: String, certificate: String = certificate, at: String? = nil,
                     _ reason: KitReasonClass, _ codes: [SignatureDiagnosis.Code]) throws {
            let path = "explain/\(name).xml"
            try add(path, text)
            addCase(.explain, name, description, KitInputs(certificate: certificate, document: path, at: at),
                    KitExpected(outcome: .invalid, reason: reason.rawValue, exitCode: reason.exitCode, diagnoses: codes.map(\.rawValue)))
        }
        let immediate = try signed(0)
        let keyInfo = KitSignature.keyInfo(boxed.userCertificate)
        let (immediateSignature, immediateContent) = try KitText.splitSignature(immediate)
        let immediateDigest = try KitText.between("<ds:DigestValue>", "</ds:DigestValue>", in: immediate)
        func enveloped(_ content: String, _ element: String) -> String {
            String(content.dropLast("</sr:Request>".count)) + element + "</sr:Request>"
        }

        // Whitespace.
        try explain("pretty-printed-6.23", "A compact signed 6.23 (IMMEDIATE template) pretty-printed after signing, two spaces per level as xmllint --format does: its compact form verifies.",
                    KitText.indent(immediate), .referenceDigest, [.reformattedAfterSigning])
        let cancellation = try signed(2)
        let (cancellationSignature, cancellationContent) = try KitText.splitSignature(cancellation)
        var indentedSignature = KitText.indent(cancellationSignature)
        while indentedSignature.hasSuffix("\n") { indentedSignature.removeLast() }
        try explain("signature-pretty-printed", "Only the ds:Signature of a signed 6.23 (CANCELLATION template) pretty-printed: the content still matches, SignedInfo does not; its compact form verifies.",
                    enveloped(cancellationContent, indentedSignature), .signatureValue, [.reformattedAfterSigning])
        let kept = try signed(1, keepWhitespace: true)
        try explain("whitespace-kept-then-compacted", "The FUTURE_DATED template signed with its indentation kept (whitespace is signed content), then compacted: the signed layout is indented, not compact.",
                    Self.compacted(kept), .referenceDigest, [.whitespaceChanged])
        try explain("whitespace-kept-then-tab-indented", "The FUTURE_DATED template signed with its two-space indentation kept, then re-indented with tabs.",
                    try Self.indented(kept, unit: "\t"), .referenceDigest, [.whitespaceChanged])

        // Canonicalization of the Reference.
        let unsignedDocument = try XMLDocument(parsing: Array(cancellationContent.utf8))
        let exclusiveDigest = Base64.encode(SHA256.hash(try unsignedDocument.exclusiveCanonicalForm(of: unsignedDocument.root)))
        let exclusive = KitSignature(digestValue: exclusiveDigest, keyInfo: keyInfo)
        try explain("exclusive-c14n-digest", "The CANCELLATION template's Reference digested with exclusive C14N (dropping the root's unused xmlns:ds and xmlns:xsi), then signed consistently.",
                    enveloped(cancellationContent, try exclusive.signedElement(key: boxed.userKey)), .referenceDigest, [.exclusiveC14NDigest])
        let commented = "<!-- DCC Boxed 6.23 IMMEDIATE template -->\n" + immediateContent
        let probe = try XMLDocument(parsing: Array(enveloped(commented, immediateSignature).utf8))
        let probeSignature = try Self.rootSignature(probe)
        let commentDigest = Base64.encode(SHA256.hash(try probe.canonicalForm(excluding: probeSignature, exclusive: false, withComments: true)))
        let withComments = KitSignature(digestValue: commentDigest, keyInfo: keyInfo)
        try explain("comments-in-digest", "A comment before the root of the IMMEDIATE template, and the Reference digested with comments (C14N with comments), then signed consistently.",
                    enveloped(commented, try withComments.signedElement(key: boxed.userKey)), .referenceDigest, [.commentsInDigest])

        // SignatureValue encodings.
        let profile = KitSignature(digestValue: immediateDigest, keyInfo: keyInfo)
        try explain("der-signature-value", "The IMMEDIATE template signed with SignatureValue as DER SEQUENCE { r, s } (as EVP_DigestSign or Java's SHA256withECDSA write it) instead of raw r||s.",
                    enveloped(immediateContent, try profile.signedElement(key: boxed.userKey, encode: { $0.derRepresentation })),
                    .signatureValue, [.derSignatureValue])
        try explain("java-length-signature-value-66", "The IMMEDIATE template signed with r and s each written as a 33-byte integer with a leading zero: a 66-byte SignatureValue.",
                    enveloped(immediateContent, try profile.signedElement(key: boxed.userKey, encode: { [0] + $0.r + [0] + $0.s })),
                    .signatureValue, [.javaLengthSignatureValue])
        // A 65-byte value needs r or s with its high bit set (Java then writes that one with a leading zero).
        var javaShort: String?
        search: for template in 0..<boxed.templates.count {
            for keep in [false, true] {
                let document = try signed(template, keepWhitespace: keep)
                let (_, content) = try KitText.splitSignature(document)
                let digest = try KitText.between("<ds:DigestValue>", "</ds:DigestValue>", in: document)
                let candidate = KitSignature(digestValue: digest, keyInfo: keyInfo)
                let signature = try candidate.sign(with: boxed.userKey)
                let value: [UInt8]
                if signature.r[0] >= 0x80 {
                    value = [0] + signature.r + signature.s
                } else if signature.s[0] >= 0x80 {
                    value = signature.r + [0] + signature.s
                } else {
                    continue
                }
                javaShort = enveloped(content, candidate.element(signatureValue: Base64.encode(value)))
                break search
            }
        }
        guard let javaShort else {
            throw KitError(path: "(kit maker)", reason: "no template signature has r or s with the high bit set", failureClass: .input)
        }
        try explain("java-length-signature-value-65", "A 6.23 template signed with the one of r and s whose high bit is set written as a 33-byte integer with a leading zero: a 65-byte SignatureValue.",
                    javaShort, .signatureValue, [.javaLengthSignatureValue])

        // KeyInfo.
        let serial = boxed.userCertificate.serialNumber
        try explain("keyinfo-serial-in-hex", "The signed IMMEDIATE template with X509SerialNumber written in hex (\(serial.hex.uppercased())) instead of decimal: the given certificate verifies.",
                    try KitText.replacingFirst("<ds:X509SerialNumber>\(serial.decimal)<", with: "<ds:X509SerialNumber>\(serial.hex.uppercased())<", in: immediate),
                    .keyInfo, [.wrongCertificate])
        let issuer = boxed.userCertificate.issuer.rfc2253
        let reversedIssuer = issuer.split(separator: ",").reversed().joined(separator: ",")
        try explain("keyinfo-issuer-reversed", "The signed IMMEDIATE template with X509IssuerName's RDNs in reverse order ('\(reversedIssuer)' for '\(issuer)'): the given certificate verifies.",
                    try KitText.replacingFirst(">\(XMLText.escape(issuer))<", with: ">\(XMLText.escape(reversedIssuer))<", in: immediate),
                    .keyInfo, [.wrongCertificate])

        // The signer: a sound signature by another User ID than the Business Originator; a certificate expired.
        let fromNetworkOperator = try KitText.replacingFirst("<sr:RequestID>90-B3-D5-1F-30-01-00-00:", with: "<sr:RequestID>90-B3-D5-1F-30-02-00-00:",
                                                             in: boxed.templates[0])
        let byOtherUser = try signer.sign(Array(fromNetworkOperator.utf8), options: SigningOptions(deterministic: true))
        try explain("originator-not-signer", "The IMMEDIATE template with Business Originator 90-B3-D5-1F-30-02-00-00, signed with the XmlSign key and certificate of 90-B3-D5-1F-30-01-00-00: the signature verifies, but not by the request's originator.",
                    String(decoding: byOtherUser.bytes, as: UTF8.self), .originator, [.originatorNotSigner])
        try explain("certificate-expired", "The signed IMMEDIATE template verified at \(Self.timeAfterValidity), after its XmlSign certificate expired (2118-01-01).",
                    immediate, at: Self.timeAfterValidity, .certificateExpired, [.certificateExpired])

        // Content.
        try explain("content-changed-6.23", "The ImportMPxN of the signed IMMEDIATE template changed after signing.",
                    try KitText.replacingFirst(">1312345678333<", with: ">1312345678334<", in: immediate), .referenceDigest, [.contentChanged])
        let responses = try Self.dspMessages(boxed)
        let tampering: [(name: String, description: String, from: String, to: String)] = [
            ("response-6.23-immediate", "ResponseCode I0 changed to E65", "<sr:ResponseCode>I0<", "<sr:ResponseCode>E65<"),
            ("device-alert", "AlertCode 8F84 changed to 8F85", "<sr:AlertCode>8F84<", "<sr:AlertCode>8F85<"),
            ("dcc-alert", "the alert's DeviceID changed", "<sr:DeviceID>00-DB-12-34-56-78-90-A0<", "<sr:DeviceID>00-DB-12-34-56-78-90-A1<"),
        ]
        for change in tampering {
            guard let message = responses.first(where: { $0.name == change.name }) else { continue }
            let text = try KitText.replacingFirst(change.from, with: change.to, in: try Self.dspSigned(message.unsigned, boxed))
            try explain("\(change.name)-tampered", "A DSP-signed \(message.noun) (as DCC's tool writes it) with \(change.description) after signing.",
                        text, certificate: Self.responsesDSPCertificatePath, .referenceDigest, [.contentChanged])
        }
    }

    // MARK: - 6. Responses

    /// DCC messages signed with the DSP's test key (OU 89) as DCC's own tool writes them (one line, SignatureValue
    /// wrapped at 76 columns with `&#13;` and LF), and the unsigned and mis-signed ones.
    mutating func responseCases() throws {
        let boxed = try KitDCCBoxed(shared: shared)
        try add(Self.responsesDSPCertificatePath, boxed.dspCertificate.pem())
        try add(Self.responsesUserCertificatePath, boxed.userCertificate.pem())
        let dsp = Self.responsesDSPCertificatePath
        func response(_ name: String, _ description: String, _ text: String, certificate: String = dsp,
                      _ outcome: KitExpected.Outcome, _ reason: KitReasonClass? = nil) throws {
            let path = "responses/\(name).xml"
            try add(path, text)
            addCase(.responses, name, description, KitInputs(certificate: certificate, document: path),
                    KitExpected(outcome: outcome, reason: reason?.rawValue, exitCode: reason.map { $0.exitCode }))
        }
        let messages = try Self.dspMessages(boxed)
        for message in messages {
            try response(message.name, "A \(message.noun) signed with the DSP XML signing key (OU 89) as DCC's tool writes it: one line, SignatureValue wrapped at 76 columns with &#13; and LF.",
                         try Self.dspSigned(message.unsigned, boxed), .valid)
        }
        guard let first = messages.first else { return }
        try response("response-signature-value-unwrapped", "The DSP-signed 6.23 response with SignatureValue on one line.",
                     try Self.dspSigned(first.unsigned, boxed, wrap: nil), .valid)
        try response("response-signature-value-wrapped-64-lf", "The DSP-signed 6.23 response with SignatureValue wrapped at 64 columns with LF (as xmlsec1 writes it).",
                     try Self.dspSigned(first.unsigned, boxed, wrap: (64, "\n")), .valid)
        try response("acknowledgement-error", "DCC's unsigned acknowledgement sample (ResponseCode E65, dccboxed-signing-tool acknowledgement-error.xml): the DCC does not sign acknowledgements.",
                     String(decoding: boxed.acknowledgementError, as: UTF8.self), .invalid, .unsigned)
        try response("acknowledgement-i0", "The DCC's acknowledgement (ResponseCode I0) of the 6.23 request, unsigned as the DCC sends it.",
                     Self.xmlDeclaration + Self.responseXML(code: "I0", body: "<sr:ResponseMessage><sr:ServiceReference>6.23</sr:ServiceReference><sr:ServiceReferenceVariant>6.23</sr:ServiceReferenceVariant></sr:ResponseMessage>"),
                     .invalid, .unsigned)
        try response("response-unsigned", "The 6.23 response without a signature: the DCC signs responses.", first.unsigned, .invalid, .missing)
        if let alert = messages.first(where: { $0.name == "device-alert" }) {
            try response("device-alert-unsigned", "The device alert without a signature: the DCC signs alerts.", alert.unsigned, .invalid, .missing)
        }
        try response("response-signed-with-user-key", "The 6.23 response signed with a User's XmlSign key (OU 87): KeyInfo names a certificate that is not the DSP's (OU 89).",
                     try Self.dspSigned(first.unsigned, boxed, key: boxed.userKey, certificate: boxed.userCertificate),
                     certificate: Self.responsesUserCertificatePath, .invalid, .keyInfo)
    }

    // MARK: - Building DCC messages

    static let xmlDeclaration = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>"
    static let requestID = "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006"

    /// An `sr:Response` on one line, namespaces declared as the DCC's JAXB writer declares them.
    static func responseXML(code: String, requestID: String? = requestID, body: String) -> String {
        "<sr:Response xmlns:ns3=\"\(DUISSignatureProfile.namespace)\" xmlns:ra=\"http://www.dccinterface.co.uk/ResponseAndAlert\" xmlns:sr=\"\(DUISNamespace.serviceUserGateway)\" schemaVersion=\"5.4\">"
            + "<sr:Header>" + (requestID.map { "<sr:RequestID>\($0)</sr:RequestID>" } ?? "")
            + "<sr:ResponseCode>\(code)</sr:ResponseCode><sr:ResponseDateTime>2030-01-02T00:00:05.123Z</sr:ResponseDateTime></sr:Header>"
            + "<sr:Body>\(body)</sr:Body></sr:Response>"
    }

    /// The unsigned DCC messages the responses cases sign.
    static func dspMessages(_ boxed: KitDCCBoxed) throws -> [(name: String, noun: String, unsigned: String)] {
        let payload = Base64.encode(Array("GBCS response payload (test)".utf8))
        // A short serial: libxml2 (xmllint) reads xs:integer values of at most 24 digits.
        let serial = "1234567890"
        return [
            ("response-6.23-immediate", "6.23 response (ResponseCode I0, GBCS payload)",
             xmlDeclaration + responseXML(code: "I0", body: "<sr:ResponseMessage><sr:ServiceReference>6.23</sr:ServiceReference><sr:ServiceReferenceVariant>6.23</sr:ServiceReferenceVariant><sr:GBCSPayload>\(payload)</sr:GBCSPayload></sr:ResponseMessage>")),
            ("response-6.23-future-dated", "future-dated 6.23 response (FutureDatedDeviceAlertMessage 8F66)",
             xmlDeclaration + responseXML(code: "I0", requestID: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1007", body: "<sr:ResponseMessage><sr:ServiceReference>6.23</sr:ServiceReference><sr:ServiceReferenceVariant>6.23</sr:ServiceReferenceVariant><sr:FutureDatedDeviceAlertMessage><sr:FutureDatedAlertCode>8F66</sr:FutureDatedAlertCode><sr:GBCSPayload>\(payload)</sr:GBCSPayload><sr:InstructionNumber>1</sr:InstructionNumber><sr:TotalCommandInstructions>1</sr:TotalCommandInstructions></sr:FutureDatedDeviceAlertMessage></sr:ResponseMessage>")),
            ("device-alert", "device alert (AlertCode 8F84)",
             xmlDeclaration + responseXML(code: "I0", body: "<sr:DeviceAlertMessage><sr:AlertCode>8F84</sr:AlertCode><sr:GBCSPayload>\(payload)</sr:GBCSPayload></sr:DeviceAlertMessage>")),
            ("dcc-alert", "DCC alert (CoS certificate alert)",
             xmlDeclaration + responseXML(code: "I0", requestID: nil, body: "<sr:DCCAlertMessage><sr:DCCAlertCode>N42</sr:DCCAlertCode><sr:DCCAlert><sr:CoSCertificateAlert><sr:DeviceID>00-DB-12-34-56-78-90-A0</sr:DeviceID><sr:CertificateSerialNumber>\(serial)</sr:CertificateSerialNumber></sr:CoSCertificateAlert></sr:DCCAlert></sr:DCCAlertMessage>")),
        ]
    }

    /// `unsigned` signed as DCC's tool signs DCC messages: the inclusive canonical form digested, the Signature
    /// appended as the root's last child, SignatureValue (RFC 6979, so the kit stays byte-identical) wrapped at
    /// 76 columns with `&#13;` and LF as the JDK writes it (or as `wrap` says, or on one line).
    static func dspSigned(_ unsigned: String, _ boxed: KitDCCBoxed, key: SigningKey? = nil, certificate: Certificate? = nil,
                          wrap: (columns: Int, separator: String)? = (76, "&#13;\n")) throws -> String {
        let digest = Base64.encode(SHA256.hash(try XMLDocument(parsing: Array(unsigned.utf8)).inclusiveCanonicalForm()))
        let signature = KitSignature(digestValue: digest, keyInfo: KitSignature.keyInfo(certificate ?? boxed.dspCertificate))
        var value = Base64.encode(try signature.sign(with: key ?? boxed.dspKey).rawRepresentation)
        if let wrap {
            var lines: [Substring] = []
            var rest = Substring(value)
            while !rest.isEmpty {
                lines.append(rest.prefix(wrap.columns))
                rest = rest.dropFirst(wrap.columns)
            }
            value = lines.joined(separator: wrap.separator)
        }
        let close = "</sr:Response>"
        guard unsigned.hasSuffix(close) else {
            throw KitError(path: "(kit maker)", reason: "a DCC message must end with \(close)", failureClass: .input)
        }
        return String(unsigned.dropLast(close.count)) + signature.element(signatureValue: value) + close
    }

    // MARK: - Layouts

    /// `text` with every whitespace-only text node between elements removed.
    static func compacted(_ text: String) throws -> String {
        let document = try XMLDocument(parsing: Array(text.utf8))
        document.removeWhitespaceBetweenElements()
        return String(decoding: try document.inclusiveCanonicalForm(), as: UTF8.self)
    }

    /// `text` compacted, then indented with `unit` per level (as `xmllint --format` does with that unit).
    static func indented(_ text: String, unit: String) throws -> String {
        let document = try XMLDocument(parsing: Array(text.utf8))
        document.removeWhitespaceBetweenElements()
        document.indentElementContent(unit: unit)
        return String(decoding: try document.inclusiveCanonicalForm(), as: UTF8.self) + "\n"
    }

    static func rootSignature(_ document: XMLDocument) throws -> XMLElement {
        guard let last = document.root.elementChildren.last, last.localName == "Signature" else {
            throw KitError(path: "(kit maker)", reason: "no root-level Signature", failureClass: .input)
        }
        return last
    }
}
