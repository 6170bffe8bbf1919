import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

/// The front API as an adapter uses it: one signer for every MPID and thread, typed requests signed without a second
/// parse, verification that names the party, one error type.
@Suite struct SupplierSignerTests {
    /// A test PKI of two parties written to a folder (registry, keys 0600, sample requests).
    struct Workspace {
        let pki: TestPKI
        let url: URL
        init() throws {
            pki = try TestPKI(partyCount: 2, seed: "supplier signer")
            url = try TestPaths.temporaryDirectory()
            try pki.write(to: url.path, force: true)
        }
        func path(_ relative: String) -> String { url.appendingPathComponent(relative).path }
        func remove() { try? FileManager.default.removeItem(at: url) }
    }

    @Test func oneSignerSignsForTwoMPIDsOfTwoPartiesInOneLoopFromManyThreads() async throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let registry = try PartyRegistry(contentsOfFile: workspace.path("parties.toml"))
        let signer = try SupplierSigner(registry: registry, counters: .store(path: workspace.path("counters.txt")))
        let parties = workspace.pki.parties
        let results = try await withThrowingTaskGroup(of: (String, SignedRequest).self) { group in
            for round in 0..<40 {
                let party = parties[round % 2]
                let mpid = try MPID(parsing: party.mpids[round % 4 / 2])
                let bytes = party.immediateRequest.xmlBytes()
                group.addTask { (party.id, try signer.sign(xml: bytes, mpid: mpid)) }
            }
            var all = [(String, SignedRequest)]()
            for try await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 40)
        for (partyID, signed) in results {
            let party = try #require(parties.first { $0.id == partyID })
            #expect(signed.party.id == partyID)
            #expect(signed.userID == party.userID)
            #expect(signed.certificate == party.xmlSigning.certificate)
            #expect(signed.requestID.businessOriginator == party.userID)
            let verified = try signer.verify(xml: signed.xml)
            #expect(verified.party?.id == partyID)
            #expect(verified.request?.requestID == signed.requestID)
            #expect(verified.userID == party.userID && verified.isRequest)
        }
        // Store counters: distinct, and strictly increasing per originator in allocation order.
        for party in parties {
            let counters = results.filter { $0.0 == party.id }.map(\.1.requestID.counter)
            #expect(Set(counters).count == counters.count)
            #expect(counters.allSatisfy { $0 > 1_700_000_000_000 })
        }
    }

    @Test func aTypedRequestIsSignedWithoutAParseToTheSameBytes() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let registry = try PartyRegistry(contentsOfFile: workspace.path("parties.toml"))
        let signer = try SupplierSigner(registry: registry, options: .init(deterministic: true))
        for party in workspace.pki.parties {
            for request in [party.immediateRequest, party.futureDatedRequest] {
                let typed = try signer.sign(request: request)
                let bytes = try signer.sign(xml: request.xmlBytes())
                #expect(typed.xml == bytes.xml)
                #expect(typed.request == request && typed.party.id == party.id)
            }
        }
        // With store counters the typed request gets its new RequestID.
        let counting = try SupplierSigner(registry: registry, counters: .store(path: workspace.path("typed-counters.txt")))
        let request = workspace.pki.parties[0].immediateRequest
        let signed = try counting.sign(request: request)
        #expect(signed.requestID != request.requestID && signed.request?.requestID == signed.requestID)
        #expect(String(decoding: signed.xml, as: UTF8.self).contains(":\(signed.requestID.counter)</sr:RequestID>"))
        #expect(try counting.verify(xml: signed.xml).requestID == signed.requestID)
    }

    @Test func anExplicitCredentialSignsOnlyItsOwnUserIDs() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let ts1 = workspace.pki.parties[0], ts2 = workspace.pki.parties[1]
        let credential = try SigningCredential(keyFile: workspace.path(ts1.xmlSigning.keyPath), certificateFile: workspace.path(ts1.xmlSigning.certificatePath))
        let signer = try SupplierSigner(credential: credential)
        let signed = try signer.sign(xml: ts1.immediateRequest.xmlBytes())
        #expect(signed.party.isExplicitCredential && signed.userID == ts1.userID)
        let refused = try #require(#expect(throws: CoSSignerError.self) { try signer.sign(xml: ts2.immediateRequest.xmlBytes()) })
        #expect(refused.kind == .selectionRefused && refused.refusal != nil)
        // An MPID cannot be checked without a registry: refused, never ignored.
        #expect(throws: CoSSignerError.self) { try signer.sign(xml: ts1.immediateRequest.xmlBytes(), mpid: try MPID(parsing: "TS1E")) }
        // A device certificate is not a credential.
        let device = try #require(#expect(throws: CoSSignerError.self) {
            try SigningCredential(keyFile: workspace.path(ts1.digitalSigning.keyPath), certificateFile: workspace.path(ts1.digitalSigning.certificatePath))
        })
        #expect(device.kind == .credentials && device.description.contains("OU 02"))
    }

    @Test func everyFailureIsACoSSignerErrorOfItsKind() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let registry = try PartyRegistry(contentsOfFile: workspace.path("parties.toml"))
        let ts1 = workspace.pki.parties[0], ts2 = workspace.pki.parties[1]
        // A clock past the certificates' end: the credential cannot sign.
        let late = try SupplierSigner(registry: registry, clock: FixedClock(Date(timeIntervalSince1970: 4_900_000_000)))
        let signer = try SupplierSigner(registry: registry)
        func kind(_ body: () throws(CoSSignerError) -> Void) -> CoSSignerError? {
            do throws(CoSSignerError) {
                try body()
                return nil
            } catch {
                return error
            }
        }
        let input = kind { () throws(CoSSignerError) in _ = try signer.sign(xml: Array("<sr:Request".utf8), source: "broken.xml") }
        #expect(input?.kind == .input && input?.source == "broken.xml")
        let field = kind { () throws(CoSSignerError) in _ = try signer.sign(xml: Array(String(decoding: ts1.immediateRequest.xmlBytes(), as: UTF8.self)
            .replacingOccurrences(of: "<sr:CommandVariant>1<", with: "<sr:CommandVariant>4<").utf8)) }
        #expect(field?.kind == .input && field?.field == "sr:Header/sr:CommandVariant")
        let credentials = kind { () throws(CoSSignerError) in _ = try late.sign(xml: ts1.immediateRequest.xmlBytes()) }
        #expect(credentials?.kind == .input || credentials?.kind == .credentials)
        let refused = kind { () throws(CoSSignerError) in _ = try signer.sign(xml: ts1.immediateRequest.xmlBytes(), mpid: try! MPID(parsing: ts2.mpids[0])) }
        #expect(refused?.kind == .selectionRefused && Set(refused?.refusal?.parties ?? []) == ["ts1", "ts2"])
        let signed = try signer.sign(xml: ts1.immediateRequest.xmlBytes())
        let tampered = Array(String(decoding: signed.xml, as: UTF8.self).replacingOccurrences(of: ts1.importMPxN, with: ts2.importMPxN).utf8)
        let invalid = kind { () throws(CoSSignerError) in _ = try signer.verify(xml: tampered) }
        #expect(invalid?.kind == .signatureInvalid && invalid?.field == "referenceDigest")
    }
}
