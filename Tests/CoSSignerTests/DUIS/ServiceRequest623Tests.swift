import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

@Suite struct ServiceRequest623RoundTripTests {
    @Test(arguments: DUISFixtures.Template.allCases)
    func templateParsesAndWritesBackItsCompactFormByteForByte(_ template: DUISFixtures.Template) throws {
        let text = try DUISFixtures.text(template)
        let request = try DUISFixtures.request(template)
        let written = request.xmlBytes()
        let expected = Array(DUISFixtures.compactForm(text).utf8)
        #expect(written == expected, "\n\(String(decoding: written, as: UTF8.self))\n---\n\(String(decoding: expected, as: UTF8.self))")
        // The written form parses to the same model and writes the same bytes again.
        let again = try ServiceRequest623(parsing: written, source: "written")
        #expect(again == request)
        #expect(again.xmlBytes() == written)
    }

    @Test(arguments: DUISFixtures.Template.allCases)
    func templateValuesAreRead(_ template: DUISFixtures.Template) throws {
        let request = try DUISFixtures.request(template)
        #expect(request.requestID.businessOriginator.description == "90-B3-D5-1F-30-01-00-00")
        #expect(request.requestID.businessTarget.description == "00-DB-12-34-56-78-90-A0")
        #expect(request.commandVariant == .nonCriticalViaWAN)
        #expect(request.schemaVersion == "5.4")
        #expect(request.firstInSequence == nil && request.precedingServiceRequestID == nil)
        let body = request.body
        #expect(body.supplierFloorSeqNumber == 0)
        #expect(body.supplierPrepaymentTopUpFloorSeqNumber == 0)
        #expect(body.supplierReplacementCertificates.keyAgreementCertificate != nil)
        #expect(body.supplierReplacementCertificates.keyAgreementTopUpCertificate != nil)
        #expect(body.certificationPathCertificates.count == 1)
        #expect(body.applyTimeBasedCPVChecks)
        #expect(body.importMPxN == "1312345678333")
        switch template {
        case .immediate:
            #expect(request.requestID.counter == 1006)
            #expect(body.executionDateTime == nil)
        case .futureDated:
            #expect(request.requestID.counter == 1007)
            #expect(body.executionDateTime?.lexicalValue == "2030-01-02T00:00:00.00Z")
        case .cancellation:
            #expect(request.requestID.counter == 1008)
            #expect(body.executionDateTime?.lexicalValue == "3000-12-31T00:00:00.00Z")
        }
    }

    /// The written bytes digest (inclusive C14N 1.0, SHA-256) to the values DCC's own signer,
    /// xmlsec1 and the JDK produced for the compact templates.
    @Test func writtenFormHasTheKnownReferenceDigests() throws {
        let kat = try JSONSerialization.jsonObject(
            with: Data(contentsOf: DUISFixtures.shared.appendingPathComponent("vectors/dccboxed/compact-digest-kat.json")))
        let cases = try #require((kat as? [String: Any])?["cases"] as? [[String: String]])
        #expect(cases.count == 3)
        for entry in cases {
            let file = try #require(entry["file"])
            let template = try #require(DUISFixtures.Template.allCases.first { file.hasSuffix($0.rawValue) })
            let written = try DUISFixtures.request(template).xmlBytes()
            let canonical = try XMLDocument(parsing: written).inclusiveCanonicalForm()
            #expect(Base64.encode(SHA256.hash(canonical)) == entry["digestValue"], "\(template)")
        }
    }

    @Test func parsesFromAnXMLDocument() throws {
        let document = try XMLDocument(parsing: DUISFixtures.bytes(DUISFixtures.Template.immediate.path))
        let request = try ServiceRequest623(document: document, source: "immediate")
        #expect(request == (try DUISFixtures.request(.immediate)))
    }

