import CoSSignerTestSupport
import Foundation
import Testing

/// Where the repository's sibling `shared/` folder is, and small helpers the tests share.
enum Fixtures {
    /// `<repo>/../shared` (the one locator: ``TestPaths``).
    static var shared: URL { TestPaths.shared }

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
}

struct FixtureMissing: Error { let path: String }
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
        // On failure the copies fail and the original paths are used: the tests then fail loudly on the refusal.
        guard let url = try? TestPaths.temporaryDirectory() else { return "/nonexistent" }
        try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: url.path)
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

/// A registry of party gts of the DCC Boxed templates with credentials for …30-01 and …30-02 (certificates in
/// `keys/`), each given its key lines (`first`, `second`: a key file or a token key), and a `pkcs11_module` line when
/// `module` is given. With a module, the first credential's header is line 8, its key lines 11 on.
enum GTSRegistry {
    static let gts01 = "90-B3-D5-1F-30-01-00-00"
    static let gts02 = "90-B3-D5-1F-30-02-00-00"
    /// The DCC Boxed file names (without `.pem` / `.key.pem`) of their certificates and keys.
    static let names = [gts01: "xml-sign-90B3D51F30010000-ds", gts02: "xml-sign-90B3D51F30020000-ds"]

    static func text(module: String?, first: String, second: String) -> String {
        (module.map { "pkcs11_module = \"\($0)\"\n\n" } ?? "") + """
            [[party]]
            id = "gts"
            name = "GIT Test Supplier"
            mpids = ["GTSE", "GTSG"]
            user_ids = ["\(gts01)", "\(gts02)", "90-B3-D5-1F-30-03-00-00"]
            [[party.credential]]
            user_id = "\(gts01)"
            signing_certificate = "keys/xml-sign-90B3D51F30010000-ds.pem"
            \(first)
            [[party.credential]]
            user_id = "\(gts02)"
            signing_certificate = "keys/xml-sign-90B3D51F30020000-ds.pem"
            \(second)

            """
    }
}
