/// An X.500 distinguished name, as XMLDSig `X509IssuerName` carries it (RFC 2253 / RFC 4514).
///
/// ``rfc2253`` is the text form: for a name read from a certificate it is exactly what OpenSSL's
/// `X509_NAME_print_ex(…, XN_FLAG_RFC2253)` prints (and so what xmlsec1 and the JDK write for
/// SMKI names): `CN=Z1,OU=07` for the Z1 issuing CA, most specific RDN first (the reverse of
/// the DER order).
///
/// Equality and hashing compare names, not texts: attribute types by OID (`cn` = `CN` =
/// `2.5.4.3`), values after the canonicalisation `X509_NAME_cmp` applies (leading and trailing
/// white space removed, inner runs collapsed to one space, ASCII case folded), attributes within a
/// multi-valued RDN in any order. So `CN=Z1,OU=07` == `CN=Z1, OU=07` == `cn=z1,ou=07`.
public struct DistinguishedName: Hashable, Sendable, CustomStringConvertible {
    /// One attribute type and value.
    struct Attribute: Hashable, Sendable {
        /// Dotted OID of the attribute type.
        let oid: String
        let value: Value
    }

    enum Value: Hashable, Sendable {
        /// A character-string value, as Unicode text.
        case text(String)
        /// Any other value, as the DER encoding of its ASN.1 type (RFC 2253 `#hex`).
        case der([UInt8])
    }

    /// The RDNs in RFC 2253 order (most specific first), each a set of attributes.
    let rdns: [[Attribute]]
    /// The text form.
    public let rfc2253: String
    private let comparisonKey: [[ComparisonAttribute]]

    init(rdns: [[Attribute]], rfc2253: String) {
        self.rdns = rdns
        self.rfc2253 = rfc2253
        self.comparisonKey = rdns.map { rdn in
            rdn.map(ComparisonAttribute.init).sorted { ($0.oid, $0.valueKey) < ($1.oid, $1.valueKey) }
        }
    }

    /// Parses RFC 2253 / RFC 4514 text such as `CN=Z1,OU=07` or `CN=U1, OU=07`.
    ///
    /// Accepts keywords in any case (CN, OU, O, C, L, ST, STREET, DC, UID, SERIALNUMBER,
    /// x500UniqueIdentifier, emailAddress, …) or dotted OIDs; `,` or `;` between RDNs and `+`
    /// inside one, with spaces around them; quoted values; `\` escapes (`\,` and `\2C`); `#hex`
    /// values. ``rfc2253`` of the result is re-serialised without those spaces.
    /// - Throws: ``CryptoError`` with code ``CryptoError/Code/invalidDistinguishedName``.
    package init(rfc2253 text: String) throws(CryptoError) {
        var parser = RFC2253Parser(text)
        let rdns = try parser.parse()
        self.init(rdns: rdns, rfc2253: Self.serialise(rdns))
    }

    public var description: String { rfc2253 }

    public static func == (lhs: DistinguishedName, rhs: DistinguishedName) -> Bool {
        lhs.comparisonKey == rhs.comparisonKey
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(comparisonKey) }

    /// Text values of the attributes with the given OID, in RFC 2253 order.
    func textValues(forOID oid: String) -> [String] {
        rdns.flatMap { $0 }.compactMap { attribute in
            guard attribute.oid == oid else { return nil }
            switch attribute.value {
            case .text(let text): return text
            case .der(let der): return DERString.decode(der)
            }
        }
    }

    /// DER values of the attributes with the given OID, in RFC 2253 order.
    func derValues(forOID oid: String) -> [[UInt8]] {
        rdns.flatMap { $0 }.compactMap { attribute in
            if attribute.oid == oid, case .der(let der) = attribute.value { return der }
            return nil
        }
    }

    // MARK: Serialising

    static func serialise(_ rdns: [[Attribute]]) -> String {
        rdns.map { rdn in
            rdn.map { attribute in
                let type = AttributeTypes.shortName(forOID: attribute.oid) ?? attribute.oid
                switch attribute.value {
                case .der(let der): return type + "=#" + der.map { hexByte($0) }.joined()
                case .text(let text): return type + "=" + escape(text)
                }
            }.joined(separator: "+")
        }.joined(separator: ",")
    }

