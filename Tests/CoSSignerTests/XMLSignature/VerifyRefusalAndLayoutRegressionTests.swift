import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

// Regression tests for issue 17, items 11 and 14. They use only API that existed before the fix, so that they
// build on the base commit and fail there.

/// Item 11: `verify` accepted comments (and processing instructions) inside signed elements, which `sign` and
/// `inspect` refuse: `<sr:ImportMPxN>1312345678<!---->333</sr:ImportMPxN>` still verifies (comments are not
/// signed content), while a reader taking the first text node sees `1312345678`.
@Suite struct VerifyRefusesCommentsInElementsTests {
    static let certificatePath = Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30010000-ds.pem")

    static func signedTemplate() throws -> String {
        let key = try SigningKey(contentsOfFile: Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30010000-ds.key.pem"))
        let certificate = try Certificate(contentsOfFile: certificatePath)
        let signed = try DUISSigner(key: key, certificate: certificate)
            .sign(try Fixtures.template623(Fixtures.template623Names[0]), options: SigningOptions(deterministic: true))
        return signed.bytes.utf8String
    }

    static func verifier() throws -> DUISVerifier {
        DUISVerifier(certificates: [try Certificate(contentsOfFile: certificatePath)])
    }

    static func expectRefused(_ text: String, field: String, mentioning word: String) throws {
        let verifier = try verifier()
        let error = #expect(throws: DUISRequestError.self, "verify(bytes) must refuse it") { try verifier.verify(text.bytes) }
        #expect(error?.rule == .unexpectedNode)
        #expect(error?.field == field)
        #expect(error?.reason.contains(word) == true, "\(error?.description ?? "")")
        // The full path alone gives the same refusal.
        let document = try XMLDocument(parsing: text.bytes)
        #expect(throws: DUISRequestError.self) { try verifier.verify(document) }
    }

    @Test func commentSplittingASignedValueIsRefused() throws {
        let signed = try Self.signedTemplate()
        _ = try Self.verifier().verify(signed.bytes)
        let split = signed.replacingOccurrences(of: ">1312345678333<", with: ">1312345678<!---->333<")
        #expect(split != signed)
        try Self.expectRefused(split, field: "sr:Body/sr:UpdateSecurityCredentialsCoS/sr:ImportMPxN", mentioning: "comment")
    }

    @Test func commentsAndProcessingInstructionsBetweenElementsAreRefused() throws {
        let signed = try Self.signedTemplate()
        try Self.expectRefused(signed.replacingOccurrences(of: "<sr:Body>", with: "<sr:Body><!-- added -->"), field: "sr:Body", mentioning: "comment")
        try Self.expectRefused(signed.replacingOccurrences(of: "<sr:Header>", with: "<!-- x --><sr:Header>"), field: "sr:Request", mentioning: "comment")
        try Self.expectRefused(signed.replacingOccurrences(of: "<sr:CommandVariant>", with: "<sr:CommandVariant><?pi x?>"),
                               field: "sr:Header/sr:CommandVariant", mentioning: "processing instruction <?pi?>")
    }

    @Test func commentsOutsideTheRootAndInsideTheSignatureStayAccepted() throws {
        let signed = try Self.signedTemplate()
        let verifier = try Self.verifier()
        _ = try verifier.verify(("<!-- before -->\n" + signed + "\n<!-- after -->").bytes)
        _ = try verifier.verify(signed.replacingOccurrences(of: "<ds:SignedInfo>", with: "<ds:SignedInfo><!-- not signed -->").bytes)
    }

    @Test func theCLIRefusesItWithExitTwoAndNamesTheElement() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("split.xml").path
        let split = try Self.signedTemplate().replacingOccurrences(of: ">1312345678333<", with: ">1312345678<!---->333<")
        try Data(split.utf8).write(to: URL(fileURLWithPath: path))
        let result = try CLI.run(["verify", "--cert", Self.certificatePath, path])
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("sr:ImportMPxN") && result.stdout.contains("comment"), "\(result.stdout)")
    }
}

/// Item 14: the Signature's byte layout was written three times (the signer, the verifier's template, the
/// canonicalizer's expectations). One definition now: ``DUISSignatureLayout`` in Profile.swift.
@Suite struct SignatureLayoutDefinedOnceTests {
    static let sources = TestPaths.repository.appendingPathComponent("Sources/CoSSigner")

    /// The markup of the layout, outside comments, in a source file.
    static func layoutMarkup(in relative: String) throws -> [String] {
        let text = try String(contentsOf: sources.appendingPathComponent(relative), encoding: .utf8)
        let markers = ["<ds:SignedInfo>", "</ds:DigestValue>", "<ds:SignatureValue>", "</ds:SignatureValue>", "<ds:KeyInfo>",
                       "</ds:X509IssuerName>", "<ds:X509SerialNumber>", "</ds:KeyInfo>", "</ds:Signature>"]
        var found: [String] = []
        for line in text.split(separator: "\n") {
            let code = line.trimmingCharacters(in: .whitespaces)
            if code.hasPrefix("//") { continue }
            let beforeComment = code.components(separatedBy: "//").first ?? code
            for marker in markers where beforeComment.contains(marker) { found.append(marker) }
        }
        return found
    }

    @Test func theSignerVerifierAndCanonicalizerHoldNoLayoutOfTheirOwn() throws {
        for file in ["XMLSignature/DUISSigner.swift", "XMLSignature/DUISVerifier.swift", "XML/FastCanonicalizer.swift"] {
            let markup = try Self.layoutMarkup(in: file)
            #expect(markup.isEmpty, "\(file) writes the Signature's layout itself: \(markup)")
        }
        // The one definition holds each part once.
        let profile = try Self.layoutMarkup(in: "XMLSignature/Profile.swift")
        for marker in ["<ds:SignatureValue>", "</ds:SignatureValue>", "<ds:KeyInfo>", "</ds:X509IssuerName>", "</ds:KeyInfo>", "</ds:Signature>"] {
            #expect(profile.filter { $0 == marker }.count == 1, "\(marker) in Profile.swift: \(profile.filter { $0 == marker }.count)")
        }
    }

    /// What the signer writes is what the verifier's fast path and the full path accept, with the same signed
    /// content, for every DCC Boxed template, compact and whitespace kept.
    @Test func signedOutputsVerifyTheSameOnBothPaths() throws {
        let key = try SigningKey(contentsOfFile: Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30010000-ds.key.pem"))
        let certificate = try Certificate(contentsOfFile: VerifyRefusesCommentsInElementsTests.certificatePath)
        let signer = try DUISSigner(key: key, certificate: certificate)
        let verifier = DUISVerifier(certificates: [certificate])
        let names = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path(Fixtures.templates)).sorted()
        for name in names {
            for keep in [false, true] {
                let signed = try signer.sign(try Fixtures.bytes("\(Fixtures.templates)/\(name)"),
                                             options: SigningOptions(keepWhitespace: keep, deterministic: true))
                let either = try verifier.verify(signed.bytes)
                let full = try verifier.verify(try XMLDocument(parsing: signed.bytes))
                #expect(either.signedContent == full.signedContent, "\(name)")
                #expect(either.digestValue == signed.digestValue && full.digestValue == signed.digestValue, "\(name)")
            }
        }
    }
}
