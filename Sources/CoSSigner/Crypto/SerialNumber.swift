/// A certificate serial number: an integer of any length (SMKI serials are 128-bit), compared as the
/// signed DER INTEGER it is, so that −n and n are different serials.
///
/// Stored as its big-endian magnitude with leading zero bytes removed and a sign, so equality, hashing and
/// ordering are numeric: `SerialNumber(bytes: [0, 5]) == SerialNumber(decimal: "5")`. RFC 5280 requires
/// positive serials; a negative one is kept as it is (and never equals its magnitude).
public struct SerialNumber: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Big-endian magnitude, no leading zero bytes (zero is `[0]`).
    public let bytes: [UInt8]
    /// True for a negative serial (zero is never negative).
    public let isNegative: Bool

    /// The longest decimal text accepted (about 664 bits).
    public static let maximumDecimalDigits = 200

    /// A serial from its big-endian magnitude and sign; leading zero bytes are ignored.
    public init(bytes: [UInt8], negative: Bool = false) {
        let stripped = Array(bytes.drop(while: { $0 == 0 }))
        self.bytes = stripped.isEmpty ? [0] : stripped
        self.isNegative = negative && !stripped.isEmpty
    }

    /// Parses decimal digits (as XMLDSig `X509SerialNumber`, an `xs:integer`, carries them): an optional `-`,
    /// then ASCII 0-9 only, 1 to ``maximumDecimalDigits`` of them; leading zeros allowed.
    /// - Throws: ``CryptoError`` with code ``CryptoError/Code/invalidSerialNumber``.
    package init(decimal: String) throws(CryptoError) {
        var digits = Array(decimal.utf8)
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits.removeFirst() }
        guard !digits.isEmpty else { throw CryptoError.plain(.invalidSerialNumber, "empty serial number") }
        guard digits.count <= Self.maximumDecimalDigits else {
            throw CryptoError.plain(
                .invalidSerialNumber,
                "serial number has \(digits.count) digits, more than the \(Self.maximumDecimalDigits) accepted")
        }
        // Little-endian base-256 accumulator: value = value * 10 + digit.
        var little: [UInt8] = [0]
        for (offset, c) in digits.enumerated() {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else {
                throw CryptoError.plain(
                    .invalidSerialNumber,
                    "serial number must be decimal digits only; found '\(Character(Unicode.Scalar(c)))' at position \(offset + 1)"
                )
            }
            var carry = UInt32(c - UInt8(ascii: "0"))
            for index in little.indices {
                let v = UInt32(little[index]) * 10 + carry
                little[index] = UInt8(truncatingIfNeeded: v)
                carry = v >> 8
            }
            while carry > 0 {
                little.append(UInt8(truncatingIfNeeded: carry))
                carry >>= 8
            }
        }
        self.init(bytes: little.reversed(), negative: negative)
    }

    /// The decimal text, without leading zeros ("0" for zero), with `-` for a negative serial.
    public var decimal: String {
        isNegative ? "-" + magnitudeDecimal : magnitudeDecimal
    }

    /// The decimal text of the magnitude.
    private var magnitudeDecimal: String {
        // Repeated division of the big-endian magnitude by 10^9.
        var limbs = bytes
        var chunks: [UInt32] = []
        while !(limbs.count == 1 && limbs[0] == 0) && !limbs.isEmpty {
            var remainder: UInt64 = 0
            var quotient: [UInt8] = []
            quotient.reserveCapacity(limbs.count)
            for byte in limbs {
                let value = remainder << 8 | UInt64(byte)
                let q = value / 1_000_000_000
                remainder = value % 1_000_000_000
                if !(quotient.isEmpty && q == 0) { quotient.append(UInt8(q)) }
            }
            chunks.append(UInt32(remainder))
            limbs = quotient.isEmpty ? [0] : quotient
        }
        guard let last = chunks.popLast() else { return "0" }
        var text = String(last)
        for chunk in chunks.reversed() {
            let part = String(chunk)
            text += String(repeating: "0", count: 9 - part.count) + part
        }
        return text
    }

    /// Upper-case hex of the magnitude, as `openssl x509 -serial` prints it (with `-` for a negative serial).
    public var hex: String { (isNegative ? "-" : "") + bytes.map { hexByte($0) }.joined() }

    public var description: String { decimal }

    public static func < (lhs: SerialNumber, rhs: SerialNumber) -> Bool {
        if lhs.isNegative != rhs.isNegative { return lhs.isNegative }
        let magnitudeLess: Bool
        if lhs.bytes.count != rhs.bytes.count {
            magnitudeLess = lhs.bytes.count < rhs.bytes.count
        } else if lhs.bytes == rhs.bytes {
            return false
        } else {
            magnitudeLess = lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
        }
        return lhs.isNegative ? !magnitudeLess : magnitudeLess
    }
}
