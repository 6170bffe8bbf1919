import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

/// A registry's signing certificates for verifying, read without any private key.
@Suite struct PartySigningCertificatesTests {
    @Test func loadsWithoutOpeningAnyKeyFile() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let path = try workspace.registry([.gts, .other])
        let full = try PartyRegistry(contentsOfFile: path, loader: .files)
        // No key file at all: the registry cannot sign, but its certificates still serve verifying.
        for party in [PartiesEntry.gts, .other] {
            try FileManager.default.removeItem(atPath: workspace.path("keys/\(party.identity).key.pem"))
        }
        #expect(throws: PartyRegistryError.self) { try PartyRegistry(contentsOfFile: path, loader: .files) }
        let loaded = try PartySigningCertificates(contentsOfFile: path)
        #expect(loaded.source == path)
        #expect(loaded.entries.map(\.partyID) == ["gts", "other"])
        #expect(loaded.entries.map(\.partyName) == ["GIT Test Supplier", "Other Supplier"])
        #expect(loaded.entries.map(\.certificate) == full.parties.flatMap { $0.credentials.map(\.certificate) })
        #expect(loaded.entries.map(\.userID.description) == ["90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-02-00-00"])
        #expect(PartySigningCertificates(full).entries.map(\.certificate) == loaded.entries.map(\.certificate))
        for party in full.parties {
            let certificate = party.credentials[0].certificate
            #expect(loaded.partyID(issuer: certificate.issuer, serial: certificate.serialNumber) == party.id)
            #expect(loaded.certificates.certificate(issuer: certificate.issuer, serial: certificate.serialNumber) == certificate)
        }
        let stranger = try Certificate(contentsOfFile: Fixtures.path("\(Fixtures.keys)/Z1-supplier2-ds.pem"))
        #expect(loaded.partyID(issuer: stranger.issuer, serial: stranger.serialNumber) == nil)

        // A signature made with the registry's key verifies against the certificates alone, naming the party.
        let signed = try full.parties[0].credentials[0].signer.sign(try Fixtures.template623(Fixtures.template623Names[0]))
        let verifier = DUISVerifier(certificates: loaded.certificates.certificates)
        let verified = try verifier.verify(signed.bytes)
        #expect(loaded.partyID(issuer: verified.certificate.issuer, serial: verified.certificate.serialNumber) == "gts")
    }

    @Test func theRegistryIsCheckedAsForSigningExceptForKeys() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        // An MPID declared twice, a certificate of another entity, a missing certificate: every problem named.
        var wrongEntity = PartiesEntry.other
        wrongEntity.userIDs = ["90-B3-D5-1F-30-09-00-00"]
        wrongEntity.mpids = ["GTSE"]
        let missing = PartiesEntry(id: "gone", name: "Gone", mpids: ["GONE"], userIDs: ["00-DB-12-34-56-78-00-04"],
                                   identity: "xml-sign-00DB123456780004-ds")
        try workspace.copyIdentity(missing.identity)
        let path = try workspace.registry([.gts, wrongEntity, missing])
        try FileManager.default.removeItem(atPath: workspace.path("keys/\(missing.identity).pem"))
        let error = #expect(throws: PartyRegistryError.self) { try PartySigningCertificates(contentsOfFile: path) }
        let refused = try #require(error)
        let kinds = refused.problems.map(\.kind)
        #expect(kinds.contains(.duplicateMPID))
        #expect(kinds.contains(.certificateIdentity))
        #expect(refused.problems.contains { $0.kind == .credentialsUnusable && $0.party == "gone" && $0.field == "signing_certificate" })
        #expect(!refused.problems.contains { $0.field == "signing_key" }, "keys are not read: \(refused.problems)")
        // The same problems as the full registry reports, less those of keys.
        let full = #expect(throws: PartyRegistryError.self) { try PartyRegistry(contentsOfFile: path, loader: .files) }
        let fullProblems = try #require(full).problems.filter { $0.field != "signing_key" }
        #expect(fullProblems.map(\.description) == refused.problems.map(\.description))
    }
}
