import Foundation
import Testing

@testable import CoSSigner
@testable import CoSSignerTesting

/// Where the shared fixtures are, computed from this file's location (../../../../shared).
enum CryptoFixtures {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    /// The `shared` directory next to the repository.
    static func sharedDirectory(filePath: String = #filePath) throws -> URL {
        let url = URL(fileURLWithPath: filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../../shared").standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Missing(description: "shared fixtures directory not found at \(url.path) (computed from \(filePath))")
        }
        return url
    }

    /// Absolute path of `relative` under `shared/`, which must exist.
    static func path(_ relative: String) throws -> String {
        let url = try sharedDirectory().appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw Missing(description: "fixture missing: \(url.path)")
        }
        return url.path
    }

    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: try path(relative))))
    }

    static let keys = "vectors/dccboxed/keys"
    static let templateCerts = "vectors/dccboxed/template-623-embedded-certs"

    /// A fresh temporary directory, removed by the caller with `removeTemporary`.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cos-crypto-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func removeTemporary(_ url: URL) {
        try? FileManager.default.removeItem(at: url)
    }
}

/// The `openssl` command-line tool. Tests that use it fail loudly when it is missing.
enum OpenSSLTool {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func executable() throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent("openssl")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw Failure(
            description: "the `openssl` command is not on PATH (\(path)); these tests need it (apt-get install openssl)"
        )
    }

    /// Runs `openssl args...`, returns standard output; throws with standard error on a non-zero exit.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(
                description: "openssl \(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
                    + String(decoding: errData, as: UTF8.self))
        }
        return String(decoding: outData, as: UTF8.self)
    }
}

func hexBytes(_ text: String) -> [UInt8] {
    bytesFromHex(text.filter { !$0.isWhitespace && $0 != ":" }) ?? []
}
