import CoSSignerTestSupport
import Foundation
import Testing

@testable import CoSSigner
@testable import CoSSignerTesting

/// The shared fixtures the crypto tests read.
enum CryptoFixtures {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    /// The `shared` directory next to the repository (``TestPaths``), which must exist.
    static func sharedDirectory() throws -> URL {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: TestPaths.shared.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Missing(description: "shared fixtures directory not found at \(TestPaths.shared.path)")
        }
        return TestPaths.shared
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

    static func removeTemporary(_ url: URL) {
        try? FileManager.default.removeItem(at: url)
    }
}

/// The `openssl` command-line tool. Tests that use it fail loudly when it is missing.
enum OpenSSLTool {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `openssl args...` (``TestProcess``: a missing openssl is a loud failure), returns standard output;
    /// throws with standard error on a non-zero exit.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let result = try TestProcess.run("openssl", arguments)
        guard result.status == 0 else {
            throw Failure(description: "openssl \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result.stdout
    }
}

func hexBytes(_ text: String) -> [UInt8] {
    bytesFromHex(text.filter { !$0.isWhitespace && $0 != ":" }) ?? []
}
