/// A single-pass canonicalizer over raw bytes for the common shape of DUIS documents: inclusive Canonical
/// XML 1.0 without comments, optionally with whitespace compaction and without a root-level `ds:Signature`,
/// with no DOM.
///
/// It gives byte-for-byte the result of the libxml2 path (``XMLDocument`` parse → remove root-level
/// `ds:Signature` → ``XMLDocument/removeWhitespaceBetweenElements()`` → ``XMLDocument/inclusiveCanonicalForm(excluding:)``),
/// which the differential tests check over the DUIS templates and a generated corpus. It applies the hardened
/// parser's rules (size, depth, the attribute limit, ``XMLInputCheck``'s UTF-8 and NUL check, no DOCTYPE; see
/// ``FastCanonicalizer/withScanner(_:mode:limits:_:)``) and accepts only a
/// strict subset of XML: ASCII names, the five predefined entities and character references, absolute
/// namespace URIs made of ordinary URI characters, no `xml:` attributes, no BOM. Anything outside that subset,
/// and anything malformed, returns `nil`: the caller then takes the libxml2 path, which gives either the same
/// answer or the proper typed error. It never gives a different answer.
package enum FastCanonicalizer {
    /// What to do with `ds:Signature` elements and whitespace.
    package enum Mode {
        /// Signing: drop every root-level `ds:Signature` (a placeholder); a `ds:Signature` anywhere else gives
        /// `nil`. With `compact`, whitespace-only text in element content is dropped.
        case signing(compact: Bool)
        /// Verifying: the document must hold exactly one `ds:Signature`, the root's last child element; it is
        /// left out of the canonical form and its byte range is returned. Nothing is compacted.
        case verifying
    }

    /// The canonical form and what the caller needs beside it.
    package struct Result {
        /// The canonical octets.
        package var bytes: [UInt8]
        /// The root's qualified name as written (its end tag closes `bytes`).
        package var rootQualifiedName: [UInt8]
        /// Verifying: the byte range of the `ds:Signature` element in the input.
        package var signatureRange: Range<Int>?
        /// Verifying: the namespace declarations of the root, in input order (`prefix` empty for the default),
        /// so that the Signature can be parsed on its own in the same scope.
        var rootNamespaces: [(prefix: [UInt8], uri: [UInt8])]
        /// The input held a comment or a CDATA section somewhere (the canonical form keeps neither as such).
        var sawCommentOrCDATA = false
        /// Signing: how many root-level `ds:Signature` placeholders were dropped.
        var placeholderCount = 0
        /// Signing: no element follows the last dropped placeholder among the root's children.
        var placeholderIsLastRootChild = true
    }

    /// The canonical form of `bytes`, or `nil` when the fast path does not handle the document.
    static package func canonicalize(_ bytes: UnsafeRawBufferPointer, mode: Mode, limits: XMLParseLimits) -> Result? {
        withScanner(bytes, mode: mode, limits: limits) { $0.result() }
    }

    /// Runs the scanner over `bytes` and, when it handles the document, calls `body` with it (its output
    /// buffer is valid only during the call, so callers that hash or copy the canonical octets need no
    /// intermediate array). `nil` when the fast path does not handle the document.
    ///
    /// Of ``XMLInputCheck/check(_:limits:source:)`` only the UTF-8 and NUL check runs as a separate pass: the
    /// scanner refuses by itself everything else that check refuses (a BOM, UTF-16/32, an XML declaration that
    /// does not name UTF-8) and counts each start tag's attributes and namespace declarations against
    /// ``XMLParseLimits/maxAttributesPerElement`` (the check's count: one `=` outside quotes per attribute).
    static func withScanner<R, E: Error>(
        _ bytes: UnsafeRawBufferPointer, mode: Mode, limits: XMLParseLimits,
        _ body: (borrowing FastC14NScanner) throws(E) -> R
    ) throws(E) -> R? {
        guard bytes.count > 0, bytes.count <= limits.maxDocumentBytes, bytes.count <= Int(Int32.max),
            XMLInputCheck.isUTF8WithoutNUL(bytes)
        else { return nil }
        let typed = bytes.assumingMemoryBound(to: UInt8.self)
        guard let base = typed.baseAddress else { return nil }
        var scanner = FastC14NScanner(
            typed, base: base, mode: mode, maxDepth: limits.effectiveMaxDepth,
            maxAttributes: limits.maxAttributesPerElement)
        defer { scanner.out.release() }
        do throws(FastC14NFallback) {
            try scanner.document()
        } catch {
            return nil
        }
        return try body(scanner)
    }

    /// Convenience for arrays.
    static package func canonicalize(_ bytes: [UInt8], mode: Mode, limits: XMLParseLimits) -> Result? {
        bytes.withUnsafeBytes { canonicalize($0, mode: mode, limits: limits) }
    }
}

/// The fast path gives up (the libxml2 path takes over).
struct FastC14NFallback: Error {}

/// A growable output buffer (manually managed; `release()` frees it).
struct FastC14NWriter {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        base = UnsafeMutablePointer<UInt8>.allocate(capacity: self.capacity)
    }

    func release() { base.deallocate() }

    @inline(__always)
    mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(count + extra) }
    }

    private mutating func grow(_ needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func append(_ source: UnsafePointer<UInt8>, _ length: Int) {
        guard length > 0 else { return }
        reserve(length)
        (base + count).update(from: source, count: length)
        count += length
    }

    mutating func append(_ ascii: StaticString) {
        append(ascii.utf8Start, ascii.utf8CodeUnitCount)
    }

    /// Drops the bytes in `range` (which lies within the written bytes), moving what follows down.
    mutating func remove(_ range: Range<Int>) {
        let tail = count - range.upperBound
        if tail > 0 { memmove(base + range.lowerBound, base + range.upperBound, tail) }
        count -= range.count
    }

    func array() -> [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }
}

/// One attribute or namespace declaration of the start tag being read (ranges into the input).
private struct FastC14NAttribute {
    var prefix: Range<Int>  // empty: none
    var local: Range<Int>
    var value: Range<Int>  // raw, between the quotes
    var isNamespace: Bool  // xmlns or xmlns:p (prefix of the declaration in `local`, empty for the default)
    var uri: Range<Int> = 0..<0  // the attribute's namespace URI (prefixed attributes)
    var hasURI = false
}

