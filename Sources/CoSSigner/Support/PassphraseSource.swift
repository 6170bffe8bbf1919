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
    /// - Throws: ``FileError`` (key or certificate class) naming the variable or file, never the secret.
    public func load() throws(FileError) -> Passphrase {
        switch self {
        case .environment(let name):
            guard let value = getenv(name) else {
                throw FileError(path: "$\(name)", reason: "the passphrase environment variable is not set", failureClass: .keyOrCertificate)
            }
            let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(value).assumingMemoryBound(to: UInt8.self), count: strlen(value)))
            return Passphrase(bytes: bytes)
        case .file(let path):
            var bytes: [UInt8]
            do {
                bytes = try Files.read(path, maxBytes: 4096)
            } catch {
                throw FileError(path: path, reason: "cannot read the passphrase file: \(error.reason)", failureClass: .keyOrCertificate)
            }
            var end = bytes.firstIndex(of: 0x0A) ?? bytes.count
            if end > 0, bytes[end - 1] == 0x0D { end -= 1 }
            let passphrase = Passphrase(bytes: Array(bytes[..<end]))
            bytes.withUnsafeMutableBytes { raw in
                if let base = raw.baseAddress { memset(base, 0, raw.count) }
            }
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
