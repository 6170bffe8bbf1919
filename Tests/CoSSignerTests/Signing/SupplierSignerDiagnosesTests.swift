import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

/// The library's verify carries the diagnoses of `verify --explain` (issue 21, point 4): a `CoSSignerError` of kind
/// `signatureInvalid` says why the signature most likely failed and what would fix it.
@Suite struct SupplierSignerDiagnosesTests {
    static func failure(_ body: () throws(CoSSignerError) -> Void) -> CoSSignerError? {
        do throws(CoSSignerError) {
            try body()
            return nil
        } catch {
            return error
        }
    }

    @Test func anInvalidSignatureCarriesItsDiagnosesMostLikelyFirst() throws {
        let workspace = try SupplierSignerTests.Workspace()
        defer { workspace.remove() }
        let registry = try PartyRegistry(contentsOfFile: workspace.path("parties.toml"))
        let signer = try SupplierSigner(registry: registry)
        let ts1 = workspace.pki.parties[0], ts2 = workspace.pki.parties[1]
        let signed = try signer.sign(xml: ts1.immediateRequest.xmlBytes())
        let text = String(decoding: signed.xml, as: UTF8.self)

        // Valid: verified, nothing to explain.
        #expect(try signer.verify(xml: signed.xml).party?.id == "ts1")

        // The content changed after signing.
        let changed = Array(text.replacingOccurrences(of: ts1.importMPxN, with: ts2.importMPxN).utf8)
        let contentChanged = try #require(Self.failure { () throws(CoSSignerError) in _ = try signer.verify(xml: changed) })
        #expect(contentChanged.kind == .signatureInvalid && contentChanged.field == "referenceDigest")
        #expect(contentChanged.diagnoses.map(\.code) == [.contentChanged], "\(contentChanged.diagnoses)")
        #expect(contentChanged.diagnoses.allSatisfy { !$0.detail.isEmpty && !$0.fix.isEmpty })

        // Pretty-printed after signing: its compact form verifies.
        let indented = Array(text.replacingOccurrences(of: "><", with: ">\n    <").utf8)
        let reformatted = try #require(Self.failure { () throws(CoSSignerError) in _ = try signer.verify(xml: indented) })
        #expect(reformatted.diagnoses.first?.code == .reformattedAfterSigning, "\(reformatted.diagnoses)")

        // A sound signature by another User ID than the Business Originator.
        let otherSigner = try DUISSigner(key: ts2.xmlSigning.key, certificate: ts2.xmlSigning.certificate)
        let byOther = try otherSigner.sign(ts1.immediateRequest.xmlBytes()).bytes
        let notSigner = try #require(Self.failure { () throws(CoSSignerError) in _ = try signer.verify(xml: byOther) })
        #expect(notSigner.field == "originator")
        #expect(notSigner.diagnoses.map(\.code) == [.originatorNotSigner], "\(notSigner.diagnoses)")
        #expect(notSigner.diagnoses.first?.detail.contains(ts1.userID.description) == true)

        // The same as the verifier behind `cos-signer verify --explain` gives for the registry's certificates.
        var explaining = DUISVerifier(certificates: registry.certificates.certificates)
        explaining.explainsFailures = true
        for (document, error) in [(changed, contentChanged), (indented, reformatted), (byOther, notSigner)] {
            var expected: [SignatureDiagnosis] = []
            do {
                _ = try RequestVerifier(verifier: explaining).verify(document)
            } catch let invalid as SignatureInvalid {
                expected = invalid.diagnoses
            }
            #expect(error.diagnoses == expected)
        }

        // Other failures carry none; a caller that asks for the reason only gets no diagnoses (and pays nothing).
        let input = try #require(Self.failure { () throws(CoSSignerError) in _ = try signer.verify(xml: Array("<sr:Request".utf8)) })
        #expect(input.kind == .input && input.diagnoses.isEmpty)
        let plain = try #require(Self.failure { () throws(CoSSignerError) in _ = try signer.verify(xml: changed, explain: false) })
        #expect(plain.kind == .signatureInvalid && plain.diagnoses.isEmpty)
    }
}
