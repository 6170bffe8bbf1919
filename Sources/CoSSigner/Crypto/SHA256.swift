internal import COpenSSL

/// SHA-256 through OpenSSL.
package enum SHA256 {
    /// The digest length in bytes.
    package static let byteCount = 32

    /// The SHA-256 digest of `bytes`.
    package static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        hash(bytes, UnsafeRawBufferPointer(start: nil, count: 0), UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// The SHA-256 digest of a byte array.
    package static func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// The SHA-256 digest of `a`, `b` and `c` concatenated (without concatenating them).
    ///
    /// Through OpenSSL's low-level SHA-256 (the block function the EVP layer also ends in): no algorithm
    /// fetch and no context allocation per call, which is most of the cost for a few kilobytes.
    static func hash(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ c: UnsafeRawBufferPointer)
        -> [UInt8]
    {
        [UInt8](unsafeUninitializedCapacity: byteCount) { out, initialized in
            cos_sha256_parts(a.baseAddress, a.count, b.baseAddress, b.count, c.baseAddress, c.count, out.baseAddress)
            initialized = byteCount
        }
    }
}