    private static func escape(_ value: String) -> String {
        var out = ""
        let scalars = Array(value.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            switch scalar {
            case ",", "+", "\"", "\\", "<", ">", ";":
                out += "\\" + String(scalar)
            case "#" where index == 0:
                out += "\\#"
            case " " where index == 0 || index == scalars.count - 1:
                out += "\\ "
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\" + hexByte(UInt8(scalar.value))
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}

/// An attribute reduced to what equality compares.
private struct ComparisonAttribute: Hashable, Sendable {
    let oid: String
    /// "t:" + canonical text, or "d:" + hex DER for values that are not character strings.
    let valueKey: String

    init(_ attribute: DistinguishedName.Attribute) {
        oid = attribute.oid
        switch attribute.value {
        case .text(let text):
            valueKey = "t:" + Self.canonical(text)
        case .der(let der):
            if let text = DERString.decode(der) {
                valueKey = "t:" + Self.canonical(text)
            } else {
                valueKey = "d:" + hexString(der)
            }
        }
    }

    /// X509_NAME_cmp's canonical form: trim, collapse inner white space, fold ASCII case.
    static func canonical(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            let isSpace = scalar == " " || (scalar.value >= 0x09 && scalar.value <= 0x0D)
            if isSpace {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace {
                out.append(" ")
                pendingSpace = false
            }
            if scalar.value >= 0x41 && scalar.value <= 0x5A, let lower = Unicode.Scalar(scalar.value + 0x20) {
                out.append(lower)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}

/// Decoding DER character strings (for `#hex` name values).
enum DERString {
    /// The text of a DER UTF8String, PrintableString, IA5String, VisibleString, NumericString,
    /// T61String (as Latin-1), BMPString or UniversalString; nil for anything else.
    static func decode(_ der: [UInt8]) -> String? {
        guard der.count >= 2 else { return nil }
        let tag = der[0]
        var length = 0
        var offset = 2
        if der[1] < 0x80 {
            length = Int(der[1])
        } else {
            let count = Int(der[1] & 0x7F)
            guard count >= 1, count <= 3, der.count >= 2 + count else { return nil }
            for index in 0..<count { length = length << 8 | Int(der[2 + index]) }
            offset = 2 + count
        }
        guard der.count == offset + length else { return nil }
        let content = Array(der[offset...])
        switch tag {
        case 0x0C, 0x13, 0x16, 0x1A, 0x12:
            return strictUTF8(content)
        case 0x14:
            return String(String.UnicodeScalarView(content.map { Unicode.Scalar($0) }))
        case 0x1E:
            guard content.count % 2 == 0 else { return nil }
            let units = stride(from: 0, to: content.count, by: 2).map {
                UInt16(content[$0]) << 8 | UInt16(content[$0 + 1])
            }
            let decoded = String(decoding: units, as: UTF16.self)
            return Array(decoded.utf16) == units ? decoded : nil
        case 0x1C:
            guard content.count % 4 == 0 else { return nil }
            var scalars = String.UnicodeScalarView()
            for index in stride(from: 0, to: content.count, by: 4) {
                let value = content[index..<(index + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                guard let scalar = Unicode.Scalar(value) else { return nil }
                scalars.append(scalar)
            }
            return String(scalars)
        default:
            return nil
        }
    }
}

/// Attribute type keywords and OIDs.
enum AttributeTypes {
    /// (OID, name OpenSSL prints, other accepted keywords).
    private static let table: [(oid: String, shortName: String, aliases: [String])] = [
        ("2.5.4.3", "CN", ["commonName"]),
        ("2.5.4.4", "SN", ["surname"]),
        ("2.5.4.5", "serialNumber", []),
        ("2.5.4.6", "C", ["countryName"]),
        ("2.5.4.7", "L", ["localityName"]),
        ("2.5.4.8", "ST", ["S", "stateOrProvinceName"]),
        ("2.5.4.9", "street", ["streetAddress"]),
        ("2.5.4.10", "O", ["organizationName"]),
        ("2.5.4.11", "OU", ["organizationalUnitName"]),
        ("2.5.4.12", "title", ["T"]),
        ("2.5.4.42", "GN", ["givenName"]),
        ("2.5.4.43", "initials", []),
        ("2.5.4.44", "generationQualifier", []),
        ("2.5.4.45", "x500UniqueIdentifier", []),
        ("2.5.4.46", "dnQualifier", []),
        ("2.5.4.65", "pseudonym", []),
        ("0.9.2342.19200300.100.1.25", "DC", ["domainComponent"]),
        ("0.9.2342.19200300.100.1.1", "UID", ["userId"]),
        ("1.2.840.113549.1.9.1", "emailAddress", ["E", "email"]),
    ]

    static let commonName = "2.5.4.3"
    static let organizationalUnit = "2.5.4.11"
    static let x500UniqueIdentifier = "2.5.4.45"

    static func shortName(forOID oid: String) -> String? {
        table.first { $0.oid == oid }?.shortName
    }

    /// The OID for a keyword (any case) or a dotted OID (optionally prefixed `OID.`).
    static func oid(forKeyword keyword: String) -> String? {
        var word = keyword
        if word.lowercased().hasPrefix("oid.") { word = String(word.dropFirst(4)) }
        if isDottedOID(word) { return word }
        let lower = word.lowercased()
        return table.first { $0.shortName.lowercased() == lower || $0.aliases.contains { $0.lowercased() == lower } }?
            .oid
    }

    static func isDottedOID(_ text: String) -> Bool {
        let arcs = text.split(separator: ".", omittingEmptySubsequences: false)
        return arcs.count >= 2
            && arcs.allSatisfy { arc in
                !arc.isEmpty && arc.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
                    && (arc == "0" || arc.first != "0")
            }
    }
}

/// A parser for RFC 2253 / RFC 4514 distinguished-name strings.
private struct RFC2253Parser {
    private let text: String
    private let bytes: [UInt8]
    private var position = 0

    init(_ text: String) {
        self.text = text
        self.bytes = Array(text.utf8)
    }

    private func failure(_ why: String) -> CryptoError {
        CryptoError.plain(.invalidDistinguishedName, "'\(text)' is not an RFC 2253 name: \(why)")
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }

    private mutating func skipSpaces() {
        while position < bytes.count, Self.isSpace(bytes[position]) { position += 1 }
    }

    mutating func parse() throws(CryptoError) -> [[DistinguishedName.Attribute]] {
        guard bytes.count <= 4096 else { throw failure("longer than 4096 bytes") }
        skipSpaces()
        if position == bytes.count { return [] }
        var rdns: [[DistinguishedName.Attribute]] = []
        var current: [DistinguishedName.Attribute] = []
        while true {
            current.append(try parseAttribute())
            skipSpaces()
            guard position < bytes.count else { break }
            switch bytes[position] {
            case UInt8(ascii: "+"):
                position += 1
            case UInt8(ascii: ","), UInt8(ascii: ";"):
                position += 1
                rdns.append(current)
                current = []
            default:
                throw failure("unexpected '\(Character(Unicode.Scalar(bytes[position])))' at offset \(position)")
            }
        }
        rdns.append(current)
        return rdns
    }

    private mutating func parseAttribute() throws(CryptoError) -> DistinguishedName.Attribute {
        skipSpaces()
        let start = position
        while position < bytes.count, bytes[position] != UInt8(ascii: "=") {
            let c = bytes[position]
            let ok =
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
            guard ok || Self.isSpace(c) else {
                throw failure(
                    position == start
                        ? "expected an attribute type at offset \(position)"
                        : "bad character in attribute type at offset \(position)")
            }
            position += 1
        }
        let keyword = String(decoding: bytes[start..<position], as: UTF8.self).trimmingSpaces()
        guard position < bytes.count else { throw failure("'=' missing after '\(keyword)'") }
        guard !keyword.isEmpty else { throw failure("empty attribute type at offset \(start)") }
        guard let oid = AttributeTypes.oid(forKeyword: keyword) else {
            throw failure("unknown attribute type '\(keyword)'")
        }
        position += 1  // '='
        skipSpaces()
        return DistinguishedName.Attribute(oid: oid, value: try parseValue())
    }

    private mutating func parseValue() throws(CryptoError) -> DistinguishedName.Value {
        if position < bytes.count, bytes[position] == UInt8(ascii: "#") {
            position += 1
            let start = position
            while position < bytes.count, hexValue(bytes[position]) != nil { position += 1 }
            guard let der = bytesFromHex(String(decoding: bytes[start..<position], as: UTF8.self)), !der.isEmpty
            else {
                throw failure("'#' must be followed by an even number of hex digits (offset \(start))")
            }
            return .der(der)
        }
        var value: [UInt8] = []
        if position < bytes.count, bytes[position] == UInt8(ascii: "\"") {
            position += 1
            while true {
                guard position < bytes.count else { throw failure("unterminated quoted value") }
                let c = bytes[position]
                if c == UInt8(ascii: "\"") {
                    position += 1
                    break
                }
                if c == UInt8(ascii: "\\") {
                    value.append(try parseEscape())
                } else {
                    value.append(c)
                    position += 1
                }
            }
        } else {
            var keptCount = 0  // length without trailing unescaped spaces
            while position < bytes.count {
                let c = bytes[position]
                if c == UInt8(ascii: ",") || c == UInt8(ascii: ";") || c == UInt8(ascii: "+") { break }
                if c == UInt8(ascii: "\\") {
                    value.append(try parseEscape())
                    keptCount = value.count
                    continue
                }
                if c == UInt8(ascii: "\"") {
                    throw failure("unescaped '\"' inside a value at offset \(position)")
                }
                value.append(c)
                if !Self.isSpace(c) { keptCount = value.count }
                position += 1
            }
            value.removeLast(value.count - keptCount)
        }
        guard let string = strictUTF8(value) else {
            throw failure("value is not valid UTF-8")
        }
        return .text(string)
    }

    private mutating func parseEscape() throws(CryptoError) -> UInt8 {
        position += 1  // '\'
        guard position < bytes.count else { throw failure("'\\' at the end") }
        let c = bytes[position]
        if position + 1 < bytes.count, let hi = hexValue(c), let lo = hexValue(bytes[position + 1]) {
            position += 2
            return hi << 4 | lo
        }
        let specials = Array(",=+<>#;\\\" ".utf8)
        guard specials.contains(c) else {
            throw failure("'\\' must be followed by a special character or two hex digits (offset \(position))")
        }
        position += 1
        return c
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }),
            let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })
        else { return "" }
        return String(scalars[first...last])
    }
}

/// The UTF-8 text of `bytes`, or nil if they are not valid UTF-8 (no replacement characters).
func strictUTF8(_ bytes: [UInt8]) -> String? {
    let decoded = String(decoding: bytes, as: UTF8.self)
    return Array(decoded.utf8) == bytes ? decoded : nil
}