/// One open element.
private struct FastC14NElement {
    var qname: Range<Int>
    var bindingMark: Int
    var hasElementChild = false
    var pendingMark: Int  // start of this element's pending whitespace ranges
    var suppressed: Bool  // inside a removed ds:Signature
}

struct FastC14NScanner {
    let b: UnsafeBufferPointer<UInt8>
    let p: UnsafePointer<UInt8>
    let n: Int
    let mode: FastCanonicalizer.Mode
    let compact: Bool
    package let verifying: Bool
    let maxDepth: Int
    let maxAttributes: Int
    var i = 0
    var out: FastC14NWriter

    /// Namespace bindings in scope: (prefix, uri) ranges into the input; prefix empty for the default.
    private var bindings: [(prefix: Range<Int>, uri: Range<Int>)] = []
    private var stack: [FastC14NElement] = []
    private var attributes: [FastC14NAttribute] = []
    private var order: [Int] = []
    /// Output ranges of whitespace-only text that is dropped if its element turns out to have element children.
    private var pending: [Range<Int>] = []
    private var rootQName: Range<Int> = 0..<0
    /// Verifying: the root's namespace declarations as (prefix, uri) ranges, in input order.
    private var rootNamespaceRanges: [(prefix: Range<Int>, uri: Range<Int>)] = []
    private var signatureCount = 0
    private var signatureRange: Range<Int>?
    private var signatureIsLastChild = false
    private var rootClosed = false
    /// The input held a comment or a CDATA section (see ``FastCanonicalizer/Result/sawCommentOrCDATA``).
    private(set) var sawCommentOrCDATA = false
    /// A comment or processing instruction inside the root element, outside a root-level `ds:Signature` (the
    /// verifier refuses them; see ``DUISVerifier``).
    private(set) var sawCommentOrPIInsideRoot = false
    /// Signing: root-level `ds:Signature` placeholders dropped.
    private(set) var placeholderCount = 0
    /// Signing: no element follows the last dropped placeholder among the root's children.
    private(set) var placeholderIsLastRootChild = true

    static let xmldsig: StaticString = "http://www.w3.org/2000/09/xmldsig#"

    init(
        _ b: UnsafeBufferPointer<UInt8>, base: UnsafePointer<UInt8>, mode: FastCanonicalizer.Mode, maxDepth: Int,
        maxAttributes: Int
    ) {
        self.b = b
        self.p = base
        self.n = b.count
        self.mode = mode
        switch mode {
        case .signing(let compact):
            self.compact = compact
            verifying = false
        case .verifying:
            compact = false
            verifying = true
        }
        self.maxDepth = maxDepth
        self.maxAttributes = maxAttributes
        out = FastC14NWriter(capacity: b.count + b.count / 4 + 64)
        bindings.reserveCapacity(16)
        stack.reserveCapacity(16)
        attributes.reserveCapacity(8)
        order.reserveCapacity(8)
    }

