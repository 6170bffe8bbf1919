internal import CLibXML2

/// A view of one element of an ``XMLDocument``. It keeps its document alive.
/// After ``XMLDocument/remove(_:)`` of it or of an ancestor it must not be used.
package struct XMLElement {
    /// The document that owns the node.
    let document: XMLDocument
    /// The libxml2 element node.
    let node: xmlNodePtr

    init(document: XMLDocument, node: xmlNodePtr) {
        self.document = document
        self.node = node
    }

    /// The local name (without prefix).
    package var localName: String { string(node.pointee.name) ?? "" }

    /// The namespace URI, or `nil` if the element is in no namespace.
    package var namespaceURI: String? { node.pointee.ns.flatMap { string($0.pointee.href) } }

    /// The prefix as written, or `nil` for none.
    package var prefix: String? { node.pointee.ns.flatMap { string($0.pointee.prefix) } }

    /// The line of the start tag.
    package var line: Int { Int(xmlGetLineNo(node)) }

    /// The parent element, or `nil` for the root.
    package var parent: XMLElement? {
        guard let p = node.pointee.parent, p.pointee.type == XML_ELEMENT_NODE else { return nil }
        return XMLElement(document: document, node: p)
    }

    /// All child nodes in document order.
    package var children: [XMLNode] {
        var result: [XMLNode] = []
        var child = node.pointee.children
        while let c = child {
            let content = string(c.pointee.content) ?? ""
            switch c.pointee.type {
            case XML_ELEMENT_NODE: result.append(.element(XMLElement(document: document, node: c)))
            case XML_TEXT_NODE: result.append(.text(content))
            case XML_CDATA_SECTION_NODE: result.append(.cdata(content))
            case XML_COMMENT_NODE: result.append(.comment(content))
            case XML_PI_NODE: result.append(.processingInstruction(target: string(c.pointee.name) ?? "", data: content))
            default: result.append(.other)
            }
            child = c.pointee.next
        }
        return result
    }

    /// The child elements in document order.
    package var elementChildren: [XMLElement] {
        var result: [XMLElement] = []
        var child = node.pointee.children
        while let c = child {
            if c.pointee.type == XML_ELEMENT_NODE { result.append(XMLElement(document: document, node: c)) }
            child = c.pointee.next
        }
        return result
    }

    /// The concatenation of the direct text and CDATA children (not of descendants).
    package var textContent: String {
        var result = ""
        var child = node.pointee.children
        while let c = child {
            if c.pointee.type == XML_TEXT_NODE || c.pointee.type == XML_CDATA_SECTION_NODE, let s = string(c.pointee.content) {
                result += s
            }
            child = c.pointee.next
        }
        return result
    }

    /// The attributes in document order (namespace declarations are not attributes).
    package var attributes: [XMLAttribute] {
        var result: [XMLAttribute] = []
        var attr = node.pointee.properties
        while let a = attr {
            result.append(XMLAttribute(
                localName: string(a.pointee.name) ?? "",
                namespaceURI: a.pointee.ns.flatMap { string($0.pointee.href) },
                value: Self.value(of: a)))
            attr = a.pointee.next
        }
        return result
    }

    /// The value of the attribute with this local name and namespace (`nil`: no namespace).
    package func attribute(_ localName: String, namespaceURI: String? = nil) -> String? {
        let name = Array(localName.utf8)
        let uri = namespaceURI.map { Array($0.utf8) }
        var attr = node.pointee.properties
        while let a = attr {
            if equals(a.pointee.name, name) {
                let ns = a.pointee.ns
                let match = switch (ns, uri) {
                case (nil, nil): true
                case let (ns?, uri?): equals(ns.pointee.href, uri)
                default: false
                }
                if match { return Self.value(of: a) }
            }
            attr = a.pointee.next
        }
        return nil
    }

    /// The `xmlns` / `xmlns:p` declarations written on this element (`prefix` `nil` = default namespace).
    package var namespaceDeclarations: [(prefix: String?, uri: String)] {
        var result: [(prefix: String?, uri: String)] = []
        var ns = node.pointee.nsDef
        while let n = ns {
            result.append((prefix: string(n.pointee.prefix), uri: string(n.pointee.href) ?? ""))
            ns = n.pointee.next
        }
        return result
    }

    /// Whether both views are of the same node.
    package func isSameNode(as other: XMLElement) -> Bool {
        node == other.node
    }

    /// An attribute's value: its text children (entity references are never present, as
    /// DOCTYPEs are refused).
    private static func value(of attr: xmlAttrPtr) -> String {
        var result = ""
        var child = attr.pointee.children
        while let c = child {
            if let s = string(c.pointee.content) { result += s }
            child = c.pointee.next
        }
        return result
    }
}

/// An attribute of an element.
package struct XMLAttribute: Sendable, Equatable {
    /// The local name (without prefix).
    package let localName: String
    /// The namespace URI, or `nil` for an unprefixed attribute.
    package let namespaceURI: String?
    /// The normalised value.
    package let value: String

    package init(localName: String, namespaceURI: String?, value: String) {
        self.localName = localName
        self.namespaceURI = namespaceURI
        self.value = value
    }
}

/// A child node of an element.
package enum XMLNode {
    case element(XMLElement)
    case text(String)
    case cdata(String)
    case comment(String)
    case processingInstruction(target: String, data: String)
    /// Anything else (libxml2 node kinds that cannot occur without a DTD, such as entity references).
    case other
}
