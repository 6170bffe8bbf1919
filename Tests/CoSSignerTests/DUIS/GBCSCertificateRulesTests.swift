import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// The rules a meter applies to every certificate it accepts (GBCS §12, domain notes §3.1), and the replacement
/// certificates' validity when the request executes: a 6.23 that places a certificate the meter would refuse is
/// refused before signing, naming the certificate's element and the rule.
@Suite struct GBCSCertificateRulesTests {
    static let pki = try! TestPKI(partyCount: 1, seed: "gbcs rules")
    static var party: TestPKIParty { pki.parties[0] }
    static let ds = "sr:Body/sr:UpdateSecurityCredentialsCoS/sr:SupplierReplacementCertificates/sr:DigitalSigningCertificate"
    static let path1 = "sr:Body/sr:UpdateSecurityCredentialsCoS/sr:CertificationPathCertificates/sr:Certificate[1]"
    /// 2026-01-01.
    static let now = Date(timeIntervalSince1970: 1_767_225_600)

    /// ts1's request with another DigitalSigningCertificate, path or ExecutionDateTime.
    static func request(ds: TestPKICredential? = nil, path: [Certificate]? = nil, execution: String? = nil) throws -> ServiceRequest623 {
        let party = Self.party
        return try ServiceRequest623(
            requestID: party.immediateRequest.requestID,
            body: UpdateSecurityCredentialsCoS(
                executionDateTime: try execution.map { try ExecutionDateTime(parsing: $0) }, supplierFloorSeqNumber: 0,
                supplierPrepaymentTopUpFloorSeqNumber: 0,
                supplierReplacementCertificates: try SupplierReplacementCertificates(
                    digitalSigningCertificate: (ds?.certificate ?? party.digitalSigning.certificate).derBytes,
                    keyAgreementCertificate: party.keyAgreement.certificate.derBytes,
                    keyAgreementTopUpCertificate: party.keyAgreementTopUp.certificate.derBytes),
                certificationPathCertificates: (path ?? [pki.issuingCA.certificate]).map(\.derBytes),
                applyTimeBasedCPVChecks: true, importMPxN: party.importMPxN))
    }

    /// A replacement digital signing certificate of ts1 with `deviations`.
    static func digitalSigning(_ stem: String, _ deviations: TestCertificateBuilder.Deviations = .init(),
                               notBefore: [UInt8] = DER.time(year: 2025, month: 1, day: 1),
                               notAfter: [UInt8] = DER.time(year: 2124, month: 12, day: 31)) throws -> TestPKICredential {
        try pki.issue(stem, role: "02", commonName: "TESTSUPPLIER1", entity: party.userID, usage: .digitalSignature,
                      deviations: deviations, notBefore: notBefore, notAfter: notAfter)
    }

    /// The first problem at `now` (immediate: the replacement certificates must be valid now).
    static func firstProblem(_ request: ServiceRequest623) -> DUISRequestError? {
        let times = request.certificateTimes(now: now, explicit: nil)
        return request.certificateProblems(at: times.all, replacementsAt: times.replacements).first
    }

    static func expect(_ request: ServiceRequest623, field: String, rule: DUISRequestError.Rule, says text: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        let problem = firstProblem(request)
        #expect(problem?.field == field, "\(problem.map(\.description) ?? "no problem")", sourceLocation: sourceLocation)
        #expect(problem?.rule == rule, "\(problem.map(\.description) ?? "no problem")", sourceLocation: sourceLocation)
        #expect(problem?.reason.contains(text) == true, "\(problem.map(\.description) ?? "no problem")", sourceLocation: sourceLocation)
    }

    @Test func theTestPKIsRequestsPassEveryRule() throws {
        #expect(Self.firstProblem(try Self.request()) == nil)
        #expect(Self.firstProblem(Self.party.futureDatedRequest) == nil)
        // A self-signed root in the path needs no AuthorityKeyIdentifier.
        #expect(Self.firstProblem(try Self.request(path: [Self.pki.issuingCA.certificate, Self.pki.root.certificate])) == nil)
    }

    @Test func keyUsageAndCertificatePoliciesMustBePresentAndCritical() throws {
        typealias D = TestCertificateBuilder.Deviations
        var d = D()
        d.keyUsage = .nonCritical
        Self.expect(try Self.request(ds: Self.digitalSigning("ku-noncritical", d)), field: Self.ds, rule: .certificateExtensions,
                    says: "keyUsage must be critical")
        d = D()
        d.keyUsage = .absent
        Self.expect(try Self.request(ds: Self.digitalSigning("ku-absent", d)), field: Self.ds, rule: .certificateExtensions,
                    says: "keyUsage must be present and critical")
        d = D()
        d.certificatePolicies = .nonCritical
        Self.expect(try Self.request(ds: Self.digitalSigning("cp-noncritical", d)), field: Self.ds, rule: .certificateExtensions,
                    says: "certificatePolicies must be critical")
        d = D()
        d.certificatePolicies = .absent
        Self.expect(try Self.request(ds: Self.digitalSigning("cp-absent", d)), field: Self.ds, rule: .certificateExtensions,
                    says: "certificatePolicies must be present and critical")
    }

    @Test func keyIdentifiersAreEightOctetsAndOnlyARootOmitsTheAuthorityOne() throws {
        var d = TestCertificateBuilder.Deviations()
        d.subjectKeyIdentifierLength = nil
        Self.expect(try Self.request(ds: Self.digitalSigning("ski-absent", d)), field: Self.ds, rule: .certificateKeyIdentifiers,
                    says: "SubjectKeyIdentifier extension is missing")
        d.subjectKeyIdentifierLength = 20
        Self.expect(try Self.request(ds: Self.digitalSigning("ski-20", d)), field: Self.ds, rule: .certificateKeyIdentifiers,
                    says: "must be 8 octets (RFC 5280 method 2), got 20")
        d = TestCertificateBuilder.Deviations()
        d.omitAuthorityKeyIdentifier = true
        Self.expect(try Self.request(ds: Self.digitalSigning("aki-absent", d)), field: Self.ds, rule: .certificateKeyIdentifiers,
                    says: "AuthorityKeyIdentifier extension is missing")
    }

