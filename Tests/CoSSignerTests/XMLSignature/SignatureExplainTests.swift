import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// Shared material: the DCC Boxed XmlSign key of supplier 1 and the DSP's XML signing key, and their certificates.
enum ExplainFixtures {
    static let userCertificatePath = Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30010000-ds.pem")
    static let dspCertificatePath = Fixtures.path("\(Fixtures.keys)/dsp-xml-sign-90B3D51F30000002-ds.pem")

    static func boxed() throws -> KitDCCBoxed { try KitDCCBoxed(shared: Fixtures.shared.path) }

    static func signedTemplate(_ index: Int = 0, keepWhitespace: Bool = false) throws -> String {
        let boxed = try boxed()
        let signer = try DUISSigner(key: boxed.userKey, certificate: boxed.userCertificate)
        return try signer.sign(Array(boxed.templates[index].utf8), options: SigningOptions(keepWhitespace: keepWhitespace, deterministic: true))
            .bytes.utf8String
    }

    static func verifier(_ paths: [String] = [userCertificatePath], explaining: Bool = true) throws -> DUISVerifier {
        var verifier = DUISVerifier(certificates: try paths.map { try Certificate(contentsOfFile: $0) })
        verifier.explainsFailures = explaining
        return verifier
    }

    static func failure(_ text: String, _ verifier: DUISVerifier) -> SignatureInvalid? {
        #expect(throws: SignatureInvalid.self) { try verifier.verify(text.bytes) }
    }
}

@Suite struct SignatureExplainTests {
    @Test func aPrettyPrintedSigned623IsExplainedAsReformatted() throws {
        let signed = try ExplainFixtures.signedTemplate()
        let pretty = KitText.indent(signed)
        let verifier = try ExplainFixtures.verifier()
        let invalid = try #require(ExplainFixtures.failure(pretty, verifier))
        #expect(invalid.part == .referenceDigest)
        #expect(invalid.diagnoses.map(\.code) == [.reformattedAfterSigning], "\(invalid.diagnoses)")
        #expect(invalid.diagnoses[0].detail.contains("compact form"))
        #expect(!invalid.diagnoses[0].fix.isEmpty)
        // explain(_:) gives the same, without the option.
        let plain = try ExplainFixtures.verifier(explaining: false)
        #expect(plain.explain(pretty.bytes) == invalid.diagnoses)
        #expect(ExplainFixtures.failure(pretty, plain)?.diagnoses.isEmpty == true, "diagnoses only when asked")
        // The compact form verifies, as the diagnosis says.
        _ = try verifier.verify(try KitMaker.compacted(pretty).bytes)
    }

    @Test func validDocumentsHaveNoDiagnoses() throws {
        let signed = try ExplainFixtures.signedTemplate()
        let verifier = try ExplainFixtures.verifier()
        #expect(verifier.explain(signed.bytes).isEmpty)
        _ = try verifier.verify(signed.bytes)
    }

    @Test func failuresExplainedByTheirReasonAloneHaveNoDiagnoses() throws {
        let verifier = try ExplainFixtures.verifier()
        let template = try ExplainFixtures.boxed().templates[0]  // placeholder signature: a profile failure
        #expect(ExplainFixtures.failure(template, verifier)?.part == .profile)
        #expect(verifier.explain(template.bytes).isEmpty)
        let unsigned = try KitText.splitSignature(try ExplainFixtures.signedTemplate()).unsigned
        #expect(ExplainFixtures.failure(unsigned, verifier)?.diagnoses.isEmpty == true)
    }

    @Test func everyImplementedCodeHasAKitCaseWithItFirst() throws {
        let manifest = try KitManifest.load(directory: KitPaths.kit)
        let firsts = Set(manifest.cases.filter { $0.group == .explain }.compactMap { $0.expected.diagnoses?.first })
        for code in SignatureDiagnosis.Code.allCases {
            #expect(firsts.contains(code.rawValue), "no explain case expects \(code.rawValue) first")
        }
        // The two codes of a signature that verifies come from the signer checks (RequestVerifier), the others
        // from the ordered list.
        #expect(SignatureDiagnostics.ordered.count == SignatureDiagnosis.Code.allCases.count - 2)
    }

