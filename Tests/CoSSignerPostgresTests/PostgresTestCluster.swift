import CoSSigner
import CoSSignerTesting
import CoSSignerTestSupport
import Foundation
import Testing

/// The built `cos-signer`.
enum CLI {
    static let executable = TestPaths.product("cos-signer")

    @discardableResult
    static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> ProcessResult {
        try TestProcess.run(executable, arguments, environment: environment)
    }
}
