internal import CLibXML2

/// libxml2 is initialised once per process, before any parser is created on any thread
/// (`xmlInitParser` is not itself safe to race). Global `let`s are initialised exactly once.
let libxml2Initialised: Bool = {
    xmlInitParser()
    return true
}()

/// Collects libxml2 errors during one parse or one canonicalisation, and the refusals raised by
/// our SAX hooks. Reached from C callbacks through an unretained pointer: keep it alive with
/// `withExtendedLifetime` around the C call.
final class LibXML2ErrorCollector {
    struct Entry {
        var domain: Int32
        var code: Int32
        var message: String
        var line: Int?
        var column: Int?
    }

    /// The first error of level XML_ERR_ERROR or XML_ERR_FATAL (warnings are ignored).
    private(set) var first: Entry?
    /// Set by a SAX hook that stopped the parser; wins over anything libxml2 reports after it.
    var refusal: (kind: XMLError.Kind, message: String, line: Int?, column: Int?)?
    /// The deepest nesting allowed (root = 1).
    let maxDepth: Int

    init(maxDepth: Int = XMLParseLimits.libxml2MaxDepth) {
        self.maxDepth = maxDepth
    }

    func record(_ error: xmlError) {
        guard first == nil, error.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
        var message = error.message.map { String(cString: $0) } ?? "libxml2 error \(error.code)"
        while let last = message.last, last.isNewline || last == " " { message.removeLast() }
        first = Entry(
            domain: error.domain, code: error.code, message: message,
            line: error.line > 0 ? Int(error.line) : nil,
            column: error.int2 > 0 ? Int(error.int2) : nil)
    }

    /// Runs `body` with this collector as the calling thread's structured error handler
    /// (libxml2 2.9 keeps it per thread), then restores the previous handler. Errors raised
    /// without a parser context (C14N, I/O, encoding) therefore never reach stderr.
    func capturingThreadErrors<R>(_ body: () -> R) -> R {
        var previousHandler: xmlStructuredErrorFunc?
        var previousContext: UnsafeMutableRawPointer?
        cos_xml_get_structured_error_handler(&previousHandler, &previousContext)
        return withExtendedLifetime(self) {
            xmlSetStructuredErrorFunc(Unmanaged.passUnretained(self).toOpaque(), threadErrorHandler)
            defer { xmlSetStructuredErrorFunc(previousContext, previousHandler) }
            return body()
        }
    }

