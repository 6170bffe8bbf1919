internal import COpenSSL

/// SHA-256 through OpenSSL.
public enum SHA256 {
    /// The digest length in bytes.
    public static let byteCount = 32

    /// The SHA-256 digest of `bytes`.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { o in
            // SHA256() cannot fail for in-memory input; the return value is the output pointer.
            _ = COpenSSL.SHA256(
                bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count,
                o.baseAddress?.assumingMemoryBound(to: UInt8.self))
        }
        return out
    }

    /// The SHA-256 digest of a byte array.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }
}
