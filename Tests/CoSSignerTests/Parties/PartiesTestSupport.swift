import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

/// XML signing identities (OU 87) with distinct entity identifiers: the DCC Boxed ones and those of a seeded test
/// PKI, a pool of real keys and certificates for registries built in memory.
enum PartiesPool {
    struct Identity: Sendable {
        let name: String
        let key: SigningKey
        let certificate: Certificate
        var entity: EUI64 { certificate.entityIdentifier ?? EUI64(0) }
    }

    /// The DCC Boxed XML signing identities (files in ../shared).
    static let names = ["xml-sign-90B3D51F30010000-ds", "xml-sign-90B3D51F30020000-ds", "xml-sign-00DB123456780004-ds"]
    /// How many test PKI parties add their XML signing identity (`pki-ts<i>`).
    static let testPKIParties = 12

    /// Loaded once for the whole test run.
    static let identities: [Identity] = {
        var identities: [Identity] = names.compactMap { name in
            guard let key = try? SigningKey(contentsOfFile: Fixtures.path("\(Fixtures.keys)/\(name).key.pem")),
                let certificate = try? Certificate(contentsOfFile: Fixtures.path("\(Fixtures.keys)/\(name).pem"))
            else { return nil }
            return Identity(name: name, key: key, certificate: certificate)
        }
        if let pki = try? TestPKI(partyCount: testPKIParties, seed: "parties pool") {
            identities += pki.parties.map { Identity(name: "pki-\($0.id)", key: $0.xmlSigning.key, certificate: $0.xmlSigning.certificate) }
        }
        return identities
    }()

    /// Every identity expected in ``identities``.
    static var expectedCount: Int { names.count + testPKIParties }

    static func identity(named name: String) -> Identity? { identities.first { $0.name == name } }

    /// A loader that hands out pool identities by the declared key/certificate "path" (a pool name)
    /// and counts key loads.
    static func loader(counter: PartiesCounter) -> PartyCredentialLoader {
        PartyCredentialLoader(
            loadKey: { declaration in
                counter.increment()
                guard let identity = identity(named: declaration.signingKeyPath) else {
                    throw FileError(path: declaration.signingKeyPath, reason: "no such pool key", failureClass: .keyOrCertificate)
                }
                return identity.key
            },
            loadCertificate: { declaration in
                guard let identity = identity(named: declaration.signingCertificatePath) else {
                    throw FileError(path: declaration.signingCertificatePath, reason: "no such pool certificate", failureClass: .keyOrCertificate)
                }
                return identity.certificate
            })
    }
}

/// A thread-safe counter.
final class PartiesCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// A temporary folder holding copies of DCC Boxed keys (mode 0600) and a registry written there.
struct PartiesWorkspace {
    let directory: URL

    init() throws {
        directory = try TestPaths.temporaryDirectory()
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("keys"), withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    func path(_ relative: String) -> String { directory.appendingPathComponent(relative).path }

    /// Copies `name`.key.pem (0600) and `name`.pem into keys/.
    func copyIdentity(_ name: String) throws {
        for (suffix, mode) in [(".key.pem", 0o600), (".pem", 0o644)] {
            let target = path("keys/\(name)\(suffix)")
            if FileManager.default.fileExists(atPath: target) { continue }
            try FileManager.default.copyItem(atPath: Fixtures.path("\(Fixtures.keys)/\(name)\(suffix)"), toPath: target)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: target)
        }
    }

    @discardableResult
    func write(_ relative: String, _ text: String) throws -> String {
        let target = path(relative)
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: target).deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: target))
        return target
    }

    /// Writes `parties.toml` and copies the identities it names.
    @discardableResult
    func registry(_ parties: [PartiesEntry], name: String = "parties.toml", header: String = "# test registry\n") throws -> String {
        for party in parties { try copyIdentity(party.identity) }
        return try write(name, header + parties.map(\.toml).joined(separator: "\n"))
    }
}

/// One `[[party]]` of a test registry.
struct PartiesEntry {
    var id: String
    var name: String
    var mpids: [String]
    var userIDs: [String]
    var identity: String
    var keyIdentity: String?
    var extra: String = ""

    var toml: String {
        """
        [[party]]
        id = "\(id)"
        name = "\(name)"
        mpids = [\(mpids.map { "\"\($0)\"" }.joined(separator: ", "))]
        user_ids = [\(userIDs.map { "\"\($0)\"" }.joined(separator: ", "))]
        signing_key = "keys/\(keyIdentity ?? identity).key.pem"
        signing_certificate = "keys/\(identity).pem"
        \(extra)

        """
    }

    /// The DCC Boxed supplier: two MPIDs, the User ID of the templates' originator and of their replacement certificates.
    static let gts = PartiesEntry(id: "gts", name: "GIT Test Supplier", mpids: ["GTSE", "GTSG"],
                                  userIDs: ["90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-03-00-00"],
                                  identity: "xml-sign-90B3D51F30010000-ds")
    /// A second party.
    static let other = PartiesEntry(id: "other", name: "Other Supplier", mpids: ["OTHR"],
                                    userIDs: ["90-B3-D5-1F-30-02-00-00"], identity: "xml-sign-90B3D51F30020000-ds")
}

enum PartiesTemplates {
    static func request(_ index: Int = 0) throws -> ServiceRequest623 {
        let name = Fixtures.template623Names[index]
        return try ServiceRequest623(parsing: try Fixtures.template623(name), source: name)
    }

    static let gtsSerial = "27572613927499351639968579586655397031"
}
