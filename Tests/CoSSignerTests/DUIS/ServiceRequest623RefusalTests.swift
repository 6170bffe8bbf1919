import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// Every refusal is a DUISRequestError of class `.input` (exit code 2) whose field names the element.
@Suite struct ServiceRequest623RefusalTests {
    static let header = "sr:Header"
    static let cos = "sr:Body/sr:UpdateSecurityCredentialsCoS"

    static func immediate() throws -> String { try DUISFixtures.text(.immediate) }

    /// Parses the IMMEDIATE template with `from` replaced by `to` (which must occur).
    static func refuse(replacing from: String, with to: String, field: String, rule: DUISRequestError.Rule? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let text = try immediate()
        try #require(text.contains(from), sourceLocation: sourceLocation)
        let mutated = text.replacingOccurrences(of: from, with: to)
        DUISFixtures.expectRefusal(field: field, rule: rule, sourceLocation: sourceLocation) {
            _ = try DUISFixtures.parse(mutated, source: "mutated.xml")
        }
    }

    @Test func commandVariant5() throws {
        try Self.refuse(replacing: "<sr:CommandVariant>1<", with: "<sr:CommandVariant>5<",
                        field: "sr:Header/sr:CommandVariant", rule: .value)
        let template = try DUISFixtures.request(.immediate)
        let five = try #require(CommandVariant(rawValue: 5))
        DUISFixtures.expectRefusal(field: "sr:Header/sr:CommandVariant", rule: .value) {
            _ = try ServiceRequest623(requestID: template.requestID, commandVariant: five, body: template.body)
        }
        for cv in ["0", "10", "01", "+1", " 1"] {
            try Self.refuse(replacing: "<sr:CommandVariant>1<", with: "<sr:CommandVariant>\(cv)<", field: "sr:Header/sr:CommandVariant")
        }
        for cv in ["2", "3"] {
            let text = try Self.immediate().replacingOccurrences(of: "<sr:CommandVariant>1<", with: "<sr:CommandVariant>\(cv)<")
            #expect(try DUISFixtures.parse(text).commandVariant.rawValue == UInt8(cv))
        }
    }

    @Test func serviceReference615() throws {
        try Self.refuse(replacing: "<sr:ServiceReference>6.23<", with: "<sr:ServiceReference>6.15<",
                        field: "sr:Header/sr:ServiceReference", rule: .value)
        try Self.refuse(replacing: "<sr:ServiceReferenceVariant>6.23<", with: "<sr:ServiceReferenceVariant>6.15.1<",
                        field: "sr:Header/sr:ServiceReferenceVariant", rule: .value)
    }

    @Test func counter0And2To64() throws {
        let id = "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:"
        try Self.refuse(replacing: id + "1006", with: id + "0", field: "sr:Header/sr:RequestID", rule: .range)
        try Self.refuse(replacing: id + "1006", with: id + "18446744073709551616", field: "sr:Header/sr:RequestID", rule: .range)
        try Self.refuse(replacing: id + "1006", with: id + "01006", field: "sr:Header/sr:RequestID", rule: .lexicalForm)
        let top = try Self.immediate().replacingOccurrences(of: id + "1006", with: id + "18446744073709551615")
        #expect(try DUISFixtures.parse(top).requestID.counter == UInt64.max)
    }

    @Test func floor2To63() throws {
        let floor = "<sr:SupplierFloorSeqNumber>0<"
        try Self.refuse(replacing: floor, with: "<sr:SupplierFloorSeqNumber>9223372036854775808<",
                        field: "\(Self.cos)/sr:SupplierFloorSeqNumber", rule: .range)
        try Self.refuse(replacing: floor, with: "<sr:SupplierFloorSeqNumber>99999999999999999999999<",
                        field: "\(Self.cos)/sr:SupplierFloorSeqNumber", rule: .range)
        try Self.refuse(replacing: floor, with: "<sr:SupplierFloorSeqNumber>-1<",
                        field: "\(Self.cos)/sr:SupplierFloorSeqNumber", rule: .lexicalForm)
        try Self.refuse(replacing: "<sr:SupplierPrepaymentTopUpFloorSeqNumber>0<",
                        with: "<sr:SupplierPrepaymentTopUpFloorSeqNumber>9223372036854775808<",
                        field: "\(Self.cos)/sr:SupplierPrepaymentTopUpFloorSeqNumber", rule: .range)
        let top = try Self.immediate().replacingOccurrences(of: floor, with: "<sr:SupplierFloorSeqNumber>9223372036854775807<")
        #expect(try DUISFixtures.parse(top).body.supplierFloorSeqNumber == 9_223_372_036_854_775_807)

        let b = try DUISFixtures.request(.immediate).body
        DUISFixtures.expectRefusal(field: "\(Self.cos)/sr:SupplierFloorSeqNumber", rule: .range) {
            _ = try UpdateSecurityCredentialsCoS(
                supplierFloorSeqNumber: 1 << 63, supplierReplacementCertificates: b.supplierReplacementCertificates,
                certificationPathCertificates: b.certificationPathCertificates, applyTimeBasedCPVChecks: true, importMPxN: "1")
        }
    }

