internal import COpenSSL

/// An ECDSA P-256 public key.
///
/// Immutable after construction; verification only reads the key's legacy `EC_KEY` view (as
/// OpenSSL's provider does from all its contexts at once) and keeps its other state per call, so
/// one instance may verify from many threads at once (hence `@unchecked Sendable`).
package final class PublicKey: @unchecked Sendable, Equatable, CustomStringConvertible {
    let key: EVPKey
    /// The legacy `EC_KEY` view that `ECDSA_do_verify` reads.
    private let legacy: LegacyECKey
    /// 04||X||Y.
    package let uncompressedPoint: [UInt8]

    /// DER prefix of a P-256 SubjectPublicKeyInfo with an uncompressed point (65 bytes follow).
    private static let spkiPrefix: [UInt8] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A,
        0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ]

    init(key: EVPKey, context: String?) throws(CryptoError) {
        try key.requireP256(context: context, what: "the public key")
        self.key = key
        self.uncompressedPoint = try key.uncompressedPublicPoint()
        guard let ec = cos_evp_pkey_get1_ec_key(key.pointer) else {
            throw CryptoError.openSSL(.internalError, "cannot get the EC_KEY of the public key", context: context)
        }
        self.legacy = LegacyECKey(takingOwnershipOf: ec)
    }

    /// Reads a SubjectPublicKeyInfo, DER or PEM (`-----BEGIN PUBLIC KEY-----`). P-256 only.
    /// - Parameters:
    ///   - encoded: the bytes.
    ///   - source: a file name or field for error messages.
    package convenience init(encoded: [UInt8], source: String? = nil) throws(CryptoError) {
        OpenSSLErrorQueue.clear()
        let isPEM = PEMText.looksLikePEM(encoded)
        var pkey: OpaquePointer? = nil
        if isPEM {
            pkey = encoded.withUnsafeBytes { raw in
                withMemoryBIO(raw) { bio in PEM_read_bio_PUBKEY(bio, nil, PrivateKeyDecoder.passphraseCallback, nil) }
                    ?? nil
            }
        } else {
            pkey = encoded.withUnsafeBytes { raw -> OpaquePointer? in
                guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
                var cursor: UnsafePointer<UInt8>? = base
                let key = d2i_PUBKEY(nil, &cursor, raw.count)
                if let key, cursor != base + raw.count {  // trailing bytes: not DER
                    EVP_PKEY_free(key)
                    return nil
                }
                return key
            }
        }
        guard let pkey else {
            throw CryptoError.openSSL(
                .invalidKey, "not a \(isPEM ? "PEM" : "DER") SubjectPublicKeyInfo (PUBLIC KEY)", context: source)
        }
        try self.init(key: EVPKey(takingOwnershipOf: pkey), context: source)
    }

    /// A key from the uncompressed point 04||X||Y (65 bytes), which must lie on P-256.
    package convenience init(uncompressedPoint: [UInt8]) throws(CryptoError) {
        guard uncompressedPoint.count == 65, uncompressedPoint[0] == 0x04 else {
            throw CryptoError.plain(
                .invalidKey,
                "an uncompressed P-256 point is 65 bytes starting 04, got \(uncompressedPoint.count) bytes"
                    + (uncompressedPoint.first.map { " starting \(hexByte($0))" } ?? ""))
        }
        do {
            try self.init(encoded: Self.spkiPrefix + uncompressedPoint)
        } catch {
            throw CryptoError(
                code: .invalidKey, reason: "the point is not on P-256", context: nil, openSSLErrors: error.openSSLErrors
            )
        }
    }

    /// SubjectPublicKeyInfo DER.
    package var spkiDER: [UInt8] { Self.spkiPrefix + uncompressedPoint }

    /// Verifies a signature over a SHA-256 digest (32 bytes; any other length gives false).
    package func isValidSignature(_ signature: ECDSASignature, forDigest digest: [UInt8]) -> Bool {
        guard digest.count == SHA256.byteCount else { return false }
        return verify(signature, digest: digest)
    }

    /// Verifies a signature over `message`, hashed with SHA-256.
    package func isValidSignature(_ signature: ECDSASignature, for message: [UInt8]) -> Bool {
        verify(signature, digest: SHA256.hash(message))
    }

    /// Verifies over `message` hashed with `hash` (for the RFC 6979 SHA-224/384/512 vectors).
    package func isValidSignature(_ signature: ECDSASignature, for message: [UInt8], hash: HashAlgorithm) -> Bool {
        guard let digest = try? hash.hash(message) else { return false }
        return verify(signature, digest: digest)
    }

    /// ECDSA verification of a digest of any length (OpenSSL uses its leftmost 256 bits).
    ///
    /// `ECDSA_do_verify` on r and s directly: what `EVP_PKEY_verify` runs once it has decoded the
    /// DER signature (which, for r and s in range as ``ECDSASignature`` holds them, is always the
    /// strict encoding it accepts), without the DER round trip, the provider dispatch and a context.
    func verify(_ signature: ECDSASignature, digest: [UInt8]) -> Bool {
        let rc = digest.withUnsafeBufferPointer { tbs in
            signature.r.withUnsafeBufferPointer { r in
                signature.s.withUnsafeBufferPointer { s in
                    cos_ecdsa_verify_raw(tbs.baseAddress, Int32(tbs.count), r.baseAddress, s.baseAddress, legacy.pointer)
                }
            }
        }
        // 1 = valid, 0 = invalid, -1 = error.
        if rc != 1 { OpenSSLErrorQueue.clear() }  // a failed verification queues errors; never leak them
        return rc == 1
    }

    package static func == (lhs: PublicKey, rhs: PublicKey) -> Bool {
        lhs.uncompressedPoint == rhs.uncompressedPoint
    }

    package var description: String { "PublicKey(P-256, \(hexString(uncompressedPoint)))" }
}

/// Recognising PEM text without copying it (it may be a private key).
enum PEMText {
    /// True when the bytes contain a PEM BEGIN line.
    static func looksLikePEM(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { label(in: $0) != nil }
    }

    /// The label of the first `-----BEGIN <label>-----` line, or of the first one in `preferred`
    /// if any block has such a label (OpenSSL's PEM readers skip blocks of other kinds).
    static func label(in bytes: UnsafeRawBufferPointer, preferring preferred: Set<String> = []) -> String? {
        var labels: [String] = []
        var offset = 0
        while offset < bytes.count,
            let found = firstIndex(of: "-----BEGIN ", in: UnsafeRawBufferPointer(rebasing: bytes[offset...]))
        {
            let start = offset + found + 11
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "-"), bytes[end] != 0x0A { end += 1 }
            let label = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
            if preferred.contains(label) { return label }
            labels.append(label)
            offset = end
        }
        return labels.first
    }

    /// Offset of the first occurrence of the ASCII `needle`.
    static func firstIndex(of needle: StaticString, in bytes: UnsafeRawBufferPointer) -> Int? {
        let pattern = UnsafeRawBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        guard pattern.count > 0, bytes.count >= pattern.count else { return nil }
        for start in 0...(bytes.count - pattern.count) where bytes[start] == pattern[0] {
            var match = true
            for offset in 1..<pattern.count where bytes[start + offset] != pattern[offset] {
                match = false
                break
            }
            if match { return start }
        }
        return nil
    }
}
