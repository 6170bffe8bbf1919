#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Loading every certificate of a directory.
package enum CertificateDirectory {
    /// File name endings read as certificates.
    package static let extensions = [".pem", ".crt", ".cer", ".der"]

    /// Loads every `*.pem`, `*.crt`, `*.cer` and `*.der` file of `path` (not recursive), in name order.
    /// Private key files (`*.key`, `*.key.pem`) are skipped. The directory is opened without blocking
    /// (``Files/openDirectory(_:failureClass:)``) and each certificate file must be a regular file
    /// (``Files/openRegularFile(_:failureClass:)``): a FIFO or device with a certificate's name is refused, naming it.
    /// - Throws: ``FileError`` for an unreadable directory, ``CryptoError`` naming a file that is not a certificate.
    package static func load(_ path: String) throws -> [Certificate] {
        let fd = try Files.openDirectory(path, failureClass: .keyOrCertificate)
        guard let dir = fdopendir(fd) else {
            let reason = errnoText()
            close(fd)
            throw FileError(path: path, reason: "cannot open the directory: \(reason)", failureClass: .keyOrCertificate)
        }
        var names = [String]()
        // The name is read in place, up to its NUL (an entry can be shorter than MemoryLayout<dirent>.size).
        if let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name) {
            while let entry = readdir(dir) {
                let name = String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
                guard !name.hasPrefix("."), !name.hasSuffix(".key.pem"),
                    extensions.contains(where: { name.lowercased().hasSuffix($0) })
                else { continue }
                names.append(name)
            }
        }
        closedir(dir)
        let prefix = path.hasSuffix("/") ? path : path + "/"
        return try names.sorted().map { try Certificate(contentsOfFile: prefix + $0) }
    }
}
