#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Loading every certificate of a directory.
public enum CertificateDirectory {
    /// File name endings read as certificates.
    public static let extensions = [".pem", ".crt", ".cer", ".der"]

    /// Loads every `*.pem`, `*.crt`, `*.cer` and `*.der` file of `path` (not recursive), in name order.
    /// Private key files (`*.key`, `*.key.pem`) are skipped.
    /// - Throws: ``FileError`` for an unreadable directory, ``CryptoError`` naming a file that is not a certificate.
    public static func load(_ path: String) throws -> [Certificate] {
        guard let dir = opendir(path) else {
            throw FileError(path: path, reason: "cannot open directory: \(errnoText())", failureClass: .keyOrCertificate)
        }
        var names = [String]()
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard !name.hasPrefix("."), !name.hasSuffix(".key.pem"),
                extensions.contains(where: { name.lowercased().hasSuffix($0) })
            else { continue }
            names.append(name)
        }
        closedir(dir)
        return try names.sorted().map { try Certificate(contentsOfFile: "\(path)/\($0)") }
    }
}
