internal import COpenSSL
import Foundation

/// Owns one `EVP_PKEY` reference and frees it in `deinit`.
///
/// The key is never modified after construction; OpenSSL allows concurrent read-only use of
/// one `EVP_PKEY` (each operation gets its own `EVP_PKEY_CTX`), hence `@unchecked Sendable`.
final class EVPKey {
    let pointer: OpaquePointer  // EVP_PKEY *

    /// Takes ownership of `pointer` (does not increment its reference count).
    init(takingOwnershipOf pointer: OpaquePointer) { self.pointer = pointer }

    deinit { EVP_PKEY_free(pointer) }

    /// "EC", "RSA", "ED25519", ...
    var typeName: String {
        guard let name = EVP_PKEY_get0_type_name(pointer) else { return "unknown" }
        return String(cString: name)
    }

    /// The EC group name ("prime256v1", "secp384r1", ...), nil for non-EC keys.
    var groupName: String? {
        guard EVP_PKEY_get_base_id(pointer) == EVP_PKEY_EC else { return nil }
        var buffer = [CChar](repeating: 0, count: 80)
        var length = 0
        guard EVP_PKEY_get_utf8_string_param(pointer, OSSL_PKEY_PARAM_GROUP_NAME, &buffer, buffer.count, &length) == 1
        else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        return String(cCharBuffer: buffer)
    }

    /// Throws unless this is an EC key on P-256, naming what it is instead.
    func requireP256(context: String?, what: String) throws(CryptoError) {
        if EVP_PKEY_get_base_id(pointer) == EVP_PKEY_EC {
            let group = groupName ?? "an unnamed (explicit-parameter) curve"
            if group == "prime256v1" { return }
            throw CryptoError.plain(
                .unsupportedKey,
                "\(what) is an EC key on curve \(group)\(curveAlias(group)), only P-256 (prime256v1) is supported",
                context: context)
        }
        throw CryptoError.plain(
            .unsupportedKey,
            "\(what) is \(article(typeName)) \(typeName) key (\(EVP_PKEY_get_bits(pointer)) bits), only ECDSA P-256 (prime256v1) is supported",
            context: context)
    }

    /// The public point 04||X||Y (65 bytes) of an EC P-256 key.
    func uncompressedPublicPoint() throws(CryptoError) -> [UInt8] {
        var x: OpaquePointer? = nil  // BIGNUM *
        var y: OpaquePointer? = nil
        defer {
            BN_free(x)
            BN_free(y)
        }
        guard EVP_PKEY_get_bn_param(pointer, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1,
            EVP_PKEY_get_bn_param(pointer, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1, let x, let y
        else {
            throw CryptoError.openSSL(.invalidKey, "the key has no public point")
        }
        var out = [UInt8](repeating: 0, count: 65)
        out[0] = 0x04
        let ok = out.withUnsafeMutableBufferPointer { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            return BN_bn2binpad(x, base + 1, 32) == 32 && BN_bn2binpad(y, base + 33, 32) == 32
        }
        guard ok else { throw CryptoError.openSSL(.invalidKey, "public point coordinates do not fit 32 bytes") }
        return out
    }

    /// Up-refs `pointer` and wraps it.
    static func sharing(_ pointer: OpaquePointer) -> EVPKey? {
        guard EVP_PKEY_up_ref(pointer) == 1 else { return nil }
        return EVPKey(takingOwnershipOf: pointer)
    }
}

// Sound: see the type's documentation.
extension EVPKey: @unchecked Sendable {}

private func article(_ word: String) -> String {
    guard let first = word.uppercased().first else { return "a" }
    // Letters whose names start with a vowel sound when the type name is an acronym (RSA, ED25519, ...).
    return "AEFHILMNORSX".contains(first) ? "an" : "a"
}

private func curveAlias(_ group: String) -> String {
    switch group {
    case "secp384r1": " (P-384)"
    case "secp521r1": " (P-521)"
    case "secp224r1": " (P-224)"
    case "secp256k1": " (the Bitcoin curve)"
    default: ""
    }
}

/// A read-only memory BIO over `bytes` for the duration of `body`.
func withMemoryBIO<R, E: Error>(
    _ bytes: UnsafeRawBufferPointer, _ body: (OpaquePointer) throws(E) -> R
) throws(E) -> R? {
    guard let base = bytes.baseAddress, bytes.count > 0, bytes.count <= Int(Int32.max),
        let bio = BIO_new_mem_buf(base, Int32(bytes.count))
    else { return nil }
    defer { BIO_free(bio) }
    return try body(bio)
}

/// Everything written to a BIO by `body`, as text. Uses a secure-memory BIO (cleared on free)
/// because the text may be a private key.
func writtenToBIO(_ body: (OpaquePointer) -> Bool) -> String? {
    guard let bio = BIO_new(BIO_s_secmem()) else { return nil }
    defer { BIO_free(bio) }
    guard body(bio) else { return nil }
    var data: UnsafeMutablePointer<CChar>? = nil
    let length = cos_bio_get_mem_data(bio, &data)
    guard length > 0, let data else { return nil }
    return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
}

/// The message digests used here, pre-fetched once (an implicit fetch per call costs ~0.2 µs).
package enum HashAlgorithm: String, Sendable, CaseIterable {
    case sha224 = "SHA2-224"
    case sha256 = "SHA2-256"
    case sha384 = "SHA2-384"
    case sha512 = "SHA2-512"

    /// Digest length in bytes.
    var byteCount: Int {
        switch self {
        case .sha224: 28
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }

    /// Parses names such as "SHA-256", "SHA256", "sha-384", "SHA2-512".
    package init?(name: String) {
        let compact = name.uppercased().filter { $0.isLetter || $0.isNumber }
        switch compact {
        case "SHA224", "SHA2224": self = .sha224
        case "SHA256", "SHA2256": self = .sha256
        case "SHA384", "SHA2384": self = .sha384
        case "SHA512", "SHA2512": self = .sha512
        default: return nil
        }
    }

    fileprivate var md: OpaquePointer? {
        switch self {
        case .sha224: FetchedAlgorithms.shared.sha224
        case .sha256: FetchedAlgorithms.shared.sha256
        case .sha384: FetchedAlgorithms.shared.sha384
        case .sha512: FetchedAlgorithms.shared.sha512
        }
    }

    /// The name OpenSSL's HMAC takes for its `digest` parameter.
    var macDigestName: String { rawValue }

    /// The digest of `bytes`.
    package func hash(_ bytes: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard let md else { throw CryptoError.openSSL(.internalError, "\(rawValue) is not available") }
        var out = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &out, &length, md, nil)
        }
        guard ok == 1, Int(length) == byteCount else {
            throw CryptoError.openSSL(.internalError, "\(rawValue) digest failed")
        }
        return Array(out.prefix(byteCount))
    }
}

/// Algorithms fetched once per process and never freed (they live as long as the process).
final class FetchedAlgorithms {
    static let shared = FetchedAlgorithms()

