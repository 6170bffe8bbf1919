#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a private key file may be readable or writable by its group or by others.
///
/// As ssh does for its identity files, a private key file whose mode grants any permission to the group or
/// to others (`mode & 0o077 != 0`) is refused by default: anyone else on the machine who can read it can
/// sign as the Supplier Party. The check applies to regular files; a pipe or terminal (`/dev/stdin`, process
/// substitution) has no such mode to check.
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

    /// What a checked file holds: the rule is the same, the message names it.
    public enum FileKind: Sendable, Equatable {
        /// A private key file.
        case privateKey
        /// A file holding a PKCS#11 token's PIN (`--pin-file`, a registry's `pin_file`).
        case pinFile
        /// A file holding a database password (`--counter-store-password-file`).
        case passwordFile
    }

    /// Checks the permissions of the private key file (or PIN file) at `path`.
    /// - Throws: ``KeyFilePermissionError`` (key or certificate class, exit 3) naming the file, its mode and
    ///   the fix, when the file is accessible to group or others and this policy does not allow it.
    ///   A file that cannot be examined is left to the key loader, which reports why it cannot be read.
    public func check(_ path: String, kind: FileKind = .privateKey) throws(KeyFilePermissionError) {
        guard !allowInsecurePermissions else { return }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return }
        let permissions = UInt32(info.st_mode) & 0o777
        if permissions & 0o077 != 0 {
            throw KeyFilePermissionError(path: path, mode: permissions, kind: kind)
        }
    }
}

/// A private key file that its group or others may read or write, refused by ``KeyFilePolicy/strict``.
public struct KeyFilePermissionError: ClassifiedError, Equatable {
    /// The key file.
    public let path: String
    /// Its permission bits (`0o777` part of the mode).
    public let mode: UInt32
    /// What the file holds.
    public let kind: KeyFilePolicy.FileKind

    public init(path: String, mode: UInt32, kind: KeyFilePolicy.FileKind = .privateKey) {
        self.path = path
        self.mode = mode
        self.kind = kind
    }

    public var failureClass: FailureClass { .keyOrCertificate }

    public var description: String {
        let octal = String(mode, radix: 8)
        let what = switch kind {
        case .privateKey: "private key file"
        case .pinFile: "PIN file"
        case .passwordFile: "password file"
        }
        return "\(path): the \(what) is accessible by group or others (mode 0\(octal)); "
            + "restrict it with 'chmod 600 \(path)', or pass --allow-insecure-key-file to accept it"
    }
}
