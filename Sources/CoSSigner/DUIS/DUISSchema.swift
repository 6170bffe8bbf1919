internal import CLibXML2
import Foundation

/// Why DUIS schema validation failed: the XSD could not be used, or the document is not valid.
/// Always an input failure (exit code 2).
public struct DUISSchemaError: ClassifiedError, Equatable {
    /// What went wrong.
    public enum Kind: String, Sendable {
        /// The XSD could not be read or compiled.
        case schemaUnusable = "the DUIS schema cannot be used"
        /// The document is not valid against the schema (or not well-formed XML).
        case documentInvalid = "not valid against the DUIS schema"
    }

    /// One message from libxml2's schema parser or validator.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The element the message is about, as a path from the root with `sr:` / `ds:` prefixes,
        /// when known.
        public let field: String?
        /// The 1-based line, when known.
        public let line: Int?
        /// libxml2's message, without its trailing newline.
        public let message: String

        public var description: String {
            var text = line.map { "line \($0): " } ?? ""
            if let field, !field.isEmpty { text += field + ": " }
            return text + message
        }
    }

    /// What went wrong.
    public let kind: Kind
    /// The messages, in the order libxml2 reported them (at most ``DUISSchema/maximumProblems``).
    public let problems: [Problem]
    /// The document's file name (for ``Kind/documentInvalid``) or the XSD path (``Kind/schemaUnusable``).
    public let source: String?

    /// Makes an error.
    public init(kind: Kind, problems: [Problem], source: String? = nil) {
        self.kind = kind
        self.problems = problems
        self.source = source
    }

    public var failureClass: FailureClass { .input }

    /// `SOURCE:LINE: FIELD: KIND: first message (and N more)`.
    public var description: String {
        guard let first = problems.first else { return (source.map { $0 + ": " } ?? "") + kind.rawValue }
        var location: [String] = []
        if let source { location.append(source) }
        if let line = first.line { location.append(String(line)) }
        var text = location.isEmpty ? "" : location.joined(separator: ":") + ": "
        if let field = first.field, !field.isEmpty { text += field + ": " }
        text += kind.rawValue + ": " + first.message
        if problems.count > 1 { text += " (and \(problems.count - 1) more)" }
        return text
    }
}

/// A compiled DUIS XML schema, validated with libxml2's schema validator.
///
/// libxml2 2.9 cannot compile `DUIS Schema V5.4.xsd` directly (it ignores the space-containing
/// `schemaLocation` of the MMC schema): give it `duis-5.4-xmllint-wrapper.xsd` (for unsigned
/// documents) or `duis-5.4-xmllint-wrapper-signed.xsd` (which also accepts 39-digit
/// `X509SerialNumber` values). Loading never uses the network, and libxml2's messages are
/// collected into ``DUISSchemaError``, never printed.
///
/// Compiled once, the schema is only read afterwards; each validation uses its own libxml2
/// validation context, so one instance may validate from many threads at once.
public final class DUISSchema: @unchecked Sendable {
    /// At most this many messages are kept per failure.
    public static let maximumProblems = 20

    /// The XSD file this schema was compiled from.
    public let xsdPath: String
    /// The compiled schema, freed in `deinit`; never mutated after `init`.
    private let schema: xmlSchemaPtr

