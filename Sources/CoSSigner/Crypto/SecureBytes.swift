internal import COpenSSL

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Heap storage for secret bytes (private scalars, RFC 6979 state, key files, passphrases),
/// overwritten with `OPENSSL_cleanse` before it is released.
///
/// The buffer is written only by the code that creates it, before it is shared; afterwards it
/// is only read. That is why the `@unchecked Sendable` below is sound.
final class SecureBytes {
    /// Number of bytes in use.
    let count: Int
    private let storage: UnsafeMutableRawPointer

    /// `count` zero bytes.
    init(zeroedCount count: Int) {
        self.count = count
        storage = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 1), alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: Swift.max(count, 1))
    }

    /// A copy of `bytes`. The caller's copy is the caller's to clear.
    convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(zeroedCount: bytes.count)
        if let base = bytes.baseAddress, bytes.count > 0 {
            storage.copyMemory(from: base, byteCount: bytes.count)
        }
    }

    /// A copy of `bytes`.
    convenience init(copying bytes: [UInt8]) {
        self.init(zeroedCount: bytes.count)
        bytes.withUnsafeBytes { raw in
            if let base = raw.baseAddress, raw.count > 0 { storage.copyMemory(from: base, byteCount: raw.count) }
        }
    }

    deinit {
        cos_openssl_cleanse(storage, Swift.max(count, 1))
        storage.deallocate()
    }

    func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: storage, count: count))
    }

    /// Mutable access. Only for the creator, before the instance is shared.
    func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: storage, count: count))
    }

    /// Reads a whole file into secure storage, refusing files larger than `limit`.
    static func contentsOfFile(_ path: String, limit: Int = 1 << 20) throws(CryptoError) -> SecureBytes {
        // Opened without blocking and refused unless it is a regular file (Files.openRegularFile).
        let fd: Int32
        do {
            fd = try Files.openRegularFile(path, failureClass: .keyOrCertificate).fd
        } catch {
            throw CryptoError.plain(.unreadableFile, error.reason, context: path)
        }
        defer { close(fd) }
        // Read in chunks into a growing secure buffer, so no plain copy of the file remains.
        var buffer = SecureBytes(zeroedCount: 4096)
        var used = 0
        while true {
            if used == buffer.count {
                guard buffer.count < limit else {
                    throw CryptoError.plain(.unreadableFile, "file is larger than \(limit) bytes", context: path)
                }
                let bigger = SecureBytes(zeroedCount: Swift.min(buffer.count * 2, limit))
                bigger.storage.copyMemory(from: buffer.storage, byteCount: used)
                buffer = bigger
            }
            let n = read(fd, buffer.storage + used, buffer.count - used)
            if n < 0 {
                if errno == EINTR { continue }
                throw CryptoError.plain(
                    .unreadableFile, "cannot read: \(String(cString: strerror(errno)))", context: path)
            }
            if n == 0 { break }
            used += n
        }
        let result = SecureBytes(zeroedCount: used)
        result.storage.copyMemory(from: buffer.storage, byteCount: used)
        return result
    }
}

// Sound: see the type's documentation (written only before it is shared).
extension SecureBytes: @unchecked Sendable {}

/// A passphrase for an encrypted private key.
///
/// The bytes are kept in storage that is cleansed with `OPENSSL_cleanse` when the passphrase is
/// released, and are never printed: ``description`` is `<passphrase>`. (A `String` or `[UInt8]`
/// handed to the initialisers is the caller's copy; Swift cannot clear it.)
package final class Passphrase: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    // @unchecked Sendable: the storage is written once in init and only read afterwards.
    let secret: SecureBytes

    /// A passphrase of raw bytes (OpenSSL treats passphrases as bytes).
    package init(bytes: [UInt8]) {
        secret = SecureBytes(copying: bytes)
    }

    /// A passphrase from the UTF-8 bytes of `string`.
    package convenience init(_ string: String) {
        self.init(bytes: Array(string.utf8))
    }

    /// Number of bytes.
    package var count: Int { secret.count }

    package var description: String { "<passphrase>" }
    package var debugDescription: String { "<passphrase>" }
}
