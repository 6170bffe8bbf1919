import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

@Suite struct DUISCertificateTests {
    static let replacement = "sr:Body/sr:UpdateSecurityCredentialsCoS/sr:SupplierReplacementCertificates"
    static let ds = replacement + "/sr:DigitalSigningCertificate"
    static let ka = replacement + "/sr:KeyAgreementCertificate"
    static let topUp = replacement + "/sr:KeyAgreementTopUpCertificate"
    static let path1 = "sr:Body/sr:UpdateSecurityCredentialsCoS/sr:CertificationPathCertificates/sr:Certificate[1]"

    /// The IMMEDIATE template with some certificates replaced.
    static func template(ds: [UInt8]? = nil, ka: [UInt8]?? = .none, topUp: [UInt8]?? = .none, path: [[UInt8]]? = nil) throws -> ServiceRequest623 {
        let t = try DUISFixtures.request(.immediate)
        let r = t.body.supplierReplacementCertificates
        let body = try UpdateSecurityCredentialsCoS(
            executionDateTime: t.body.executionDateTime,
            supplierFloorSeqNumber: t.body.supplierFloorSeqNumber,
            supplierPrepaymentTopUpFloorSeqNumber: t.body.supplierPrepaymentTopUpFloorSeqNumber,
            supplierReplacementCertificates: SupplierReplacementCertificates(
                digitalSigningCertificate: ds ?? r.digitalSigningCertificate,
                keyAgreementCertificate: ka ?? r.keyAgreementCertificate,
                keyAgreementTopUpCertificate: topUp ?? r.keyAgreementTopUpCertificate),
            certificationPathCertificates: path ?? t.body.certificationPathCertificates,
            applyTimeBasedCPVChecks: t.body.applyTimeBasedCPVChecks,
            importMPxN: t.body.importMPxN)
        return try ServiceRequest623(requestID: t.requestID, commandVariant: t.commandVariant, body: body)
    }

    static func refuse(_ request: ServiceRequest623, at time: Date? = nil, field: String, rule: DUISRequestError.Rule,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        DUISFixtures.expectRefusal(field: field, rule: rule, sourceLocation: sourceLocation) {
            try request.validateCertificates(at: time)
        }
    }

    @Test(arguments: DUISFixtures.Template.allCases)
    func templateCertificatesPass(_ template: DUISFixtures.Template) throws {
        let request = try DUISFixtures.request(template)
        try request.validateCertificates()
        try request.validateCertificates(at: Date(timeIntervalSince1970: 1_893_542_400))  // 2030-01-02
        #expect(request.certificateProblems().isEmpty)
    }

    @Test func validityIsCheckedAtTheCallersTime() throws {
        let request = try DUISFixtures.request(.immediate)
        // 2024-01-01: before the replacement certificates' notBefore (2025-09-01).
        Self.refuse(request, at: Date(timeIntervalSince1970: 1_704_067_200), field: Self.ds, rule: .certificateValidity)
        // 2036-01-01: after their notAfter (2035-09-01); the path certificate is still valid.
        let problems = request.certificateProblems(at: Date(timeIntervalSince1970: 2_082_758_400))
        #expect(problems.map(\.field) == [Self.ds, Self.ka, Self.topUp])
        #expect(problems.allSatisfy { $0.rule == .certificateValidity })
        // 2041: the path certificate has expired too.
        #expect(request.certificateProblems(at: Date(timeIntervalSince1970: 2_240_524_800)).map(\.field).last == Self.path1)
    }

    @Test func digitalSigningSlotWithAKeyAgreementCertificate() throws {
        let t = try DUISFixtures.request(.immediate)
        let ka = try #require(t.body.supplierReplacementCertificates.keyAgreementCertificate)
        let request = try Self.template(ds: ka)
        Self.refuse(request, field: Self.ds, rule: .certificateKeyUsage)
        do {
            try request.validateCertificates()
        } catch {
            #expect(error.reason.contains("digitalSignature"))
            #expect(error.reason.contains("keyAgreement"))
        }
        // And the other way round.
        Self.refuse(try Self.template(ka: .some(t.body.supplierReplacementCertificates.digitalSigningCertificate)),
                    field: Self.ka, rule: .certificateKeyUsage)
    }

    @Test func p384Certificate() throws {
        // The template's DS certificate, re-signed with a fresh P-384 key (so only the curve is wrong first).
        let p384 = try DUISFixtures.resignedCertificate(DUISFixtures.templateDigitalSigningPEM, curve: "secp384r1")
        Self.refuse(try Self.template(ds: p384), field: Self.ds, rule: .certificatePublicKey)
        // A plain self-signed P-384 certificate made with `openssl req`.
        let plain = try DUISFixtures.selfSignedCertificate(curve: "secp384r1", subject: "/CN=P384/OU=02", keyUsage: "digitalSignature")
        Self.refuse(try Self.template(ds: plain), field: Self.ds, rule: .certificatePublicKey)
        // As a path certificate.
        Self.refuse(try Self.template(path: [plain]), field: Self.path1, rule: .certificatePublicKey)
    }

