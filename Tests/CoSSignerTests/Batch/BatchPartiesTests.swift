import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// Batches signed with keys selected from a parties registry: each key is loaded once; the party owning the
/// request signs under any of its MPIDs; another party's MPID is refused naming both.
@Suite struct BatchPartiesTests {
    static let keys = "vectors/dccboxed/keys"

    /// A registry of the DCC Boxed supplier (two MPIDs, User IDs of supplier 1 and the templates' replacement
    /// certificates' entity) and the network operator, with a loader that counts key loads.
    static func registry(counter: LoadCounter) throws -> PartyRegistry {
        let supplier = PartyDeclaration(
            id: "gts", name: "GIT Test Supplier", mpids: [try MPID(parsing: "GTSE"), try MPID(parsing: "GTSG")],
            userIDs: [try EUI64(parsing: "90-B3-D5-1F-30-01-00-00"), try EUI64(parsing: "90-B3-D5-1F-30-03-00-00")],
            signingKeyPath: Fixtures.privateKeyCopy("xml-sign-90B3D51F30010000-ds.key.pem"),
            signingCertificatePath: Fixtures.path("\(keys)/xml-sign-90B3D51F30010000-ds.pem"))
        let operatorParty = PartyDeclaration(
            id: "gtn", name: "GIT Test Network Operator", mpids: [try MPID(parsing: "GTNO")],
            userIDs: [try EUI64(parsing: "90-B3-D5-1F-30-02-00-00")],
            signingKeyPath: Fixtures.privateKeyCopy("xml-sign-90B3D51F30020000-ds.key.pem"),
            signingCertificatePath: Fixtures.path("\(keys)/xml-sign-90B3D51F30020000-ds.pem"))
        let files = PartyCredentialLoader.files
        let loader = PartyCredentialLoader(
            loadKey: { declaration, certificate in
                counter.increment()
                return try files.loadKey(declaration, certificate)
            },
            loadCertificate: files.loadCertificate)
        return try PartyRegistry(declarations: [supplier, operatorParty], source: "test registry", loader: loader)
    }

    @Test func aBatchLoadsEachKeyOnce() throws {
        let counter = LoadCounter()
        let registry = try Self.registry(counter: counter)
        #expect(counter.value == 2)
        let inputs = try TestPaths.temporaryDirectory(), out = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: inputs); try? FileManager.default.removeItem(at: out) }
        for i in 0..<60 {
            let name = Fixtures.signable623Names[i % 2]
            try Data(try Fixtures.template623(name)).write(to: inputs.appendingPathComponent("r\(i).xml"))
        }
        let signer = RequestSigner(keys: .selected(KeySelector(registry: registry), mpid: try MPID(parsing: "GTSG"), registrationDate: nil))
        let job = try BatchSigningJob(signer: signer, destination: .directory(out.path))
        let collected = ResultCollector()
        let summary = BatchRunner.run(jobs: 2, inputs: try BatchInputs(paths: [inputs.path]), work: job.process) { collected.add($0) }
        job.finish()
        #expect(summary.succeeded == 60 && summary.failed == 0)
        #expect(counter.value == 2, "keys must be loaded once per party, not per request")
        #expect(Set(collected.values.compactMap(\.certificateSerial)) == ["27572613927499351639968579586655397031"])
        #expect(Set(collected.values.compactMap(\.party)) == ["gts"])
    }
}

final class LoadCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

