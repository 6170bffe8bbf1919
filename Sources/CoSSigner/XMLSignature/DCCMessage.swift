import Foundation

/// What a DUIS document is, read from its root and, for `sr:Response`, its body: what decides who signs it
/// (Users sign requests with their XmlSign key; the DCC signs responses and alerts with a DSP XML signing
/// certificate, OU `89`; the DCC does not sign acknowledgements).
package enum DUISMessageKind: String, Sendable, Codable, CaseIterable {
    /// `sr:Request`: a Service Request, signed by the User who sends it.
    case request
    /// `sr:Response` whose `sr:ResponseMessage` carries a payload (or an SMETS1 response): signed by the DCC.
    case response
    /// `sr:Response` whose `sr:ResponseMessage` holds only ServiceReference and ServiceReferenceVariant: the
    /// DCC's acknowledgement of a request (ResponseCode `I0`, or an error code), which the DCC does not sign.
    case acknowledgement
    /// `sr:Response` with `sr:DeviceAlertMessage`: an alert from a device, signed by the DCC.
    case deviceAlert
    /// `sr:Response` with `sr:DCCAlertMessage`: an alert raised by the DCC, signed by the DCC.
    case dccAlert
    /// Anything else (another root or namespace, or a response without a body the schema knows).
    case other

    /// The kind of `document`.
    package init(_ document: XMLDocument) {
        let root = document.root
        guard root.namespaceURI == DUISNamespace.serviceUserGateway else {
            self = .other
            return
        }
        switch root.localName {
        case "Request":
            self = .request
        case "Response":
            self = Self.responseKind(root)
        default:
            self = .other
        }
    }

    private static func responseKind(_ root: XMLElement) -> DUISMessageKind {
        let ns = DUISNamespace.serviceUserGateway
        guard let body = root.elementChildren.first(where: { $0.namespaceURI == ns && $0.localName == "Body" }),
            let message = body.elementChildren.first
        else { return .other }
        guard message.namespaceURI == ns else { return .other }
        switch message.localName {
        case "ResponseMessage":
            let payload = message.elementChildren.filter {
                !($0.namespaceURI == ns && ($0.localName == "ServiceReference" || $0.localName == "ServiceReferenceVariant"))
            }
            return payload.isEmpty ? .acknowledgement : .response
        case "SMETS1ResponseMessage": return .response
        case "DeviceAlertMessage": return .deviceAlert
        case "DCCAlertMessage": return .dccAlert
        default: return .other
        }
    }

    /// Whether the DCC signs messages of this kind (responses and alerts; not acknowledgements).
    package var isSignedByDCC: Bool { self == .response || self == .deviceAlert || self == .dccAlert }

    /// In words, for messages ("DCC acknowledgement", "device alert", …).
    package var noun: String {
        switch self {
        case .request: "Service Request"
        case .response: "DCC response"
        case .acknowledgement: "DCC acknowledgement"
        case .deviceAlert: "device alert"
        case .dccAlert: "DCC alert"
        case .other: "document"
        }
    }
}