    static func from(_ opaque: UnsafeMutableRawPointer) -> LibXML2ErrorCollector {
        Unmanaged<LibXML2ErrorCollector>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// The thread-wide structured handler: `context` is the collector.
private let threadErrorHandler: xmlStructuredErrorFunc = { context, error in
    guard let context, let error else { return }
    LibXML2ErrorCollector.from(context).record(error.pointee)
}

/// The per-parser structured handler (`sax->serror`): libxml2 passes `ctxt->userData`, which is
/// the parser context itself; the collector is in `ctxt->_private`.
private let parserErrorHandler: xmlStructuredErrorFunc = { userData, error in
    guard let userData, let error, let collector = collector(ofParser: userData) else { return }
    collector.record(error.pointee)
}

private func collector(ofParser context: UnsafeMutableRawPointer) -> LibXML2ErrorCollector? {
    let ctxt = context.assumingMemoryBound(to: xmlParserCtxt.self)
    return ctxt.pointee._private.map(LibXML2ErrorCollector.from)
}

/// Records a refusal at the parser's current position and stops the parser: nothing after this
/// point is read, declared, loaded or expanded.
private func refuse(_ context: UnsafeMutableRawPointer?, _ kind: XMLError.Kind, _ message: String) {
    guard let context else { return }
    let ctxt = context.assumingMemoryBound(to: xmlParserCtxt.self)
    if let collector = collector(ofParser: context), collector.refusal == nil {
        let line = Int(xmlSAX2GetLineNumber(context))
        let column = Int(xmlSAX2GetColumnNumber(context))
        collector.refusal = (kind, message, line > 0 ? line : nil, column > 0 ? column : nil)
    }
    xmlStopParser(ctxt)
}

/// SAX `internalSubset` is called as soon as `<!DOCTYPE name ExternalID` has been read, before
/// the internal subset or any external DTD is processed.
private let doctypeHook: internalSubsetSAXFunc = { context, _, _, _ in
    refuse(context, .doctypeForbidden, "DOCTYPE declarations are not accepted")
}

/// Second line of defence, in case a DTD is reached without `internalSubset` firing.
private let externalSubsetHook: externalSubsetSAXFunc = { context, _, _, _ in
    refuse(context, .doctypeForbidden, "DOCTYPE declarations are not accepted")
}

private let entityDeclHook: entityDeclSAXFunc = { context, _, _, _, _, _ in
    refuse(context, .doctypeForbidden, "entity declarations are not accepted")
}

/// Counts depth before the element is built: `nodeNr` is the number of open ancestors.
private let startElementHook: startElementNsSAX2Func = {
    context, localName, prefix, uri, nbNamespaces, namespaces, nbAttributes, nbDefaulted, attributes in
    guard let context else { return }
    let ctxt = context.assumingMemoryBound(to: xmlParserCtxt.self)
    if let collector = collector(ofParser: context), Int(ctxt.pointee.nodeNr) + 1 > collector.maxDepth {
        refuse(context, .tooDeep, "elements nested deeper than \(collector.maxDepth) levels")
        return
    }
    xmlSAX2StartElementNs(context, localName, prefix, uri, nbNamespaces, namespaces, nbAttributes, nbDefaulted, attributes)
}

enum LibXML2Parser {
    /// Parse options: no network, no error/warning printing, nothing else. In particular not
    /// NOENT (entity substitution), DTDLOAD, DTDATTR, DTDVALID, XINCLUDE, HUGE or NOCDATA.
    static let options: Int32 = Int32(bitPattern:
        XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue
            | XML_PARSE_BIG_LINES.rawValue)

    /// Parses untrusted bytes into a document the caller owns (free it with `xmlFreeDoc`).
    static func parse(_ bytes: UnsafeRawBufferPointer, limits: XMLParseLimits, source: String?) throws(XMLError) -> xmlDocPtr {
        guard bytes.count <= limits.maxDocumentBytes, bytes.count <= Int(Int32.max) else {
            throw XMLError(kind: .tooLarge,
                           message: "document of \(bytes.count) bytes exceeds the limit of \(min(limits.maxDocumentBytes, Int(Int32.max))) bytes",
                           source: source)
        }
        try XMLInputCheck.check(bytes, limits: limits, source: source)
        _ = libxml2Initialised

        guard let ctxt = xmlNewParserCtxt() else {
            throw XMLError(kind: .unsupported, message: "libxml2 could not allocate a parser", source: source)
        }
        defer { xmlFreeParserCtxt(ctxt) }
        let collector = LibXML2ErrorCollector(maxDepth: max(0, limits.effectiveMaxDepth))
        if let sax = ctxt.pointee.sax {
            sax.pointee.serror = parserErrorHandler
            sax.pointee.internalSubset = doctypeHook
            sax.pointee.externalSubset = externalSubsetHook
            sax.pointee.entityDecl = entityDeclHook
            sax.pointee.startElementNs = startElementHook
        } else {
            throw XMLError(kind: .unsupported, message: "libxml2 parser has no SAX handler", source: source)
        }
        guard let start = bytes.baseAddress else {
            throw XMLError(kind: .malformed, message: "the document is empty", source: source)
        }
        ctxt.pointee._private = Unmanaged.passUnretained(collector).toOpaque()

        let doc: xmlDocPtr? = collector.capturingThreadErrors {
            xmlCtxtReadMemory(ctxt, start.assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil, nil, options)
        }
        ctxt.pointee._private = nil

        func fail(_ kind: XMLError.Kind, _ message: String, _ line: Int? = nil, _ column: Int? = nil) -> XMLError {
            if let doc { xmlFreeDoc(doc) }
            return XMLError(kind: kind, message: message, line: line, column: column, source: source)
        }
        if let refusal = collector.refusal {
            throw fail(refusal.kind, refusal.message, refusal.line, refusal.column)
        }
        if let first = collector.first {
            throw fail(kind(of: first), first.message, first.line, first.column)
        }
        guard let doc, ctxt.pointee.wellFormed != 0, ctxt.pointee.nsWellFormed != 0 else {
            throw fail(.malformed, "the document is not well-formed XML")
        }
        // Second guard against DTDs: the hook should have stopped the parser already.
        if doc.pointee.intSubset != nil || doc.pointee.extSubset != nil {
            throw fail(.doctypeForbidden, "DOCTYPE declarations are not accepted")
        }
        if let encoding = doc.pointee.encoding, String(cString: encoding).lowercased() != "utf-8" {
            throw fail(.notUTF8, "the document declares encoding \"\(String(cString: encoding))\": only UTF-8 is accepted")
        }
        if let version = doc.pointee.version, String(cString: version) != "1.0" {
            throw fail(.unsupported, "XML version \(String(cString: version)) is not supported (only 1.0)")
        }
        guard xmlDocGetRootElement(doc) != nil else {
            throw fail(.malformed, "the document has no root element")
        }
        return doc
    }

    /// Maps a libxml2 parser error to our kinds.
    private static func kind(of entry: LibXML2ErrorCollector.Entry) -> XMLError.Kind {
        if entry.message.contains("Excessive depth") { return .tooDeep }
        if entry.domain == Int32(XML_FROM_I18N.rawValue) { return .notUTF8 }
        switch entry.code {
        case Int32(XML_ERR_UNSUPPORTED_ENCODING.rawValue), Int32(XML_ERR_INVALID_ENCODING.rawValue),
             Int32(XML_ERR_UNKNOWN_ENCODING.rawValue):
            return .notUTF8
        case Int32(XML_ERR_INVALID_CHAR.rawValue) where entry.message.contains("UTF-8"):
            return .notUTF8
        case Int32(XML_ERR_EXT_SUBSET_NOT_FINISHED.rawValue), Int32(XML_ERR_DOCTYPE_NOT_FINISHED.rawValue):
            return .doctypeForbidden
        default:
            return .malformed
        }
    }
}