    @Test func zeroAndFourPathCertificates() throws {
        let text = try Self.immediate()
        let certificate = try #require(text.firstMatch(of: /<sr:Certificate>[^<]*<\/sr:Certificate>/)).output
        let path = "\(Self.cos)/sr:CertificationPathCertificates"
        try Self.refuse(replacing: String(certificate), with: "", field: path, rule: .cardinality)
        try Self.refuse(replacing: String(certificate), with: String(repeating: String(certificate), count: 4), field: path, rule: .cardinality)
        for count in 2...3 {
            let ok = text.replacingOccurrences(of: certificate, with: String(repeating: String(certificate), count: count))
            #expect(try DUISFixtures.parse(ok).body.certificationPathCertificates.count == count)
        }

        let b = try DUISFixtures.request(.immediate).body
        for certificates in [[], Array(repeating: b.certificationPathCertificates[0], count: 4)] {
            DUISFixtures.expectRefusal(field: path, rule: .cardinality) {
                _ = try UpdateSecurityCredentialsCoS(
                    supplierFloorSeqNumber: 0, supplierReplacementCertificates: b.supplierReplacementCertificates,
                    certificationPathCertificates: certificates, applyTimeBasedCPVChecks: true, importMPxN: "1")
            }
        }
    }

    @Test func missingImportMPxN() throws {
        try Self.refuse(replacing: "<sr:ImportMPxN>1312345678333</sr:ImportMPxN>", with: "",
                        field: "\(Self.cos)/sr:ImportMPxN", rule: .missingElement)
        try Self.refuse(replacing: "<sr:ImportMPxN>1312345678333</sr:ImportMPxN>", with: "<sr:ImportMPxN></sr:ImportMPxN>",
                        field: "\(Self.cos)/sr:ImportMPxN", rule: .range)
        try Self.refuse(replacing: "<sr:ImportMPxN>1312345678333</sr:ImportMPxN>", with: "<sr:ImportMPxN>13123456783334</sr:ImportMPxN>",
                        field: "\(Self.cos)/sr:ImportMPxN", rule: .range)
        try Self.refuse(replacing: "<sr:ImportMPxN>1312345678333</sr:ImportMPxN>", with: "<sr:ImportMPxN> 1312345678</sr:ImportMPxN>",
                        field: "\(Self.cos)/sr:ImportMPxN", rule: .lexicalForm)
    }

    @Test func elementsOutOfSchemaOrder() throws {
        try Self.refuse(
            replacing: "<sr:ApplyTimeBasedCPVChecks>true</sr:ApplyTimeBasedCPVChecks>\n      <sr:ImportMPxN>1312345678333</sr:ImportMPxN>",
            with: "<sr:ImportMPxN>1312345678333</sr:ImportMPxN><sr:ApplyTimeBasedCPVChecks>true</sr:ApplyTimeBasedCPVChecks>",
            field: "\(Self.cos)/sr:ApplyTimeBasedCPVChecks", rule: .elementOrder)
        try Self.refuse(
            replacing: "<sr:ServiceReference>6.23</sr:ServiceReference>\n    <sr:ServiceReferenceVariant>6.23</sr:ServiceReferenceVariant>",
            with: "<sr:ServiceReferenceVariant>6.23</sr:ServiceReferenceVariant><sr:ServiceReference>6.23</sr:ServiceReference>",
            field: "sr:Header/sr:ServiceReference", rule: .elementOrder)
        try Self.refuse(
            replacing: "<sr:SupplierFloorSeqNumber>0</sr:SupplierFloorSeqNumber>\n      <sr:SupplierPrepaymentTopUpFloorSeqNumber>0</sr:SupplierPrepaymentTopUpFloorSeqNumber>",
            with: "<sr:SupplierPrepaymentTopUpFloorSeqNumber>0</sr:SupplierPrepaymentTopUpFloorSeqNumber><sr:SupplierFloorSeqNumber>0</sr:SupplierFloorSeqNumber>",
            field: "\(Self.cos)/sr:SupplierFloorSeqNumber", rule: .elementOrder)
        // ExecutionDateTime must come first.
        try Self.refuse(
            replacing: "<sr:ApplyTimeBasedCPVChecks>",
            with: "<sr:ExecutionDateTime>2030-01-02T00:00:00Z</sr:ExecutionDateTime><sr:ApplyTimeBasedCPVChecks>",
            field: "\(Self.cos)/sr:ExecutionDateTime", rule: .elementOrder)
        // Body before Header.
        let text = try Self.immediate()
        let header = try #require(text.firstMatch(of: /<sr:Header>[\s\S]*<\/sr:Header>/)).output
        let swapped = text.replacingOccurrences(of: header, with: "").replacingOccurrences(of: "</sr:Body>", with: "</sr:Body>" + header)
        DUISFixtures.expectRefusal(field: "sr:Header", rule: .elementOrder) { _ = try DUISFixtures.parse(swapped) }
    }