    let sha224: OpaquePointer?  // EVP_MD *
    let sha256: OpaquePointer?
    let sha384: OpaquePointer?
    let sha512: OpaquePointer?
    let hmac: OpaquePointer?  // EVP_MAC *

    private init() {
        sha224 = EVP_MD_fetch(nil, "SHA2-224", nil)
        sha256 = EVP_MD_fetch(nil, "SHA2-256", nil)
        sha384 = EVP_MD_fetch(nil, "SHA2-384", nil)
        sha512 = EVP_MD_fetch(nil, "SHA2-512", nil)
        hmac = EVP_MAC_fetch(nil, "HMAC", nil)
        OpenSSLErrorQueue.clear()
    }
}

// Sound: fetched algorithm objects are immutable and OpenSSL documents them as shareable.
extension FetchedAlgorithms: @unchecked Sendable {}

/// The P-256 group and its order, created once.
final package class P256Curve {
    static let shared = P256Curve()

    /// n, big-endian, 32 bytes.
    static let orderBytes: [UInt8] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
    ]
    /// floor(n / 2), big-endian, 32 bytes: s above this is "high S".
    static let halfOrderBytes: [UInt8] = [
        0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B, 0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8,
    ]

    let group: OpaquePointer?  // EC_GROUP *
    let order: OpaquePointer?  // BIGNUM * (owned by group)
    let orderMinusTwo: OpaquePointer?  // BIGNUM *, for k^-1 = k^(n-2) mod n in constant time

    private init() {
        let group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)
        self.group = group
        let order = group.flatMap { EC_GROUP_get0_order($0) }
        self.order = order
        if let order, let copy = BN_dup(order), BN_sub_word(copy, 2) == 1 {
            orderMinusTwo = copy
        } else {
            orderMinusTwo = nil
        }
        OpenSSLErrorQueue.clear()
    }

    /// True when the 32-byte big-endian `value` is in [1, n-1].
    static package func isValidScalar(_ value: some Collection<UInt8>) -> Bool {
        guard value.count == 32, value.contains(where: { $0 != 0 }) else { return false }
        return lexicographicallyLess(value, orderBytes)
    }

    static func lexicographicallyLess(_ a: some Collection<UInt8>, _ b: [UInt8]) -> Bool {
        for (x, y) in zip(a, b) where x != y { return x < y }
        return false
    }
}

// Sound: the group and bignums are created in init and only read afterwards.
extension P256Curve: @unchecked Sendable {}

/// Lower-case hex of bytes.
package func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { hexByte($0) }.joined().lowercased()
}

/// Bytes from hex text (either case, even length), nil otherwise.
package func bytesFromHex(_ text: some StringProtocol) -> [UInt8]? {
    let utf8 = Array(text.utf8)
    guard utf8.count % 2 == 0 else { return nil }
    var out = [UInt8]()
    out.reserveCapacity(utf8.count / 2)
    var index = 0
    while index < utf8.count {
        guard let hi = hexValue(utf8[index]), let lo = hexValue(utf8[index + 1]) else { return nil }
        out.append(hi << 4 | lo)
        index += 2
    }
    return out
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` that preserves a typed error (the standard one rethrows `any Error`).
    func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = withUnsafeBytes { raw in Result { () throws(E) -> R in try body(raw) } }
        return try result.get()
    }
}
