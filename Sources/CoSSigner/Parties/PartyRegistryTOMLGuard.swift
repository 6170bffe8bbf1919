/// A strict syntax check of registry text, done before toml++ (through TOMLKit) parses it.
///
/// toml++ 3.4.0, as TOMLKit 0.6.0 bundles it, asserts instead of reporting an error on several malformed
/// inputs: a table header whose `[` is not followed by a key (`[)x]`, `[` at the end of a line, `[[[x]]`), a
/// value that starts with a terminator (`mpids = ["A", }B"]`). A debug build aborts there, and a release
/// build, where the assertions become `__builtin_assume`, has undefined behaviour. The `parties` fuzz target
/// (Scripts/fuzz) found these; the regression tests are in Tests/CoSSignerTests/Hostile/HostileRegistryTests.swift.
///
/// So toml++ only ever sees text of this plain subset of TOML, which covers every registry:
/// comments; `[table]` and `[[array.of.tables]]` headers; `key = value` with bare, quoted or dotted keys;
/// values that are basic, literal or multi-line strings (escapes checked), arrays (over several lines, with
/// comments), inline tables, or scalars made of letters, digits and `_ + - . :` (numbers, booleans, dates;
/// toml++ checks their form). Control characters other than tab, and CR not before LF, are refused.
/// Anything else is refused here with the line and the reason.
package enum PartyRegistryTOMLGuard {
    /// The first syntax problem, or nil when the text is in the subset.
    package static func problem(in text: String) -> PartyRegistryProblem? {
        var scanner = Scanner(bytes: Array(text.utf8))
        do {
            try scanner.document()
            return nil
        } catch {
            return PartyRegistryProblem(.syntax, line: error.line, reason: "not valid TOML: \(error.reason)")
        }
    }

    struct SyntaxError: Error {
        let line: Int
        let reason: String
    }

    /// A recursive-descent checker over the bytes. Nesting of arrays and inline tables is bounded.
    struct Scanner {
        let bytes: [UInt8]
        var i = 0
        var line = 1
        static let maxNesting = 32

        init(bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { i >= bytes.count }
        var current: UInt8? { i < bytes.count ? bytes[i] : nil }

        func fail(_ reason: String) -> SyntaxError { SyntaxError(line: line, reason: reason) }

        func describe(_ c: UInt8?) -> String {
            guard let c else { return "the end of the text" }
            switch c {
            case 0x0A: return "the end of the line"
            case 0x21..<0x7F: return "'\(Character(Unicode.Scalar(c)))'"
            default: return "byte 0x\(String(c, radix: 16, uppercase: true))"
            }
        }

        mutating func document() throws(SyntaxError) {
            while !atEnd {
                skipBlanks()
                switch current {
                case UInt8(ascii: "#"): try comment()
                case UInt8(ascii: "["): try header()
                case 0x0A, 0x0D, nil: break
                default: try keyValue()
                }
                skipBlanks()
                if current == UInt8(ascii: "#") { try comment() }
                try endOfLine()
            }
        }

        mutating func skipBlanks() {
            while let c = current, c == 0x20 || c == 0x09 { i += 1 }
        }

        /// Blanks, newlines and comments (inside arrays).
        mutating func skipBlankLines() throws(SyntaxError) {
            while true {
                skipBlanks()
                if current == UInt8(ascii: "#") {
                    try comment()
                } else if current == 0x0A || current == 0x0D {
                    try endOfLine()
                } else {
                    return
                }
            }
        }

        mutating func comment() throws(SyntaxError) {
            i += 1  // '#'
            while let c = current, c != 0x0A, c != 0x0D {
                try checkTextCharacter(c)
                i += 1
            }
        }

        mutating func endOfLine() throws(SyntaxError) {
            switch current {
            case nil: return
            case 0x0A:
                i += 1
                line += 1
            case 0x0D:
                guard i + 1 < bytes.count, bytes[i + 1] == 0x0A else { throw fail("a carriage return not followed by a line feed") }
                i += 2
                line += 1
            default:
                throw fail("expected the end of the line, found \(describe(current))")
            }
        }

        func checkTextCharacter(_ c: UInt8) throws(SyntaxError) {
            if (c < 0x20 && c != 0x09) || c == 0x7F { throw fail("control character \(describe(c))") }
        }

        mutating func header() throws(SyntaxError) {
            i += 1  // '['
            let array = current == UInt8(ascii: "[")
            if array { i += 1 }
            skipBlanks()
            try key()
            skipBlanks()
            guard current == UInt8(ascii: "]") else { throw fail("expected ']' to close the table header, found \(describe(current))") }
            i += 1
            if array {
                guard current == UInt8(ascii: "]") else { throw fail("expected ']]' to close the array-of-tables header, found \(describe(current))") }
                i += 1
            }
        }

        /// A bare, quoted or dotted key.
        mutating func key() throws(SyntaxError) {
            while true {
                switch current {
                case UInt8(ascii: "\""): try basicString()
                case UInt8(ascii: "'"): try literalString()
                case let c? where Self.isBareKeyCharacter(c):
                    while let c = current, Self.isBareKeyCharacter(c) { i += 1 }
                default:
                    throw fail("expected a key, found \(describe(current))")
                }
                skipBlanks()
                guard current == UInt8(ascii: ".") else { return }
                i += 1
                skipBlanks()
            }
        }

        mutating func keyValue() throws(SyntaxError) {
            try key()
            skipBlanks()
            guard current == UInt8(ascii: "=") else { throw fail("expected '=' after the key, found \(describe(current))") }
            i += 1
            skipBlanks()
            try value(depth: 0)
        }

        mutating func value(depth: Int) throws(SyntaxError) {
            guard depth < Self.maxNesting else { throw fail("arrays or inline tables nested deeper than \(Self.maxNesting)") }
            switch current {
            case UInt8(ascii: "\""):
                if starts(with: #"""""#) { try multiLineString(delimiter: UInt8(ascii: "\"")) } else { try basicString() }
            case UInt8(ascii: "'"):
                if starts(with: "'''") { try multiLineString(delimiter: UInt8(ascii: "'")) } else { try literalString() }
            case UInt8(ascii: "["):
                try array(depth: depth)
            case UInt8(ascii: "{"):
                try inlineTable(depth: depth)
            case let c? where Self.isScalarCharacter(c):
                while let c = current, Self.isScalarCharacter(c) { i += 1 }
            default:
                throw fail("expected a value, found \(describe(current))")
            }
        }

        mutating func array(depth: Int) throws(SyntaxError) {
            i += 1  // '['
            try skipBlankLines()
            while current != UInt8(ascii: "]") {
                try value(depth: depth + 1)
                try skipBlankLines()
                if current == UInt8(ascii: ",") {
                    i += 1
                    try skipBlankLines()
                } else if current != UInt8(ascii: "]") {
                    throw fail("expected ',' or ']' in an array, found \(describe(current))")
                }
            }
            i += 1  // ']'
        }

        mutating func inlineTable(depth: Int) throws(SyntaxError) {
            i += 1  // '{'
            skipBlanks()
            if current == UInt8(ascii: "}") {
                i += 1
                return
            }
            while true {
                try key()
                skipBlanks()
                guard current == UInt8(ascii: "=") else { throw fail("expected '=' in an inline table, found \(describe(current))") }
                i += 1
                skipBlanks()
                try value(depth: depth + 1)
                skipBlanks()
                if current == UInt8(ascii: "}") {
                    i += 1
                    return
                }
                guard current == UInt8(ascii: ",") else { throw fail("expected ',' or '}' in an inline table, found \(describe(current))") }
                i += 1
                skipBlanks()
            }
        }

        mutating func basicString() throws(SyntaxError) {
            i += 1  // '"'
            while true {
                guard let c = current, c != 0x0A, c != 0x0D else { throw fail("a string is not closed on its line") }
                i += 1
                if c == UInt8(ascii: "\"") { return }
                if c == UInt8(ascii: "\\") { try escape() } else { try checkTextCharacter(c) }
            }
        }

        mutating func literalString() throws(SyntaxError) {
            i += 1  // "'"
            while true {
                guard let c = current, c != 0x0A, c != 0x0D else { throw fail("a string is not closed on its line") }
                i += 1
                if c == UInt8(ascii: "'") { return }
                try checkTextCharacter(c)
            }
        }

        mutating func multiLineString(delimiter: UInt8) throws(SyntaxError) {
            i += 3
            while true {
                guard let c = current else { throw fail("a multi-line string is not closed") }
                if c == delimiter, i + 2 < bytes.count, bytes[i + 1] == delimiter, bytes[i + 2] == delimiter {
                    i += 3
                    // Up to two more quotes belong to the content ("""a"""""): TOML allows them.
                    var extra = 0
                    while extra < 2, current == delimiter { i += 1; extra += 1 }
                    return
                }
                if c == 0x0A || c == 0x0D {
                    try endOfLine()
                    continue
                }
                i += 1
                if c == UInt8(ascii: "\\") && delimiter == UInt8(ascii: "\"") {
                    // A line-ending backslash trims the following whitespace; otherwise a normal escape.
                    var j = i
                    while j < bytes.count, bytes[j] == 0x20 || bytes[j] == 0x09 { j += 1 }
                    if j < bytes.count, bytes[j] == 0x0A || bytes[j] == 0x0D {
                        i = j
                        continue
                    }
                    try escape()
                } else {
                    try checkTextCharacter(c)
                }
            }
        }

        /// After a backslash: one of `b t n f r " \`, `uXXXX` or `UXXXXXXXX` (a Unicode scalar).
        mutating func escape() throws(SyntaxError) {
            guard let c = current else { throw fail("a string ends in a backslash") }
            i += 1
            switch c {
            case UInt8(ascii: "b"), UInt8(ascii: "t"), UInt8(ascii: "n"), UInt8(ascii: "f"), UInt8(ascii: "r"),
                UInt8(ascii: "\""), UInt8(ascii: "\\"):
                return
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                let count = c == UInt8(ascii: "u") ? 4 : 8
                var value: UInt32 = 0
                for _ in 0..<count {
                    guard let d = current, let digit = Self.hexValue(d) else { throw fail("a \\\(Character(Unicode.Scalar(c))) escape needs \(count) hexadecimal digits") }
                    value = value &* 16 &+ digit
                    i += 1
                }
                guard Unicode.Scalar(value) != nil else { throw fail("a \\\(Character(Unicode.Scalar(c))) escape is not a Unicode scalar value") }
            default:
                throw fail("unknown escape \\\(describe(c))")
            }
        }

        func starts(with prefix: String) -> Bool {
            let p = Array(prefix.utf8)
            return i + p.count <= bytes.count && bytes[i..<(i + p.count)].elementsEqual(p)
        }

        static func isBareKeyCharacter(_ c: UInt8) -> Bool {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }

        static func isScalarCharacter(_ c: UInt8) -> Bool {
            isBareKeyCharacter(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: ":")
        }

        static func hexValue(_ c: UInt8) -> UInt32? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(c - UInt8(ascii: "A") + 10)
            default: nil
            }
        }
    }
}