    @Test func signatureAlgorithmOtherThanECDSAWithSHA256() throws {
        let sha384 = try DUISFixtures.resignedCertificate(DUISFixtures.templateDigitalSigningPEM, curve: "prime256v1", digest: "-sha384")
        Self.refuse(try Self.template(ds: sha384), field: Self.ds, rule: .certificateSignatureAlgorithm)
    }

    @Test func replacementCertificatesOfTwoEntities() throws {
        // Z1-supplier-ds.pem: entity 90B3D51F30010000, OU 02, issued by the template's Z1; the
        // template's KA certificates belong to 90B3D51F30030000.
        let other = try DUISFixtures.certificateDER(pemFile: DUISFixtures.keysFolder.appendingPathComponent("Z1-supplier-ds.pem").path)
        let request = try Self.template(ds: other)
        Self.refuse(request, field: Self.ka, rule: .certificateEntityIdentifier)
        let problems = request.certificateProblems()
        #expect(problems.map(\.field) == [Self.ka, Self.topUp])
        #expect(problems.first?.reason.contains("90-B3-D5-1F-30-03-00-00") == true)
        #expect(problems.first?.reason.contains("90-B3-D5-1F-30-01-00-00") == true)
        // Valid dates are not a concern here (that certificate expired in 2025) unless asked.
        #expect(request.certificateProblems(at: Date(timeIntervalSince1970: 1_893_542_400)).contains { $0.rule == .certificateValidity })
    }

    @Test func replacementCertificateWithoutEntityIdentifierOrSupplierRole() throws {
        let noEntity = try DUISFixtures.selfSignedCertificate(curve: "prime256v1", subject: "/CN=X/OU=02", keyUsage: "digitalSignature")
        #expect(try Self.template(ds: noEntity).certificateProblems().contains { $0.field == Self.ds && $0.rule == .certificateEntityIdentifier })
        let otherRole = try DUISFixtures.selfSignedCertificate(curve: "prime256v1", subject: "/CN=X/OU=03", keyUsage: "digitalSignature")
        Self.refuse(try Self.template(ds: otherRole), field: Self.ds, rule: .certificateRole)
    }

    @Test func replacementCertificateNotIssuedByAPathCertificate() throws {
        // Same subject, extensions and entity as the template's DS certificate, but self-signed.
        let selfSigned = try DUISFixtures.resignedCertificate(DUISFixtures.templateDigitalSigningPEM, curve: "prime256v1")
        Self.refuse(try Self.template(ds: selfSigned), field: Self.ds, rule: .certificateChain)
        // An XmlSign certificate: named issuer Z1, but not signed by this Z1's key (and OU 87).
        let xmlSign = try DUISFixtures.certificateDER(
            pemFile: DUISFixtures.keysFolder.appendingPathComponent("xml-sign-90B3D51F30010000-ds.pem").path)
        let problems = try Self.template(ds: xmlSign).certificateProblems()
        #expect(problems.contains { $0.field == Self.ds && $0.rule == .certificateChain })
        #expect(problems.contains { $0.field == Self.ds && $0.rule == .certificateRole })
        // A path that does not hold the issuer: every replacement certificate is refused.
        let unrelatedCA = try DUISFixtures.selfSignedCertificate(curve: "prime256v1", subject: "/CN=Z1/OU=07", keyUsage: "keyCertSign,cRLSign",
                                                                 extensions: ["basicConstraints = critical, CA:TRUE"])
        let chainProblems = try Self.template(path: [unrelatedCA]).certificateProblems()
        #expect(chainProblems.map(\.field) == [Self.ds, Self.ka, Self.topUp])
        #expect(chainProblems.allSatisfy { $0.rule == .certificateChain })
        // The right issuer anywhere in the path is enough.
        let t = try DUISFixtures.request(.immediate)
        try Self.template(path: [unrelatedCA, t.body.certificationPathCertificates[0]]).validateCertificates()
    }

    @Test func notADERCertificate() throws {
        let t = try DUISFixtures.request(.immediate)
        let der = t.body.supplierReplacementCertificates.digitalSigningCertificate
        let pem = Array(try Certificate(encoded: der).pem().utf8)
        for bad in [[0x30, 0x03, 0x02, 0x01, 0x00], der + [0x00], pem, Array("hello".utf8)] as [[UInt8]] {
            Self.refuse(try Self.template(ds: bad), field: Self.ds, rule: .certificateEncoding)
        }
        Self.refuse(try Self.template(path: [[0x30, 0x00]]), field: Self.path1, rule: .certificateEncoding)
        DUISFixtures.expectRefusal(field: Self.ds, rule: .certificateEncoding) { _ = try Self.template(ds: []) }
    }

    @Test func validateRunsCertificateChecks() throws {
        let t = try DUISFixtures.request(.immediate)
        let ka = try #require(t.body.supplierReplacementCertificates.keyAgreementCertificate)
        let request = try Self.template(ds: ka)
        #expect(throws: DUISRequestError.self) { try request.validate(DUISValidationOptions()) }
        try request.validate(DUISValidationOptions(checkCertificates: false))
    }
}