    @Test func wrongCertificateNamesTheOneThatVerifiesAndTheDifference() throws {
        let signed = try ExplainFixtures.signedTemplate()
        // Two certificates given: KeyInfo names the second (which does not verify); the first does.
        let other = Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30020000-ds.pem")
        let otherCertificate = try Certificate(contentsOfFile: other)
        let named = signed
            .replacingOccurrences(of: "27572613927499351639968579586655397031", with: otherCertificate.serialNumber.decimal)
        let verifier = try ExplainFixtures.verifier([ExplainFixtures.userCertificatePath, other])
        let invalid = try #require(ExplainFixtures.failure(named, verifier))
        #expect(invalid.part == .signatureValue)
        let diagnosis = try #require(invalid.diagnoses.first)
        #expect(diagnosis.code == .wrongCertificate, "\(invalid.diagnoses)")
        #expect(diagnosis.detail.contains("xml-sign-90B3D51F30010000-ds.pem"), "\(diagnosis.detail)")
        #expect(diagnosis.detail.contains("whose key does not verify"), "\(diagnosis.detail)")
        #expect(diagnosis.detail.contains("another serial"), "\(diagnosis.detail)")
        // Hex serial with a 0x prefix and colons.
        let hex = "0x" + stride(from: 0, to: 32, by: 2).map { i -> String in
            let digits = Array("14BE4AD2EA1D0E4EC7F7156BD24624A7")
            return String(digits[i..<(i + 2)])
        }.joined(separator: ":")
        let hexed = signed.replacingOccurrences(of: ">27572613927499351639968579586655397031<", with: ">\(hex)<")
        let hexFailure = try #require(ExplainFixtures.failure(hexed, try ExplainFixtures.verifier()))
        #expect(hexFailure.diagnoses.first?.code == .wrongCertificate)
        #expect(hexFailure.diagnoses.first?.detail.contains("written in hex") == true, "\(hexFailure.diagnoses)")
    }

    @Test func contentChangedWhenNothingElseApplies() throws {
        let signed = try ExplainFixtures.signedTemplate()
        let changed = signed.replacingOccurrences(of: "<sr:CommandVariant>1<", with: "<sr:CommandVariant>2<")
        let invalid = try #require(ExplainFixtures.failure(changed, try ExplainFixtures.verifier()))
        #expect(invalid.diagnoses.map(\.code) == [.contentChanged])
        #expect(invalid.diagnoses[0].detail.contains("verifies"), "the SignedInfo signature still verifies: \(invalid.diagnoses[0].detail)")
        // A flipped SignatureValue bit: the content matches, the signature does not.
        let value = try KitText.between("<ds:SignatureValue>", "</ds:SignatureValue>", in: signed)
        var raw = try Base64.decode(value)
        raw[10] ^= 1
        let flipped = signed.replacingOccurrences(of: value, with: Base64.encode(raw))
        let flippedFailure = try #require(ExplainFixtures.failure(flipped, try ExplainFixtures.verifier()))
        #expect(flippedFailure.part == .signatureValue)
        #expect(flippedFailure.diagnoses.map(\.code) == [.contentChanged])
    }
}

@Suite struct JavaLengthSignatureTests {
    static func javaLength(_ extra: Int) throws -> String {
        let signed = try ExplainFixtures.signedTemplate()
        let value = try KitText.between("<ds:SignatureValue>", "</ds:SignatureValue>", in: signed)
        let raw = try Base64.decode(value)
        let java = extra == 2 ? [0] + raw[0..<32] + [0] + raw[32...] : [0] + raw
        return signed.replacingOccurrences(of: value, with: Base64.encode(Array(java)))
    }

    @Test func refusedByDefaultAcceptedWithTheOptionAndAWarning() throws {
        let text = try Self.javaLength(2)
        var verifier = try ExplainFixtures.verifier()
        let invalid = try #require(ExplainFixtures.failure(text, verifier))
        #expect(invalid.part == .signatureValue)
        #expect(invalid.diagnoses.first?.code == .javaLengthSignatureValue)
        verifier.acceptsJavaLengthSignatures = true
        let verified = try verifier.verify(text.bytes)
        #expect(verified.warnings.count == 1)
        #expect(verified.warnings.first?.contains("66 bytes") == true)
        // The fast path never reads them; only the full path does, and only with the option.
        #expect(verifier.fastVerify(text.bytes) == nil)
        // A correct signature gives no warning with the option on.
        #expect(try verifier.verify(try ExplainFixtures.signedTemplate().bytes).warnings.isEmpty)
    }

