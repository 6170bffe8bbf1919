/// Strict reading of DUIS element structure: the helpers behind ``ServiceRequest623``'s parser.
///
/// Every refusal is a ``DUISRequestError`` naming the element path and its line.
struct DUISStructure {
    /// One element allowed in a sequence.
    struct ChildSpec {
        var namespaceURI: String = DUISNamespace.serviceUserGateway
        var localName: String
        var minOccurs: Int = 1
        var maxOccurs: Int = 1

        var qualifiedName: String {
            (namespaceURI == DUISNamespace.xmldsig ? "ds:" : "sr:") + localName
        }
    }

    /// The file name for error messages.
    let source: String?

    func error(_ field: String, _ rule: DUISRequestError.Rule, _ reason: String, line: Int?) -> DUISRequestError {
        DUISRequestError(field: field, rule: rule, reason: reason, line: line, source: source)
    }

    /// The path of a child element as written (prefix as in the document).
    static func path(_ parent: String, _ element: XMLElement) -> String {
        let name: String
        switch element.namespaceURI {
        case DUISNamespace.serviceUserGateway?: name = "sr:" + element.localName
        case DUISNamespace.xmldsig?: name = "ds:" + element.localName
        default: name = (element.prefix.map { $0 + ":" } ?? "") + element.localName
        }
        return parent.isEmpty ? name : parent + "/" + name
    }

    static func join(_ parent: String, _ child: String) -> String {
        parent.isEmpty ? child : parent + "/" + child
    }

    /// Whether `text` is only XML white space (space, tab, CR, LF).
    static func isWhitespace(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
    }

    /// Refuses any attribute on `element` except the ones named in `allowed` (unqualified).
    func requireNoAttributes(_ element: XMLElement, path: String, except allowed: Set<String> = []) throws(DUISRequestError) {
        for attribute in element.attributes where !(attribute.namespaceURI == nil && allowed.contains(attribute.localName)) {
            let name = (attribute.namespaceURI.map { "{\($0)}" } ?? "") + attribute.localName
            throw error(path, .attribute, "attribute \(name) is not allowed here", line: element.line)
        }
    }

    /// Reads element-only content in schema order. Returns, for each spec, the elements found
    /// (in document order). Refuses non-whitespace text, CDATA, comments, processing
    /// instructions, unknown or foreign elements, elements out of order, too many or too few.
    func sequence(of element: XMLElement, path: String, _ specs: [ChildSpec]) throws(DUISRequestError) -> [[XMLElement]] {
        var found = Array(repeating: [XMLElement](), count: specs.count)
        var current = 0  // index of the spec the last element matched
        var lastLine = element.line
        let siblings = element.elementChildren
        var position = 0  // index in `siblings` of the element being read
        for node in element.children {
            switch node {
            case .text(let text):
                if !Self.isWhitespace(text) {
                    throw error(path, .unexpectedText,
                                "text \(Self.quote(text)) is not allowed: this element holds only elements", line: lastLine)
                }
                continue
            case .cdata:
                throw error(path, .unexpectedNode, "a CDATA section is not allowed: this element holds only elements", line: lastLine)
            case .comment:
                throw error(path, .unexpectedNode, "comments are not accepted in a DUIS request", line: lastLine)
            case .processingInstruction(let target, _):
                throw error(path, .unexpectedNode, "processing instruction <?\(target)?> is not accepted in a DUIS request", line: lastLine)
            case .other:
                throw error(path, .unexpectedNode, "unexpected node (entity reference or similar)", line: lastLine)
            case .element(let child):
                lastLine = child.line
                position += 1
                let childPath = Self.path(path, child)
                guard let index = specs.firstIndex(where: { $0.localName == child.localName && $0.namespaceURI == child.namespaceURI }) else {
                    let expected = specs.map(\.qualifiedName).joined(separator: ", ")
                    let namespace = child.namespaceURI.map { "namespace \($0)" } ?? "no namespace"
                    throw error(childPath, .unexpectedElement,
                                "element '\(child.localName)' (\(namespace)) is not allowed here; expected \(expected) in that order",
                                line: child.line)
                }
                if index < current {
                    throw error(childPath, .elementOrder,
                                "\(specs[index].qualifiedName) must come before \(specs[current].qualifiedName)", line: child.line)
                }
                // Required elements skipped between the last match and this one: out of order if
                // they come later, otherwise missing.
                for skipped in current..<index where found[skipped].count < specs[skipped].minOccurs {
                    let spec = specs[skipped]
                    if let later = siblings[position...].first(where: { $0.localName == spec.localName && $0.namespaceURI == spec.namespaceURI }) {
                        throw error(Self.path(path, later), .elementOrder,
                                    "\(spec.qualifiedName) must come before \(specs[index].qualifiedName)", line: later.line)
                    }
                    throw missing(spec, found: found[skipped].count, in: path, before: specs[index], line: child.line)
                }
                if found[index].count >= specs[index].maxOccurs {
                    let spec = specs[index]
                    if spec.maxOccurs > 1 {
                        throw error(path, .cardinality,
                                    "must hold \(spec.minOccurs) to \(spec.maxOccurs) \(spec.qualifiedName) elements, found more", line: child.line)
                    }
                    throw error(childPath, .duplicateElement, "\(spec.qualifiedName) may appear only once", line: child.line)
                }
                found[index].append(child)
                current = index
            }
        }
        for (i, spec) in specs.enumerated().dropFirst(current) where found[i].count < spec.minOccurs {
            throw missing(spec, found: found[i].count, in: path, before: nil, line: element.line)
        }
        return found
    }

