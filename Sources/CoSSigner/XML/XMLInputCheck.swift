#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks done on the raw bytes before libxml2 sees them: encoding (BOM, UTF-16/32, invalid
/// UTF-8, the XML declaration's `encoding`), NUL bytes, and the number of attributes per tag.
///
/// libxml2 2.9 would otherwise switch to another decoder for a BOM or an `encoding="…"`
/// declaration, and it treats a NUL byte after the root element as the end of the input, so a
/// document with trailing bytes after a NUL would be accepted.
enum XMLInputCheck {
    /// Throws unless `bytes` is non-empty UTF-8 (an optional UTF-8 BOM allowed) without NUL bytes,
    /// any XML declaration names UTF-8, and no start tag has too many attributes.
    static func check(_ bytes: UnsafeRawBufferPointer, limits: XMLParseLimits, source: String?) throws(XMLError) {
        let b = bytes.assumingMemoryBound(to: UInt8.self)
        let n = b.count
        guard n > 0 else {
            throw XMLError(kind: .malformed, message: "the document is empty", line: 1, column: 1, source: source)
        }
        // Byte order marks and the unmarked UTF-16/UTF-32 forms of "<" (XML 1.0 Appendix F).
        if n >= 2 && ((b[0] == 0xFE && b[1] == 0xFF) || (b[0] == 0xFF && b[1] == 0xFE)) {
            throw XMLError(kind: .notUTF8, message: "UTF-16 or UTF-32 byte order mark: only UTF-8 is accepted",
                           line: 1, column: 1, source: source)
        }
        if n >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0xFE && b[3] == 0xFF {
            throw XMLError(kind: .notUTF8, message: "UTF-32 byte order mark: only UTF-8 is accepted",
                           line: 1, column: 1, source: source)
        }
        if n >= 2 && (b[0] == 0 || b[1] == 0) {
            throw XMLError(kind: .notUTF8, message: "the document looks like UTF-16 or UTF-32: only UTF-8 is accepted",
                           line: 1, column: 1, source: source)
        }
        var start = 0
        if n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { start = 3 }

        try validateUTF8(b, from: start, source: source)
        try countAttributes(b, from: start, maxAttributes: limits.maxAttributesPerElement, source: source)
        try checkDeclaredEncoding(b, from: start, source: source)
    }

    /// True when `bytes` are strict UTF-8 without NUL (what ``check(_:limits:source:)`` requires of the
    /// encoding, byte order marks aside): the one check the single-pass canonicalizer needs as a separate pass.
    static func isUTF8WithoutNUL(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let b = bytes.assumingMemoryBound(to: UInt8.self)
        guard let base = b.baseAddress else { return true }
        var i = 0
        while i < b.count {
            i = asciiRunEnd(UnsafeRawPointer(base), from: i, count: b.count)
            guard i < b.count else { return true }
            guard let length = sequenceLength(b, at: i) else { return false }
            i += length
        }
        return true
    }