/// The header of a DCC message (`sr:Response`: response, acknowledgement or alert) and what its body says
/// about it: what an adapter needs to match a response to the request it sent (``requestID``) and to act on
/// it (``responseCode``, ``responseDateTime``). Read from the tree; the signature is not checked here.
package struct DUISResponseHeader: Sendable, Equatable, Codable {
    /// Response, acknowledgement, device alert or DCC alert.
    package let kind: DUISMessageKind
    /// `sr:Header/sr:RequestID`: the RequestID of the request this answers (absent on some alerts).
    package let requestID: String?
    /// `sr:Header/sr:ResponseID`, when present (alerts without a request).
    package let responseID: String?
    /// `sr:Header/sr:ResponseCode` (`I0` success, `I99` other information, `E…` errors, …).
    package let responseCode: String
    /// `sr:Header/sr:ResponseDateTime`, as written (xs:dateTime).
    package let responseDateTime: String
    /// `sr:Body/sr:ResponseMessage/sr:ServiceReference`, when the body has one.
    package let serviceReference: String?
    /// `sr:Body/sr:ResponseMessage/sr:ServiceReferenceVariant`, when the body has one.
    package let serviceReferenceVariant: String?
    /// The alert code of an alert (`sr:AlertCode` of a device alert, `sr:DCCAlertCode` of a DCC alert).
    package let alertCode: String?
    /// The root's `schemaVersion`.
    package let schemaVersion: String?
    /// Whether the message carries a `ds:Signature` (not whether it verifies: use ``DUISVerifier``).
    package let signed: Bool

    /// Reads the header of a parsed `sr:Response`.
    /// - Throws: ``DUISRequestError`` when the root is not `sr:Response` or a header element is missing,
    ///   repeated, or holds anything but text (RequestID and ResponseID must be in their lexical form).
    package init(_ document: XMLDocument, source: String? = nil) throws(DUISRequestError) {
        let ns = DUISNamespace.serviceUserGateway
        let root = document.root
        func refuse(_ field: String, _ rule: DUISRequestError.Rule, _ reason: String, line: Int?) -> DUISRequestError {
            DUISRequestError(field: field, rule: rule, reason: reason, line: line, source: source)
        }
        guard root.namespaceURI == ns, root.localName == "Response" else {
            throw refuse("", .unexpectedElement, "the root element is \(root.prefix.map { "\($0):" } ?? "")\(root.localName), not sr:Response (namespace \(ns))", line: root.line)
        }
        guard let header = root.elementChildren.first(where: { $0.namespaceURI == ns && $0.localName == "Header" }) else {
            throw refuse("sr:Header", .missingElement, "sr:Response has no sr:Header", line: root.line)
        }
        func text(_ parent: XMLElement, _ name: String, _ path: String, required: Bool) throws(DUISRequestError) -> String? {
            let found = parent.elementChildren.filter { $0.namespaceURI == ns && $0.localName == name }
            guard let element = found.first else {
                if required { throw refuse(path, .missingElement, "required element sr:\(name) is missing", line: parent.line) }
                return nil
            }
            guard found.count == 1 else { throw refuse(path, .duplicateElement, "sr:\(name) may appear only once", line: found[1].line) }
            for child in element.children {
                switch child {
                case .text, .cdata: continue
                default: throw refuse(path, .unexpectedNode, "sr:\(name) must hold text only", line: element.line)
                }
            }
            return element.textContent.trimmingXMLWhitespace()
        }
        let requestID = try text(header, "RequestID", "sr:Header/sr:RequestID", required: false)
        if let requestID {
            do {
                _ = try RequestID(parsing: requestID)
            } catch {
                throw error.located(field: "sr:Header/sr:RequestID", line: header.line, source: source)
            }
        }
        self.requestID = requestID
        responseID = try text(header, "ResponseID", "sr:Header/sr:ResponseID", required: false)
        if let responseID, (try? RequestID(parsing: responseID)) == nil {
            throw refuse("sr:Header/sr:ResponseID", .lexicalForm, "'\(responseID.prefix(80))' is not a ResponseID (EUI-64:EUI-64:counter)", line: header.line)
        }
        responseCode = try text(header, "ResponseCode", "sr:Header/sr:ResponseCode", required: true) ?? ""
        responseDateTime = try text(header, "ResponseDateTime", "sr:Header/sr:ResponseDateTime", required: true) ?? ""
        kind = DUISMessageKind(document)
        let body = root.elementChildren.first { $0.namespaceURI == ns && $0.localName == "Body" }
        let message = body?.elementChildren.first
        if let message, message.localName == "ResponseMessage" || message.localName == "SMETS1ResponseMessage" {
            serviceReference = try text(message, "ServiceReference", "sr:Body/sr:\(message.localName)/sr:ServiceReference", required: false)
            serviceReferenceVariant = try text(message, "ServiceReferenceVariant", "sr:Body/sr:\(message.localName)/sr:ServiceReferenceVariant", required: false)
        } else {
            serviceReference = nil
            serviceReferenceVariant = nil
        }
        switch kind {
        case .deviceAlert:
            alertCode = try message.flatMap { m throws(DUISRequestError) in try text(m, "AlertCode", "sr:Body/sr:DeviceAlertMessage/sr:AlertCode", required: false) }
        case .dccAlert:
            alertCode = try message.flatMap { m throws(DUISRequestError) in try text(m, "DCCAlertCode", "sr:Body/sr:DCCAlertMessage/sr:DCCAlertCode", required: false) }
        default:
            alertCode = nil
        }
        schemaVersion = root.attribute("schemaVersion")
        signed = !document.elements(namespaceURI: DUISNamespace.xmldsig, localName: "Signature").isEmpty
    }

    /// Parses `bytes` (hardened parser) and reads the header.
    /// - Throws: ``XMLError`` for unreadable XML, ``DUISRequestError`` as ``init(_:source:)``.
    package init(parsing bytes: [UInt8], limits: XMLParseLimits = .default, source: String? = nil) throws {
        try self.init(try XMLDocument(parsing: bytes, limits: limits, source: source), source: source)
    }

    /// The header in human form, one field per line.
    package var humanReadable: String {
        var lines = ["\(kind.noun.prefix(1).uppercased() + kind.noun.dropFirst())\(signed ? " (signed)" : " (unsigned)")"]
        lines.append("  RequestID:        \(requestID ?? "-")")
        if let responseID { lines.append("  ResponseID:       \(responseID)") }
        lines.append("  ResponseCode:     \(responseCode)")
        lines.append("  ResponseDateTime: \(responseDateTime)")
        if let serviceReference {
            lines.append("  ServiceReference: \(serviceReference)\(serviceReferenceVariant.map { " (variant \($0))" } ?? "")")
        }
        if let alertCode { lines.append("  Alert code:       \(alertCode)") }
        if let schemaVersion { lines.append("  schemaVersion:    \(schemaVersion)") }
        return lines.joined(separator: "\n")
    }
}
