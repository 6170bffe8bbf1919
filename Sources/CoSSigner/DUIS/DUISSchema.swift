internal import CLibXML2
import Foundation

/// Why DUIS schema validation failed: the XSD could not be used, or the document is not valid.
/// Always an input failure (exit code 2).
package struct DUISSchemaError: ClassifiedError, Equatable {
    /// What went wrong.
    package enum Kind: String, Sendable {
        /// The XSD could not be read or compiled.
        case schemaUnusable = "the DUIS schema cannot be used"
        /// The document is not valid against the schema (or not well-formed XML).
        case documentInvalid = "not valid against the DUIS schema"
    }

    /// One message from libxml2's schema parser or validator.
    package struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The element the message is about, as a path from the root with `sr:` / `ds:` prefixes,
        /// when known.
        package let field: String?
        /// The 1-based line, when known.
        package let line: Int?
        /// libxml2's message, without its trailing newline.
        package let message: String

        package var description: String {
            var text = line.map { "line \($0): " } ?? ""
            if let field, !field.isEmpty { text += field + ": " }
            return text + message
        }
    }

    /// What went wrong.
    package let kind: Kind
    /// The messages, in the order libxml2 reported them (at most ``DUISSchema/maximumProblems``).
    package let problems: [Problem]
    /// The document's file name (for ``Kind/documentInvalid``) or the XSD path (``Kind/schemaUnusable``).
    package let source: String?

    /// Makes an error.
    package init(kind: Kind, problems: [Problem], source: String? = nil) {
        self.kind = kind
        self.problems = problems
        self.source = source
    }

    package var failureClass: FailureClass { .input }

    /// `SOURCE:LINE: FIELD: KIND: first message (and N more)`.
    package var description: String {
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
/// `X509SerialNumber` values). Loading never uses the network and never loads an entity: the XSD and the
/// schemas it imports are read from local regular files only (opened without blocking), and an external
/// entity or external DTD named inside any of them (`<!ENTITY x SYSTEM "file:///etc/passwd">`) is refused, so a
/// hostile XSD cannot read other files into the schema. libxml2's messages are collected into
/// ``DUISSchemaError``, never printed.
///
/// Compiled once, the schema is only read afterwards; each validation uses its own libxml2
/// validation context, so one instance may validate from many threads at once.
package final class DUISSchema: @unchecked Sendable {
    /// At most this many messages are kept per failure.
    package static let maximumProblems = 20

    /// The XSD file this schema was compiled from.
    package let xsdPath: String
    /// The compiled schema, freed in `deinit`; never mutated after `init`.
    private let schema: xmlSchemaPtr
    /// The XSD's own document, which the compiled schema may point into; freed after it.
    private let document: xmlDocPtr

    /// The largest XSD file read, in bytes (the MMC schema of DUIS 5.4 is about 2 MB).
    package static let maximumXSDBytes = 64 << 20

    /// Reads and compiles an XSD (and the schemas it imports, from local files only).
    /// - Parameter xsdPath: the path of the XSD, e.g. `shared/schema/duis-5.4/duis-5.4-xmllint-wrapper.xsd`.
    /// - Throws: ``DUISSchemaError`` (``DUISSchemaError/Kind/schemaUnusable``) if the file cannot be
    ///   read or does not compile.
    package init(xsdPath: String) throws(DUISSchemaError) {
        self.xsdPath = xsdPath
        _ = libxml2Initialised
        _ = schemaLoaderInstalled
        func unusable(_ message: String) -> DUISSchemaError {
            DUISSchemaError(kind: .schemaUnusable, problems: [.init(field: nil, line: nil, message: message)], source: xsdPath)
        }
        // Read as every user-named file is: without blocking, a regular file only, bounded.
        let bytes: [UInt8]
        do {
            bytes = try Files.read(xsdPath, maxBytes: Self.maximumXSDBytes)
        } catch {
            throw unusable("cannot read the XSD file: \(error.reason)")
        }
        guard bytes.count <= Int(Int32.max) else { throw unusable("the XSD file is too large") }
        let collector = SchemaMessageCollector()
        // Parsed here with the network off; the schemas it imports are parsed by libxml2 and loaded through
        // `schemaEntityLoader`, which refuses any entity or DTD and reads local regular files only.
        let parsed: (xmlDocPtr?, xmlSchemaPtr?) = collector.capturingThreadErrors {
            let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOENT.rawValue)
            let doc = bytes.withUnsafeBytes { raw -> xmlDocPtr? in
                guard let base = raw.baseAddress else { return nil }
                return xmlReadMemory(base.assumingMemoryBound(to: CChar.self), Int32(raw.count), xsdPath, nil, options)
            }
            guard let doc else { return (nil, nil) }
            guard let parser = xmlSchemaNewDocParserCtxt(doc) else { return (doc, nil) }
            defer { xmlSchemaFreeParserCtxt(parser) }
            xmlSchemaSetParserStructuredErrors(parser, schemaMessageHandler, Unmanaged.passUnretained(collector).toOpaque())
            return (doc, xmlSchemaParse(parser))
        }
        guard let doc = parsed.0, let compiled = parsed.1, collector.problems.isEmpty else {
            if let compiled = parsed.1 { xmlSchemaFree(compiled) }
            if let doc = parsed.0 { xmlFreeDoc(doc) }
            var problems = collector.problems
            if problems.isEmpty { problems = [.init(field: nil, line: nil, message: "libxml2 could not compile the schema")] }
            if xsdPath.contains(" ") {
                problems.append(.init(field: nil, line: nil, message:
                    "libxml2 cannot follow the space-containing schemaLocation of 'DUIS Schema V5.4.xsd': use duis-5.4-xmllint-wrapper.xsd"))
            }
            throw DUISSchemaError(kind: .schemaUnusable, problems: problems, source: xsdPath)
        }
        schema = compiled
        document = doc
    }

    deinit {
        xmlSchemaFree(schema)
        xmlFreeDoc(document)
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
    package func validate(_ document: XMLDocument, source: String? = nil, includingSignature: Bool = false) throws(DUISSchemaError) {
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
    package func validate(_ bytes: [UInt8], source: String? = nil, includingSignature: Bool = false) throws(DUISSchemaError) {
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
    package func validate(against schema: DUISSchema) throws(DUISSchemaError) {
        try schema.validate(xmlBytes(), source: nil)
    }
}

/// libxml2 loads the XSD's imports, and any external entity or DTD named in a document it parses, through the
/// process-wide external entity loader. Installed once, before the first schema is compiled (a global `let` is
/// initialised exactly once). CoSSigner never loads anything else through it (its XML parser refuses DTDs and
/// entities before libxml2 could load one), so installing it process-wide changes nothing else.
private let schemaLoaderInstalled: Bool = {
    xmlSetExternalEntityLoader(schemaEntityLoader)
    return true
}()

/// The external entity loader: a load made while a document is being parsed is an external entity or an external
/// DTD subset, and is refused; a load that starts a document (the XSD's imports
/// and includes) is allowed for a local file only (no URL scheme but `file:`), which must be a regular file
/// (checked without blocking, so a FIFO cannot hang the compile), and is then read by libxml2's no-network loader.
/// A refusal is reported to the schema's message collector when one is listening on this thread.
private let schemaEntityLoader: xmlExternalEntityLoader = { url, id, context in
    let name = url.map { String(cString: $0) } ?? ""
    // A load inside a document: the parser has an input open (an external DTD subset, a parameter entity), or it
    // is the sub-parser libxml2 2.9 makes for an external parsed entity, which numbers its input after its
    // parent's (a document load starts at input 1).
    if let context, context.pointee.inputNr > 0 || context.pointee.input_id > 1 {
        schemaLoadRefused("external entity or DTD '\(name)' refused: entities are not loaded")
        return nil
    }
    guard let path = localPath(name) else {
        schemaLoadRefused("'\(name)' refused: schemas are read from local files only")
        return nil
    }
    for candidate in [path, percentDecoded(path)] {
        var info = stat()
        guard lstat(candidate, &info) == 0 else { continue }
        do throws(FileError) {
            let opened = try Files.openRegularFile(candidate)
            close(opened.fd)
        } catch {
            schemaLoadRefused("'\(name)': \(error.reason)")
            return nil
        }
        break
    }
    return xmlNoNetExternalEntityLoader(url, id, context)
}

/// The file path of a URL with no scheme or the `file:` scheme, or `nil` for any other scheme.
private func localPath(_ url: String) -> String? {
    if url.hasPrefix("file://localhost/") { return String(url.dropFirst("file://localhost".count)) }
    if url.hasPrefix("file:///") { return String(url.dropFirst("file://".count)) }
    if url.hasPrefix("file:") { return String(url.dropFirst("file:".count)) }
    // A scheme: letters, digits, '+', '-', '.' before a ':' that comes before any '/'.
    if let colon = url.firstIndex(of: ":"), !url[..<colon].contains("/"), url.distance(from: url.startIndex, to: colon) > 1 {
        return nil
    }
    return url
}

/// `%XX` sequences decoded (libxml2 writes `MMC%20Schema%20V5.4.xsd` for a name with spaces).
private func percentDecoded(_ text: String) -> String {
    var bytes: [UInt8] = []
    var iterator = Array(text.utf8).makeIterator()
    while let byte = iterator.next() {
        if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
           let h = hexValue(high), let l = hexValue(low) {
            bytes.append(h << 4 | l)
        } else {
            bytes.append(byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Tells the schema message collector listening on this thread, if any, why a load was refused.
private func schemaLoadRefused(_ message: String) {
    var handler: xmlStructuredErrorFunc?
    var context: UnsafeMutableRawPointer?
    cos_xml_get_structured_error_handler(&handler, &context)
    guard let handler, let context,
          unsafeBitCast(handler, to: UnsafeRawPointer.self) == unsafeBitCast(schemaMessageHandler, to: UnsafeRawPointer.self)
    else { return }
    Unmanaged<SchemaMessageCollector>.fromOpaque(context).takeUnretainedValue().record(message)
}

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

    /// Records a message of our own (a refused load).
    func record(_ message: String) {
        guard problems.count < DUISSchema.maximumProblems else { return }
        problems.append(.init(field: nil, line: nil, message: message))
    }

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
