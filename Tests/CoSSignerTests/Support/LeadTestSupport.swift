import Foundation
import Testing

/// Where the repository's sibling `shared/` folder is, and small helpers the tests share.
enum Fixtures {
    /// `<repo>/../shared`, found from this file's path.
    static let shared: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared")

    static func path(_ relative: String) -> String { shared.appendingPathComponent(relative).path }

    static func bytes(_ relative: String) throws -> [UInt8] {
        let p = path(relative)
        guard let data = FileManager.default.contents(atPath: p) else {
            Issue.record("missing fixture \(p): the tests need the shared/ folder beside the repository")
            throw FixtureMissing(path: p)
        }
        return [UInt8](data)
    }

    static let templates = "vectors/dccboxed/templates"
    static let keys = "vectors/dccboxed/keys"
    static let template623Names = ["IMMEDIATE", "FUTURE_DATED", "CANCELLATION"].map {
        "CS02bSupplierByTransCoS_6.23_\($0)_SUCCESS_REQUEST_DUIS.XML"
    }
    static func template623(_ name: String) throws -> [UInt8] { try bytes("\(templates)/\(name)") }
    /// The templates a signer accepts: the CANCELLATION template executes on 3000-12-31, after its replacement
    /// certificates expire (2035), so a meter would refuse them and signing refuses it
    /// (`DUISCertificateTests.cancellationTemplateIsRefusedBecauseTheMeterWould`).
    static let signable623Names = Array(template623Names.prefix(2))

    /// A fresh temporary directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cossigner-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

struct FixtureMissing: Error { let path: String }
struct ToolMissing: Error, CustomStringConvertible {
    let tool: String
    var description: String { "required tool '\(tool)' is not installed (CI installs it through .ci/run)" }
}

/// The result of running a program.
struct ProcessResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs a program to completion. A missing program is a loud failure, never a skip.
@discardableResult
func runProcess(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil, environment: [String: String]? = nil) throws -> ProcessResult {
    let resolved: String
    if executable.hasPrefix("/") {
        resolved = executable
    } else if let found = ["/usr/bin", "/usr/local/bin", "/bin"].map({ "\($0)/\(executable)" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
        resolved = found
    } else {
        Issue.record("required tool '\(executable)' is not installed (CI installs it through .ci/run)")
        throw ToolMissing(tool: executable)
    }
    guard FileManager.default.isExecutableFile(atPath: resolved) else {
        Issue.record("required program \(resolved) is missing")
        throw ToolMissing(tool: resolved)
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: resolved)
    process.arguments = arguments
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
    process.standardOutput = outPipe
    process.standardError = errPipe
    process.standardInput = inPipe
    try process.run()
    if let stdin {
        inPipe.fileHandleForWriting.write(Data(stdin))
    }
    try inPipe.fileHandleForWriting.close()
    // Read both pipes concurrently so a full pipe never blocks the child.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData = errPipe.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = outPipe.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus,
                         stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

extension Array where Element == UInt8 {
    var utf8String: String { String(decoding: self, as: UTF8.self) }
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}

extension Fixtures {
    /// A private copy (mode 0600) of the DCC Boxed private key `name` (e.g. "xml-sign-90B3D51F30010000-ds.key.pem"),
    /// made once per test process: the shared/ keys are read-only for everyone (mode 0444), which cos-signer
    /// refuses for private keys unless given --allow-insecure-key-file.
    static func privateKeyCopy(_ name: String) -> String {
        HardenKeyCopies.shared.copy(name)
    }
}

/// The 0600 key copies of ``Fixtures/privateKeyCopy(_:)``, in one folder per test process.
final class HardenKeyCopies: @unchecked Sendable {
    static let shared = HardenKeyCopies()
    private let lock = NSLock()
    private var made: [String: String] = [:]
    private let directory: String = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cossigner-test-keys-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return url.path
    }()

    func copy(_ name: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        if let path = made[name] { return path }
        let target = "\(directory)/\(name)"
        // On failure the original path is returned, so the test fails loudly on the permission refusal.
        guard let data = FileManager.default.contents(atPath: Fixtures.path("\(Fixtures.keys)/\(name)")),
              FileManager.default.createFile(atPath: target, contents: data, attributes: [.posixPermissions: 0o600])
        else { return Fixtures.path("\(Fixtures.keys)/\(name)") }
        made[name] = target
        return target
    }
}
