internal import COpenSSL

/// An ECDSA P-256 private key.
///
/// Immutable after construction. Signing reads the key's legacy `EC_KEY` view, which OpenSSL only
/// reads while signing (the provider shares one the same way between its contexts), and keeps
/// all other state per call, so one instance may sign from many threads at once (hence
/// `@unchecked Sendable`). The private scalar copy used by RFC 6979 lives in ``SecureBytes`` and
/// is cleansed when the key is released.
package final class SigningKey: @unchecked Sendable, CustomStringConvertible {
    let key: EVPKey
    /// The private scalar, 32 bytes big-endian (for RFC 6979 nonces).
    private let scalar: SecureBytes
    /// The legacy `EC_KEY` view that `ECDSA_do_sign(_ex)` needs.
    private let legacy: LegacyECKey
    /// The matching public key.
    package let publicKey: PublicKey

    private init(key: EVPKey, context: String?) throws(CryptoError) {
        try key.requireP256(context: context, what: "the private key")
        self.key = key
        var priv: OpaquePointer? = nil  // BIGNUM *
        defer { BN_clear_free(priv) }
        guard EVP_PKEY_get_bn_param(key.pointer, OSSL_PKEY_PARAM_PRIV_KEY, &priv) == 1, let priv else {
            throw CryptoError.openSSL(
                .invalidKey, "the key has no private part (is it a public key?)", context: context)
        }
        let scalar = SecureBytes(zeroedCount: 32)
        let written = scalar.withUnsafeMutableBytes { buffer in
            BN_bn2binpad(priv, buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), 32)
        }
        guard written == 32, scalar.withUnsafeBytes({ P256Curve.isValidScalar($0) }) else {
            throw CryptoError.plain(.invalidKey, "the private scalar is not in [1, n-1]", context: context)
        }
        self.scalar = scalar
        guard let ec = cos_evp_pkey_get1_ec_key(key.pointer) else {
            throw CryptoError.openSSL(.internalError, "cannot get the EC_KEY of the private key", context: context)
        }
        self.legacy = LegacyECKey(takingOwnershipOf: ec)
        guard let publicPointer = EVPKey.sharing(key.pointer) else {
            throw CryptoError.openSSL(.internalError, "cannot share the key", context: context)
        }
        self.publicKey = try PublicKey(key: publicPointer, context: context)
        OpenSSLErrorQueue.clear()
    }

    /// Reads a private key file (PEM or DER; see ``init(encoded:passphrase:source:)``).
    /// The file's bytes are held in cleansed storage.
    package convenience init(contentsOfFile path: String, passphrase: Passphrase? = nil) throws(CryptoError) {
        let bytes = try SecureBytes.contentsOfFile(path)
        try self.init(secureEncoded: bytes, passphrase: passphrase, source: path)
    }

    /// Reads a P-256 private key: PEM or DER; PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`)
    /// or encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`, needs `passphrase`). Keys on other
    /// curves or of other types are refused, naming what they are.
    /// - Parameters:
    ///   - encoded: the key bytes (your copy; clear it yourself if it matters).
    ///   - passphrase: for encrypted keys. Never prompted for on a terminal.
    ///   - source: a file name or field for error messages.
    package convenience init(encoded: [UInt8], passphrase: Passphrase? = nil, source: String? = nil) throws(CryptoError)
    {
        try self.init(secureEncoded: SecureBytes(copying: encoded), passphrase: passphrase, source: source)
    }

    private convenience init(secureEncoded bytes: SecureBytes, passphrase: Passphrase?, source: String?)
        throws(CryptoError)
    {
        let pkey = try bytes.withUnsafeBytes { raw throws(CryptoError) in
            try PrivateKeyDecoder.decode(raw, passphrase: passphrase, source: source)
        }
        try self.init(key: EVPKey(takingOwnershipOf: pkey), context: source)
    }

    /// A key from its 32-byte big-endian private scalar, which must be in [1, n-1].
    package convenience init(rawScalar: [UInt8]) throws(CryptoError) {
        guard rawScalar.count == 32 else {
            throw CryptoError.plain(.invalidKey, "a P-256 private scalar is 32 bytes, got \(rawScalar.count)")
        }
        guard P256Curve.isValidScalar(rawScalar) else {
            throw CryptoError.plain(.invalidKey, "the private scalar is not in [1, n-1]")
        }
        // SEC1 ECPrivateKey { version 1, privateKey, [0] prime256v1 }; OpenSSL derives the public key.
        let prefix: [UInt8] = [0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20]
        let suffix: [UInt8] = [0xA0, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]
        let der = SecureBytes(zeroedCount: prefix.count + 32 + suffix.count)
        der.withUnsafeMutableBytes { out in
            out.copyBytes(from: prefix)
            UnsafeMutableRawBufferPointer(rebasing: out[prefix.count..<(prefix.count + 32)]).copyBytes(from: rawScalar)
            UnsafeMutableRawBufferPointer(rebasing: out[(prefix.count + 32)...]).copyBytes(from: suffix)
        }
        try self.init(secureEncoded: der, passphrase: nil, source: "raw scalar")
    }

    /// A fresh random P-256 key.
    package static func generate() throws(CryptoError) -> SigningKey {
        OpenSSLErrorQueue.clear()
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw CryptoError.openSSL(.internalError, "cannot create an EC key generation context")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var pkey: OpaquePointer? = nil
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_group_name(context, "prime256v1") == 1,
            EVP_PKEY_generate(context, &pkey) == 1, let pkey
        else {
            throw CryptoError.openSSL(.internalError, "P-256 key generation failed")
        }
        return try SigningKey(key: EVPKey(takingOwnershipOf: pkey), context: "generated key")
    }

    /// The key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    /// It is written through a secure-memory BIO, but the returned `String` is the caller's to
    /// protect: Swift cannot clear it.
    package func pkcs8PEM() throws(CryptoError) -> String {
        OpenSSLErrorQueue.clear()
        guard let pem = writtenToBIO({ bio in PEM_write_bio_PrivateKey(bio, key.pointer, nil, nil, 0, nil, nil) == 1 })
        else {
            throw CryptoError.openSSL(.internalError, "cannot write the key as PKCS#8 PEM")
        }
        return pem
    }

    // MARK: Signing

    /// Signs a SHA-256 digest (32 bytes) with a random nonce: the fast path.
    package func signature(forDigest digest: [UInt8]) throws(CryptoError) -> ECDSASignature {
        try Self.requireSHA256Digest(digest)
        return try randomNonceSignature(digest: digest)
    }

    /// Signs a SHA-256 digest (32 bytes) with the RFC 6979 deterministic nonce (HMAC-SHA256 DRBG):
    /// the same key and digest always give the same signature.
    package func deterministicSignature(forDigest digest: [UInt8]) throws(CryptoError) -> ECDSASignature {
        try Self.requireSHA256Digest(digest)
        return try deterministicSignature(digest: digest, hash: .sha256)
    }

    /// Hashes `message` with SHA-256 and signs with a random nonce.
    package func signature(for message: [UInt8]) throws(CryptoError) -> ECDSASignature {
        try randomNonceSignature(digest: SHA256.hash(message))
    }

    /// Hashes `message` with SHA-256 and signs with the RFC 6979 nonce.
    package func deterministicSignature(for message: [UInt8]) throws(CryptoError) -> ECDSASignature {
        try deterministicSignature(digest: SHA256.hash(message), hash: .sha256)
    }

    private static func requireSHA256Digest(_ digest: [UInt8]) throws(CryptoError) {
        guard digest.count == SHA256.byteCount else {
            throw CryptoError.plain(.invalidDigest, "a SHA-256 digest is 32 bytes, got \(digest.count)")
        }
    }

    /// ECDSA with a random nonce: `ECDSA_do_sign` on the legacy key, the code `EVP_PKEY_sign` runs
    /// for an EC key, without the provider dispatch, the context pool and the DER round trip.
    private func randomNonceSignature(digest: [UInt8]) throws(CryptoError) -> ECDSASignature {
        var raw = [UInt8](repeating: 0, count: 64)
        let ok = raw.withUnsafeMutableBufferPointer { out in
            digest.withUnsafeBufferPointer { tbs in
                cos_ecdsa_sign_raw(tbs.baseAddress, Int32(tbs.count), legacy.pointer, out.baseAddress)
            }
        }
        guard ok == 1 else { throw CryptoError.openSSL(.signingFailed, "ECDSA_do_sign failed") }
        let r = Array(raw[0..<32])
        let s = Array(raw[32..<64])
        // OpenSSL only returns r and s in [1, n-1]; checked anyway, as the DER reader did.
        guard P256Curve.isValidScalar(r), P256Curve.isValidScalar(s) else {
            throw CryptoError.plain(.signingFailed, "ECDSA_do_sign returned r or s out of range")
        }
        return ECDSASignature(validatedR: r, s: s)
    }

    /// RFC 6979 signature of a digest produced by `hash`; the DRBG uses HMAC with the same hash.
    package func deterministicSignature(digest: [UInt8], hash: HashAlgorithm) throws(CryptoError) -> ECDSASignature {
        let curve = P256Curve.shared
        guard let group = curve.group, let order = curve.order, let orderMinusTwo = curve.orderMinusTwo else {
            throw CryptoError.openSSL(.internalError, "P-256 group unavailable")
        }
        guard let bn = BN_CTX_secure_new() else {
            throw CryptoError.openSSL(.internalError, "BN_CTX_secure_new failed")
        }
        defer { BN_CTX_free(bn) }
        // The order's Montgomery context, computed once with the group (nil: BN computes one per call).
        let orderMontgomery = EC_GROUP_get_mont_data(group)
        var result: ECDSASignature? = nil
        try scalar.withUnsafeBytes { x throws(CryptoError) in
            try RFC6979.generateNonces(privateKey: x, digest: digest, hash: hash) { k throws(CryptoError) -> Bool in
                result = try signWithNonce(
                    k, digest: digest, group: group, order: order,
                    orderMinusTwo: orderMinusTwo, orderMontgomery: orderMontgomery, bn: bn)
                return result != nil
            }
        }
        guard let result else { throw CryptoError.openSSL(.signingFailed, "no usable RFC 6979 nonce") }
        return result
    }

    /// s = k^-1 (z + r·x) with r = (k·G).x mod n, via `ECDSA_do_sign_ex`. Nil when this k gives
    /// r = 0 (the caller then draws the next RFC 6979 candidate, as §3.2 step h.3 says).
    private func signWithNonce(
        _ k: UnsafeRawBufferPointer, digest: [UInt8], group: OpaquePointer, order: OpaquePointer,
        orderMinusTwo: OpaquePointer, orderMontgomery: OpaquePointer?, bn: OpaquePointer
    ) throws(CryptoError) -> ECDSASignature? {
        // The bignums come from the (secure) BN_CTX's pool: no allocation per candidate once warm.
        BN_CTX_start(bn)
        defer { BN_CTX_end(bn) }  // the pool's bignums are cleared when the context is freed
        guard let kBN = BN_CTX_get(bn), let x = BN_CTX_get(bn), let r = BN_CTX_get(bn),
            let kInverse = BN_CTX_get(bn)
        else {
            throw CryptoError.openSSL(.internalError, "BN_CTX_get failed")
        }
        defer {
            BN_clear(kBN)
            BN_clear(x)
            BN_clear(kInverse)
        }
        BN_set_flags(kBN, BN_FLG_CONSTTIME)
        guard BN_bin2bn(k.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(k.count), kBN) != nil else {
            throw CryptoError.openSSL(.internalError, "BN_bin2bn failed")
        }
        guard let point = EC_POINT_new(group) else { throw CryptoError.openSSL(.internalError, "EC_POINT_new failed") }
        defer { EC_POINT_clear_free(point) }
        BN_set_flags(kInverse, BN_FLG_CONSTTIME)
        guard EC_POINT_mul(group, point, kBN, nil, nil, bn) == 1,
            EC_POINT_get_affine_coordinates(group, point, x, nil, bn) == 1,
            BN_nnmod(r, x, order, bn) == 1,
            // k^-1 = k^(n-2) mod n (Fermat; n is prime), constant time, with the group's Montgomery
            // context for n (building one per call was a fifth of the cost).
            BN_mod_exp_mont_consttime(kInverse, kBN, orderMinusTwo, order, bn, orderMontgomery) == 1
        else {
            throw CryptoError.openSSL(.signingFailed, "computing r and k^-1 failed")
        }
        if BN_is_zero(r) == 1 { return nil }
        let signature = digest.withUnsafeBufferPointer { d in
            cos_ecdsa_do_sign_ex(d.baseAddress, Int32(d.count), kInverse, r, legacy.pointer)
        }
        guard let signature else {
            // Also s = 0 (probability ~2^-256), which OpenSSL reports as "need new setup values";
            // surfaced as an error rather than retried.
            throw CryptoError.openSSL(.signingFailed, "ECDSA_do_sign_ex failed")
        }
        defer { ECDSA_SIG_free(signature) }
        var raw = [UInt8](repeating: 0, count: 64)
        guard raw.withUnsafeMutableBufferPointer({ cos_ecdsa_sig_raw(signature, $0.baseAddress) }) == 1 else {
            throw CryptoError.openSSL(.signingFailed, "cannot read the signature")
        }
        let rOut = Array(raw[0..<32])
        let sOut = Array(raw[32..<64])
        guard P256Curve.isValidScalar(rOut), P256Curve.isValidScalar(sOut) else { return nil }
        return ECDSASignature(validatedR: rOut, s: sOut)
    }

    /// The RFC 6979 nonce k this key uses for `digest` (32 bytes). For known-answer tests only.
    package func rfc6979Nonce(digest: [UInt8], hash: HashAlgorithm) throws(CryptoError) -> [UInt8] {
        var nonce: [UInt8] = []
        try scalar.withUnsafeBytes { x throws(CryptoError) in
            try RFC6979.generateNonces(privateKey: x, digest: digest, hash: hash) { k in
                nonce = Array(k)
                return true
            }
        }
        return nonce
    }

    package var description: String { "SigningKey(P-256, public \(hexString(publicKey.uncompressedPoint)))" }
}