    @Test func normalization() {
        let r = [UInt8](repeating: 0x81, count: 32), s = [UInt8](repeating: 0x11, count: 32)
        #expect(JavaLengthSignature.normalize([0] + r + [0] + s) == r + s)
        #expect(JavaLengthSignature.normalize([0] + r + s) == r + s)
        #expect(JavaLengthSignature.normalize(s + [0] + r) == s + r)
        #expect(JavaLengthSignature.normalize([1] + r + [0] + s) == nil)
        #expect(JavaLengthSignature.normalize([0] + s + s) == nil, "a leading zero before a byte without its high bit is not Java's")
        #expect(JavaLengthSignature.normalize(r + s) == nil)
    }
}

@Suite struct DCCMessageTests {
    static func dspSigned(_ index: Int = 0) throws -> String {
        let boxed = try ExplainFixtures.boxed()
        return try KitMaker.dspSigned(try KitMaker.dspMessages(boxed)[index].unsigned, boxed)
    }

    @Test func responsesAsDCCsToolWritesThemVerifyWithTheDSPCertificate() throws {
        let verifier = try ExplainFixtures.verifier([ExplainFixtures.dspCertificatePath])
        for index in 0..<4 {
            let text = try Self.dspSigned(index)
            #expect(!text.dropFirst(60).contains("\n<"), "one line apart from the SignatureValue wrap")
            #expect(text.contains("&#13;\n"))
            let verified = try verifier.verify(text.bytes)
            #expect(verified.certificate.subjectOrganizationalUnit == "89")
        }
        let response = try Self.dspSigned(0)
        #expect(try verifier.verify(response.bytes).requestID?.description == KitMaker.requestID)
        // Tampered: explained as content-changed.
        let tampered = response.replacingOccurrences(of: "<sr:ResponseCode>I0<", with: "<sr:ResponseCode>E65<")
        let invalid = try #require(ExplainFixtures.failure(tampered, verifier))
        #expect(invalid.diagnoses.map(\.code) == [.contentChanged])
    }

    @Test func aResponseMustBeSignedWithADSPCertificate() throws {
        let boxed = try ExplainFixtures.boxed()
        let signedByUser = try KitMaker.dspSigned(try KitMaker.dspMessages(boxed)[0].unsigned, boxed, key: boxed.userKey,
                                                  certificate: boxed.userCertificate)
        let verifier = try ExplainFixtures.verifier([ExplainFixtures.userCertificatePath, ExplainFixtures.dspCertificatePath])
        let invalid = try #require(ExplainFixtures.failure(signedByUser, verifier))
        #expect(invalid.part == .keyInfo)
        #expect(invalid.reason.contains("OU 89"), "\(invalid.reason)")
        // The same on one line (the fast path declines responses; the full path refuses).
        let oneLine = try KitMaker.dspSigned(try KitMaker.dspMessages(boxed)[0].unsigned, boxed, key: boxed.userKey,
                                             certificate: boxed.userCertificate, wrap: nil)
        #expect(ExplainFixtures.failure(oneLine, verifier)?.part == .keyInfo)
    }

    @Test func acknowledgementsAreUnsignedResponsesAndAlertsMissing() throws {
        let verifier = try ExplainFixtures.verifier([ExplainFixtures.dspCertificatePath])
        let ack = try Fixtures.bytes("vectors/dccboxed/signing-tool/acknowledgement-error.xml").utf8String
        let invalid = try #require(ExplainFixtures.failure(ack, verifier))
        #expect(invalid.part == .unsigned)
        #expect(invalid.reason.contains("E65") && invalid.reason.contains("acknowledgement"), "\(invalid.reason)")
        let unsignedResponse = try KitMaker.dspMessages(try ExplainFixtures.boxed())[0].unsigned
        #expect(ExplainFixtures.failure(unsignedResponse, verifier)?.part == .missing)
    }

