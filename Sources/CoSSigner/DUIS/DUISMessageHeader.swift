/// What a verifier needs to know of a signed DUIS document before trusting its signer: whether it is a request
/// (`sr:Request`: signed by its Business Originator's own XML signing certificate) or something else (a response,
/// acknowledgement or alert, signed by the DCC), and a request's RequestID.
struct DUISMessageHeader: Sendable {
    /// True when the root is `sr:Request` in the DUIS namespace.
    let isRequest: Bool
    /// A request's RequestID, or why it cannot be read; nil for other documents.
    let requestID: Result<RequestID, DUISRequestError>?

    /// Reads the header of a document in canonical form (a verified document's signed content): straight from the
    /// bytes when the header starts in the plain shape, else from a tree.
    static func read(canonical: [UInt8], source: String?) -> DUISMessageHeader {
        if let requestID = canonical.withUnsafeBufferPointer({ ServiceRequest623FastReader.requestRequestID(canonical: $0) }) {
            return DUISMessageHeader(isRequest: true, requestID: .success(requestID))
        }
        let document: XMLDocument
        do {
            document = try XMLDocument(parsing: canonical, source: source)
        } catch {
            // Unreachable for a verified document's signed content (it was parsed to be verified); a document
            // that cannot be read is treated as a request whose RequestID cannot be read, so it is never trusted.
            return DUISMessageHeader(isRequest: true, requestID: .failure(DUISRequestError(
                field: "", rule: .wellFormedXML, reason: "the signed content cannot be read: \(error)", source: source)))
        }
        let root = document.root
        guard root.namespaceURI == DUISNamespace.serviceUserGateway, root.localName == "Request" else {
            return DUISMessageHeader(isRequest: false, requestID: nil)
        }
        return DUISMessageHeader(isRequest: true, requestID: Result { () throws(DUISRequestError) in try requestID(of: document) })
    }

    /// The RequestID of a DUIS request: `sr:Header/sr:RequestID`, exactly as the schema writes it (no white space
    /// around it, three parts, a decimal counter).
    /// - Throws: ``DUISRequestError`` (input) when the root is not `sr:Request`, the request has no RequestID or it
    ///   cannot be read.
    static func requestID(of document: XMLDocument) throws(DUISRequestError) -> RequestID {
        let ns = DUISNamespace.serviceUserGateway
        let root = document.root
        guard root.namespaceURI == ns, root.localName == "Request" else {
            throw DUISRequestError(field: DUISStructure.path("", root), rule: .unexpectedElement,
                                   reason: "not a DUIS request (sr:Request in namespace \(ns)): a request's key is checked against its Business Originator",
                                   line: root.line)
        }
        guard let header = root.elementChildren.first(where: { $0.namespaceURI == ns && $0.localName == "Header" }),
            let element = header.elementChildren.first(where: { $0.namespaceURI == ns && $0.localName == "RequestID" })
        else {
            throw DUISRequestError(field: DUISPath.requestID, rule: .missingElement,
                                   reason: "the request has no sr:Header/sr:RequestID, so its Business Originator (and the key that may sign it) is unknown",
                                   line: root.line)
        }
        do throws(DUISRequestError) {
            return try RequestID(parsing: element.textContent)
        } catch {
            throw error.located(field: DUISPath.requestID, line: element.line, source: nil)
        }
    }
}
