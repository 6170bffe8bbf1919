/// Limits applied while parsing untrusted XML.
package struct XMLParseLimits: Sendable, Equatable {
    /// libxml2's own nesting limit (`xmlParserMaxDepth` in 2.9, without `XML_PARSE_HUGE`).
    /// A larger ``maxDepth`` is treated as this value.
    package static let libxml2MaxDepth = 256

    /// Documents longer than this many bytes are refused before parsing (``XMLError/Kind/tooLarge``).
    package var maxDocumentBytes: Int
    /// The deepest element nesting accepted; the root element is at depth 1
    /// (``XMLError/Kind/tooDeep``). Values above ``libxml2MaxDepth`` act as ``libxml2MaxDepth``.
    package var maxDepth: Int
    /// The most attributes (namespace declarations included) one start tag may have
    /// (``XMLError/Kind/tooLarge``). libxml2 2.9 checks for duplicate attributes in time
    /// quadratic in their number (160,000 attributes take a minute), so this is checked on
    /// the raw bytes before libxml2 sees them. Default 256; DUIS elements have a handful.
    package var maxAttributesPerElement: Int = 256

    /// Makes limits; the defaults are 16 MiB and 64 levels (DUIS nests about 10 deep).
    package init(maxDocumentBytes: Int = 16 << 20, maxDepth: Int = 64) {
        self.maxDocumentBytes = maxDocumentBytes
        self.maxDepth = maxDepth
    }

    /// 16 MiB and 64 levels.
    package static let `default` = XMLParseLimits()

    /// The depth actually enforced.
    var effectiveMaxDepth: Int { min(maxDepth, Self.libxml2MaxDepth) }
}

/// Why an XML document was refused or could not be processed. Always an input failure.
package struct XMLError: ClassifiedError, Equatable {
    /// The kind of failure.
    package enum Kind: String, Sendable {
        /// Longer than ``XMLParseLimits/maxDocumentBytes``.
        case tooLarge
        /// Nested deeper than ``XMLParseLimits/maxDepth``.
        case tooDeep
        /// The document has a DOCTYPE (internal subset, external DTD, entity declarations).
        case doctypeForbidden
        /// Not UTF-8: another BOM, UTF-16/32, another declared encoding, or invalid UTF-8 bytes.
        case notUTF8
        /// Not well-formed (or not namespace-well-formed) XML.
        case malformed
        /// Well-formed, but something this library does not handle (for example XML 1.1, or a
        /// relative namespace URI that Canonical XML refuses).
        case unsupported
    }

    /// The kind of failure.
    package let kind: Kind
    /// A human-readable reason (libxml2's message for parser errors, without its trailing newline).
    package let message: String
    /// The 1-based line of the first error, when known.
    package let line: Int?
    /// The 1-based column of the first error, when known.
    package let column: Int?
    /// The file name the caller gave when parsing, if any.
    package var source: String?

    /// Makes an error.
    package init(kind: Kind, message: String, line: Int? = nil, column: Int? = nil, source: String? = nil) {
        self.kind = kind
        self.message = message
        self.line = line
        self.column = column
        self.source = source
    }

    package var failureClass: FailureClass { .input }

    /// `FILE:LINE:COL: message`; the parts that are not known are left out.
    package var description: String {
        var location: [String] = []
        if let source { location.append(source) }
        if let line {
            location.append(String(line))
            if let column { location.append(String(column)) }
        }
        return location.isEmpty ? message : location.joined(separator: ":") + ": " + message
    }
}