    /// Reads and compiles an XSD (and the schemas it imports, from local files only).
    /// - Parameter xsdPath: the path of the XSD, e.g. `shared/schema/duis-5.4/duis-5.4-xmllint-wrapper.xsd`.
    /// - Throws: ``DUISSchemaError`` (``DUISSchemaError/Kind/schemaUnusable``) if the file cannot be
    ///   read or does not compile.
    public init(xsdPath: String) throws(DUISSchemaError) {
        self.xsdPath = xsdPath
        _ = libxml2Initialised
        _ = networkRefused
        func unusable(_ message: String) -> DUISSchemaError {
            DUISSchemaError(kind: .schemaUnusable, problems: [.init(field: nil, line: nil, message: message)], source: xsdPath)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: xsdPath, isDirectory: &isDirectory), !isDirectory.boolValue,
              FileManager.default.isReadableFile(atPath: xsdPath) else {
            throw unusable("cannot read the XSD file")
        }
        let collector = SchemaMessageCollector()
        let compiled: xmlSchemaPtr? = collector.capturingThreadErrors {
            guard let parser = xmlSchemaNewParserCtxt(xsdPath) else { return nil }
            defer { xmlSchemaFreeParserCtxt(parser) }
            xmlSchemaSetParserStructuredErrors(parser, schemaMessageHandler, Unmanaged.passUnretained(collector).toOpaque())
            return xmlSchemaParse(parser)
        }
        guard let compiled, collector.problems.isEmpty else {
            if let compiled { xmlSchemaFree(compiled) }
            var problems = collector.problems
            if problems.isEmpty { problems = [.init(field: nil, line: nil, message: "libxml2 could not compile the schema")] }
            if xsdPath.contains(" ") {
                problems.append(.init(field: nil, line: nil, message:
                    "libxml2 cannot follow the space-containing schemaLocation of 'DUIS Schema V5.4.xsd': use duis-5.4-xmllint-wrapper.xsd"))
            }
            throw DUISSchemaError(kind: .schemaUnusable, problems: problems, source: xsdPath)
        }
        schema = compiled
    }

    deinit {
        xmlSchemaFree(schema)
    }

    /// Validates a parsed document. The document itself is not changed: a copy is validated.
    /// - Parameters:
    ///   - document: the document.
    ///   - source: the document's file name for messages.
    ///   - includingSignature: `false` (default) validates the document without the `ds:Signature`
    ///     children of its root, which the schema makes optional anyway (libxml2 cannot read the
    ///     39-digit `X509SerialNumber` values of real SMKI certificates as `xs:integer`); `true`
    ///     keeps them (use the `-signed` wrapper XSD then).
    /// - Throws: ``DUISSchemaError`` (``DUISSchemaError/Kind/documentInvalid``) with libxml2's messages.
    public func validate(_ document: XMLDocument, source: String? = nil, includingSignature: Bool = false) throws(DUISSchemaError) {
        let collector = SchemaMessageCollector()
        let result: Int32 = collector.capturingThreadErrors {
            guard let copy = xmlCopyDoc(document.docPtr, 1) else { return -1 }
            defer { xmlFreeDoc(copy) }
            if !includingSignature { removeRootSignatures(copy) }
            guard let context = xmlSchemaNewValidCtxt(schema) else { return -1 }
            defer { xmlSchemaFreeValidCtxt(context) }
            xmlSchemaSetValidStructuredErrors(context, schemaMessageHandler, Unmanaged.passUnretained(collector).toOpaque())
            return xmlSchemaValidateDoc(context, copy)
        }
        guard result == 0, collector.problems.isEmpty else {
            var problems = collector.problems
            if problems.isEmpty {
                problems = [.init(field: nil, line: nil, message: result < 0
                    ? "libxml2 could not run the schema validator" : "libxml2 reported error \(result)")]
            }
            throw DUISSchemaError(kind: .documentInvalid, problems: problems, source: source)
        }
    }

    /// Parses `bytes` with the hardened XML parser and validates the result; see
    /// ``validate(_:source:includingSignature:)-(XMLDocument,_,_)``.
    /// - Throws: ``DUISSchemaError`` (``DUISSchemaError/Kind/documentInvalid``), also when the bytes
    ///   are not well-formed XML.
    public func validate(_ bytes: [UInt8], source: String? = nil, includingSignature: Bool = false) throws(DUISSchemaError) {
        let document: XMLDocument
        do throws(XMLError) {
            document = try XMLDocument(parsing: bytes, source: source)
        } catch {
            throw DUISSchemaError(kind: .documentInvalid,
                                  problems: [.init(field: nil, line: error.line, message: error.message)], source: source)
        }
        try validate(document, source: source, includingSignature: includingSignature)
    }
}

extension ServiceRequest623 {
    /// Validates ``xmlBytes()`` against `schema`.
    /// - Throws: ``DUISSchemaError`` if the schema refuses the written document.
    public func validate(against schema: DUISSchema) throws(DUISSchemaError) {
        try schema.validate(xmlBytes(), source: nil)
    }
}

