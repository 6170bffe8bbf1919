import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// The single-pass canonicalizer must agree byte for byte with the libxml2 path, or decline. These are
/// correctness tests (no timing); `Scripts/bench` runs the full corpus (20,000 generated documents).
@Suite struct FastCanonicalizerTests {
    /// Every XML file under shared/vectors (the DUIS templates and any others).
    static func sharedXMLFiles() throws -> [(name: String, bytes: [UInt8])] {
        var files: [(name: String, bytes: [UInt8])] = []
        let root = Fixtures.path("vectors")
        let names = (FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []).sorted()
        for name in names where name.lowercased().hasSuffix(".xml") {
            files.append(("vectors/" + name, try Fixtures.bytes("vectors/" + name)))
        }
        // The repository's conformance kit (TestVectors/), when present.
        let kit = TestPaths.repository("TestVectors")
        let kitNames = (FileManager.default.enumerator(atPath: kit)?.compactMap { $0 as? String } ?? []).sorted()
        for name in kitNames where name.lowercased().hasSuffix(".xml") {
            files.append(("TestVectors/" + name, [UInt8](try Data(contentsOf: URL(fileURLWithPath: kit + "/" + name)))))
        }
        return files
    }

    @Test func templatesAgreeAndTakeTheFastPath() throws {
        let files = try Self.sharedXMLFiles()
        #expect(files.count >= 8)
        var report = CanonicalizerDifferential.Report()
        for file in files {
            CanonicalizerDifferential.compare(file.bytes, name: file.name, into: &report)
            // Every DUIS template is inside the fast path's subset when signing.
            if file.name.contains("templates/") {
                #expect(FastCanonicalizer.canonicalize(file.bytes, mode: .signing(compact: true), limits: .default) != nil, "\(file.name)")
            }
        }
        #expect(report.differences.isEmpty, "\(report.differences.joined(separator: "\n"))")
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func generatedCorpusAgrees(seed: UInt64) throws {
        let report = CanonicalizerDifferential.run(files: [], generated: 1500, seed: seed)
        #expect(report.differences.isEmpty, "\(report.differences.prefix(10).joined(separator: "\n"))")
        // The corpus must exercise the fast path (not only its refusals) and the refusals.
        #expect(report.fastHandled * 4 >= report.comparisons, "\(report.summary)")
        #expect(report.referenceRefused > 0)
    }

    static let handWritten: [String] = [
        #"<r xmlns="urn:a" xmlns:b="urn:b" xmlns:a="urn:c" z="1" b:y="2" a:x="3" y="4"/>"#,
        #"<a:r xmlns:a="urn:a"><a:c xmlns:a="urn:a"/><c xmlns="urn:d"><e xmlns=""/></c><f xmlns=""/></a:r>"#,
        "<r a=\"x\ty\r\nz\nw\" b='&quot;&apos;\"' c=\"&#9;&#10;&#13;&lt;&gt;&amp;\">t&#13;\r\nu\rv&gt;&lt;&amp;&#x1F600;é</r>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?p  data ?><!--c--><r><![CDATA[<&>]]]]><?q?><x/><x></x></r>\n<!--after-->\n",
        "<r>\n  <a>  </a>\n  <!-- c -->\n  <b> x </b>\n</r>",
        #"<r xmlns:ds="http://www.w3.org/2000/09/xmldsig#"> <ds:Signature><ds:SignedInfo/></ds:Signature> </r>"#,
        #"<r xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><a/><ds:Signature/></r>"#,
    ]

    @Test(arguments: handWritten)
    func handWrittenCornersAgree(_ text: String) throws {
        var report = CanonicalizerDifferential.Report()
        CanonicalizerDifferential.compare(Array(text.utf8), name: text, into: &report)
        #expect(report.differences.isEmpty, "\(report.differences.joined(separator: "\n"))")
        #expect(report.fastHandled >= 2, "the fast path should handle \(text)")
    }

    static let declined: [String] = [
        "<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>",
        "\u{FEFF}<r/>",
        "<r é=\"1\"/>",
        #"<r xml:lang="en"/>"#,
        #"<r xmlns="relative"/>"#,
        #"<r xmlns:p="http://a#b#c"><p:x/></r>"#,
        "<r/><?pi after?>",
        "<r>&unknown;</r>",
        "<r>]]></r>",
        "<r a='1' a='2'/>",
        #"<r xmlns:p="urn:a" xmlns:q="urn:a" p:x="1" q:x="2"/>"#,
        "<r><a></b></r>",
        "<p:r/>",
        #"<r xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><a><ds:Signature/></a></r>"#,
        "<?xml version=\"1.1\"?><r/>",
        "<r>\u{1}</r>",
    ]

    @Test(arguments: declined)
    func outsideTheSubsetFallsBack(_ text: String) throws {
        #expect(FastCanonicalizer.canonicalize(Array(text.utf8), mode: .signing(compact: true), limits: .default) == nil)
        var report = CanonicalizerDifferential.Report()
        CanonicalizerDifferential.compare(Array(text.utf8), name: text, into: &report)
        #expect(report.differences.isEmpty)
    }

    @Test func depthLimitFallsBack() {
        var limits = XMLParseLimits.default
        limits.maxDepth = 3
        let deep = Array("<a><b><c><d/></c></b></a>".utf8)
        #expect(FastCanonicalizer.canonicalize(deep, mode: .signing(compact: true), limits: limits) == nil)
        #expect(FastCanonicalizer.canonicalize(deep, mode: .signing(compact: true), limits: .default) != nil)
        limits = .default
        limits.maxDocumentBytes = 10
        #expect(FastCanonicalizer.canonicalize(deep, mode: .signing(compact: true), limits: limits) == nil)
    }
}

/// The signer and verifier give the same results on the fast path as on the libxml2 path.
@Suite struct FastPathSigningTests {
    static func signer() throws -> DUISSigner {
        let name = "xml-sign-90B3D51F30010000-ds"
        return try DUISSigner(key: SigningKey(contentsOfFile: Fixtures.path("\(Fixtures.keys)/\(name).key.pem")),
                              certificate: Certificate(contentsOfFile: Fixtures.path("\(Fixtures.keys)/\(name).pem")))
    }