    private func missing(_ spec: ChildSpec, found: Int, in path: String, before next: ChildSpec?, line: Int) -> DUISRequestError {
        if spec.maxOccurs > 1 {
            return error(path, .cardinality,
                         "must hold \(spec.minOccurs) to \(spec.maxOccurs) \(spec.qualifiedName) elements, found \(found)", line: line)
        }
        let position = next.map { " before \($0.qualifiedName)" } ?? ""
        return error(Self.join(path, spec.qualifiedName), .missingElement,
                     "required element \(spec.qualifiedName) is missing\(position)", line: line)
    }

    /// The text of a simple-content element: text and CDATA only, no attributes.
    func text(of element: XMLElement, path: String) throws(DUISRequestError) -> String {
        try requireNoAttributes(element, path: path)
        var result = ""
        for node in element.children {
            switch node {
            case .text(let text), .cdata(let text): result += text
            case .element(let child):
                throw error(Self.path(path, child), .unexpectedElement,
                            "\(Self.path("", child)) is not allowed: \(path.split(separator: "/").last ?? "") holds a value only",
                            line: child.line)
            case .comment:
                throw error(path, .unexpectedNode, "comments are not accepted in a DUIS request", line: element.line)
            case .processingInstruction(let target, _):
                throw error(path, .unexpectedNode, "processing instruction <?\(target)?> is not accepted in a DUIS request", line: element.line)
            case .other:
                throw error(path, .unexpectedNode, "unexpected node (entity reference or similar)", line: element.line)
            }
        }
        return result
    }

    /// Parses an `xs:boolean` (`true`, `false`, `1`, `0`; no surrounding white space).
    func boolean(_ text: String, path: String, line: Int) throws(DUISRequestError) -> Bool {
        switch text {
        case "true", "1": return true
        case "false", "0": return false
        default: throw error(path, .lexicalForm, "\(Self.quote(text)) is not an xs:boolean (true, false, 1 or 0)", line: line)
        }
    }

    /// A short quoted rendering of a value for messages.
    static func quote(_ text: String) -> String {
        let limit = 40
        let shown = text.count > limit ? String(text.prefix(limit)) + "…" : text
        var escaped = ""
        for scalar in shown.unicodeScalars {
            switch scalar {
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return "'" + escaped + "'"
    }
}