/// libxml2 loads the XSD's imports through the process-wide external entity loader; the no-network
/// loader refuses `http:` and `ftp:` URLs and reads local files as before. Installed once, before
/// the first schema is compiled (a global `let` is initialised exactly once). CoSSigner never
/// loads anything from the network, so installing it process-wide changes nothing else.
private let networkRefused: Bool = {
    xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader)
    return true
}()

/// Unlinks and frees every `ds:Signature` child of the root of `doc`.
private func removeRootSignatures(_ doc: xmlDocPtr) {
    guard let root = xmlDocGetRootElement(doc) else { return }
    let name = Array("Signature".utf8)
    let uri = Array(DUISNamespace.xmldsig.utf8)
    var child = root.pointee.children
    while let c = child {
        child = c.pointee.next
        if c.pointee.type == XML_ELEMENT_NODE, equals(c.pointee.name, name), let ns = c.pointee.ns, equals(ns.pointee.href, uri) {
            xmlUnlinkNode(c)
            xmlFreeNode(c)
        }
    }
}

/// Collects the schema parser's / validator's messages (errors only; warnings such as "Skipping
/// import ... already imported" are dropped). Reached from C through an unretained pointer: the
/// caller keeps it alive (`capturingThreadErrors` does).
private final class SchemaMessageCollector {
    private(set) var problems: [DUISSchemaError.Problem] = []

    func record(_ error: xmlError) {
        guard error.level.rawValue >= XML_ERR_ERROR.rawValue, problems.count < DUISSchema.maximumProblems else { return }
        var message = error.message.map { String(cString: $0) } ?? "libxml2 error \(error.code)"
        while let last = message.last, last.isNewline || last == " " { message.removeLast() }
        let node = error.node?.assumingMemoryBound(to: xmlNode.self)
        problems.append(.init(field: node.flatMap(elementPath), line: error.line > 0 ? Int(error.line) : nil, message: message))
    }

    /// Runs `body` with this collector as the thread's structured error handler (libxml2 2.9 keeps
    /// it per thread), restoring the previous handler afterwards, so that messages raised outside
    /// the schema contexts (file loading, parsing of imported schemas) are captured too.
    func capturingThreadErrors<R>(_ body: () -> R) -> R {
        var previousHandler: xmlStructuredErrorFunc?
        var previousContext: UnsafeMutableRawPointer?
        cos_xml_get_structured_error_handler(&previousHandler, &previousContext)
        return withExtendedLifetime(self) {
            xmlSetStructuredErrorFunc(Unmanaged.passUnretained(self).toOpaque(), schemaMessageHandler)
            defer { xmlSetStructuredErrorFunc(previousContext, previousHandler) }
            return body()
        }
    }
}

private let schemaMessageHandler: xmlStructuredErrorFunc = { context, error in
    guard let context, let error else { return }
    Unmanaged<SchemaMessageCollector>.fromOpaque(context).takeUnretainedValue().record(error.pointee)
}

/// The path of an element node from below the root (`sr:Header/sr:CommandVariant`); the root
/// itself is `sr:Request`. Attribute nodes give their element's path.
private func elementPath(_ start: xmlNodePtr) -> String? {
    var node: xmlNodePtr? = start
    if let n = node, n.pointee.type == XML_ATTRIBUTE_NODE { node = n.pointee.parent }
    guard let element = node, element.pointee.type == XML_ELEMENT_NODE else { return nil }
    var names: [String] = []
    var current: xmlNodePtr? = element
    while let c = current, c.pointee.type == XML_ELEMENT_NODE {
        var prefix = ""
        if let ns = c.pointee.ns, let href = string(ns.pointee.href) {
            prefix = href == DUISNamespace.serviceUserGateway ? "sr:" : href == DUISNamespace.xmldsig ? "ds:"
                : string(ns.pointee.prefix).map { $0 + ":" } ?? ""
        }
        names.append(prefix + (string(c.pointee.name) ?? ""))
        current = c.pointee.parent
    }
    if names.count > 1 { names.removeLast() }  // paths are relative to the root
    return names.reversed().joined(separator: "/")
}
