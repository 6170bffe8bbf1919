internal import CLibXML2

/// A parsed XML document (libxml2 tree), parsed from untrusted bytes under strict rules:
/// UTF-8 only, no DOCTYPE (so no DTD, no entity declarations, no external loading), bounded size
/// and depth, and every error returned as an ``XMLError`` rather than printed.
///
/// Not `Sendable`: use one document from one thread at a time. Different documents may be
/// parsed and used concurrently on different threads.
package final class XMLDocument {
    /// The owned libxml2 document, freed in `deinit`.
    let docPtr: xmlDocPtr

    /// Parses `bytes`.
    /// - Parameters:
    ///   - bytes: the document, which must be UTF-8.
    ///   - limits: size and depth limits.
    ///   - source: a file name for error messages.
    /// - Throws: ``XMLError`` for anything refused; the line and column are those of the first error.
    package init(parsing bytes: UnsafeRawBufferPointer, limits: XMLParseLimits = .default, source: String? = nil) throws(XMLError) {
        docPtr = try LibXML2Parser.parse(bytes, limits: limits, source: source)
    }

    /// Parses `bytes`; see ``init(parsing:limits:source:)-(UnsafeRawBufferPointer,_,_)``.
    package convenience init(parsing bytes: [UInt8], limits: XMLParseLimits = .default, source: String? = nil) throws(XMLError) {
        // Refuse oversized input before touching it.
        guard bytes.count <= limits.maxDocumentBytes else {
            throw XMLError(kind: .tooLarge,
                           message: "document of \(bytes.count) bytes exceeds the limit of \(limits.maxDocumentBytes) bytes",
                           source: source)
        }
        let result: Result<xmlDocPtr, XMLError> = bytes.withUnsafeBytes { raw in
            do throws(XMLError) {
                return .success(try LibXML2Parser.parse(raw, limits: limits, source: source))
            } catch {
                return .failure(error)
            }
        }
        try self.init(owning: result.get())
    }

    /// Takes ownership of a parsed document.
    init(owning doc: xmlDocPtr) {
        docPtr = doc
    }

    deinit {
        xmlFreeDoc(docPtr)
    }

    /// The document (root) element.
    package var root: XMLElement {
        // A parsed document always has a root: LibXML2Parser refuses one without, and
        // remove(_:) refuses to remove it.
        XMLElement(document: self, node: xmlDocGetRootElement(docPtr)!)
    }

    /// Drops every whitespace-only text node (space, tab, CR, LF) whose parent element also has
    /// at least one element child (element content), so `<a>\n  <b>x</b>\n</a>` becomes
    /// `<a><b>x</b></a>`, while `<b> </b>` keeps its text. This is the "compact" form DCC's tool
    /// signs. CDATA sections are never dropped.
    package func removeWhitespaceBetweenElements() {
        guard let rootNode = xmlDocGetRootElement(docPtr) else { return }
        var stack: [xmlNodePtr] = [rootNode]
        var doomed: [xmlNodePtr] = []
        while let element = stack.popLast() {
            var hasElementChild = false
            var child = element.pointee.children
            while let c = child {
                if c.pointee.type == XML_ELEMENT_NODE {
                    hasElementChild = true
                    stack.append(c)
                }
                child = c.pointee.next
            }
            guard hasElementChild else { continue }
            child = element.pointee.children
            while let c = child {
                if c.pointee.type == XML_TEXT_NODE && isXMLWhitespaceOnly(c.pointee.content) {
                    doomed.append(c)
                }
                child = c.pointee.next
            }
        }
        for node in doomed {
            xmlUnlinkNode(node)
            xmlFreeNode(node)
        }
    }

    /// Indents element content as `xmllint --format` does, for a document without whitespace between elements
    /// (``removeWhitespaceBetweenElements()`` first): inside every element whose children are all elements, each
    /// child starts a new line indented by `unit` once per level (the root's children once), and the end tag
    /// starts a line at the element's own level. Elements holding text are left as they are. Used to rebuild the
    /// layouts a signed document may have had (explaining an invalid signature).
    package func indentElementContent(unit: String) {
        guard let rootNode = xmlDocGetRootElement(docPtr) else { return }
        var stack: [(node: xmlNodePtr, depth: Int)] = [(rootNode, 0)]
        while let (element, depth) = stack.popLast() {
            var children: [xmlNodePtr] = []
            var onlyElements = true
            var child = element.pointee.children
            while let c = child {
                if c.pointee.type == XML_ELEMENT_NODE {
                    children.append(c)
                } else {
                    onlyElements = false
                }
                child = c.pointee.next
            }
            guard onlyElements, !children.isEmpty else { continue }
            let inner = "\n" + String(repeating: unit, count: depth + 1)
            for c in children {
                if let text = newText(inner) { _ = xmlAddPrevSibling(c, text) }
                stack.append((c, depth + 1))
            }
            if let text = newText("\n" + String(repeating: unit, count: depth)) { _ = xmlAddChild(element, text) }
        }
    }

    private func newText(_ text: String) -> xmlNodePtr? {
        text.withCString { xmlNewDocText(docPtr, UnsafeRawPointer($0).assumingMemoryBound(to: xmlChar.self)) }
    }

    /// A comment or processing instruction inside the root element, outside the subtree of `excluding` (the
    /// shallowest is found first): its kind (the PI's target, or `nil` for a comment) and its parent element.
    func firstCommentOrProcessingInstruction(excluding: XMLElement?) -> (target: String?, parent: XMLElement)? {
        guard let rootNode = xmlDocGetRootElement(docPtr) else { return nil }
        let skipped = excluding?.node
        var stack: [xmlNodePtr] = [rootNode]
        while let element = stack.popLast() {
            var child = element.pointee.children
            var elements: [xmlNodePtr] = []
            while let c = child {
                switch c.pointee.type {
                case XML_COMMENT_NODE:
                    return (nil, XMLElement(document: self, node: element))
                case XML_PI_NODE:
                    return (string(c.pointee.name) ?? "", XMLElement(document: self, node: element))
                case XML_ELEMENT_NODE where c != skipped:
                    elements.append(c)
                default:
                    break
                }
                child = c.pointee.next
            }
            stack.append(contentsOf: elements.reversed())
        }
        return nil
    }

    /// Unlinks and frees `element` and its subtree. `element`, and any view into its subtree,
    /// must not be used afterwards. The root element cannot be removed, nor an element of another document:
    /// for those nothing happens and the result is `false`.
    @discardableResult
    package func remove(_ element: XMLElement) -> Bool {
        guard element.document === self, element.node != xmlDocGetRootElement(docPtr) else { return false }
        xmlUnlinkNode(element.node)
        xmlFreeNode(element.node)
        return true
    }

    /// Every element, in document order, whose namespace and local name match.
    package func elements(namespaceURI: String, localName: String) -> [XMLElement] {
        guard let rootNode = xmlDocGetRootElement(docPtr) else { return [] }
        let wantedName = Array(localName.utf8)
        let wantedURI = Array(namespaceURI.utf8)
        var found: [XMLElement] = []
        // Pre-order walk without recursion (next sibling / parent links).
        var node: xmlNodePtr? = rootNode
        while let current = node {
            if current.pointee.type == XML_ELEMENT_NODE, equals(current.pointee.name, wantedName),
               let ns = current.pointee.ns, equals(ns.pointee.href, wantedURI) {
                found.append(XMLElement(document: self, node: current))
            }
            if current.pointee.type == XML_ELEMENT_NODE, let first = current.pointee.children {
                node = first
                continue
            }
            var up: xmlNodePtr? = current
            node = nil
            while let u = up, u != rootNode {
                if let next = u.pointee.next {
                    node = next
                    break
                }
                up = u.pointee.parent
            }
        }
        return found
    }
}

@available(*, unavailable, message: "XMLDocument wraps a libxml2 tree that must be used from one thread at a time")
extension XMLDocument: Sendable {}

/// Whether a libxml2 string is empty or only space, tab, CR and LF.
func isXMLWhitespaceOnly(_ text: UnsafePointer<xmlChar>?) -> Bool {
    guard var p = text else { return true }
    while p.pointee != 0 {
        switch p.pointee {
        case 0x20, 0x09, 0x0D, 0x0A: p += 1
        default: return false
        }
    }
    return true
}

/// Whether a NUL-terminated libxml2 string equals `bytes`.
func equals(_ text: UnsafePointer<xmlChar>?, _ bytes: [UInt8]) -> Bool {
    guard let text else { return false }
    var i = 0
    while i < bytes.count {
        if text[i] != bytes[i] { return false }  // also stops at text's NUL, as bytes has none
        i += 1
    }
    return text[i] == 0
}

/// A Swift string from a libxml2 string (always UTF-8).
func string(_ text: UnsafePointer<xmlChar>?) -> String? {
    text.map { String(cString: $0) }
}
