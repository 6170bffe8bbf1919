#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a token's user PIN comes from: an environment variable or a file. Never the command line, never the
/// key's URI (`pin-value` is refused there).
///
/// In the CLI: `--pin-env NAME` / `--pin-file FILE`; in a parties registry credential: `pin_env` / `pin_file`.
package enum PINSource: Sendable, Equatable, CustomStringConvertible {
    /// The value of an environment variable.
    case environment(String)
    /// The first line of a file (a trailing LF or CRLF is not part of the PIN). The file must not be
    /// accessible to its group or others, as for private key files (``KeyFilePolicy``).
    case file(String)

    /// Reads the PIN into cleansed storage.
    /// - Parameters:
    ///   - policy: how a PIN file's permissions are checked (``KeyFilePolicy/strict`` refuses group or world
    ///     access; `--allow-insecure-key-file` accepts it).
    ///   - uri: the key's URI, for messages.
    /// - Throws: ``PKCS11Error`` with code ``PKCS11Error/Code/pinUnavailable`` naming the variable or file,
    ///   never the PIN.
    func load(policy: KeyFilePolicy, uri: String) throws(PKCS11Error) -> PKCS11PIN {
        func fail(_ reason: String) -> PKCS11Error { PKCS11Error(code: .pinUnavailable, reason: reason, uri: uri) }
        switch self {
        case .environment(let name):
            guard let value = getenv(name) else { throw fail("the PIN environment variable \(name) is not set") }
            let count = strlen(value)
            guard count > 0 else { throw fail("the PIN environment variable \(name) is empty") }
            guard count <= PKCS11PIN.maxBytes else {
                throw fail("the PIN environment variable \(name) is longer than \(PKCS11PIN.maxBytes) bytes")
            }
            return PKCS11PIN(secret: SecureBytes(copying: UnsafeRawBufferPointer(start: value, count: count)))
        case .file(let path):
            do throws(KeyFilePermissionError) {
                try policy.check(path, kind: .pinFile)
            } catch {
                throw fail(error.description)
            }
            let bytes: SecureBytes
            do throws(CryptoError) {
                bytes = try SecureBytes.contentsOfFile(path, limit: 4096)
            } catch {
                throw fail("cannot read the PIN file \(path): \(error.reason)")
            }
            let line = bytes.withUnsafeBytes { raw -> SecureBytes in
                var end = raw.firstIndex(of: 0x0A) ?? raw.count
                if end > 0, raw[end - 1] == 0x0D { end -= 1 }
                return SecureBytes(copying: UnsafeRawBufferPointer(rebasing: raw[..<end]))
            }
            guard line.count > 0 else { throw fail("the PIN file \(path) is empty") }
            guard line.count <= PKCS11PIN.maxBytes else {
                throw fail("the PIN in \(path) is longer than \(PKCS11PIN.maxBytes) bytes")
            }
            return PKCS11PIN(secret: line)
        }
    }

    package var description: String {
        switch self {
        case .environment(let name): "environment variable \(name)"
        case .file(let path): "file \(path)"
        }
    }
}

/// A token's user PIN, held in storage cleansed on release (kept for as long as the key, to log in again when
/// the token's sessions were lost). Never printed: ``description`` is `<PIN>`.
final class PKCS11PIN: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    // @unchecked Sendable: the storage is written once in init and only read afterwards.
    let secret: SecureBytes

    /// The longest PIN accepted (PKCS#11 tokens take far shorter ones; this bounds what is read).
    static let maxBytes = 256

    init(secret: SecureBytes) { self.secret = secret }

    var count: Int { secret.count }

    /// True when both PINs are the same bytes (compared in time independent of where they differ).
    func isSame(as other: PKCS11PIN) -> Bool {
        guard count == other.count else { return false }
        return secret.withUnsafeBytes { a in
            other.secret.withUnsafeBytes { b in
                var difference: UInt8 = 0
                for i in 0..<a.count { difference |= a[i] ^ b[i] }
                return difference == 0
            }
        }
    }

    var description: String { "<PIN>" }
    var debugDescription: String { "<PIN>" }
}