    @Test func kindsAndHeaders() throws {
        let boxed = try ExplainFixtures.boxed()
        let messages = try KitMaker.dspMessages(boxed)
        let kinds = try messages.map { DUISMessageKind(try XMLDocument(parsing: $0.unsigned.bytes)) }
        #expect(kinds == [.response, .response, .deviceAlert, .dccAlert])
        let ack = try Fixtures.bytes("vectors/dccboxed/signing-tool/acknowledgement-error.xml")
        let header = try DUISResponseHeader(parsing: ack)
        #expect(header.kind == .acknowledgement)
        #expect(header.requestID == "90-B3-D5-1F-30-01-00-00:88-73-84-57-00-2F-96-6C:1658482675800")
        #expect(header.responseCode == "E65")
        #expect(header.responseDateTime == "2022-07-22T09:37:56.134Z")
        #expect(header.serviceReference == "11.2" && header.serviceReferenceVariant == "11.2")
        #expect(!header.signed)
        let alert = try DUISResponseHeader(parsing: try Self.dspSigned(2).bytes)
        #expect(alert.kind == .deviceAlert && alert.alertCode == "8F84" && alert.signed)
        #expect(DUISMessageKind(try XMLDocument(parsing: boxed.templates[0].bytes)) == .request)
        // Not a response: refused with the field.
        #expect(throws: DUISRequestError.self) { try DUISResponseHeader(parsing: boxed.templates[0].bytes) }
        let badID = String(decoding: ack, as: UTF8.self).replacingOccurrences(of: ":1658482675800<", with: ":x<")
        let error = #expect(throws: DUISRequestError.self) { try DUISResponseHeader(parsing: badID.bytes) }
        #expect(error?.field == "sr:Header/sr:RequestID")
    }
}

@Suite struct PreDigestTests {
    @Test func thePreDigestOctetsAreWhatTheDigestCovers() throws {
        let signed = try ExplainFixtures.signedTemplate()
        let verifier = try ExplainFixtures.verifier()
        let verified = try verifier.verify(signed.bytes)
        #expect(try verifier.preDigestOctets(signed.bytes) == verified.signedContent)
        let pretty = KitText.indent(signed)
        let octets = try verifier.preDigestOctets(pretty.bytes)
        let (_, content) = try KitText.splitSignature(pretty)
        let expected = try XMLDocument(parsing: content.bytes).inclusiveCanonicalForm()
        #expect(octets == expected)
        let missing = #expect(throws: SignatureInvalid.self) {
            try verifier.preDigestOctets(try ExplainFixtures.boxed().templates[0].replacingOccurrences(of: "ds:Signature", with: "ds:NoSignature").bytes)
        }
        #expect(missing?.part == .missing)
    }
}

/// Fast ⊆ full: whenever a fast path accepts, the full path accepts with the same signed content and certificate,
/// over signed documents and their mutations (the fuzz targets assert the same on random inputs).
@Suite struct FastPathSubsetTests {
    @Test func theFastVerifyPathNeverAcceptsWhatTheFullPathRefuses() throws {
        let verifier = try ExplainFixtures.verifier([ExplainFixtures.userCertificatePath, ExplainFixtures.dspCertificatePath], explaining: false)
        var corpus: [String] = []
        for index in 0..<3 {
            for keep in [false, true] { corpus.append(try ExplainFixtures.signedTemplate(index, keepWhitespace: keep)) }
        }
        corpus.append(try DCCMessageTests.dspSigned(0))
        let mutations: [(String, String)] = [
            (">1312345678333<", ">1312345678<!---->333<"), ("<sr:Body>", "<sr:Body><?pi x?>"), ("<sr:Body>", "<sr:Body><!-- c -->"),
            ("<ds:SignedInfo>", "<ds:SignedInfo><!-- c -->"), ("</sr:Header>", "</sr:Header>\n"), ("<sr:Header>", "<sr:Header><![CDATA[]]>"),
            ("<ds:SignatureValue>", "<ds:SignatureValue>\n"), ("CN=Z1,OU=07", "CN=Z1, OU=07"), ("&#13;\n", ""),
        ]
        var checked = 0
        for base in corpus {
            var variants = [base, "<!-- prolog -->" + base, base + "<?pi after?>"]
            for (from, to) in mutations where base.contains(from) {
                variants.append(base.replacingOccurrences(of: from, with: to))
            }
            for text in variants {
                let bytes = text.bytes
                guard let fast = verifier.fastVerify(bytes) else { continue }
                checked += 1
                let full = try #require(try? verifier.verify(try XMLDocument(parsing: bytes)), "the fast path accepted what the full path refuses: \(text.prefix(200))")
                #expect(fast.signedContent == full.signedContent)
                #expect(fast.certificate == full.certificate)
                #expect(fast.digestValue == full.digestValue)
            }
        }
        #expect(checked >= 6)
    }
}