    @Test(arguments: [false, true])
    func bytesAndTreeGiveTheSameSignature(keepWhitespace: Bool) throws {
        let signer = try Self.signer()
        let options = SigningOptions(keepWhitespace: keepWhitespace, deterministic: true)
        for name in Fixtures.template623Names {
            let bytes = try Fixtures.template623(name)
            let fast = try signer.sign(bytes, options: options)
            let tree = try signer.sign(XMLDocument(parsing: bytes), options: options)
            #expect(fast.bytes == tree.bytes, "\(name)")
        }
    }

    @Test func fastVerifyGivesTheSameContentAndRefusesTampering() throws {
        let signer = try Self.signer()
        let verifier = DUISVerifier(certificates: [signer.certificate])
        for name in Fixtures.template623Names {
            let signed = try signer.sign(try Fixtures.template623(name))
            let verified = try verifier.verify(signed.bytes)
            let document = try XMLDocument(parsing: signed.bytes)
            let viaTree = try verifier.verify(document)
            #expect(verified.signedContent == viaTree.signedContent)
            #expect(verified.digestValue == signed.digestValue)
            // Change one character of the content: the digest no longer matches.
            var tampered = signed.bytes
            if let at = tampered.firstIndex(of: UInt8(ascii: "0")) { tampered[at] = UInt8(ascii: "1") }
            #expect(throws: SignatureInvalid.self) { try verifier.verify(tampered) }
        }
    }

    /// The verifier's template path relies on this: the Signature this library writes has, as its exclusive
    /// canonical SignedInfo, exactly the profile's fixed template with the DigestValue.
    @Test func writtenSignedInfoIsTheTemplate() throws {
        let signer = try Self.signer()
        for name in Fixtures.template623Names {
            let signed = try signer.sign(try Fixtures.template623(name))
            let document = try XMLDocument(parsing: signed.bytes)
            let signedInfo = try #require(document.elements(namespaceURI: DUISSignatureProfile.namespace, localName: "SignedInfo").first)
            #expect(try document.exclusiveCanonicalForm(of: signedInfo) == DUISSignatureProfile.canonicalSignedInfo(digestValue: signed.digestValue))
        }
    }

    /// A signature that is not in the exact written form (re-indented, other prefix) still verifies through
    /// the tree path, with the same signed content.
    @Test func otherSignatureLayoutsStillVerify() throws {
        let signer = try Self.signer()
        let verifier = DUISVerifier(certificates: [signer.certificate])
        let signed = try signer.sign(try Fixtures.template623(Fixtures.template623Names[0]))
        let text = String(decoding: signed.bytes, as: UTF8.self)
        let reindented = text.replacingOccurrences(of: "<ds:SignatureValue>", with: "\n<ds:SignatureValue>")
        let verified = try verifier.verify(Array(reindented.utf8))
        #expect(verified.signedContent == (try verifier.verify(signed.bytes)).signedContent)
    }

    /// The memo remembers only the time-independent checks: at any time, first use or later, it gives exactly what
    /// the full checks give (the validity errors included), for explicit times and for the time a request executes.
    @Test func certificateCheckMemoGivesTheFullChecksOutcomeAtAnyTime() throws {
        let memo = CertificateCheckMemo()
        func outcome(_ body: () throws -> Void) -> String {
            do {
                try body()
                return "passed"
            } catch {
                return "\(error)"
            }
        }
        // 2024 (before the replacement certificates), 2026, 2030, 2036 (after them), 2041 (after the path CA).
        let times = [1_704_067_200, 1_767_225_600, 1_893_456_000, 2_082_758_400, 2_240_524_800].map { Date(timeIntervalSince1970: $0) }
        var outcomes = Set<String>()
        for name in Fixtures.template623Names {
            let request = try ServiceRequest623(parsing: Fixtures.template623(name))
            for round in 0..<2 {
                for time in times {
                    for explicit in [nil, time] {
                        let expected = request.certificateTimes(now: time, explicit: explicit)
                        let full = outcome { try request.validateCertificates(at: expected.all, replacementsAt: expected.replacements) }
                        let memoised = outcome { try memo.check(request, times: expected) }
                        #expect(full == memoised, "\(name) round \(round) at \(time) explicit \(explicit != nil)")
                        outcomes.insert(full == "passed" ? "passed" : "refused")
                    }
                }
            }
        }
        #expect(outcomes == ["passed", "refused"])
        #expect(memo.contains(CertificateCheckMemo.key(for: try ServiceRequest623(parsing: Fixtures.template623(Fixtures.template623Names[0])))))
    }
}