    /// The offset of the first byte at or after `i` that is NUL or not ASCII (`n` if none): 32 bytes at a time,
    /// then 8.
    @inline(__always)
    private static func asciiRunEnd(_ base: UnsafeRawPointer, from start: Int, count n: Int) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        var i = start
        while i + 32 <= n {
            let w0 = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let w1 = base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
            let w2 = base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self)
            let w3 = base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)
            // A zero byte borrows; bytes with the high bit set are caught by the plain OR.
            let zero = ((w0 &- ones) & ~w0) | ((w1 &- ones) & ~w1) | ((w2 &- ones) & ~w2) | ((w3 &- ones) & ~w3)
            if (w0 | w1 | w2 | w3 | zero) & high != 0 { break }
            i += 32
        }
        while i + 8 <= n {
            let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if w & high != 0 || (w &- ones) & ~w & high != 0 { break }
            i += 8
        }
        let b = base.assumingMemoryBound(to: UInt8.self)
        while i < n, b[i] != 0, b[i] < 0x80 { i += 1 }
        return i
    }

    /// The length of the valid UTF-8 sequence starting with the non-ASCII byte at `i`, or nil.
    @inline(__always)
    private static func sequenceLength(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        let n = b.count
        let c = b[i]
        let length: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch c {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upper = 0x9F
        case 0xF0: length = 4; lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upper = 0x8F
        default: return nil
        }
        guard i + length <= n, (lower...upper).contains(b[i + 1]) else { return nil }
        var k = 2
        while k < length {
            guard (0x80...0xBF).contains(b[i + k]) else { return nil }
            k += 1
        }
        return length
    }

    /// Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) without NUL.
    private static func validateUTF8(_ b: UnsafeBufferPointer<UInt8>, from start: Int, source: String?) throws(XMLError) {
        let n = b.count
        guard let start0 = b.baseAddress else { return }
        let base = UnsafeRawPointer(start0)
        var i = start
        while i < n {
            // ASCII bytes, none of them NUL, 32 or 8 at a time.
            i = asciiRunEnd(base, from: i, count: n)
            guard i < n else { return }
            let c = b[i]
            if c < 0x80 {
                if c == 0 {
                    throw error(.malformed, "NUL byte (not allowed in XML)", at: i, in: b, from: start, source: source)
                }
                i += 1
                continue
            }
            guard let length = sequenceLength(b, at: i) else {
                throw error(.notUTF8, "invalid UTF-8 sequence starting with byte 0x\(hex(c))", at: i, in: b, from: start, source: source)
            }
            i += length
        }
    }

    /// Refuses a start tag with more than `maxAttributes` attributes or namespace declarations,
    /// counted as `=` signs outside quoted values (every attribute has exactly one). Comments,
    /// CDATA sections, processing instructions, end tags and declarations are skipped. Anything
    /// left unclosed ends the scan: libxml2 reports it.
    private static func countAttributes(_ b: UnsafeBufferPointer<UInt8>, from start: Int, maxAttributes: Int,
                                        source: String?) throws(XMLError) {
        let n = b.count
        let lt = UInt8(ascii: "<"), gt = UInt8(ascii: ">"), bang = UInt8(ascii: "!"), dash = UInt8(ascii: "-")
        let question = UInt8(ascii: "?"), slash = UInt8(ascii: "/"), bracket = UInt8(ascii: "[")
        let closeBracket = UInt8(ascii: "]"), equals = UInt8(ascii: "="), quote = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'")
        /// The index just after the first `>` at or after `k` that follows `before` (n if none).
        func skip(toGreaterThanAfter before: UInt8, _ twice: Bool, from k: Int) -> Int {
            var j = k
            while j < n {
                if b[j] == gt && j >= 1 && b[j - 1] == before && (!twice || (j >= 2 && b[j - 2] == before)) { return j + 1 }
                j += 1
            }
            return n
        }
        guard let base = b.baseAddress else { return }
        var i = start
        while i < n {
            guard let found = memchr(base + i, Int32(lt), n - i) else { return }
            i = UnsafeRawPointer(found).assumingMemoryBound(to: UInt8.self) - base
            let next: UInt8 = i + 1 < n ? b[i + 1] : 0
            if next == bang {
                if i + 3 < n && b[i + 2] == dash && b[i + 3] == dash {
                    i = skip(toGreaterThanAfter: dash, true, from: i + 6)  // "<!--" … "-->"
                } else if i + 2 < n && b[i + 2] == bracket {
                    i = skip(toGreaterThanAfter: closeBracket, true, from: i + 3)  // "<![CDATA[" … "]]>"
                } else {
                    while i < n && b[i] != gt { i += 1 }  // a DOCTYPE: refused by the parser anyway
                }
            } else if next == question {
                i = skip(toGreaterThanAfter: question, false, from: i + 3)  // "<?" … "?>"
            } else if next == slash {
                while i < n && b[i] != gt { i += 1 }
            } else {
                var attributes = 0
                i += 1
                while i < n {
                    let c = b[i]
                    if c == gt || c == lt { break }  // "<" inside a tag: malformed, libxml2 reports it
                    if c == quote || c == apostrophe {
                        i += 1
                        while i < n && b[i] != c { i += 1 }
                    } else if c == equals {
                        attributes += 1
                        if attributes > maxAttributes {
                            throw error(.tooLarge, "a start tag has more than \(maxAttributes) attributes",
                                        at: i, in: b, from: start, source: source)
                        }
                    }
                    i += 1
                }
            }
        }
    }

    /// An error at byte `offset`, with the line and the column in characters, both 1-based
    /// (computed only when there is an error).
    private static func error(_ kind: XMLError.Kind, _ message: String, at offset: Int,
                              in b: UnsafeBufferPointer<UInt8>, from start: Int, source: String?) -> XMLError {
        var line = 1
        var column = 1
        for k in start..<offset {
            let c = b[k]
            if c == 0x0A {
                line += 1
                column = 1
            } else if c & 0xC0 != 0x80 {  // not a continuation byte
                column += 1
            }
        }
        return XMLError(kind: kind, message: message, line: line, column: column, source: source)
    }

    /// Refuses `<?xml … encoding="X" …?>` when X is not UTF-8. libxml2 would switch decoders.
    private static func checkDeclaredEncoding(_ b: UnsafeBufferPointer<UInt8>, from start: Int, source: String?) throws(XMLError) {
        let n = b.count
        let open = Array("<?xml".utf8)
        guard n - start > open.count + 1 else { return }
        for k in 0..<open.count where b[start + k] != open[k] { return }
        guard isSpace(b[start + open.count]) else { return }  // a PI named e.g. "xml-stylesheet"
        // The end of the declaration.
        var end = start + open.count
        while end + 1 < n && !(b[end] == UInt8(ascii: "?") && b[end + 1] == UInt8(ascii: ">")) { end += 1 }
        let decl = Array(b[start..<min(end, n)])
        let key = Array("encoding".utf8)
        guard let at = firstIndex(of: key, in: decl) else { return }
        var i = at + key.count
        while i < decl.count && isSpace(decl[i]) { i += 1 }
        guard i < decl.count, decl[i] == UInt8(ascii: "=") else { return }  // malformed: libxml2 reports it
        i += 1
        while i < decl.count && isSpace(decl[i]) { i += 1 }
        guard i < decl.count, decl[i] == UInt8(ascii: "\"") || decl[i] == UInt8(ascii: "'") else { return }
        let quote = decl[i]
        i += 1
        var value: [UInt8] = []
        while i < decl.count && decl[i] != quote {
            value.append(decl[i])
            i += 1
        }
        let name = String(decoding: value, as: UTF8.self)
        if name.lowercased() != "utf-8" {
            throw XMLError(kind: .notUTF8, message: "the XML declaration names encoding \"\(name)\": only UTF-8 is accepted",
                           line: 1, column: nil, source: source)
        }
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }

    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
            return i
        }
        return nil
    }

    private static func hex(_ c: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return String(decoding: [digits[Int(c >> 4)], digits[Int(c & 0xF)]], as: UTF8.self)
    }
}
