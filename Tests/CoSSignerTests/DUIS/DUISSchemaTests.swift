import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

@Suite struct DUISSchemaTests {
    static let schema: Result<DUISSchema, DUISSchemaError> = Result { () throws(DUISSchemaError) in
        try DUISSchema(xsdPath: DUISFixtures.wrapperXSD)
    }

    @Test(arguments: DUISFixtures.Template.allCases)
    func templatesAndTheirWrittenFormsValidate(_ template: DUISFixtures.Template) throws {
        let schema = try Self.schema.get()
        // The template itself, placeholder signature left out.
        try schema.validate(try DUISFixtures.bytes(template.path), source: template.rawValue)
        try DUISFixtures.request(template).validate(against: schema)
    }

    @Test func otherDUISRequestsValidateToo() throws {
        let schema = try Self.schema.get()
        for name in ["ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML", "8.2_READ_INVENTORY_REQUEST_DUIS.XML",
                     "11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML", "ECS46d_6.14.3_IMMEDIATE_APC_INPUT_SUCCESS_REQUEST_DUIS.XML"] {
            try schema.validate(try DUISFixtures.bytes(DUISFixtures.templatesFolder.appendingPathComponent(name).path), source: name)
        }
    }

    @Test func invalidDocumentsAreRefusedWithFieldAndLine() throws {
        let schema = try Self.schema.get()
        let text = try DUISFixtures.text(.immediate)
        let cases: [(String, String, String)] = [
            ("<sr:ImportMPxN>1312345678333<", "<sr:ImportMPxN>13123456783334<", "sr:Body/sr:UpdateSecurityCredentialsCoS/sr:ImportMPxN"),
            ("<sr:SupplierFloorSeqNumber>0<", "<sr:SupplierFloorSeqNumber>9223372036854775808<",
             "sr:Body/sr:UpdateSecurityCredentialsCoS/sr:SupplierFloorSeqNumber"),
            ("<sr:ServiceReference>6.23<", "<sr:ServiceReference>9.99<", "sr:Header/sr:ServiceReference"),
        ]
        for (from, to, field) in cases {
            #expect(text.contains(from))
            do {
                try schema.validate(Array(text.replacingOccurrences(of: from, with: to).utf8), source: "bad.xml")
                Issue.record("accepted \(to)")
            } catch {
                #expect(error.kind == .documentInvalid)
                #expect(error.failureClass == .input)
                #expect(error.problems.first?.field == field, "\(error)")
                #expect(error.problems.first?.line != nil)
                #expect(error.description.hasPrefix("bad.xml:"), "\(error)")
            }
        }
        // Not XML at all.
        #expect(throws: DUISSchemaError.self) { try schema.validate(Array("<sr:Request".utf8)) }
    }

    @Test func schemaDoesNotTieCommandVariantToTheServiceButTheModelDoes() throws {
        let schema = try Self.schema.get()
        let cv5 = try DUISFixtures.text(.immediate).replacingOccurrences(of: "<sr:CommandVariant>1<", with: "<sr:CommandVariant>5<")
        try schema.validate(Array(cv5.utf8))
        #expect(throws: DUISRequestError.self) { try DUISFixtures.parse(cv5) }
    }

    @Test func signatureIsLeftOutUnlessAsked() throws {
        // A signature whose 39-digit serial libxml2 cannot read as xs:integer.
        let text = try DUISFixtures.text(.immediate).replacingOccurrences(
            of: "<ds:X509SerialNumber>1234567890<", with: "<ds:X509SerialNumber>150669612984035780968362471400449834504<")
        let document = try XMLDocument(parsing: Array(text.utf8))
        let schema = try Self.schema.get()
        try schema.validate(document)
        #expect(throws: DUISSchemaError.self) { try schema.validate(document, includingSignature: true) }
        try DUISSchema(xsdPath: DUISFixtures.signedWrapperXSD).validate(document, includingSignature: true)
        // The caller's document is untouched.
        #expect(document.elements(namespaceURI: DUISNamespace.xmldsig, localName: "Signature").count == 1)
    }

