import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

/// Per-call choices of one shared signer (what `cos-signer-server` asks for each request): keep the counter, sign
/// deterministically, refuse a party the caller may not sign for before any counter is used. And the one
/// "6.23 from fields" function that `cos-signer build` and the server share.
@Suite struct SigningCallTests {
    typealias Workspace = SupplierSignerTests.Workspace

    @Test func preserveCounterAndDeterministicPerCall() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let registry = try PartyRegistry(contentsOfFile: workspace.path("parties.toml"), loader: .files)
        let signer = try SupplierSigner(registry: registry, counters: .store(path: workspace.path("counters.txt")))
        let preserving = try SupplierSigner(registry: registry, options: .init(deterministic: true))
        for request in [workspace.pki.parties[0].immediateRequest, workspace.pki.parties[1].futureDatedRequest] {
            let bytes = request.xmlBytes()
            // The policy rewrites the counter; preserveCounter keeps it.
            #expect(try signer.sign(xml: bytes).requestID != request.requestID)
            let kept = try signer.sign(xml: bytes, call: SigningCall(preserveCounter: true, deterministic: true))
            #expect(kept.requestID == request.requestID)
            // Deterministic per call: the same bytes as a signer made deterministic, on both paths (bytes, typed).
            #expect(kept.xml == (try preserving.sign(xml: bytes)).xml)
            #expect(kept.xml == (try signer.sign(request: request, call: SigningCall(preserveCounter: true, deterministic: true))).xml)
            // And random nonces when the call says so, even on a deterministic signer.
            let a = try preserving.sign(xml: bytes, call: SigningCall(deterministic: false))
            let b = try preserving.sign(xml: bytes, call: SigningCall(deterministic: false))
            #expect(a.xml != b.xml)
        }
    }

    @Test func aPartyNotAllowedIsRefusedBeforeAnyCounterIsUsed() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let store = workspace.path("counters.txt")
        let registry = try PartyRegistry(contentsOfFile: workspace.path("parties.toml"), loader: .files)
        // One counter per store update, so that the store shows every counter used.
        let signer = try SupplierSigner(registry: registry, counters: .store(path: store), options: .init(counterBlockSize: 1))
        let onlyTS1 = SigningCall(partyAllowed: { $0.id == "ts1" })
        let ts1 = workspace.pki.parties[0], ts2 = workspace.pki.parties[1]
        _ = try signer.sign(xml: ts1.immediateRequest.xmlBytes(), call: onlyTS1)
        let before = try CounterStore(path: store).snapshot()
        for request in [ts2.immediateRequest, ts2.futureDatedRequest] {
            for sign in [{ try signer.sign(xml: request.xmlBytes(), call: onlyTS1) },
                         { try signer.sign(request: request, call: onlyTS1) }] {
                do {
                    _ = try sign()
                    Issue.record("signed a request of ts2 for a caller allowed only ts1")
                } catch let error as CoSSignerError {
                    #expect(error.kind == .selectionRefused)
                    #expect(error.reason.contains("ts2"), "\(error.reason)")
                }
            }
        }
        #expect(try CounterStore(path: store).snapshot() == before)
        #expect(before[ts2.userID] == nil)
    }

    @Test func fieldsBuildTheSameRequestAsTheTestPKI() throws {
        let pki = try TestPKI(partyCount: 1, seed: "fields")
        let party = pki.parties[0]
        let request = party.immediateRequest
        let body = request.body
        func pem(_ der: [UInt8]) -> [UInt8] {
            Array("-----BEGIN CERTIFICATE-----\n\(Data(der).base64EncodedString(options: .lineLength64Characters))\n-----END CERTIFICATE-----\n".utf8)
        }
        var fields = ServiceRequest623Fields(
            originator: request.requestID.businessOriginator.description, target: request.requestID.businessTarget.description,
            counter: String(request.requestID.counter), commandVariant: Int(request.commandVariant.rawValue),
            floor: String(body.supplierFloorSeqNumber), topupFloor: body.supplierPrepaymentTopUpFloorSeqNumber.map(String.init),
            signingCert: pem(body.supplierReplacementCertificates.digitalSigningCertificate),
            keyAgreementCert: body.supplierReplacementCertificates.keyAgreementCertificate.map(pem),
            topupCert: body.supplierReplacementCertificates.keyAgreementTopUpCertificate.map { Array(Data($0).base64EncodedString().utf8) },
            pathCert: body.certificationPathCertificates, applyCpvChecks: body.applyTimeBasedCPVChecks, mpxn: body.importMPxN)
        #expect(try ServiceRequest623(fields: fields) == request)
        // Errors name the field in the caller's words.
        fields.originator = "90-B3"
        do {
            _ = try ServiceRequest623(fields: fields)
            Issue.record("built a request with a malformed originator")
        } catch {
            #expect(error.field == "originator" && error.rule == .lexicalForm)
        }
        do {
            _ = try ServiceRequest623(fields: fields, naming: .commandLine)
            Issue.record("built a request with a malformed originator")
        } catch {
            #expect(error.field == "--originator")
        }
        fields.originator = request.requestID.businessOriginator.description
        fields.pathCert = [[1, 2, 3]]
        do {
            _ = try ServiceRequest623(fields: fields)
            Issue.record("built a request with a broken path certificate")
        } catch {
            #expect(error.field == "pathCert[1]" && error.rule == .certificateEncoding)
        }
        fields.pathCert = body.certificationPathCertificates
        fields.commandVariant = 300
        do {
            _ = try ServiceRequest623(fields: fields)
            Issue.record("built a request with CommandVariant 300")
        } catch {
            #expect(error.field == "commandVariant" && error.rule == .range)
        }
    }
}