    @Test func theKeyIsAnUncompressedP256PointSignedWithECDSASHA256() throws {
        var d = TestCertificateBuilder.Deviations()
        d.compressedPoint = true
        let compressed = try Self.digitalSigning("compressed", d)
        #expect(compressed.certificate.isP256 && !compressed.certificate.profile.publicKeyIsUncompressedPoint)
        Self.expect(try Self.request(ds: compressed), field: Self.ds, rule: .certificatePublicKey, says: "uncompressed form")
        d = TestCertificateBuilder.Deviations()
        d.signatureAlgorithmOID = "1.2.840.10045.4.3.3"
        Self.expect(try Self.request(ds: Self.digitalSigning("sha384", d)), field: Self.ds, rule: .certificateSignatureAlgorithm,
                    says: "signed with 1.2.840.10045.4.3.3")
    }

    @Test func pathCertificatesAreCertificationAuthorities() throws {
        let issuing = Self.pki.issuingCA.certificate
        var d = TestCertificateBuilder.Deviations()
        d.omitBasicConstraints = true
        let notCA = try Self.pki.issue("no-basic-constraints", kind: .issuingCA, role: "07", commonName: "NOT A CA",
                                       entity: EUI64(0), usage: [.keyCertSign, .cRLSign], deviations: d)
        Self.expect(try Self.request(path: [notCA.certificate, issuing]), field: Self.path1, rule: .certificateAuthority,
                    says: "must be a CA (basicConstraints cA TRUE)")
        let noCertSign = try Self.pki.issue("no-keycertsign", kind: .issuingCA, role: "07", commonName: "NO CERT SIGN",
                                            entity: EUI64(0), usage: [.cRLSign])
        Self.expect(try Self.request(path: [noCertSign.certificate, issuing]), field: Self.path1, rule: .certificateAuthority,
                    says: "keyCertSign")
        // An end-entity certificate in the path.
        Self.expect(try Self.request(path: [Self.party.keyAgreement.certificate, issuing]), field: Self.path1,
                    rule: .certificateAuthority, says: "must be a CA")
    }

    @Test func replacementCertificatesMustBeValidWhenTheRequestExecutes() throws {
        // Expires in 2030; the future-dated request executes in 2099: the meter would refuse it then.
        let shortLived = try Self.digitalSigning("until-2030", notAfter: DER.time(year: 2030, month: 1, day: 1))
        let future = try Self.request(ds: shortLived, execution: "2099-12-31T00:00:00Z")
        Self.expect(future, field: Self.ds, rule: .certificateValidity, says: "the request executes at its ExecutionDateTime 2099-12-31T00:00:00Z")
        // The same certificate on an immediate request (executes now, 2026): accepted.
        #expect(Self.firstProblem(try Self.request(ds: shortLived)) == nil)
        // Valid from 2027 only: refused on an immediate request, accepted when it executes in 2099.
        let later = try Self.digitalSigning("from-2027", notBefore: DER.time(year: 2027, month: 1, day: 1))
        Self.expect(try Self.request(ds: later), field: Self.ds, rule: .certificateValidity, says: "the request executes now")
        #expect(Self.firstProblem(try Self.request(ds: later, execution: "2099-12-31T00:00:00Z")) == nil)
        // An explicit time replaces the rule: every certificate then (and only then).
        let explicit = Date(timeIntervalSince1970: 1_893_456_000)  // 2030-01-01
        #expect(try Self.request(ds: later).certificateProblems(at: explicit).isEmpty)
    }

    @Test func aSignerRefusesSuchARequestBeforeSigningWithTheElementAndTheRule() throws {
        let credential = Self.party.xmlSigning
        let signer = RequestSigner(signer: try DUISSigner(key: credential.key, certificate: credential.certificate),
                                   clock: FixedClock(Self.now))
        var d = TestCertificateBuilder.Deviations()
        d.certificatePolicies = .nonCritical
        let bytes = try Self.request(ds: Self.digitalSigning("cp-noncritical-signer", d)).xmlBytes()
        let error = try #require(#expect(throws: DUISRequestError.self) { try signer.sign(bytes, source: "r.xml") })
        #expect(error.failureClass.exitCode == 2)
        #expect(error.description.contains("r.xml") && error.description.contains(Self.ds)
                    && error.description.contains("critical extensions: certificatePolicies must be critical"), "\(error)")
        // The plain request signs.
        #expect(try signer.sign(try Self.request().xmlBytes()).requestID == Self.party.immediateRequest.requestID)
    }

    /// The DCC Boxed cancellation template executes on 3000-12-31, when its replacement certificates (valid to
    /// 2035) have expired: refused, unless every certificate is checked at an explicit time instead.
    @Test func cancellationTemplateIsRefusedBecauseTheMeterWould() throws {
        let template = try ServiceRequest623(parsing: Fixtures.template623(Fixtures.template623Names[2]))
        Self.expect(template, field: Self.ds, rule: .certificateValidity, says: "3000-12-31T00:00:00.00Z")
        #expect(template.certificateProblems(at: Self.now).isEmpty)
        for name in Fixtures.signable623Names {
            #expect(Self.firstProblem(try ServiceRequest623(parsing: Fixtures.template623(name))) == nil, "\(name)")
        }
    }
}
