import CoSSigner
/// A minimal DER writer: just the types the test PKI's certificates need. Each function returns
/// one complete TLV.
enum DER {
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [tag]
        let length = content.count
        if length < 0x80 {
            out.append(UInt8(length))
        } else {
            var bytes: [UInt8] = []
            var remaining = length
            while remaining > 0 {
                bytes.insert(UInt8(truncatingIfNeeded: remaining), at: 0)
                remaining >>= 8
            }
            out.append(0x80 | UInt8(bytes.count))
            out.append(contentsOf: bytes)
        }
        return out + content
    }

    static func sequence(_ items: [[UInt8]]) -> [UInt8] { tlv(0x30, items.flatMap { $0 }) }

    static func set(_ items: [[UInt8]]) -> [UInt8] { tlv(0x31, items.flatMap { $0 }) }

    static func boolean(_ value: Bool) -> [UInt8] { tlv(0x01, [value ? 0xFF : 0x00]) }

    /// A non-negative INTEGER from its big-endian magnitude (minimal: leading zeros dropped, a 00
    /// added when the top bit is set).
    static func unsignedInteger(_ magnitude: [UInt8]) -> [UInt8] {
        var bytes = Array(magnitude.drop(while: { $0 == 0 }))
        if bytes.isEmpty { bytes = [0] }
        if bytes[0] & 0x80 != 0 { bytes.insert(0, at: 0) }
        return tlv(0x02, bytes)
    }

    static func integer(_ value: UInt64) -> [UInt8] {
        unsignedInteger((0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) })
    }

    static func octetString(_ bytes: [UInt8]) -> [UInt8] { tlv(0x04, bytes) }

    static func bitString(_ bytes: [UInt8], unusedBits: UInt8 = 0) -> [UInt8] { tlv(0x03, [unusedBits] + bytes) }

    static func utf8String(_ text: String) -> [UInt8] { tlv(0x0C, Array(text.utf8)) }

    static func printableString(_ text: String) -> [UInt8] { tlv(0x13, Array(text.utf8)) }

    /// Context-specific constructed `[n]` (EXPLICIT tagging).
    static func explicit(_ number: UInt8, _ content: [UInt8]) -> [UInt8] { tlv(0xA0 | number, content) }

    /// Context-specific primitive `[n]` (IMPLICIT tagging of a primitive type).
    static func implicitPrimitive(_ number: UInt8, _ content: [UInt8]) -> [UInt8] { tlv(0x80 | number, content) }

    /// An OBJECT IDENTIFIER from dotted text (the caller's constants are well-formed).
    static func oid(_ dotted: String) -> [UInt8] {
        let arcs = dotted.split(separator: ".").compactMap { UInt64($0) }
        guard arcs.count >= 2 else { return tlv(0x06, []) }
        var body = base128(arcs[0] * 40 + arcs[1])
        for arc in arcs.dropFirst(2) { body += base128(arc) }
        return tlv(0x06, body)
    }

    private static func base128(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = [UInt8(value & 0x7F)]
        var remaining = value >> 7
        while remaining > 0 {
            out.insert(UInt8(remaining & 0x7F) | 0x80, at: 0)
            remaining >>= 7
        }
        return out
    }

    /// A certificate validity time: UTCTime for 1950-2049, GeneralizedTime otherwise (RFC 5280
    /// §4.1.2.5). `YYYYMMDDhhmmss` in UTC.
    static func time(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) -> [UInt8] {
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let rest = two(month) + two(day) + two(hour) + two(minute) + two(second) + "Z"
        if (1950...2049).contains(year) {
            return tlv(0x17, Array((two(year % 100) + rest).utf8))
        }
        let y = String(year)
        return tlv(0x18, Array((String(repeating: "0", count: Swift.max(0, 4 - y.count)) + y + rest).utf8))
    }
}