    @Test func unusableSchemas() throws {
        do {
            _ = try DUISSchema(xsdPath: "/nonexistent/duis.xsd")
            Issue.record("compiled a missing file")
        } catch {
            #expect(error.kind == .schemaUnusable)
            #expect(error.description.contains("/nonexistent/duis.xsd"))
        }
        do {
            _ = try DUISSchema(xsdPath: DUISFixtures.rawDUISXSD)
            Issue.record("libxml2 compiled the raw DUIS schema; the wrapper would no longer be needed")
        } catch {
            #expect(error.kind == .schemaUnusable)
            #expect(error.problems.contains { $0.message.contains("wrapper") })
        }
        let folder = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let broken = folder.appendingPathComponent("broken.xsd")
        try Data("<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"><xs:element name=\"a\" type=\"nope\"/></xs:schema>".utf8).write(to: broken)
        #expect(throws: DUISSchemaError.self) { try DUISSchema(xsdPath: broken.path) }
        let remote = folder.appendingPathComponent("remote.xsd")
        try Data("""
            <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:import namespace="urn:x" \
            schemaLocation="http://203.0.113.1/x.xsd"/><xs:element name="a" type="xs:string"/></xs:schema>
            """.utf8).write(to: remote)
        // The import is not fetched (no network); libxml2 only warns about the skipped import.
        let start = Date()
        _ = try? DUISSchema(xsdPath: remote.path)
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func libxml2MessagesDoNotReachStandardError() throws {
        let schema = try Self.schema.get()
        let bad = try DUISFixtures.text(.immediate).replacingOccurrences(of: "<sr:ImportMPxN>1312345678333<", with: "<sr:ImportMPxN>13123456783334<")
        let captured = try DUISStandardError.capture {
            #expect(throws: DUISSchemaError.self) { try schema.validate(Array(bad.utf8)) }
            #expect(throws: DUISSchemaError.self) { try DUISSchema(xsdPath: DUISFixtures.rawDUISXSD) }
            _ = try? DUISSchema(xsdPath: DUISFixtures.signedWrapperXSD)  // warns "Skipping import"
            FileHandle.standardError.write(Data("capture-probe".utf8))
        }
        #expect(captured.contains("capture-probe"), "the capture itself does not work")
        // Markers of libxml2's own messages (Swift Testing's progress lines go to stderr as well).
        for marker in ["Schemas validity error", "Schemas parser", "{http://www.dccinterface.co.uk/", "Skipping import of schema",
                       "failed to compile", "does not resolve to"] {
            #expect(!captured.contains(marker), "stderr got: \(captured)")
        }
    }

    @Test func oneSchemaValidatesFromManyTasks() async throws {
        let schema = try Self.schema.get()
        let good = DUISFixtures.compactForm(try DUISFixtures.text(.immediate))
        let bad = good.replacingOccurrences(of: "<sr:ImportMPxN>1312345678333<", with: "<sr:ImportMPxN>13123456783334<")
        let results = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<64 {
                let text = i % 2 == 0 ? good : bad
                group.addTask { (try? schema.validate(Array(text.utf8))) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 32)
    }
}

/// Captures what this process writes to file descriptor 2 while `body` runs.
enum DUISStandardError {
    static func capture(_ body: () throws -> Void) throws -> String {
        let folder = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("stderr.txt")
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        let handle = try FileHandle(forWritingTo: file)
        let saved = dup(2)
        dup2(handle.fileDescriptor, 2)
        do {
            try body()
        } catch {
            dup2(saved, 2)
            close(saved)
            throw error
        }
        dup2(saved, 2)
        close(saved)
        try handle.close()
        return String(decoding: try Data(contentsOf: file), as: UTF8.self)
    }
}