    @Test func lowerCaseRequestIDIsWrittenInUpperCase() throws {
        let text = try DUISFixtures.text(.immediate).replacingOccurrences(
            of: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006", with: "90-b3-d5-1f-30-01-00-00:00-db-12-34-56-78-90-a0:1006")
        let request = try DUISFixtures.parse(text)
        #expect(request == (try DUISFixtures.request(.immediate)))
        #expect(String(decoding: request.xmlBytes(), as: UTF8.self).contains("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006"))
    }

    @Test func acceptsAnUnsignedAndAnUnprefixedDocument() throws {
        let compact = DUISFixtures.compactForm(try DUISFixtures.text(.immediate))
        #expect(try DUISFixtures.parse(compact) == (try DUISFixtures.request(.immediate)))
        // Default namespace instead of the sr: prefix: same request.
        let unprefixed = compact.replacingOccurrences(of: "sr:", with: "")
            .replacingOccurrences(of: "xmlns=\"http://www.dccinterface.co.uk/ServiceUserGateway\"", with: "")
            .replacingOccurrences(of: "xmlns:ServiceUserGateway", with: "")
            .replacingOccurrences(of: "<Request ", with: "<Request xmlns=\"http://www.dccinterface.co.uk/ServiceUserGateway\" ")
            .replacingOccurrences(of: "xmlns:sr=\"http://www.dccinterface.co.uk/ServiceUserGateway\" ", with: "")
        #expect(try DUISFixtures.parse(unprefixed) == (try DUISFixtures.request(.immediate)))
    }

    @Test func optionalElementsMayBeLeftOut() throws {
        let text = try DUISFixtures.text(.immediate)
        let slim = text.replacing(/<sr:SupplierPrepaymentTopUpFloorSeqNumber>0<\/sr:SupplierPrepaymentTopUpFloorSeqNumber>/, with: "")
            .replacing(/<sr:KeyAgreementCertificate>[^<]*<\/sr:KeyAgreementCertificate>/, with: "")
            .replacing(/<sr:KeyAgreementTopUpCertificate>[^<]*<\/sr:KeyAgreementTopUpCertificate>/, with: "")
        let request = try DUISFixtures.parse(slim)
        #expect(request.body.supplierPrepaymentTopUpFloorSeqNumber == nil)
        #expect(request.body.supplierReplacementCertificates.keyAgreementCertificate == nil)
        #expect(request.xmlBytes() == Array(DUISFixtures.compactForm(slim).utf8))
        try request.validateCertificates()
    }

    @Test func sequencingHeaderElementsRoundTrip() throws {
        let text = try DUISFixtures.text(.immediate).replacingOccurrences(
            of: "<sr:CommandVariant>",
            with: "<sr:FirstInSequence>false</sr:FirstInSequence><sr:PrecedingServiceRequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1005</sr:PrecedingServiceRequestID><sr:CommandVariant>")
        let request = try DUISFixtures.parse(text)
        #expect(request.firstInSequence == false)
        #expect(request.precedingServiceRequestID?.counter == 1005)
        #expect(request.xmlBytes() == Array(DUISFixtures.compactForm(text).utf8))
    }

    @Test func escapesMarkupCharactersInImportMPxN() throws {
        let template = try DUISFixtures.request(.immediate)
        let b = template.body
        let body = try UpdateSecurityCredentialsCoS(
            supplierFloorSeqNumber: 0, supplierReplacementCertificates: b.supplierReplacementCertificates,
            certificationPathCertificates: b.certificationPathCertificates, applyTimeBasedCPVChecks: false, importMPxN: "A&B<C>")
        let request = try ServiceRequest623(requestID: template.requestID, body: body)
        let written = String(decoding: request.xmlBytes(), as: UTF8.self)
        #expect(written.contains("<sr:ImportMPxN>A&amp;B&lt;C&gt;</sr:ImportMPxN>"))
        #expect(written.contains("<sr:ApplyTimeBasedCPVChecks>false</sr:ApplyTimeBasedCPVChecks>"))
        #expect(try ServiceRequest623(parsing: request.xmlBytes()) == request)
    }
}

@Suite struct ServiceRequest623BuilderTests {
    /// The IMMEDIATE template's values, built from scratch.
    static func immediateFromValues() throws -> ServiceRequest623 {
        let text = try DUISFixtures.text(.immediate)
        func der(_ name: String) throws -> [UInt8] { try Base64.decode(try #require(DUISFixtures.value(of: name, in: text))) }
        let replacement = try SupplierReplacementCertificates(
            digitalSigningCertificate: der("DigitalSigningCertificate"),
            keyAgreementCertificate: der("KeyAgreementCertificate"),
            keyAgreementTopUpCertificate: der("KeyAgreementTopUpCertificate"))
        let body = try UpdateSecurityCredentialsCoS(
            supplierFloorSeqNumber: 0,
            supplierPrepaymentTopUpFloorSeqNumber: 0,
            supplierReplacementCertificates: replacement,
            certificationPathCertificates: [der("Certificate")],
            applyTimeBasedCPVChecks: true,
            importMPxN: "1312345678333")
        let requestID = try RequestID(
            businessOriginator: EUI64(parsing: "90-B3-D5-1F-30-01-00-00"),
            businessTarget: EUI64(parsing: "00-DB-12-34-56-78-90-A0"),
            counter: 1006)
        return try ServiceRequest623(requestID: requestID, commandVariant: .nonCriticalViaWAN, body: body)
    }

    @Test func builderGivesTheImmediateTemplatesCompactForm() throws {
        let built = try Self.immediateFromValues()
        let expected = DUISFixtures.compactForm(try DUISFixtures.text(.immediate))
        #expect(String(decoding: built.xmlBytes(), as: UTF8.self) == expected)
        #expect(built == (try DUISFixtures.request(.immediate)))
        try built.validateCertificates()
    }

    @Test func builtDocumentValidatesWithXmllint() throws {
        let folder = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("built-6.23.xml")
        try Data(try Self.immediateFromValues().xmlBytes()).write(to: file)
        // A missing xmllint (package libxml2-utils) is a loud failure (TestProcess.run records it).
        let result = try TestProcess.run("xmllint", ["--nonet", "--noout", "--schema", DUISFixtures.wrapperXSD, file.path])
        #expect(result.status == 0, "xmllint: \(result.combined)")
        #expect(result.combined.contains("validates"), "xmllint: \(result.combined)")
    }

    @Test func builtDocumentValidatesWithDUISSchema() throws {
        let schema = try DUISSchema(xsdPath: DUISFixtures.wrapperXSD)
        let built = try Self.immediateFromValues()
        try built.validate(against: schema)
        try built.validate(DUISValidationOptions(now: Date(), certificateValidityTime: Date(timeIntervalSince1970: 1_800_000_000), schema: schema))
    }

    @Test func futureDatedFromADate() throws {
        let immediate = try Self.immediateFromValues()
        let b = immediate.body
        let body = try UpdateSecurityCredentialsCoS(
            executionDateTime: ExecutionDateTime(Date(timeIntervalSince1970: 1_893_542_400)),
            supplierFloorSeqNumber: 9_223_372_036_854_775_807,
            supplierReplacementCertificates: b.supplierReplacementCertificates,
            certificationPathCertificates: b.certificationPathCertificates,
            applyTimeBasedCPVChecks: true, importMPxN: "1")
        let request = try ServiceRequest623(requestID: immediate.requestID.withCounter(1007),
                                            commandVariant: .nonCriticalViaWANAndForLocalDelivery, body: body)
        let text = String(decoding: request.xmlBytes(), as: UTF8.self)
        #expect(text.contains("<sr:ExecutionDateTime>2030-01-02T00:00:00Z</sr:ExecutionDateTime><sr:SupplierFloorSeqNumber>9223372036854775807<"))
        #expect(text.contains("<sr:CommandVariant>3</sr:CommandVariant>"))
        try request.checkFutureDated(now: Date(timeIntervalSince1970: 1_700_000_000))
        DUISFixtures.expectRefusal(field: "sr:Body/sr:UpdateSecurityCredentialsCoS/sr:ExecutionDateTime", rule: .futureDated) {
            try request.checkFutureDated(now: Date(timeIntervalSince1970: 1_893_542_400))
        }
        try request.validate(against: DUISSchema(xsdPath: DUISFixtures.wrapperXSD))
    }
}
