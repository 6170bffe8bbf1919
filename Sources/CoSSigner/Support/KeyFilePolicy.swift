#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a private key file may be readable or writable by its group or by others.
///
/// As ssh does for its identity files, a private key file whose mode grants any permission to the group or
/// to others (`mode & 0o077 != 0`) is refused by default: anyone else on the machine who can read it can
/// sign as the Supplier Party. A passphrase file (`--passphrase-file`, a registry's `passphrase_file`) follows the
/// same rule. Key and passphrase files must be regular files (``Files/openRegularFile(_:failureClass:)``).
public struct KeyFilePolicy: Sendable, Equatable {
    /// Accept private key files that the group or others may access (`--allow-insecure-key-file`).
    public var allowInsecurePermissions: Bool

    public init(allowInsecurePermissions: Bool = false) {
        self.allowInsecurePermissions = allowInsecurePermissions
    }

    /// Refuse group- or world-accessible private key files (the default).
    public static let strict = KeyFilePolicy()
    /// Accept them.
    public static let allowInsecure = KeyFilePolicy(allowInsecurePermissions: true)

    /// Checks the permissions of the private key file at `path`.
    /// - Throws: ``KeyFilePermissionError`` (key or certificate class, exit 3) naming the file, its mode and
    ///   the fix, when the file is accessible to group or others and this policy does not allow it.
    ///   A file that cannot be examined is left to the key loader, which reports why it cannot be read.
    public func check(_ path: String) throws(KeyFilePermissionError) {
        try check(path, secret: .privateKey)
    }

    /// Checks the permissions of a file holding a secret (a private key or a passphrase) at `path`, as
    /// ``check(_:)`` does for private keys.
    public func check(_ path: String, secret: KeyFilePermissionError.Secret) throws(KeyFilePermissionError) {
        guard !allowInsecurePermissions else { return }
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        try check(path, info: info, secret: secret)
    }

    /// Checks the status of an opened secret file (no second look-up of the path).
    func check(_ path: String, info: stat, secret: KeyFilePermissionError.Secret) throws(KeyFilePermissionError) {
        guard !allowInsecurePermissions, (info.st_mode & S_IFMT) == S_IFREG else { return }
        let permissions = UInt32(info.st_mode) & 0o777
        if permissions & 0o077 != 0 {
            throw KeyFilePermissionError(path: path, mode: permissions, secret: secret)
        }
    }
}

/// A private key file (or passphrase file) that its group or others may read or write, refused by
/// ``KeyFilePolicy/strict``.
public struct KeyFilePermissionError: ClassifiedError, Equatable {
    /// What the file holds.
    public enum Secret: String, Sendable {
        case privateKey = "private key file"
        case passphrase = "passphrase file"
    }

    /// The file.
    public let path: String
    /// Its permission bits (`0o777` part of the mode).
    public let mode: UInt32
    /// What it holds.
    public let secret: Secret

    public init(path: String, mode: UInt32, secret: Secret = .privateKey) {
        self.path = path
        self.mode = mode
        self.secret = secret
    }

    public var failureClass: FailureClass { .keyOrCertificate }

    public var description: String {
        let octal = String(mode, radix: 8)
        return "\(path): the \(secret.rawValue) is accessible by group or others (mode 0\(octal)); "
            + "restrict it with 'chmod 600 \(path)', or pass --allow-insecure-key-file to accept it"
    }
}
