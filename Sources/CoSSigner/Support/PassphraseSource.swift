#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the passphrase of an encrypted private key comes from. Never the command line.
public enum PassphraseSource: Sendable, Equatable, CustomStringConvertible {
    /// The value of an environment variable.
    case environment(String)
    /// The first line of a file (a trailing LF or CRLF is not part of the passphrase).
    case file(String)

    /// Reads the passphrase.
    /// - Parameter keyFilePolicy: the permission rule for a passphrase file: like a private key file, it must be
    ///   readable by its owner only (``KeyFilePolicy/strict``, the default) unless the policy allows otherwise
    ///   (`--allow-insecure-key-file`). It must be a regular file, opened without blocking.
    /// - Throws: ``FileError`` (key or certificate class, exit 3) naming the variable or file, never the secret;
    ///   ``KeyFilePermissionError`` (exit 3) for a passphrase file its group or others may access.
    package func load(keyFilePolicy: KeyFilePolicy = .strict) throws -> Passphrase {
        switch self {
        case .environment(let name):
            guard let value = getenv(name) else {
                throw FileError(path: "$\(name)", reason: "the passphrase environment variable is not set", failureClass: .keyOrCertificate)
            }
            let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(value).assumingMemoryBound(to: UInt8.self), count: strlen(value)))
            return Passphrase(bytes: bytes)
        case .file(let path):
            let opened: (fd: Int32, info: stat)
            do {
                opened = try Files.openRegularFile(path, failureClass: .keyOrCertificate)
            } catch {
                throw FileError(path: path, reason: "cannot read the passphrase file: \(error.reason)", failureClass: .keyOrCertificate)
            }
            defer { close(opened.fd) }
            // The permissions of the file opened, not of whatever the path names a moment later.
            try keyFilePolicy.check(path, info: opened.info, kind: .passphraseFile)
            let limit = 4096
            var bytes = [UInt8](repeating: 0, count: limit + 1)
            var total = 0
            while total < bytes.count {
                let n = bytes.withUnsafeMutableBytes { raw -> Int in
                    guard let base = raw.baseAddress else { return 0 }
                    return read(opened.fd, base + total, raw.count - total)
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    let reason = errnoText()
                    zero(&bytes)
                    throw FileError(path: path, reason: "cannot read the passphrase file: read failed: \(reason)", failureClass: .keyOrCertificate)
                }
                if n == 0 { break }
                total += n
            }
            guard total <= limit else {
                zero(&bytes)
                throw FileError(path: path, reason: "cannot read the passphrase file: it is larger than \(limit) bytes", failureClass: .keyOrCertificate)
            }
            var end = bytes[..<total].firstIndex(of: 0x0A) ?? total
            if end > 0, bytes[end - 1] == 0x0D { end -= 1 }
            let passphrase = Passphrase(bytes: Array(bytes[..<end]))
            zero(&bytes)
            return passphrase
        }
    }

    public var description: String {
        switch self {
        case .environment(let name): "environment variable \(name)"
        case .file(let path): "file \(path)"
        }
    }
}

/// Overwrites `bytes` with zeros (a copy of a secret that is no longer needed).
private func zero(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { raw in
        if let base = raw.baseAddress { memset(base, 0, raw.count) }
    }
}
