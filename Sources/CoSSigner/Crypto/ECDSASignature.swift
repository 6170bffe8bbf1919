/// An ECDSA P-256 signature (r, s), each in [1, n-1].
///
/// XML Signature (`ecdsa-sha256`, RFC 4050 / RFC 6931) carries it as ``rawRepresentation``:
/// r||s, 32 + 32 bytes, big-endian, left-padded. OpenSSL works with ``derRepresentation``.
/// No low-S normalisation is applied or required (XMLDSig has no such rule).
package struct ECDSASignature: Sendable, Hashable {
    /// r, 32 bytes big-endian.
    package let r: [UInt8]
    /// s, 32 bytes big-endian.
    package let s: [UInt8]

    /// r and s already known to be 32 bytes each and in range.
    init(validatedR r: [UInt8], s: [UInt8]) {
        self.r = r
        self.s = s
    }

    /// Reads r||s: exactly 64 bytes, r and s each in [1, n-1]. Never pads or truncates.
    /// - Throws: ``CryptoError`` with code ``CryptoError/Code/invalidSignatureEncoding``.
    package init(rawRepresentation: some Collection<UInt8>) throws(CryptoError) {
        let bytes = Array(rawRepresentation)
        guard bytes.count == 64 else {
            throw CryptoError.plain(
                .invalidSignatureEncoding,
                "an ECDSA P-256 r||s signature must be exactly 64 bytes, got \(bytes.count)")
        }
        let r = Array(bytes[0..<32])
        let s = Array(bytes[32..<64])
        try Self.checkRange(r, name: "r")
        try Self.checkRange(s, name: "s")
        self.init(validatedR: r, s: s)
    }

    /// Reads a strict DER `Ecdsa-Sig-Value` (SEQUENCE of two INTEGERs): definite short-form
    /// lengths, minimal positive integers, no trailing bytes; r and s in [1, n-1].
    /// - Throws: ``CryptoError`` with code ``CryptoError/Code/invalidSignatureEncoding``.
    package init(derRepresentation: some Collection<UInt8>) throws(CryptoError) {
        let der = Array(derRepresentation)
        func fail(_ why: String) -> CryptoError {
            CryptoError.plain(.invalidSignatureEncoding, "not a strict DER ECDSA signature: \(why)")
        }
        guard der.count >= 2 else { throw fail("\(der.count) bytes is too short") }
        guard der[0] == 0x30 else { throw fail("expected SEQUENCE (0x30), found tag 0x\(hexByte(der[0]))") }
        // A P-256 signature's content is at most 70 bytes, so only the short length form is DER.
        guard der[1] < 0x80 else { throw fail("SEQUENCE length uses the long form (0x\(hexByte(der[1])))") }
        let contentLength = Int(der[1])
        guard der.count == 2 + contentLength else {
            throw der.count > 2 + contentLength
                ? fail("\(der.count - 2 - contentLength) trailing bytes after the SEQUENCE")
                : fail("SEQUENCE length \(contentLength) runs past the end")
        }
        var offset = 2
        func readInteger(_ name: String) throws(CryptoError) -> [UInt8] {
            guard offset + 2 <= der.count else { throw fail("\(name) is missing") }
            guard der[offset] == 0x02 else {
                throw fail("\(name): expected INTEGER (0x02), found tag 0x\(hexByte(der[offset]))")
            }
            guard der[offset + 1] < 0x80 else { throw fail("\(name): length uses the long form") }
            let length = Int(der[offset + 1])
            let start = offset + 2
            guard length > 0 else { throw fail("\(name): empty INTEGER") }
            guard start + length <= der.count else { throw fail("\(name): length \(length) runs past the end") }
            let value = Array(der[start..<(start + length)])
            offset = start + length
            if value[0] & 0x80 != 0 { throw fail("\(name) is negative") }
            if value.count > 1, value[0] == 0x00, value[1] & 0x80 == 0 {
                throw fail("\(name) is not minimally encoded (superfluous leading zero)")
            }
            let magnitude = value.count > 1 && value[0] == 0 ? Array(value.dropFirst()) : value
            guard magnitude.count <= 32 else { throw fail("\(name) is longer than 32 bytes") }
            return [UInt8](repeating: 0, count: 32 - magnitude.count) + magnitude
        }
        let r = try readInteger("r")
        let s = try readInteger("s")
        guard offset == der.count else { throw fail("\(der.count - offset) bytes after s inside the SEQUENCE") }
        try Self.checkRange(r, name: "r")
        try Self.checkRange(s, name: "s")
        self.init(validatedR: r, s: s)
    }

    private static func checkRange(_ value: [UInt8], name: String) throws(CryptoError) {
        guard P256Curve.isValidScalar(value) else {
            let why = value.allSatisfy { $0 == 0 } ? "\(name) is zero" : "\(name) is not less than the group order n"
            throw CryptoError.plain(.invalidSignatureEncoding, why)
        }
    }

    /// r||s, 64 bytes.
    package var rawRepresentation: [UInt8] { r + s }

    /// DER `Ecdsa-Sig-Value`.
    package var derRepresentation: [UInt8] {
        func integer(_ value: [UInt8]) -> [UInt8] {
            var magnitude = Array(value.drop(while: { $0 == 0 }))
            if magnitude.isEmpty { magnitude = [0] }
            if magnitude[0] & 0x80 != 0 { magnitude.insert(0, at: 0) }
            return [0x02, UInt8(magnitude.count)] + magnitude
        }
        let content = integer(r) + integer(s)
        return [0x30, UInt8(content.count)] + content
    }

    /// True when s > n/2 (OpenSSL and XMLDSig accept such signatures; Bitcoin-style rules do not).
    package var isHighS: Bool {
        P256Curve.lexicographicallyLess(P256Curve.halfOrderBytes, s)
    }
}

extension ECDSASignature: CustomStringConvertible {
    package var description: String { "ECDSASignature(r: \(hexString(r)), s: \(hexString(s)))" }
}
