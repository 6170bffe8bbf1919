import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// The DUIS signature profile against the DCC Boxed KATs, xmlsec1 and the known forgeries.
@Suite struct DUISSignatureTests {
    static let keyName = "xml-sign-90B3D51F30010000-ds"

    struct KAT: Decodable {
        struct Case: Decodable { let file: String; let digestValue: String }
        struct Kept: Decodable { let file: String; let digestValue: String }
        let cases: [Case]
        let whitespaceKept: Kept
    }

    static func kat() throws -> KAT {
        try JSONDecoder().decode(KAT.self, from: Data(Fixtures.bytes("vectors/dccboxed/compact-digest-kat.json")))
    }

    static func signer() throws -> DUISSigner {
        let key = try SigningKey(contentsOfFile: Fixtures.path("\(Fixtures.keys)/\(keyName).key.pem"))
        let certificate = try Certificate(contentsOfFile: Fixtures.path("\(Fixtures.keys)/\(keyName).pem"))
        return try DUISSigner(key: key, certificate: certificate)
    }

    static func verifier() throws -> DUISVerifier {
        DUISVerifier(certificates: [try Certificate(contentsOfFile: Fixtures.path("\(Fixtures.keys)/\(keyName).pem"))])
    }

    /// Runs `xmlsec1 --verify` on `bytes`; true when xmlsec1 says OK.
    static func xmlsec1Verifies(_ bytes: [UInt8]) throws -> Bool {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("signed.xml")
        try Data(bytes).write(to: file)
        let result = try TestProcess.run("xmlsec1", [
            "--verify", "--enabled-reference-uris", "empty",
            "--pubkey-cert-pem", Fixtures.path("\(Fixtures.keys)/\(keyName).pem"), file.path,
        ])
        return result.status == 0
    }

    @Test(arguments: [false, true])
    func compactDigestMatchesKATAndXmlsec1Verifies(deterministic: Bool) throws {
        let signer = try Self.signer()
        let verifier = try Self.verifier()
        for c in try Self.kat().cases {
            let signed = try signer.sign(try Fixtures.bytes(c.file), options: SigningOptions(deterministic: deterministic))
            #expect(signed.digestValue == c.digestValue, "\(c.file)")
            #expect(try xmlsec1VerifiesOK(signed.bytes), "xmlsec1 refused our signature of \(c.file)")
            let verified = try verifier.verify(signed.bytes)
            #expect(verified.digestValue == c.digestValue)
            // Compact: no whitespace-only text between elements.
            #expect(!signed.bytes.utf8String.contains(">\n"))
            #expect(try Base64.decode(signed.signatureValue).count == 64)
        }
    }

    func xmlsec1VerifiesOK(_ bytes: [UInt8]) throws -> Bool { try Self.xmlsec1Verifies(bytes) }

    @Test func whitespaceKeptMatchesKATAndXmlsec1Verifies() throws {
        let signer = try Self.signer()
        let kat = try Self.kat()
        let signed = try signer.sign(try Fixtures.bytes(kat.whitespaceKept.file), options: SigningOptions(keepWhitespace: true))
        #expect(signed.digestValue == kat.whitespaceKept.digestValue)
        #expect(try Self.xmlsec1Verifies(signed.bytes))
        _ = try Self.verifier().verify(signed.bytes)
        for name in Fixtures.template623Names {
            let other = try signer.sign(try Fixtures.template623(name), options: SigningOptions(keepWhitespace: true))
            #expect(try Self.xmlsec1Verifies(other.bytes), "\(name)")
            _ = try Self.verifier().verify(other.bytes)
        }
    }

    @Test func deterministicSigningIsByteIdentical() throws {
        let signer = try Self.signer()
        let input = try Fixtures.template623(Fixtures.template623Names[0])
        let a = try signer.sign(input, options: SigningOptions(deterministic: true))
        let b = try signer.sign(input, options: SigningOptions(deterministic: true))
        #expect(a.bytes == b.bytes)
        let c = try signer.sign(input)
        let d = try signer.sign(input)
        #expect(c.signatureValue != d.signatureValue)
        #expect(c.digestValue == a.digestValue)
    }