    /// The canonical octets written so far (valid while the scanner's buffer lives).
    var canonical: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: out.base, count: out.count) }

    /// The root's qualified name as written (its end tag closes the canonical octets).
    var rootQualifiedName: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: p + rootQName.lowerBound, count: rootQName.count)
    }

    /// Verifying: the byte range of the `ds:Signature` element in the input.
    var signatureByteRange: Range<Int>? { signatureRange }

    /// Verifying: the root's namespace declarations, in input order (`prefix` empty for the default).
    func rootNamespaces() -> [(prefix: [UInt8], uri: [UInt8])] {
        rootNamespaceRanges.map { (Array(b[$0.prefix]), Array(b[$0.uri])) }
    }

    func result() -> FastCanonicalizer.Result {
        FastCanonicalizer.Result(
            bytes: out.array(), rootQualifiedName: Array(b[rootQName]), signatureRange: signatureRange,
            rootNamespaces: rootNamespaces(), sawCommentOrCDATA: sawCommentOrCDATA, placeholderCount: placeholderCount,
            placeholderIsLastRootChild: placeholderIsLastRootChild)
    }

    // MARK: Character classes

    @inline(__always) static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
    @inline(__always) static func isNameStart(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c == 0x5F
    }
    @inline(__always) static func isNameChar(_ c: UInt8) -> Bool {
        // Bitmaps of [-.0-9] (0x00-0x3F) and [A-Z_a-z] (0x40-0x7F); nothing at or above 0x80.
        let low: UInt64 = 0x03FF_6000_0000_0000
        let high: UInt64 = 0x07FF_FFFE_87FF_FFFE
        let word = c < 0x40 ? low : high
        return c < 0x80 && (word >> UInt64(c & 0x3F)) & 1 != 0
    }

    /// For eight input bytes (little-endian in `w`): the high bit is set in the lowest byte that is not plain
    /// text (see ``isPlainText(_:)``), and possibly in higher bytes; zero when all eight are plain. The lowest
    /// flagged byte is exact because borrows only propagate upwards from a byte that matches.
    @inline(__always)
    static func nonPlainTextMask(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let control = (w &- ones &* 0x21) & ~w & high  // bytes below 0x21 (bytes >= 0x80 never borrow)
        let angle = (w | ones &* 0x02) ^ (ones &* 0x3E)  // zero for '<' (0x3C) and '>' (0x3E)
        let amp = w ^ (ones &* 0x26)
        let bracket = w ^ (ones &* 0x5D)
        let ef = w ^ (ones &* 0xEF)
        let zeros = ((angle &- ones) & ~angle) | ((amp &- ones) & ~amp) | ((bracket &- ones) & ~bracket)
            | ((ef &- ones) & ~ef)
        return control | (zeros & high)
    }

    /// Whether any of sixteen bytes is not plain text (``isPlainText(_:)``): ``nonPlainTextMask(_:)``'s tests
    /// done lane by lane (no borrow crosses lanes, so every lane is exact). Written with wrapping arithmetic and
    /// bit operations only, which compile to vector instructions (Swift's SIMD comparisons and `any` do not).
    @inline(__always)
    static func hasNonPlainText(_ v: SIMD16<UInt8>) -> Bool {
        @inline(__always) func zero(_ x: SIMD16<UInt8>) -> SIMD16<UInt8> { (x &- 1) & ~x }  // 0x80 where x == 0
        let control = (v &- 0x21) & ~v  // 0x80 where v < 0x21
        let flagged = control | zero((v | 0x02) ^ 0x3E) | zero(v ^ 0x26) | zero(v ^ 0x5D) | zero(v ^ 0xEF)
        let words = unsafeBitCast(flagged & 0x80, to: SIMD2<UInt64>.self)
        return words[0] | words[1] != 0
    }

    /// ``nonPlainTextMask(_:)`` for attribute values: flags `"`, `'`, `<`, `&`, bytes below 0x20 and 0xEF.
    @inline(__always)
    static func nonPlainValueMask(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let control = (w &- ones &* 0x20) & ~w & high
        let quote = w ^ (ones &* 0x22)
        let apostrophe = w ^ (ones &* 0x27)
        let lt = w ^ (ones &* 0x3C)
        let amp = w ^ (ones &* 0x26)
        let ef = w ^ (ones &* 0xEF)
        let zeros = ((quote &- ones) & ~quote) | ((apostrophe &- ones) & ~apostrophe) | ((lt &- ones) & ~lt)
            | ((amp &- ones) & ~amp) | ((ef &- ones) & ~ef)
        return control | (zeros & high)
    }

    /// Advances `i` over plain text bytes, sixteen at a time (vector compares) while sixteen remain, then eight.
    @inline(__always)
    private mutating func skipPlainText() {
        let raw = UnsafeRawPointer(p)
        var k = i
        while k + 16 <= n {
            if Self.hasNonPlainText(raw.loadUnaligned(fromByteOffset: k, as: SIMD16<UInt8>.self)) { break }
            k += 16
        }
        while k + 8 <= n {
            let mask = Self.nonPlainTextMask(raw.loadUnaligned(fromByteOffset: k, as: UInt64.self).littleEndian)
            if mask != 0 {
                i = k + mask.trailingZeroBitCount >> 3
                return
            }
            k += 8
        }
        while k < n, Self.isPlainText(p[k]) { k += 1 }
        i = k
    }

    @inline(__always) private func fail() -> FastC14NFallback { FastC14NFallback() }

    @inline(__always) private func at(_ k: Int) -> UInt8 { k < n ? p[k] : 0 }

    private func equal(_ a: Range<Int>, _ c: Range<Int>) -> Bool {
        guard a.count == c.count else { return false }
        return a.count == 0 || memcmp(p + a.lowerBound, p + c.lowerBound, a.count) == 0
    }

    private func equal(_ a: Range<Int>, _ s: StaticString) -> Bool {
        guard a.count == s.utf8CodeUnitCount else { return false }
        return a.count == 0 || memcmp(p + a.lowerBound, s.utf8Start, a.count) == 0
    }

    /// Byte-wise comparison (xmlStrcmp order).
    private func less(_ a: Range<Int>, _ c: Range<Int>) -> Bool {
        let common = min(a.count, c.count)
        if common > 0 {
            let r = memcmp(p + a.lowerBound, p + c.lowerBound, common)
            if r != 0 { return r < 0 }
        }
        return a.count < c.count
    }

    private mutating func skipSpace() {
        var k = i  // a local index: the loop then need not store `i` before each load through `p`
        while k < n, Self.isSpace(p[k]) { k += 1 }
        i = k
    }

    private mutating func expect(_ s: StaticString) throws(FastC14NFallback) {
        let len = s.utf8CodeUnitCount
        guard i + len <= n, memcmp(p + i, s.utf8Start, len) == 0 else { throw fail() }
        i += len
    }

    /// `expect` for one byte, without a `memcmp` call.
    @inline(__always)
    private mutating func expect(byte: UInt8) throws(FastC14NFallback) {
        guard i < n, p[i] == byte else { throw fail() }
        i += 1
    }

    private func lookingAt(_ s: StaticString) -> Bool {
        let len = s.utf8CodeUnitCount
        return i + len <= n && memcmp(p + i, s.utf8Start, len) == 0
    }

    /// An ASCII NCName.
    private mutating func ncName() throws(FastC14NFallback) -> Range<Int> {
        let start = i
        guard start < n, Self.isNameStart(p[start]) else { throw fail() }
        var k = start + 1
        while k < n, Self.isNameChar(p[k]) { k += 1 }
        i = k
        return start..<k
    }

    /// A QName: prefix (maybe empty) and local part.
    private mutating func qName() throws(FastC14NFallback) -> (prefix: Range<Int>, local: Range<Int>) {
        // ncName, then `:` and ncName again if a colon follows, in one function with a local index.
        let start = i
        guard start < n, Self.isNameStart(p[start]) else { throw fail() }
        var k = start + 1
        while k < n, Self.isNameChar(p[k]) { k += 1 }
        guard k < n, p[k] == UInt8(ascii: ":") else {
            i = k
            return (start..<start, start..<k)
        }
        let localStart = k + 1
        guard localStart < n, Self.isNameStart(p[localStart]) else { throw fail() }
        var end = localStart + 1
        while end < n, Self.isNameChar(p[end]) { end += 1 }
        i = end
        return (start..<k, localStart..<end)
    }

    // MARK: Document

    mutating func document() throws(FastC14NFallback) {
        if lookingAt("<?xml") && Self.isSpace(at(i + 5)) { try xmlDeclaration() }
        // Prolog: whitespace, comments, PIs.
        while true {
            skipSpace()
            guard i < n, p[i] == UInt8(ascii: "<") else { throw fail() }
            if lookingAt("<!--") {
                try comment()
            } else if lookingAt("<?") {
                try processingInstruction(prolog: true)
            } else if lookingAt("<!") {
                throw fail()  // DOCTYPE (refused by the hardened parser) or garbage
            } else {
                break
            }
        }
        try content()
        // Epilog: whitespace and comments only (a PI after the root is left to the libxml2 path).
        while true {
            skipSpace()
            if i >= n { break }
            guard lookingAt("<!--") else { throw fail() }
            try comment()
        }
        if verifying {
            guard signatureCount == 1, signatureRange != nil, signatureIsLastChild else { throw fail() }
        }
    }

    /// `<?xml version="1.0" [encoding="UTF-8"] [standalone="yes|no"] ?>`; anything else falls back.
    private mutating func xmlDeclaration() throws(FastC14NFallback) {
        i += 5
        skipSpace()
        try expect("version")
        let version = try declarationValue()
        guard equal(version, "1.0") else { throw fail() }
        var sawSpace = skipSpaceCounting()
        if lookingAt("encoding") {
            guard sawSpace else { throw fail() }
            i += 8
            let encoding = try declarationValue()
            guard encoding.count == 5,
                (p[encoding.lowerBound] | 0x20) == UInt8(ascii: "u"), (p[encoding.lowerBound + 1] | 0x20) == UInt8(ascii: "t"),
                (p[encoding.lowerBound + 2] | 0x20) == UInt8(ascii: "f"), p[encoding.lowerBound + 3] == UInt8(ascii: "-"),
                p[encoding.lowerBound + 4] == UInt8(ascii: "8")
            else { throw fail() }
            sawSpace = skipSpaceCounting()
        }
        if lookingAt("standalone") {
            guard sawSpace else { throw fail() }
            i += 10
            let value = try declarationValue()
            guard equal(value, "yes") || equal(value, "no") else { throw fail() }
            skipSpace()
        }
        try expect("?>")
    }

    private mutating func skipSpaceCounting() -> Bool {
        let start = i
        skipSpace()
        return i > start
    }

    /// `S? = S? "value"` in the XML declaration (no references allowed).
    private mutating func declarationValue() throws(FastC14NFallback) -> Range<Int> {
        skipSpace()
        try expect("=")
        skipSpace()
        guard i < n, p[i] == UInt8(ascii: "\"") || p[i] == UInt8(ascii: "'") else { throw fail() }
        let quote = p[i]
        i += 1
        let start = i
        while i < n, p[i] != quote {
            guard p[i] < 0x80, p[i] != UInt8(ascii: "<"), p[i] != UInt8(ascii: "&") else { throw fail() }
            i += 1
        }
        guard i < n else { throw fail() }
        let value = start..<i
        i += 1
        return value
    }

    /// `<!-- ... -->`, dropped. `--` inside is malformed.
    private mutating func comment() throws(FastC14NFallback) {
        i += 4
        sawCommentOrCDATA = true
        if !stack.isEmpty && !isSuppressed { sawCommentOrPIInsideRoot = true }
        while true {
            guard i + 1 < n else { throw fail() }
            let c = p[i]
            if c == UInt8(ascii: "-") && p[i + 1] == UInt8(ascii: "-") {
                guard i + 2 < n, p[i + 2] == UInt8(ascii: ">") else { throw fail() }
                i += 3
                return
            }
            try checkChar(c)
            i += 1
        }
    }

    /// A character the fast path accepts in text, values, comments and PIs: not a C0 control other than
    /// TAB, LF and CR, and not U+FFFE or U+FFFF. (UTF-8 validity and NUL are checked before.)
    @inline(__always)
    private func checkChar(_ c: UInt8) throws(FastC14NFallback) {
        if c < 0x20 {
            guard c == 0x09 || c == 0x0A || c == 0x0D else { throw fail() }
        } else if c == 0xEF {
            if i + 2 < n, p[i + 1] == 0xBF, p[i + 2] >= 0xBE { throw fail() }
        }
    }

    /// `<?target data?>`: written as `<?target data?>` (prolog: followed by LF), data with line ends normalised.
    private mutating func processingInstruction(prolog: Bool) throws(FastC14NFallback) {
        i += 2
        let target = try ncName()
        // Reserved names ("xml" in any case) and namespace-ill-formed targets fall back.
        if target.count >= 3, (p[target.lowerBound] | 0x20) == UInt8(ascii: "x"),
            (p[target.lowerBound + 1] | 0x20) == UInt8(ascii: "m"), (p[target.lowerBound + 2] | 0x20) == UInt8(ascii: "l") {
            throw fail()
        }
        if at(i) == UInt8(ascii: ":") { throw fail() }
        let emit = !isSuppressed
        if !prolog && emit { sawCommentOrPIInsideRoot = true }
        if emit {
            out.append(UInt8(ascii: "<"))
            out.append(UInt8(ascii: "?"))
            out.append(p + target.lowerBound, target.count)
        }
        if lookingAt("?>") {
            i += 2
        } else {
            guard i < n, Self.isSpace(p[i]) else { throw fail() }
            skipSpace()
            var wroteSpace = false
            while true {
                guard i < n else { throw fail() }
                let c = p[i]
                if c == UInt8(ascii: "?") && at(i + 1) == UInt8(ascii: ">") {
                    i += 2
                    break
                }
                try checkChar(c)
                if emit {
                    if !wroteSpace {
                        out.append(UInt8(ascii: " "))
                        wroteSpace = true
                    }
                    if c == 0x0D {
                        out.append(0x0A)
                        if at(i + 1) == 0x0A { i += 1 }
                    } else {
                        out.append(c)
                    }
                }
                i += 1
            }
        }
        if emit {
            out.append(UInt8(ascii: "?"))
            out.append(UInt8(ascii: ">"))
            if prolog { out.append(0x0A) }
        }
    }

    private var isSuppressed: Bool { stack.last?.suppressed ?? false }

    // MARK: Elements

    /// The root element and everything inside it, without recursion.
    private mutating func content() throws(FastC14NFallback) {
        try startTag()
        while !stack.isEmpty {
            guard i < n else { throw fail() }
            if p[i] == UInt8(ascii: "<") {
                let next = at(i + 1)
                if next == UInt8(ascii: "/") {
                    try endTag()
                } else if next == UInt8(ascii: "!") {
                    if lookingAt("<!--") {
                        try comment()
                    } else if lookingAt("<![CDATA[") {
                        try cdata()
                    } else {
                        throw fail()
                    }
                } else if next == UInt8(ascii: "?") {
                    try processingInstruction(prolog: false)
                } else {
                    try startTag()
                }
            } else {
                try text()
            }
        }
        rootClosed = true
    }

    private mutating func startTag() throws(FastC14NFallback) {
        let tagStart = i
        i += 1  // "<"
        let name = try qName()
        let qnameRange = (name.prefix.isEmpty ? name.local.lowerBound : name.prefix.lowerBound)..<name.local.upperBound
        attributes.removeLast(attributes.count)  // keeps the capacity, without removeAll's generic path
        var selfClosing = false
        while true {
            let hadSpace = skipSpaceCounting()
            guard i < n else { throw fail() }
            let c = p[i]
            if c == UInt8(ascii: ">") {
                i += 1
                break
            }
            if c == UInt8(ascii: "/") {
                guard at(i + 1) == UInt8(ascii: ">") else { throw fail() }
                i += 2
                selfClosing = true
                break
            }
            guard hadSpace else { throw fail() }
            let attributeName = try qName()
            skipSpace()
            try expect(byte: UInt8(ascii: "="))
            skipSpace()
            guard i < n, p[i] == UInt8(ascii: "\"") || p[i] == UInt8(ascii: "'") else { throw fail() }
            let quote = p[i]
            i += 1
            let valueStart = i
            // Validate now (references, '<', characters); decode when writing.
            while true {
                // Plain bytes eight at a time.
                var k = i
                while k + 8 <= n {
                    let mask = Self.nonPlainValueMask(UnsafeRawPointer(p).loadUnaligned(fromByteOffset: k, as: UInt64.self).littleEndian)
                    if mask != 0 {
                        k += mask.trailingZeroBitCount >> 3
                        break
                    }
                    k += 8
                }
                i = k
                guard i < n else { throw fail() }
                let v = p[i]
                if v == quote { break }
                if v == UInt8(ascii: "<") { throw fail() }
                if v == UInt8(ascii: "&") {
                    _ = try reference()
                    continue
                }
                try checkChar(v)
                i += 1
            }
            let value = valueStart..<i
            i += 1
            var attribute: FastC14NAttribute
            if attributeName.prefix.isEmpty && equal(attributeName.local, "xmlns") {
                attribute = FastC14NAttribute(prefix: 0..<0, local: value.lowerBound..<value.lowerBound, value: value, isNamespace: true)
            } else if equal(attributeName.prefix, "xmlns") {
                attribute = FastC14NAttribute(prefix: 0..<0, local: attributeName.local, value: value, isNamespace: true)
            } else {
                attribute = FastC14NAttribute(prefix: attributeName.prefix, local: attributeName.local, value: value, isNamespace: false)
            }
            attributes.append(attribute)
            // XMLInputCheck's limit (it counts one `=` outside quotes per attribute or declaration).
            guard attributes.count <= maxAttributes else { throw fail() }
        }

        // Depth.
        guard stack.count + 1 <= maxDepth else { throw fail() }
        let parentIndex = stack.count - 1
        let isRootChild = stack.count == 1

        // Namespace declarations: checked, then bound.
        let mark = bindings.count
        for a in attributes where a.isNamespace {
            let prefix = a.local
            if equal(prefix, "xml") || equal(prefix, "xmlns") { throw fail() }
            if !prefix.isEmpty && a.value.isEmpty { throw fail() }  // xmlns:p="" (namespaces 1.0)
            try checkNamespaceURI(a.value)
            for k in mark..<bindings.count where equal(bindings[k].prefix, prefix) { throw fail() }  // duplicate
            bindings.append((prefix, a.value))
        }
        // Attribute names: resolved, no duplicates.
        for k in attributes.indices where !attributes[k].isNamespace {
            if !attributes[k].prefix.isEmpty {
                if equal(attributes[k].prefix, "xml") || equal(attributes[k].prefix, "xmlns") { throw fail() }
                guard let uri = lookup(attributes[k].prefix), !uri.isEmpty else { throw fail() }
                attributes[k].uri = uri
                attributes[k].hasURI = true
            } else if equal(attributes[k].local, "xmlns") {
                throw fail()
            }
            for j in 0..<k where !attributes[j].isNamespace {
                let sameName = equal(attributes[j].local, attributes[k].local)
                    && (equal(attributes[j].prefix, attributes[k].prefix)
                        || (attributes[j].hasURI && attributes[k].hasURI && equal(attributes[j].uri, attributes[k].uri)))
                if sameName { throw fail() }
            }
        }
        // The element's namespace.
        let elementURI: Range<Int>?
        if name.prefix.isEmpty {
            elementURI = lookup(name.prefix).flatMap { $0.isEmpty ? nil : $0 }
        } else {
            if equal(name.prefix, "xml") || equal(name.prefix, "xmlns") { throw fail() }
            guard let uri = lookup(name.prefix), !uri.isEmpty else { throw fail() }
            elementURI = uri
        }
        let isSignature = elementURI.map { equal($0, Self.xmldsig) } == true && equal(name.local, "Signature")

        // Placement checks.
        if stack.isEmpty {
            rootQName = qnameRange
            if verifying {
                rootNamespaceRanges = attributes.filter(\.isNamespace).map { ($0.local, $0.value) }
            }
        } else if verifying {
            if isSignature {
                signatureCount += 1
                guard isRootChild else { throw fail() }
            } else if isRootChild && signatureCount > 0 {
                signatureIsLastChild = false  // an element after the Signature
            }
        } else if isSignature && !isRootChild {
            throw fail()  // the libxml2 path refuses it with the proper message
        } else if isRootChild {
            if isSignature {
                placeholderCount += 1
                placeholderIsLastRootChild = true
            } else if placeholderCount > 0 {
                placeholderIsLastRootChild = false
            }
        }

        var suppressed = isSuppressed
        if isSignature && isRootChild {
            if verifying {
                signatureIsLastChild = true
                signatureStart = tagStart
            }
            suppressed = true
        }

        // Compaction bookkeeping in the parent.
        if !suppressed, parentIndex >= 0, !stack[parentIndex].hasElementChild {
            stack[parentIndex].hasElementChild = true
            if compact { dropPending(from: stack[parentIndex].pendingMark) }
        }

        stack.append(FastC14NElement(qname: qnameRange, bindingMark: mark, pendingMark: pending.count, suppressed: suppressed))

        if !suppressed {
            writeStartTag(qname: qnameRange, mark: mark)
        }
        if selfClosing {
            try closeElement(end: i)
        } else if verifying && isSignature && isRootChild {
            try skipWrittenSignatureLayout(tagStart: tagStart)
        }
    }

    /// Verifying, at the root-level `ds:Signature` just opened at `tagStart`: when it is laid out byte for byte
    /// as ``DUISSigner`` writes it (``DUISSignatureLayout``, whose parts are read here up to the end tag), moves to its end tag without reading its fixed markup element by element.
    ///
    /// That markup is known to be well-formed, to stay within the attribute limit (one attribute per element)
    /// and to hold no comment, CDATA, processing instruction or nested Signature; nothing inside a Signature is
    /// written out. What the element-by-element reading would still check is the depth (four levels below the
    /// Signature) and the four text values, which go through ``text()`` exactly as they would there. When the
    /// layout differs anywhere, nothing has changed and the reading goes on element by element.
    private mutating func skipWrittenSignatureLayout(tagStart: Int) throws(FastC14NFallback) {
        guard stack.count + 4 <= maxDepth else { return }
        let resume = i
        var cursor = tagStart
        let parts = DUISSignatureLayout.parts
        for (index, part) in parts.enumerated() {
            let matched = part.withUnsafeBufferPointer { literal -> Bool in
                guard let start = literal.baseAddress, n - cursor >= literal.count else { return false }
                return memcmp(p + cursor, start, literal.count) == 0
            }
            guard matched else {
                i = resume
                return
            }
            cursor += part.count
            if index == parts.count - 1 { break }
            // The text value that follows, read (and refused) exactly as text() reads it inside the Signature.
            i = cursor
            if i < n, p[i] != UInt8(ascii: "<") { try text() }
            cursor = i
        }
        i = cursor  // at "</ds:Signature>", which the element loop reads and checks as usual
    }

    private var signatureStart = 0

    /// Writes `<qname` + namespace declarations that differ from the parent's scope + sorted attributes + `>`.
    private mutating func writeStartTag(qname: Range<Int>, mark: Int) {
        out.append(UInt8(ascii: "<"))
        out.append(p + qname.lowerBound, qname.count)
        // Namespace declarations to write, sorted by prefix (default first).
        order.removeLast(order.count)
        for k in mark..<bindings.count {
            let binding = bindings[k]
            let inParent = lookup(binding.prefix, below: mark)
            if binding.prefix.isEmpty {
                let parentValue = inParent ?? (0..<0)
                if equal(parentValue, binding.uri) { continue }
            } else if let inParent, equal(inParent, binding.uri) {
                continue
            }
            order.append(k)
        }
        if order.count > 1 {
            for x in 1..<order.count {
                let key = order[x]
                var y = x - 1
                while y >= 0, less(bindings[key].prefix, bindings[order[y]].prefix) {
                    order[y + 1] = order[y]
                    y -= 1
                }
                order[y + 1] = key
            }
        }
        for k in order {
            let binding = bindings[k]
            if binding.prefix.isEmpty {
                out.append(" xmlns=\"")
            } else {
                out.append(" xmlns:")
                out.append(p + binding.prefix.lowerBound, binding.prefix.count)
                out.append(UInt8(ascii: "="))
                out.append(UInt8(ascii: "\""))
            }
            out.append(p + binding.uri.lowerBound, binding.uri.count)
            out.append(UInt8(ascii: "\""))
        }
        // Attributes sorted by (namespace URI, local name); no namespace first.
        order.removeLast(order.count)
        for k in attributes.indices where !attributes[k].isNamespace { order.append(k) }
        if order.count > 1 {
            for x in 1..<order.count {
                let key = order[x]
                var y = x - 1
                while y >= 0, attributeLess(attributes[key], attributes[order[y]]) {
                    order[y + 1] = order[y]
                    y -= 1
                }
                order[y + 1] = key
            }
        }
        for k in order {
            let a = attributes[k]
            out.append(UInt8(ascii: " "))
            if !a.prefix.isEmpty {
                out.append(p + a.prefix.lowerBound, a.prefix.count)
                out.append(UInt8(ascii: ":"))
            }
            out.append(p + a.local.lowerBound, a.local.count)
            out.append(UInt8(ascii: "="))
            out.append(UInt8(ascii: "\""))
            writeAttributeValue(a.value)
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: ">"))
    }

    private func attributeLess(_ x: FastC14NAttribute, _ y: FastC14NAttribute) -> Bool {
        if x.hasURI != y.hasURI { return !x.hasURI }
        if x.hasURI && !equal(x.uri, y.uri) { return less(x.uri, y.uri) }
        return less(x.local, y.local)
    }

    /// The URI bound to `prefix` (empty prefix: the default namespace), looking at bindings below `limit`.
    private func lookup(_ prefix: Range<Int>, below limit: Int? = nil) -> Range<Int>? {
        var k = (limit ?? bindings.count) - 1
        while k >= 0 {
            if equal(bindings[k].prefix, prefix) { return bindings[k].uri }
            k -= 1
        }
        return nil
    }

    /// A namespace URI the fast path accepts: empty (undeclaring the default), or a conservative absolute URI
    /// that libxml2's RFC 3986 parser certainly reads with a scheme: `scheme:` then either `//host[:port]` (host
    /// of letters, digits, `-` and `.`; port of digits) or a non-empty path, then an optional query and at most
    /// one `#` fragment, all of letters, digits and `-._~!$()*+,;=:@/?`. No references, `%`, quotes, spaces or
    /// non-ASCII (libxml2's canonicalizer checks other URIs, and refuses relative ones).
    private func checkNamespaceURI(_ value: Range<Int>) throws(FastC14NFallback) {
        if value.isEmpty { return }
        var k = value.lowerBound
        let end = value.upperBound
        guard Self.isAlpha(p[k]) else { throw fail() }
        k += 1
        while k < end, Self.isAlpha(p[k]) || Self.isDigit(p[k]) || p[k] == UInt8(ascii: "+")
            || p[k] == UInt8(ascii: "-") || p[k] == UInt8(ascii: ".") { k += 1 }
        guard k < end, p[k] == UInt8(ascii: ":") else { throw fail() }
        k += 1
        guard k < end else { throw fail() }
        if k + 1 < end, p[k] == UInt8(ascii: "/"), p[k + 1] == UInt8(ascii: "/") {
            k += 2
            let hostStart = k
            while k < end, Self.isAlpha(p[k]) || Self.isDigit(p[k]) || p[k] == UInt8(ascii: "-") || p[k] == UInt8(ascii: ".") { k += 1 }
            guard k > hostStart else { throw fail() }
            if k < end, p[k] == UInt8(ascii: ":") {
                k += 1
                let portStart = k
                while k < end, Self.isDigit(p[k]) { k += 1 }
                guard k > portStart else { throw fail() }
            }
            guard k == end || p[k] == UInt8(ascii: "/") || p[k] == UInt8(ascii: "?") || p[k] == UInt8(ascii: "#") else { throw fail() }
        } else {
            guard p[k] != UInt8(ascii: "?"), p[k] != UInt8(ascii: "#") else { throw fail() }
        }
        var sawHash = false
        while k < end {
            let c = p[k]
            if c == UInt8(ascii: "#") {
                guard !sawHash else { throw fail() }
                sawHash = true
                k += 1
                continue
            }
            // Letters, digits and -._~:/?@!$()*+,;= as two bitmaps (0x00-0x3F, 0x40-0x7F).
            let low: UInt64 = 0xAFFF_FF12_0000_0000  // ! $ ( ) * + , - . / 0-9 : ; = ?
            let high: UInt64 = 0x47FF_FFFE_87FF_FFFF  // @ A-Z _ a-z ~
            let word = c < 0x40 ? low : high
            guard c < 0x80, (word >> UInt64(c & 0x3F)) & 1 != 0 else { throw fail() }
            k += 1
        }
    }

    @inline(__always) static func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    private mutating func endTag() throws(FastC14NFallback) {
        // The common case: the open element's qualified name (a QName when it was read), followed by `>` or
        // a space, which is exactly where qName() would stop; the comparison is then the one below.
        if let open = stack.last {
            let nameStart = i + 2
            let count = open.qname.count
            let after = nameStart + count
            if after < n, p[after] == UInt8(ascii: ">") || Self.isSpace(p[after]) {
                var k = 0
                let q = p + open.qname.lowerBound
                let t = p + nameStart
                while k < count, q[k] == t[k] { k += 1 }
                if k == count {
                    i = after
                    skipSpace()
                    try expect(byte: UInt8(ascii: ">"))
                    try closeElement(end: i)
                    return
                }
            }
        }
        let start = i
        i += 2
        let name = try qName()
        let qnameRange = (name.prefix.isEmpty ? name.local.lowerBound : name.prefix.lowerBound)..<name.local.upperBound
        skipSpace()
        try expect(byte: UInt8(ascii: ">"))
        guard let open = stack.last, equal(open.qname, qnameRange) else { throw fail() }
        _ = start
        try closeElement(end: i)
    }

    private mutating func closeElement(end: Int) throws(FastC14NFallback) {
        guard let open = stack.popLast() else { throw fail() }
        if !open.suppressed {
            out.append(UInt8(ascii: "<"))
            out.append(UInt8(ascii: "/"))
            out.append(p + open.qname.lowerBound, open.qname.count)
            out.append(UInt8(ascii: ">"))
        } else if verifying, stack.count == 1, !(stack.last?.suppressed ?? true) {
            signatureRange = signatureStart..<end
        }
        bindings.removeLast(bindings.count - open.bindingMark)
        pending.removeLast(pending.count - open.pendingMark)
    }

    /// Drops the pending whitespace-only text written since `mark` (the element just got its first element child).
    private mutating func dropPending(from mark: Int) {
        var k = pending.count - 1
        while k >= mark {
            out.remove(pending[k])
            k -= 1
        }
        pending.removeLast(pending.count - mark)
    }

    // MARK: Character data

    /// Text up to the next `<`: written escaped; whitespace-only runs are remembered for compaction.
    private mutating func text() throws(FastC14NFallback) {
        let emit = !isSuppressed
        let outStart = out.count
        var whitespaceOnly = true
        while i < n {
            // Plain run.
            let runStart = i
            skipPlainText()
            if i > runStart {
                whitespaceOnly = false
                if emit { out.append(p + runStart, i - runStart) }
            }
            guard i < n else { break }
            let c = p[i]
            switch c {
            case UInt8(ascii: "<"):
                finishText(outStart: outStart, whitespaceOnly: whitespaceOnly, emitted: emit)
                return
            case UInt8(ascii: "&"):
                let scalar = try reference()
                if !(scalar == 0x20 || scalar == 0x09 || scalar == 0x0A || scalar == 0x0D) { whitespaceOnly = false }
                if emit { writeTextScalar(scalar) }
            case 0x0D:
                i += 1
                if at(i) == 0x0A { i += 1 }
                if emit { out.append(0x0A) }
            case 0x20, 0x09, 0x0A:
                i += 1
                if emit { out.append(c) }
            case UInt8(ascii: ">"):
                // "]]>" in text is malformed.
                if i >= 2, p[i - 1] == UInt8(ascii: "]"), p[i - 2] == UInt8(ascii: "]") { throw fail() }
                whitespaceOnly = false
                i += 1
                if emit { out.append("&gt;") }
            default:
                try checkChar(c)
                whitespaceOnly = false
                i += 1
                if emit { out.append(c) }
            }
        }
        throw fail()  // text runs to the end of the input: the root is not closed
    }

    private mutating func finishText(outStart: Int, whitespaceOnly: Bool, emitted: Bool) {
        guard emitted, compact, whitespaceOnly, out.count > outStart, let open = stack.last else { return }
        if open.hasElementChild {
            out.remove(outStart..<out.count)
        } else {
            pending.append(outStart..<out.count)
        }
    }

    /// Bytes copied to the output as they are in text: everything but `< & > ]`, CR, TAB, LF, space, other
    /// C0 controls and 0xEF (which may start U+FFFE or U+FFFF).
    @inline(__always)
    static func isPlainText(_ c: UInt8) -> Bool {
        c > 0x20 && c != UInt8(ascii: "<") && c != UInt8(ascii: "&") && c != UInt8(ascii: ">") && c != UInt8(ascii: "]") && c != 0xEF
    }

    private mutating func writeTextScalar(_ scalar: UInt32) {
        switch scalar {
        case 0x26: out.append("&amp;")
        case 0x3C: out.append("&lt;")
        case 0x3E: out.append("&gt;")
        case 0x0D: out.append("&#xD;")
        default: writeUTF8(scalar)
        }
    }

    private mutating func writeAttributeScalar(_ scalar: UInt32) {
        switch scalar {
        case 0x26: out.append("&amp;")
        case 0x3C: out.append("&lt;")
        case 0x22: out.append("&quot;")
        case 0x09: out.append("&#x9;")
        case 0x0A: out.append("&#xA;")
        case 0x0D: out.append("&#xD;")
        default: writeUTF8(scalar)
        }
    }

    private mutating func writeUTF8(_ s: UInt32) {
        if s < 0x80 {
            out.append(UInt8(s))
        } else if s < 0x800 {
            out.append(UInt8(0xC0 | (s >> 6)))
            out.append(UInt8(0x80 | (s & 0x3F)))
        } else if s < 0x10000 {
            out.append(UInt8(0xE0 | (s >> 12)))
            out.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (s & 0x3F)))
        } else {
            out.append(UInt8(0xF0 | (s >> 18)))
            out.append(UInt8(0x80 | ((s >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (s & 0x3F)))
        }
    }

    /// An attribute value (already validated): references resolved, literal whitespace normalised to a
    /// space (CRLF counts once), then escaped for canonical attribute output.
    private mutating func writeAttributeValue(_ value: Range<Int>) {
        var k = value.lowerBound
        let end = value.upperBound
        while k < end {
            let c = p[k]
            switch c {
            case UInt8(ascii: "&"):
                var cursor = k
                let scalar = Self.decodeReference(p, &cursor, end) ?? 0x20  // validated before: never nil
                k = cursor
                writeAttributeScalar(scalar)
            case 0x0D:
                out.append(UInt8(ascii: " "))
                k += 1
                if k < end, p[k] == 0x0A { k += 1 }
            case 0x09, 0x0A:
                out.append(UInt8(ascii: " "))
                k += 1
            case UInt8(ascii: "<"):
                out.append("&lt;")  // cannot happen (refused when read)
                k += 1
            case UInt8(ascii: "\""):
                out.append("&quot;")
                k += 1
            default:
                out.append(c)
                k += 1
            }
        }
    }

    /// Reads a reference at `i` (which is `&`) and returns its scalar; unknown entities fall back.
    private mutating func reference() throws(FastC14NFallback) -> UInt32 {
        var cursor = i
        guard let scalar = Self.decodeReference(p, &cursor, n) else { throw fail() }
        i = cursor
        return scalar
    }

    /// Decodes `&lt; &gt; &amp; &quot; &apos; &#N; &#xH;` at `k`; nil for anything else or a character that
    /// is not an XML Char.
    static func decodeReference(_ p: UnsafePointer<UInt8>, _ k: inout Int, _ end: Int) -> UInt32? {
        var j = k + 1
        guard j < end else { return nil }
        var scalar: UInt32
        if p[j] == UInt8(ascii: "#") {
            j += 1
            var value: UInt32 = 0
            var digits = 0
            if j < end, p[j] == UInt8(ascii: "x") {
                j += 1
                while j < end, p[j] != UInt8(ascii: ";") {
                    let c = p[j]
                    let d: UInt32
                    if c >= 0x30 && c <= 0x39 { d = UInt32(c - 0x30) }
                    else if c >= 0x61 && c <= 0x66 { d = UInt32(c - 0x61 + 10) }
                    else if c >= 0x41 && c <= 0x46 { d = UInt32(c - 0x41 + 10) }
                    else { return nil }
                    value = value &* 16 &+ d
                    digits += 1
                    if digits > 8 { return nil }
                    j += 1
                }
            } else {
                while j < end, p[j] != UInt8(ascii: ";") {
                    let c = p[j]
                    guard c >= 0x30 && c <= 0x39 else { return nil }
                    value = value &* 10 &+ UInt32(c - 0x30)
                    digits += 1
                    if digits > 8 { return nil }
                    j += 1
                }
            }
            guard digits > 0, j < end else { return nil }
            scalar = value
            let isChar = scalar == 0x9 || scalar == 0xA || scalar == 0xD || (scalar >= 0x20 && scalar <= 0xD7FF)
                || (scalar >= 0xE000 && scalar <= 0xFFFD) || (scalar >= 0x10000 && scalar <= 0x10FFFF)
            guard isChar else { return nil }
        } else {
            let start = j
            while j < end, p[j] != UInt8(ascii: ";"), j - start < 5 { j += 1 }
            guard j < end, p[j] == UInt8(ascii: ";") else { return nil }
            let length = j - start
            func named(_ s: StaticString) -> Bool {
                length == s.utf8CodeUnitCount && memcmp(p + start, s.utf8Start, length) == 0
            }
            if named("lt") { scalar = 0x3C }
            else if named("gt") { scalar = 0x3E }
            else if named("amp") { scalar = 0x26 }
            else if named("quot") { scalar = 0x22 }
            else if named("apos") { scalar = 0x27 }
            else { return nil }
        }
        k = j + 1
        return scalar
    }

    /// `<![CDATA[ ... ]]>`: its text, escaped; never dropped by compaction. Only inside the root.
    private mutating func cdata() throws(FastC14NFallback) {
        i += 9
        sawCommentOrCDATA = true
        let emit = !isSuppressed
        while true {
            guard i + 2 < n else { throw fail() }
            let c = p[i]
            if c == UInt8(ascii: "]") && p[i + 1] == UInt8(ascii: "]") && p[i + 2] == UInt8(ascii: ">") {
                i += 3
                return
            }
            try checkChar(c)
            i += 1
            guard emit else { continue }
            switch c {
            case UInt8(ascii: "&"): out.append("&amp;")
            case UInt8(ascii: "<"): out.append("&lt;")
            case UInt8(ascii: ">"): out.append("&gt;")
            case 0x0D:
                out.append(0x0A)
                if at(i) == 0x0A { i += 1 }
            default: out.append(c)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