/// Owns an `EC_KEY` reference (from `EVP_PKEY_get1_EC_KEY`) and frees it in `deinit`.
/// Only read after construction (`ECDSA_do_sign_ex` does not modify the key when k^-1 and r are
/// supplied), hence `@unchecked Sendable`.
final class LegacyECKey {
    let pointer: OpaquePointer  // EC_KEY *
    init(takingOwnershipOf pointer: OpaquePointer) { self.pointer = pointer }
    deinit { cos_ec_key_free(pointer) }
}

// Sound: see the type's documentation.
extension LegacyECKey: @unchecked Sendable {}

/// Decoding private keys from PEM or DER, never prompting for a passphrase.
enum PrivateKeyDecoder {
    /// Copies the passphrase (userdata: an unretained `Passphrase`, or nil) into OpenSSL's buffer.
    /// Returning -1 without a passphrase stops OpenSSL from prompting on the terminal.
    static let passphraseCallback:
        @convention(c) (
            UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?
        ) -> Int32 = { buffer, size, _, userdata in
            guard let buffer, let userdata else { return -1 }
            let passphrase = Unmanaged<Passphrase>.fromOpaque(userdata).takeUnretainedValue()
            return passphrase.secret.withUnsafeBytes { bytes -> Int32 in
                guard bytes.count <= Int(size), let base = bytes.baseAddress else { return bytes.count == 0 ? 0 : -1 }
                UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: bytes.count)
                return Int32(bytes.count)
            }
        }

    static func decode(
        _ bytes: UnsafeRawBufferPointer, passphrase: Passphrase?, source: String?
    ) throws(CryptoError) -> OpaquePointer {
        OpenSSLErrorQueue.clear()
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
            throw CryptoError.plain(.invalidKey, "the key is empty", context: source)
        }
        let label = PEMText.label(
            in: bytes, preferring: ["PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"])
        let userdata = passphrase.map { Unmanaged.passUnretained($0).toOpaque() }
        return try withExtendedLifetime(passphrase) { () throws(CryptoError) -> OpaquePointer in
            if let label {
                switch label {
                case "PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
                    break
                case "CERTIFICATE", "PUBLIC KEY", "X509 CERTIFICATE", "TRUSTED CERTIFICATE":
                    throw CryptoError.plain(.invalidKey, "this is a \(label), not a private key", context: source)
                case "RSA PRIVATE KEY", "DSA PRIVATE KEY":
                    break  // parsed below, then refused with its type
                default:
                    throw CryptoError.plain(.invalidKey, "PEM label '\(label)' is not a private key", context: source)
                }
                let encrypted =
                    label == "ENCRYPTED PRIVATE KEY"
                    || PEMText.firstIndex(of: "Proc-Type: 4,ENCRYPTED", in: bytes) != nil
                if encrypted, passphrase == nil {
                    throw CryptoError.plain(
                        .passphraseRequired, "the private key is encrypted; give its passphrase", context: source)
                }
                // The usual form first, through a decoder narrowed to it; anything else, and every failure,
                // through OpenSSL's general reader, which names what it found.
                if label == "PRIVATE KEY", let pkey = cos_decode_pem_pkcs8_ec_private_key(base, bytes.count) {
                    OpenSSLErrorQueue.clear()
                    return pkey
                }
                OpenSSLErrorQueue.clear()
                let pkey =
                    withMemoryBIO(bytes) { bio in
                        PEM_read_bio_PrivateKey(bio, nil, passphraseCallback, userdata)
                    } ?? nil
                guard let pkey else {
                    if encrypted { throw wrongPassphrase(source) }
                    throw CryptoError.openSSL(.invalidKey, "cannot decode the PEM \(label)", context: source)
                }
                return pkey
            }
            // DER. EncryptedPrivateKeyInfo (X509_SIG) first, then PKCS#8 / SEC1 and other types.
            var cursor: UnsafePointer<UInt8>? = UnsafePointer(base)
            if let sig = d2i_X509_SIG(nil, &cursor, bytes.count) {
                X509_SIG_free(sig)
                if cursor == UnsafePointer(base + bytes.count) {
                    guard passphrase != nil else {
                        throw CryptoError.plain(
                            .passphraseRequired, "the private key is encrypted; give its passphrase", context: source)
                    }
                    let pkey =
                        withMemoryBIO(bytes) { bio in
                            d2i_PKCS8PrivateKey_bio(bio, nil, passphraseCallback, userdata)
                        } ?? nil
                    guard let pkey else { throw wrongPassphrase(source) }
                    return pkey
                }
            }
            OpenSSLErrorQueue.clear()
            cursor = UnsafePointer(base)
            if let pkey = d2i_AutoPrivateKey(nil, &cursor, bytes.count) {
                guard cursor == UnsafePointer(base + bytes.count) else {
                    EVP_PKEY_free(pkey)
                    throw CryptoError.plain(.invalidKey, "trailing bytes after the DER private key", context: source)
                }
                OpenSSLErrorQueue.clear()
                return pkey
            }
            // SEC1 without the optional public key is sometimes not auto-detected; try EC explicitly.
            cursor = UnsafePointer(base)
            if let pkey = d2i_PrivateKey(EVP_PKEY_EC, nil, &cursor, bytes.count) {
                guard cursor == UnsafePointer(base + bytes.count) else {
                    EVP_PKEY_free(pkey)
                    throw CryptoError.plain(.invalidKey, "trailing bytes after the DER private key", context: source)
                }
                OpenSSLErrorQueue.clear()
                return pkey
            }
            throw CryptoError.openSSL(
                .invalidKey, "not a PEM or DER private key (PKCS#8, SEC1 or encrypted PKCS#8)", context: source)
        }
    }

    private static func wrongPassphrase(_ source: String?) -> CryptoError {
        CryptoError.openSSL(
            .wrongPassphrase, "the passphrase does not decrypt the private key (or the key is corrupt)", context: source
        )
    }
}
