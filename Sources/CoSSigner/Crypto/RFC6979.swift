internal import COpenSSL

/// Deterministic ECDSA nonces (RFC 6979 §3.2) for P-256, with the HMAC-DRBG computed here.
///
/// OpenSSL 3.0 has no `nonce-type` parameter (it arrived in 3.2; setting it on 3.0 "succeeds" and
/// does nothing), so the nonce is derived here and handed to `ECDSA_do_sign_ex` as k^-1 and r.
/// The DRBG state K and V, and the candidate k, live in ``SecureBytes`` and are cleansed.
enum RFC6979 {
    private static let qByteCount = 32  // qlen = 256 bits

    /// Draws successive candidates k in [1, n-1] and passes each to `accept` until it returns true.
    /// - Parameters:
    ///   - x: the private scalar, 32 bytes big-endian.
    ///   - digest: H(m), produced by `hash`; the DRBG's HMAC uses the same hash (RFC 6979 §3.2).
    static func generateNonces(
        privateKey x: UnsafeRawBufferPointer, digest: [UInt8], hash: HashAlgorithm,
        _ accept: (UnsafeRawBufferPointer) throws(CryptoError) -> Bool
    ) throws(CryptoError) {
        guard x.count == qByteCount else { throw CryptoError.plain(.internalError, "private scalar is not 32 bytes") }
        guard !digest.isEmpty else { throw CryptoError.plain(.invalidDigest, "empty digest") }
        let hmac = try HMACContext(hash: hash)
        let h = hash.byteCount
        // bits2octets(H(m)) = int2octets(bits2int(H(m)) mod q).
        let hPrime = bits2octets(digest)
        let state = SecureBytes(zeroedCount: 64 + 64 + 128)  // K | V | T
        try state.withUnsafeMutableBytes { buffer throws(CryptoError) in
            guard let base = buffer.baseAddress else { throw CryptoError.plain(.internalError, "no DRBG state") }
            let kPtr = base
            let vPtr = base + 64
            let tPtr = base + 128
            let key = UnsafeRawBufferPointer(start: kPtr, count: h)
            let v = UnsafeRawBufferPointer(start: vPtr, count: h)
            vPtr.initializeMemory(as: UInt8.self, repeating: 0x01, count: h)  // V = 0x01 0x01 ...
            // K = 0x00 ... (already zero)
            let separators: [UInt8] = [0x00, 0x01]
            try separators.withBytes { seps throws(CryptoError) in
                try hPrime.withBytes { hp throws(CryptoError) in
                    for index in 0..<2 {
                        let sep = UnsafeRawBufferPointer(rebasing: seps[index..<(index + 1)])
                        try hmac.compute(key: key, v, sep, x, hp, into: kPtr)  // K = HMAC_K(V || sep || x || h')
                        try hmac.compute(key: key, v, into: vPtr)  // V = HMAC_K(V)
                    }
                }
                let zero = UnsafeRawBufferPointer(rebasing: seps[0..<1])
                for _ in 0..<1000 {  // each round succeeds with probability ~1 - 2^-32
                    var filled = 0
                    while filled < qByteCount {
                        try hmac.compute(key: key, v, into: vPtr)
                        (tPtr + filled).copyMemory(from: vPtr, byteCount: h)
                        filled += h
                    }
                    let k = UnsafeRawBufferPointer(start: tPtr, count: qByteCount)  // bits2int(T): leftmost 256 bits
                    if P256Curve.isValidScalar(k), try accept(k) { return }
                    try hmac.compute(key: key, v, zero, into: kPtr)  // K = HMAC_K(V || 0x00)
                    try hmac.compute(key: key, v, into: vPtr)  // V = HMAC_K(V)
                }
                throw CryptoError.plain(.signingFailed, "RFC 6979 produced no usable nonce")
            }
        }
    }

    /// bits2octets for q of 256 bits: the leftmost 256 bits of the digest (or the digest
    /// left-padded if shorter), reduced once modulo n, as 32 bytes.
    static func bits2octets(_ digest: [UInt8]) -> [UInt8] {
        var z =
            digest.count >= qByteCount
            ? Array(digest.prefix(qByteCount))
            : [UInt8](repeating: 0, count: qByteCount - digest.count) + digest
        if !P256Curve.lexicographicallyLess(z, P256Curve.orderBytes) {  // z >= n: z - n (< n since z < 2^256 < 2n)
            var borrow = 0
            for index in stride(from: qByteCount - 1, through: 0, by: -1) {
                var difference = Int(z[index]) - Int(P256Curve.orderBytes[index]) - borrow
                borrow = difference < 0 ? 1 : 0
                if difference < 0 { difference += 256 }
                z[index] = UInt8(difference)
            }
        }
        return z
    }
}

/// HMAC bound to one hash. Used by one thread (per call).
///
/// HMAC-SHA256, the DRBG of every DUIS signature, runs on OpenSSL's low-level SHA-256 (a few
/// compressions per HMAC, no fetch or context set-up; its pads and states are cleansed). The
/// other hashes (for the RFC 6979 test vectors) use an `EVP_MAC_CTX`, freed in `deinit`.
final class HMACContext {
    private let context: OpaquePointer?  // EVP_MAC_CTX *, nil for SHA-256
    private let outputCount: Int

    init(hash: HashAlgorithm) throws(CryptoError) {
        outputCount = hash.byteCount
        if hash == .sha256 {
            context = nil
            return
        }
        guard let mac = FetchedAlgorithms.shared.hmac, let context = cos_hmac_ctx_new(mac, hash.macDigestName) else {
            throw CryptoError.openSSL(.internalError, "HMAC-\(hash.rawValue) is not available")
        }
        self.context = context
    }

    deinit {
        if let context { EVP_MAC_CTX_free(context) }  // HMAC's freectx clears its key schedule
    }

    /// out = HMAC(key, a || b || c || d). `out` may alias `key`.
    func compute(
        key: UnsafeRawBufferPointer, _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer = .init(start: nil, count: 0),
        _ c: UnsafeRawBufferPointer = .init(start: nil, count: 0), _ d: UnsafeRawBufferPointer = .init(start: nil, count: 0), into out: UnsafeMutableRawPointer
    ) throws(CryptoError) {
        guard let context else {
            guard
                cos_hmac_sha256(
                    key.baseAddress, key.count, a.baseAddress, a.count, b.baseAddress, b.count, c.baseAddress,
                    c.count, d.baseAddress, d.count, out.assumingMemoryBound(to: UInt8.self)) == 1
            else {
                throw CryptoError.plain(.internalError, "HMAC-SHA256 key longer than a block")
            }
            return
        }
        guard EVP_MAC_init(context, key.baseAddress?.assumingMemoryBound(to: UInt8.self), key.count, nil) == 1 else {
            throw CryptoError.openSSL(.internalError, "EVP_MAC_init failed")
        }
        for part in [a, b, c, d] where part.count > 0 {
            guard EVP_MAC_update(context, part.baseAddress?.assumingMemoryBound(to: UInt8.self), part.count) == 1 else {
                throw CryptoError.openSSL(.internalError, "EVP_MAC_update failed")
            }
        }
        var length = 0
        guard EVP_MAC_final(context, out.assumingMemoryBound(to: UInt8.self), &length, outputCount) == 1,
            length == outputCount
        else {
            throw CryptoError.openSSL(.internalError, "EVP_MAC_final failed")
        }
    }
}