    @Test func refusalsCarryLineAndSource() throws {
        let text = try Self.immediate().replacingOccurrences(of: "<sr:CommandVariant>1<", with: "<sr:CommandVariant>5<")
        let error = DUISFixtures.expectRefusal(field: "sr:Header/sr:CommandVariant") {
            _ = try DUISFixtures.parse(text, source: "in.xml")
        }
        #expect(error?.line == 5)
        #expect(error?.source == "in.xml")
        #expect(error?.description.hasPrefix("in.xml:5: sr:Header/sr:CommandVariant: value: CommandVariant 5") == true)
    }
}

/// The parser is strict: anything the schema does not allow, and a little more, is refused.
@Suite struct ServiceRequest623StrictnessTests {
    static let cos = "sr:Body/sr:UpdateSecurityCredentialsCoS"

    @Test func unknownElement() throws {
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:ImportMPxN>", with: "<sr:Extra>1</sr:Extra><sr:ImportMPxN>",
            field: "\(Self.cos)/sr:Extra", rule: .unexpectedElement)
    }

    @Test func wrongNamespace() throws {
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:ImportMPxN>1312345678333</sr:ImportMPxN>",
            with: "<ImportMPxN>1312345678333</ImportMPxN>",
            field: "\(Self.cos)/ImportMPxN", rule: .unexpectedElement)
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:ImportMPxN>1312345678333</sr:ImportMPxN>",
            with: "<ra:ImportMPxN xmlns:ra=\"http://www.dccinterface.co.uk/ResponseAndAlert\">1312345678333</ra:ImportMPxN>",
            field: "\(Self.cos)/ra:ImportMPxN", rule: .unexpectedElement)
        let text = try DUISFixtures.text(.immediate).replacingOccurrences(
            of: "xmlns:sr=\"http://www.dccinterface.co.uk/ServiceUserGateway\"", with: "xmlns:sr=\"urn:other\"")
        DUISFixtures.expectRefusal(field: "sr:Request", rule: .unexpectedElement) { _ = try DUISFixtures.parse(text) }
    }

    @Test func duplicateElements() throws {
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:ImportMPxN>1312345678333</sr:ImportMPxN>",
            with: "<sr:ImportMPxN>1312345678333</sr:ImportMPxN><sr:ImportMPxN>1312345678333</sr:ImportMPxN>",
            field: "\(Self.cos)/sr:ImportMPxN", rule: .duplicateElement)
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:CommandVariant>1</sr:CommandVariant>",
            with: "<sr:CommandVariant>1</sr:CommandVariant><sr:CommandVariant>1</sr:CommandVariant>",
            field: "sr:Header/sr:CommandVariant", rule: .duplicateElement)
        let text = try DUISFixtures.text(.immediate)
        let signature = try #require(text.firstMatch(of: /<ds:Signature[\s\S]*<\/ds:Signature>/)).output
        let twice = text.replacingOccurrences(of: signature, with: signature + signature)
        DUISFixtures.expectRefusal(field: "ds:Signature", rule: .duplicateElement) { _ = try DUISFixtures.parse(twice) }
    }

    @Test func missingRequiredElements() throws {
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:CommandVariant>1</sr:CommandVariant>", with: "",
            field: "sr:Header/sr:CommandVariant", rule: .missingElement)
        let text = try DUISFixtures.text(.immediate)
        let ds = try #require(text.firstMatch(of: /<sr:DigitalSigningCertificate>[^<]*<\/sr:DigitalSigningCertificate>/)).output
        try ServiceRequest623RefusalTests.refuse(
            replacing: String(ds), with: "",
            field: "\(Self.cos)/sr:SupplierReplacementCertificates/sr:DigitalSigningCertificate", rule: .missingElement)
    }

    @Test func textInElementOnlyContent() throws {
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:ImportMPxN>", with: "stray<sr:ImportMPxN>", field: Self.cos, rule: .unexpectedText)
        try ServiceRequest623RefusalTests.refuse(
            replacing: "</sr:Header>", with: "x</sr:Header>", field: "sr:Header", rule: .unexpectedText)
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:ImportMPxN>", with: "<![CDATA[ ]]><sr:ImportMPxN>", field: Self.cos, rule: .unexpectedNode)
    }

    @Test func commentsProcessingInstructionsAndAttributes() throws {
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:ImportMPxN>", with: "<!-- c --><sr:ImportMPxN>", field: Self.cos, rule: .unexpectedNode)
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:ImportMPxN>", with: "<?pi x?><sr:ImportMPxN>", field: Self.cos, rule: .unexpectedNode)
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:ImportMPxN>", with: "<sr:ImportMPxN id=\"x\">", field: "\(Self.cos)/sr:ImportMPxN", rule: .attribute)
        try ServiceRequest623RefusalTests.refuse(
            replacing: " schemaVersion=\"5.4\"", with: "", field: "sr:Request", rule: .attribute)
        try ServiceRequest623RefusalTests.refuse(
            replacing: " schemaVersion=\"5.4\"", with: " schemaVersion=\"five\"", field: "sr:Request", rule: .attribute)
        try ServiceRequest623RefusalTests.refuse(
            replacing: " schemaVersion=\"5.4\"", with: " schemaVersion=\"5.4\" xsi:schemaLocation=\"x y\"", field: "sr:Request", rule: .attribute)
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:ImportMPxN>1312345678333<", with: "<sr:ImportMPxN>1312345678333<sr:X/><", field: "\(Self.cos)/sr:ImportMPxN/sr:X",
            rule: .unexpectedElement)
    }

    @Test func otherBodiesAndValues() throws {
        try ServiceRequest623RefusalTests.refuse(
            replacing: "UpdateSecurityCredentialsCoS>", with: "UpdateSecurityCredentialsKRP>",
            field: "sr:Body/sr:UpdateSecurityCredentialsKRP", rule: .unexpectedElement)
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:ApplyTimeBasedCPVChecks>true<", with: "<sr:ApplyTimeBasedCPVChecks>yes<",
            field: "\(Self.cos)/sr:ApplyTimeBasedCPVChecks", rule: .lexicalForm)
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:ApplyTimeBasedCPVChecks>", with: "<sr:ExecutionDateTime>2030-01-02T00:00:00</sr:ExecutionDateTime><sr:ApplyTimeBasedCPVChecks>",
            field: "\(Self.cos)/sr:ExecutionDateTime")
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:DigitalSigningCertificate>MIIB", with: "<sr:DigitalSigningCertificate>*MIIB",
            field: "\(Self.cos)/sr:SupplierReplacementCertificates/sr:DigitalSigningCertificate", rule: .lexicalForm)
        let signature = "<ds:Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">"
        try ServiceRequest623RefusalTests.refuse(
            replacing: "<sr:Body>", with: "\(signature)</ds:Signature><sr:Body>", field: "sr:Body", rule: .elementOrder)
    }

    @Test func notXML() {
        DUISFixtures.expectRefusal(field: "", rule: .wellFormedXML) { _ = try DUISFixtures.parse("<sr:Request") }
        let doctype = "<!DOCTYPE r [<!ENTITY e 'x'>]><r/>"
        DUISFixtures.expectRefusal(field: "", rule: .wellFormedXML) { _ = try DUISFixtures.parse(doctype) }
    }

    @Test func claims623() throws {
        let immediate = try XMLDocument(parsing: DUISFixtures.bytes(DUISFixtures.Template.immediate.path))
        #expect(ServiceRequest623.claims623(immediate))
        for other in ["ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML", "8.2_READ_INVENTORY_REQUEST_DUIS.XML",
                      "11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML"] {
            let document = try XMLDocument(parsing: DUISFixtures.bytes(DUISFixtures.templatesFolder.appendingPathComponent(other).path))
            #expect(!ServiceRequest623.claims623(document), "\(other)")
        }
        // Partly 6.23 still claims 6.23, so that it meets the typed checks (and fails them).
        let text = try DUISFixtures.text(.immediate)
        for (from, to) in [("<sr:ServiceReference>6.23<", "<sr:ServiceReference>6.15<"),
                           ("<sr:ServiceReferenceVariant>6.23<", "<sr:ServiceReferenceVariant>6.15.1<")] {
            let document = try XMLDocument(parsing: Array(text.replacingOccurrences(of: from, with: to).utf8))
            #expect(ServiceRequest623.claims623(document))
            #expect(throws: DUISRequestError.self) { try ServiceRequest623(document: document) }
        }
        let notDUIS = try XMLDocument(parsing: Array("<Request><Header><ServiceReferenceVariant>6.23</ServiceReferenceVariant></Header></Request>".utf8))
        #expect(!ServiceRequest623.claims623(notDUIS))
    }
}