    @Test func signedBytesAreTheCanonicalFormPlusSignature() throws {
        let signer = try Self.signer()
        let signed = try signer.sign(try Fixtures.template623(Fixtures.template623Names[0]))
        let text = signed.bytes.utf8String
        #expect(text.hasPrefix("<sr:Request xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\""))
        #expect(text.hasSuffix("</ds:Signature></sr:Request>"))
        #expect(text.contains("<ds:X509IssuerName>CN=Z1,OU=07</ds:X509IssuerName><ds:X509SerialNumber>27572613927499351639968579586655397031</ds:X509SerialNumber>"))
        #expect(!text.contains("ZGVmYXVsdA=="), "the placeholder must be gone")
        #expect(!text.contains("<!--"))
    }

    /// A document signed by xmlsec1 from a template, as domain.md E6 describes.
    static func xmlsec1Signed(_ name: String = Fixtures.template623Names[0], compact: Bool = false) throws -> [UInt8] {
        var text = try Fixtures.template623(name).utf8String
        text = text.replacingOccurrences(of: "<ds:X509IssuerName>CN=U1, OU=07</ds:X509IssuerName>", with: "<ds:X509IssuerName>CN=Z1,OU=07</ds:X509IssuerName>")
            .replacingOccurrences(of: "<ds:X509SerialNumber>1234567890</ds:X509SerialNumber>", with: "<ds:X509SerialNumber>27572613927499351639968579586655397031</ds:X509SerialNumber>")
            .replacingOccurrences(of: "ZGVmYXVsdA==", with: "")
        if compact {
            text = text.replacingOccurrences(of: #">\s+<"#, with: "><", options: .regularExpression)
        }
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("template.xml"), output = dir.appendingPathComponent("signed.xml")
        try Data(text.utf8).write(to: input)
        let result = try TestProcess.run("xmlsec1", ["--sign", "--privkey-pem", Fixtures.path("\(Fixtures.keys)/\(keyName).key.pem"), "--output", output.path, input.path])
        try #require(result.status == 0, "xmlsec1 --sign failed: \(result.stderr)")
        return [UInt8](try Data(contentsOf: output))
    }

    @Test(arguments: [false, true])
    func verifiesXmlsec1Signatures(compact: Bool) throws {
        let verifier = try Self.verifier()
        for name in Fixtures.template623Names {
            let verified = try verifier.verify(try Self.xmlsec1Signed(name, compact: compact))
            #expect(verified.certificate.serialNumber.decimal == "27572613927499351639968579586655397031")
            #expect(!verified.signedContent.utf8String.contains("Signature"))
        }
    }

    @Test func acceptsJDKStyleWrappedBase64() throws {
        let signed = try Self.signer().sign(try Fixtures.template623(Fixtures.template623Names[0]))
        var text = signed.bytes.utf8String
        let value = signed.signatureValue
        let wrapped = String(value.prefix(76)) + "&#13;\n" + String(value.dropFirst(76))
        text = text.replacingOccurrences(of: value, with: wrapped)
        _ = try Self.verifier().verify(text.bytes)
    }

    // MARK: - Refusals

    static func expectInvalid(_ bytes: [UInt8], _ part: SignatureInvalid.Part, certificates: [Certificate]? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let verifier = try certificates.map { DUISVerifier(certificates: $0) } ?? Self.verifier()
        do {
            _ = try verifier.verify(bytes)
            Issue.record("accepted a document that must be invalid (\(part))", sourceLocation: sourceLocation)
        } catch let invalid as SignatureInvalid {
            #expect(invalid.part == part, "\(invalid)", sourceLocation: sourceLocation)
            #expect(invalid.failureClass.exitCode == 10, sourceLocation: sourceLocation)
        }
    }

    static func expectXMLError(_ bytes: [UInt8], _ kind: XMLError.Kind, limits: XMLParseLimits = .default, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let start = Date()
        do {
            _ = try DUISVerifier(certificates: [], limits: limits).verify(bytes)
            Issue.record("accepted hostile input", sourceLocation: sourceLocation)
        } catch let error as XMLError {
            #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
            #expect(error.failureClass.exitCode == 2, sourceLocation: sourceLocation)
        }
        #expect(Date().timeIntervalSince(start) < 1.0, "took too long", sourceLocation: sourceLocation)
    }

    func signedText() throws -> String {
        try Self.signer().sign(try Fixtures.template623(Fixtures.template623Names[0]), options: SigningOptions(deterministic: true)).bytes.utf8String
    }

    @Test func refusesTamperedBody() throws {
        let text = try signedText().replacingOccurrences(of: "1312345678333", with: "1312345678334")
        try Self.expectInvalid(text.bytes, .referenceDigest)
        let header = try signedText().replacingOccurrences(of: ":1006<", with: ":1009<")
        try Self.expectInvalid(header.bytes, .referenceDigest)
    }

    @Test func refusesTamperedSignedInfo() throws {
        let text = try signedText().replacingOccurrences(of: "</ds:SignatureMethod><ds:Reference", with: "</ds:SignatureMethod> <ds:Reference")
        try Self.expectInvalid(text.bytes, .signatureValue)
        let digest = try signedText()
        let value = try #require(digest.range(of: "<ds:DigestValue>")).upperBound
        var mutated = digest
        mutated.replaceSubrange(value..<digest.index(value, offsetBy: 1), with: digest[value] == "A" ? "B" : "A")
        try Self.expectInvalid(mutated.bytes, .referenceDigest)
    }

    @Test func refusesFlippedTruncatedAndDERSignatureValues() throws {
        let signer = try Self.signer()
        let signed = try signer.sign(try Fixtures.template623(Fixtures.template623Names[0]))
        let text = signed.bytes.utf8String
        var raw = try Base64.decode(signed.signatureValue)
        raw[10] ^= 0x01
        try Self.expectInvalid(text.replacingOccurrences(of: signed.signatureValue, with: Base64.encode(raw)).bytes, .signatureValue)
        let truncated = Base64.encode(try Base64.decode(signed.signatureValue).prefix(48))
        try Self.expectInvalid(text.replacingOccurrences(of: signed.signatureValue, with: truncated).bytes, .signatureValue)
        let der = try ECDSASignature(rawRepresentation: try Base64.decode(signed.signatureValue)).derRepresentation
        try Self.expectInvalid(text.replacingOccurrences(of: signed.signatureValue, with: Base64.encode(der)).bytes, .signatureValue)
        try Self.expectInvalid(text.replacingOccurrences(of: signed.signatureValue, with: "not*base64").bytes, .signatureValue)
        let long = Base64.encode([UInt8](repeating: 1, count: 65))
        try Self.expectInvalid(text.replacingOccurrences(of: signed.signatureValue, with: long).bytes, .signatureValue)
    }

    @Test func refusesMovedDuplicatedAndRetargetedSignatures() throws {
        let text = try signedText()
        let start = try #require(text.range(of: "<ds:Signature "))
        let end = try #require(text.range(of: "</ds:Signature>"))
        let signature = String(text[start.lowerBound..<end.upperBound])
        let unsigned = text.replacingOccurrences(of: signature, with: "")
        let moved = unsigned.replacingOccurrences(of: "<sr:Body>", with: "<sr:Body>" + signature)
        try Self.expectInvalid(moved.bytes, .profile)
        let two = text.replacingOccurrences(of: "</sr:Request>", with: signature + "</sr:Request>")
        try Self.expectInvalid(two.bytes, .profile)
        let first = unsigned.replacingOccurrences(of: "<sr:Header>", with: signature + "<sr:Header>")
        try Self.expectInvalid(first.bytes, .profile)
        let fragment = text.replacingOccurrences(of: "<ds:Reference URI=\"\">", with: "<ds:Reference URI=\"#x\">")
        try Self.expectInvalid(fragment.bytes, .profile)
        let extraTransform = text.replacingOccurrences(
            of: "</ds:Transform></ds:Transforms>",
            with: "</ds:Transform><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:Transform></ds:Transforms>")
        try Self.expectInvalid(extraTransform.bytes, .profile)
        let withComments = text.replacingOccurrences(of: "http://www.w3.org/2001/10/xml-exc-c14n#\"", with: "http://www.w3.org/2001/10/xml-exc-c14n#WithComments\"")
        try Self.expectInvalid(withComments.bytes, .profile)
        let rsa = text.replacingOccurrences(of: "xmldsig-more#ecdsa-sha256", with: "xmldsig-more#rsa-sha256")
        try Self.expectInvalid(rsa.bytes, .profile)
        let sha1 = text.replacingOccurrences(of: "http://www.w3.org/2001/04/xmlenc#sha256", with: "http://www.w3.org/2000/09/xmldsig#sha1")
        try Self.expectInvalid(sha1.bytes, .profile)
        let foreignNamespace = text.replacingOccurrences(of: "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">", with: "<ds:Signature xmlns:ds=\"http://example.invalid/dsig\">")
        try Self.expectInvalid(foreignNamespace.replacingOccurrences(of: "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" ", with: "").bytes, .missing)
    }

    @Test func refusesWrongKeyInfoAndPlaceholders() throws {
        let text = try signedText()
        let wrongSerial = text.replacingOccurrences(of: "27572613927499351639968579586655397031", with: "27572613927499351639968579586655397032")
        try Self.expectInvalid(wrongSerial.bytes, .keyInfo)
        let wrongIssuer = text.replacingOccurrences(of: "CN=Z1,OU=07", with: "CN=Z2,OU=07")
        try Self.expectInvalid(wrongIssuer.bytes, .keyInfo)
        let spacedIssuer = text.replacingOccurrences(of: "CN=Z1,OU=07", with: "CN=Z1, OU=07")
        _ = try Self.verifier().verify(spacedIssuer.bytes)
        let hugeSerial = text.replacingOccurrences(of: "27572613927499351639968579586655397031", with: String(repeating: "9", count: 1 << 20))
        try Self.expectInvalid(hugeSerial.bytes, .keyInfo)
        let otherCert = try Certificate(contentsOfFile: Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30020000-ds.pem"))
        try Self.expectInvalid(text.bytes, .keyInfo, certificates: [otherCert])
        // Templates carry a placeholder: DigestValue "default" is not a SHA-256 value.
        for name in Fixtures.template623Names {
            try Self.expectInvalid(try Fixtures.template623(name), .profile)
        }
        try Self.expectInvalid(try Fixtures.bytes("vectors/dccboxed/signing-tool/ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"), .missing)
        // The DCC does not sign acknowledgements: reported as unsigned, not as a missing signature.
        try Self.expectInvalid(try Fixtures.bytes("vectors/dccboxed/signing-tool/acknowledgement-error.xml"), .unsigned)
    }

    @Test func refusesHostileXML() throws {
        let text = try signedText()
        try Self.expectXMLError(("<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>" + text).bytes, .doctypeForbidden)
        var laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        for i in 1...9 { laughs += "<!ENTITY lol\(i) \"" + String(repeating: "&lol\(i == 1 ? "" : String(i - 1));", count: 10) + "\">" }
        laughs += "]><lolz>&lol9;</lolz>"
        try Self.expectXMLError(laughs.bytes, .doctypeForbidden)
        var big = [UInt8]("<a>".utf8)
        big.append(contentsOf: repeatElement(UInt8(ascii: "x"), count: 64 << 20))
        big.append(contentsOf: "</a>".utf8)
        try Self.expectXMLError(big, .tooLarge)
        let deep = String(repeating: "<a>", count: 100_000) + String(repeating: "</a>", count: 100_000)
        try Self.expectXMLError(deep.bytes, .tooDeep)
    }

    @Test func refusesToSignANestedSignature() throws {
        let text = try signedText()
        let start = try #require(text.range(of: "<ds:Signature "))
        let end = try #require(text.range(of: "</ds:Signature>"))
        let signature = String(text[start.lowerBound..<end.upperBound])
        let nested = text.replacingOccurrences(of: signature, with: "").replacingOccurrences(of: "<sr:Body>", with: "<sr:Body>" + signature)
        #expect(throws: SigningRefused.self) { try Self.signer().sign(nested.bytes) }
        // A root-level signature (ours) is replaced: re-signing gives the same digest.
        let again = try Self.signer().sign(text.bytes, options: SigningOptions(deterministic: true))
        #expect(again.bytes.utf8String == text)
    }

    @Test func signerRefusesMismatchedKey() throws {
        let key = try SigningKey(contentsOfFile: Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30020000-ds.key.pem"))
        let certificate = try Certificate(contentsOfFile: Fixtures.path("\(Fixtures.keys)/\(Self.keyName).pem"))
        do {
            _ = try DUISSigner(key: key, certificate: certificate)
            Issue.record("accepted a key that does not match its certificate")
        } catch let refused as SigningRefused {
            #expect(refused.failureClass == .keyOrCertificate)
        }
    }

    @Test func oneSignerSignsConcurrently() async throws {
        let signer = try Self.signer()
        let verifier = try Self.verifier()
        let input = try Fixtures.template623(Fixtures.template623Names[1])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<25 { _ = try verifier.verify(try signer.sign(input).bytes) }
                }
            }
            try await group.waitForAll()
        }
    }
}
