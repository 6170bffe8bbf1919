internal import CLibXML2

extension XMLDocument {
    /// Inclusive Canonical XML 1.0 without comments (`xmlC14NExecute`, `XML_C14N_1_0`) of the
    /// whole document, leaving out the subtree `excluding` (its element, attributes, namespace
    /// nodes and descendants) if given. This is exactly the enveloped-signature transform
    /// followed by the node-set-to-octets conversion that the XMLDSig Reference digest uses.
    /// - Throws: ``XMLError`` (``XMLError/Kind/unsupported``) if libxml2 refuses the document,
    ///   for example for a relative namespace URI.
    package func inclusiveCanonicalForm(excluding: XMLElement? = nil) throws(XMLError) -> [UInt8] {
        guard let excluding else {
            return try canonicalize(mode: XML_C14N_1_0, visibility: nil, subtree: nil)
        }
        guard excluding.document === self else {
            throw XMLError(kind: .unsupported, message: "inclusiveCanonicalForm: the element belongs to another document")
        }
        return try canonicalize(mode: XML_C14N_1_0, visibility: cos_xml_c14n_visible_outside, subtree: excluding.node)
    }

    /// Exclusive Canonical XML 1.0 without comments, with no InclusiveNamespaces prefix list,
    /// of the subtree rooted at `element` (how `ds:SignedInfo` is canonicalised). Namespace
    /// declarations of ancestors appear only where the subtree visibly uses them.
    package func exclusiveCanonicalForm(of element: XMLElement) throws(XMLError) -> [UInt8] {
        guard element.document === self else {
            throw XMLError(kind: .unsupported, message: "exclusiveCanonicalForm: the element belongs to another document")
        }
        return try canonicalize(mode: XML_C14N_EXCLUSIVE_1_0, visibility: cos_xml_c14n_visible_inside, subtree: element.node)
    }

    /// Canonical XML of the whole document without the subtree `excluding`, in any of the four variants (inclusive
    /// or exclusive, with or without comments). Only the diagnoses of an invalid signature use the variants the
    /// profile does not (what a faulty signer may have digested).
    package func canonicalForm(excluding: XMLElement, exclusive: Bool, withComments: Bool) throws(XMLError) -> [UInt8] {
        guard excluding.document === self else {
            throw XMLError(kind: .unsupported, message: "canonicalForm: the element belongs to another document")
        }
        return try canonicalize(mode: exclusive ? XML_C14N_EXCLUSIVE_1_0 : XML_C14N_1_0, visibility: cos_xml_c14n_visible_outside,
                                subtree: excluding.node, withComments: withComments)
    }

    private func canonicalize(mode: xmlC14NMode, visibility: xmlC14NIsVisibleCallback?, subtree: xmlNodePtr?,
                              withComments: Bool = false) throws(XMLError) -> [UInt8] {
        _ = libxml2Initialised
        // No encoder: C14N output is UTF-8 and xmlC14NExecute requires encoder == NULL.
        guard let buffer = xmlAllocOutputBuffer(nil) else {
            throw XMLError(kind: .unsupported, message: "libxml2 could not allocate an output buffer")
        }
        defer { xmlOutputBufferClose(buffer) }
        let collector = LibXML2ErrorCollector()
        let rc = collector.capturingThreadErrors {
            xmlC14NExecute(docPtr, visibility, subtree.map { UnsafeMutableRawPointer($0) },
                           Int32(mode.rawValue), nil, withComments ? 1 : 0, buffer)
        }
        guard rc >= 0, buffer.pointee.error == 0 else {
            let reason = collector.first?.message ?? "libxml2 error \(buffer.pointee.error)"
            throw XMLError(kind: .unsupported, message: "canonicalisation failed: \(reason)")
        }
        let size = Int(xmlOutputBufferGetSize(buffer))
        guard size > 0, let content = xmlOutputBufferGetContent(buffer) else { return [] }
        return Array(UnsafeBufferPointer(start: content, count: size))
    }
}
