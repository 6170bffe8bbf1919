#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a file holding a secret (a private key, a key's passphrase, a token's PIN, a database password) may be
/// readable or writable by its group or by others.
///
/// As ssh does for its identity files, such a file whose mode grants any permission to the group or to others
/// (`mode & 0o077 != 0`) is refused by default: anyone else on the machine who can read it can sign as the Supplier
/// Party. The check applies to regular files; a pipe or terminal has no such mode to check.
public struct KeyFilePolicy: Sendable, Equatable {
    /// Accept secret files that the group or others may access (`--allow-insecure-key-file`).
    public var allowInsecurePermissions: Bool

    /// A policy; the default refuses secret files the group or others may access.
    public init(allowInsecurePermissions: Bool = false) {
        self.allowInsecurePermissions = allowInsecurePermissions
    }

    /// Refuse group- or world-accessible secret files (the default).
    public static let strict = KeyFilePolicy()
    /// Accept them.
    public static let allowInsecure = KeyFilePolicy(allowInsecurePermissions: true)

    /// What a checked file holds: the rule is the same, the message names it.
    package enum FileKind: String, Sendable, Equatable {
        /// A private key file.
        case privateKey = "private key file"
        /// A file holding an encrypted key's passphrase (`--passphrase-file`, a registry's `passphrase_file`).
        case passphraseFile = "passphrase file"
        /// A file holding a PKCS#11 token's PIN (`--pin-file`, a registry's `pin_file`).
        case pinFile = "PIN file"
        /// A file holding a database password (`--counter-store-password-file`).
        case passwordFile = "password file"
    }

    /// Checks the permissions of the secret file at `path`.
    /// - Throws: ``KeyFilePermissionError`` (key or certificate class, exit 3) naming the file, its mode and
    ///   the fix, when the file is accessible to group or others and this policy does not allow it.
    ///   A file that cannot be examined is left to the reader, which reports why it cannot be read.
    package func check(_ path: String, kind: FileKind = .privateKey) throws(KeyFilePermissionError) {
        guard !allowInsecurePermissions else { return }
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        try check(path, info: info, kind: kind)
    }

    /// Checks the status of an opened secret file (no second look-up of the path).
    func check(_ path: String, info: stat, kind: FileKind) throws(KeyFilePermissionError) {
        guard !allowInsecurePermissions, (info.st_mode & S_IFMT) == S_IFREG else { return }
        let permissions = UInt32(info.st_mode) & 0o777
        if permissions & 0o077 != 0 {
            throw KeyFilePermissionError(path: path, mode: permissions, kind: kind)
        }
    }
}

/// A secret file (private key, passphrase, PIN or password) that its group or others may read or write, refused by
/// ``KeyFilePolicy/strict``.
package struct KeyFilePermissionError: ClassifiedError, Equatable {
    /// The file.
    package let path: String
    /// Its permission bits (`0o777` part of the mode).
    package let mode: UInt32
    /// What the file holds.
    package let kind: KeyFilePolicy.FileKind

    package init(path: String, mode: UInt32, kind: KeyFilePolicy.FileKind = .privateKey) {
        self.path = path
        self.mode = mode
        self.kind = kind
    }

    package var failureClass: FailureClass { .keyOrCertificate }

    package var description: String {
        let octal = String(mode, radix: 8)
        return "\(path): the \(kind.rawValue) is accessible by group or others (mode 0\(octal)); "
            + "restrict it with 'chmod 600 \(path)', or pass --allow-insecure-key-file to accept it"
    }
}
