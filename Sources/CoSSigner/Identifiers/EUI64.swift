/// An EUI-64: the identifier of a DCC User (User ID), a device, or an SMKI entity.
///
/// Written in DUIS as eight hex octets separated by `-` (`90-B3-D5-1F-30-01-00-00`);
/// both hex cases are read, and ``description`` always prints upper case.
public struct EUI64: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 64-bit value, first octet most significant.
    public let value: UInt64

    /// Makes an EUI-64 from its 64-bit value.
    public init(_ value: UInt64) { self.value = value }

    /// Makes an EUI-64 from exactly eight octets.
    public init?(octets: some Collection<UInt8>) {
        guard octets.count == 8 else { return nil }
        value = octets.reduce(0) { ($0 << 8) | UInt64($1) }
    }

    /// Parses the dashed form `XX-XX-XX-XX-XX-XX-XX-XX` (either hex case).
    /// - Throws: ``EUI64ParseError`` naming the reason.
    public init(parsing text: some StringProtocol) throws(EUI64ParseError) {
        let bytes = Array(text.utf8)
        guard bytes.count == 23 else {
            throw EUI64ParseError(text: String(text), reason: "must be 8 hex octets separated by '-' (23 characters), got \(bytes.count) characters")
        }
        var v: UInt64 = 0
        for i in 0..<23 {
            let c = bytes[i]
            if i % 3 == 2 {
                guard c == UInt8(ascii: "-") else {
                    throw EUI64ParseError(text: String(text), reason: "expected '-' at position \(i + 1)")
                }
                continue
            }
            guard let nibble = hexValue(c) else {
                throw EUI64ParseError(text: String(text), reason: "'\(Character(Unicode.Scalar(c)))' at position \(i + 1) is not a hex digit")
            }
            v = (v << 4) | UInt64(nibble)
        }
        value = v
    }

    /// Parses sixteen hex digits without separators (as in certificate names: `90B3D51F30010000`).
    public init(compactHex text: some StringProtocol) throws(EUI64ParseError) {
        let bytes = Array(text.utf8)
        guard bytes.count == 16 else {
            throw EUI64ParseError(text: String(text), reason: "must be 16 hex digits, got \(bytes.count) characters")
        }
        var v: UInt64 = 0
        for (i, c) in bytes.enumerated() {
            guard let nibble = hexValue(c) else {
                throw EUI64ParseError(text: String(text), reason: "'\(Character(Unicode.Scalar(c)))' at position \(i + 1) is not a hex digit")
            }
            v = (v << 4) | UInt64(nibble)
        }
        value = v
    }

    /// The eight octets, first octet most significant.
    public var octets: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }

    /// Canonical DUIS form: upper case, `-` separated.
    public var description: String { hex(separator: UInt8(ascii: "-")) }

    /// Sixteen upper-case hex digits without separators.
    public var compactHex: String { hex(separator: nil) }

    /// The eight octets in upper-case hex, written straight into the string (a report line formats two per
    /// request), each octet after the first preceded by `separator` if given.
    private func hex(separator: UInt8?) -> String {
        let count = separator == nil ? 16 : 23
        return String(unsafeUninitializedCapacity: count) { out in
            var o = 0
            for k in 0..<8 {
                if k > 0, let separator {
                    out[o] = separator
                    o += 1
                }
                let octet = UInt8(truncatingIfNeeded: value >> (56 - 8 * k))
                out[o] = upperHexDigit(octet >> 4)
                out[o + 1] = upperHexDigit(octet & 0xF)
                o += 2
            }
            return o
        }
    }

    public static func < (lhs: EUI64, rhs: EUI64) -> Bool { lhs.value < rhs.value }
}

/// Why a text is not an EUI-64.
public struct EUI64ParseError: ClassifiedError, Equatable {
    /// The text that was given.
    public let text: String
    /// Why it was refused.
    public let reason: String
    package var failureClass: FailureClass { .input }
    public var description: String { "'\(text)' is not an EUI-64: \(reason)" }
}

@inline(__always)
func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// The upper-case hex digit of a nibble (0–15).
func upperHexDigit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") - 10 + nibble
}

func hexByte(_ b: UInt8) -> String {
    String(decoding: [upperHexDigit(b >> 4), upperHexDigit(b & 0xF)], as: UTF8.self)
}
