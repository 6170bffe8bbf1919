import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

/// Hostile variations of a correctly signed 6.23: truncation at every byte, the XML Signature wrapping
/// family, malformed base64, oversized values and a foreign `ds` namespace. Each is refused with the
/// documented exit code (2 for XML that is not acceptable, 10 for an invalid signature), with the failing
/// part named, within bounds, and nothing written.
@Suite(.serialized) struct HostileSignatureTests {
    static let dsig = "http://www.w3.org/2000/09/xmldsig#"

    /// The signed IMMEDIATE 6.23 (compact, deterministic) and its verifier.
    static func signed() throws -> (text: String, verifier: DUISVerifier) {
        let key = try SigningKey(contentsOfFile: Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30010000-ds.key.pem"))
        let certificate = try Certificate(contentsOfFile: HostileKeys.cert)
        let signer = try DUISSigner(key: key, certificate: certificate)
        let document = try signer.sign(try Fixtures.template623(Fixtures.template623Names[0]), options: SigningOptions(deterministic: true))
        return (document.bytes.utf8String, DUISVerifier(certificates: [certificate]))
    }

    @Test func everyTruncationIsRefusedNeverAcceptedNeverCrashes() throws {
        let (text, verifier) = try Self.signed()
        let bytes = text.bytes
        _ = try verifier.verify(bytes)  // the whole document verifies
        let start = Self.threadCPUSeconds()
        var accepted = [Int]()
        for length in 0..<bytes.count {
            let prefix = Array(bytes[..<length])
            if (try? verifier.verify(prefix)) != nil { accepted.append(length) }
            if (try? ServiceRequest623(parsing: prefix)) != nil { accepted.append(length) }
        }
        #expect(accepted.isEmpty, "prefixes accepted: \(accepted.prefix(10))")
        // About 4,400 prefixes, each parsed twice; each refusal is far below 1 ms. CPU time of this thread (the
        // loop is synchronous), so that a loaded machine does not fail the bound.
        #expect(Self.threadCPUSeconds() - start < 20 * HostileLimits.factor)
    }

    static func threadCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    @Test func truncationsThroughTheCLIExitTwoAndWriteNothing() throws {
        let (text, _) = try Self.signed()
        let bytes = text.bytes
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        for length in stride(from: 0, to: bytes.count, by: bytes.count / 12) + [bytes.count - 1] {
            let input = try workspace.write("truncated.xml", Array(bytes[..<length]))
            let before = workspace.contents()
            let run = try HostileCLI.run(["verify", "--cert", HostileKeys.cert, "--signed-content", workspace.path("content.xml"), input])
            expectHostileRefusal(run, exit: 2, mentioning: ["truncated.xml"], workspace: workspace, before: before)
        }
    }

    struct Variant: CustomTestStringConvertible, Sendable {
        let name: String
        /// Makes the hostile document from the signed text and its ds:Signature element text.
        let make: @Sendable (_ text: String, _ signature: String) -> String
        let exit: Int32
        let part: SignatureInvalid.Part?
        let mentions: [String]
        var testDescription: String { name }
    }

    static let variants: [Variant] = [
        Variant(name: "signature moved into the Body", make: { text, signature in
            text.replacingOccurrences(of: signature, with: "").replacingOccurrences(of: "<sr:Body>", with: "<sr:Body>" + signature)
        }, exit: 10, part: .profile, mentions: ["profile", "last child"]),
        Variant(name: "original body kept in a ds:Object, forged body outside", make: { text, signature in
            let body = slice(text, from: "<sr:Body>", to: "</sr:Body>")
            let forged = text.replacingOccurrences(of: "1312345678333", with: "9999999999999")
            let object = "<ds:Object>\(body)</ds:Object>"
            return forged.replacingOccurrences(of: signature, with: signature.replacingOccurrences(of: "</ds:Signature>", with: object + "</ds:Signature>"))
        }, exit: 10, part: .profile, mentions: ["profile"]),
        Variant(name: "signed request wrapped in a new root", make: { text, _ in
            "<w:Wrapper xmlns:w=\"urn:evil\"><w:Forged>9999999999999</w:Forged>\(text)</w:Wrapper>"
        }, exit: 10, part: .profile, mentions: ["profile"]),
        Variant(name: "forged body, original kept in a new element", make: { text, signature in
            let body = slice(text, from: "<sr:Body>", to: "</sr:Body>")
            let forged = text.replacingOccurrences(of: "1312345678333", with: "9999999999999")
            return forged.replacingOccurrences(of: signature, with: "<w:Original xmlns:w=\"urn:evil\">\(body)</w:Original>" + signature)
        }, exit: 10, part: .referenceDigest, mentions: ["digest"]),
        Variant(name: "duplicate IDs", make: { text, _ in
            text.replacingOccurrences(of: "<sr:Header>", with: "<sr:Header Id=\"dup\" xml:id=\"dup\">")
                .replacingOccurrences(of: "<sr:Body>", with: "<sr:Body Id=\"dup\" xml:id=\"dup\">")
        }, exit: 2, part: nil, mentions: ["dup"]),
        Variant(name: "duplicate Id attributes (not xml:id)", make: { text, _ in
            text.replacingOccurrences(of: "<sr:Header>", with: "<sr:Header Id=\"dup\">")
                .replacingOccurrences(of: "<sr:Body>", with: "<sr:Body Id=\"dup\">")
        }, exit: 10, part: .referenceDigest, mentions: ["digest"]),
        Variant(name: "second Signature whose Reference points elsewhere", make: { text, signature in
            let second = signature.replacingOccurrences(of: "<ds:Reference URI=\"\">", with: "<ds:Reference URI=\"#dup\">")
            return text.replacingOccurrences(of: "<sr:Body>", with: "<sr:Body Id=\"dup\">").replacingOccurrences(of: signature, with: second + signature)
        }, exit: 10, part: .profile, mentions: ["2 ds:Signature"]),
        Variant(name: "base64 with illegal characters in SignatureValue", make: { text, _ in
            replacingContent(of: "SignatureValue", in: text) { "*" + $0.dropFirst() }
        }, exit: 10, part: .signatureValue, mentions: ["base64"]),
        Variant(name: "base64 with illegal characters in DigestValue", make: { text, _ in
            replacingContent(of: "DigestValue", in: text) { $0.dropLast(2) + "%=" }
        }, exit: 10, part: nil, mentions: ["base64"]),
        Variant(name: "10 KB SignatureValue", make: { text, _ in
            replacingContent(of: "SignatureValue", in: text) { _ in Base64.encode([UInt8](repeating: 0x5A, count: 10 * 1024)) }
        }, exit: 10, part: .signatureValue, mentions: ["64"]),
        Variant(name: "1 MB X509SerialNumber", make: { text, _ in
            replacingContent(of: "X509SerialNumber", in: text) { _ in String(repeating: "9", count: 1 << 20) }
        }, exit: 10, part: .keyInfo, mentions: ["serial"]),
        Variant(name: "unknown namespace for ds", make: { text, _ in
            text.replacingOccurrences(of: "xmlns:ds=\"\(dsig)\"", with: "xmlns:ds=\"http://example.invalid/not-dsig#\"")
        }, exit: 10, part: .missing, mentions: ["no ds:Signature"]),
    ]

    @Test(arguments: variants)
    func refused(_ variant: Variant) throws {
        let (text, verifier) = try Self.signed()
        let signature = Self.slice(text, from: "<ds:Signature", to: "</ds:Signature>")
        let hostile = variant.make(text, signature)
        #expect(hostile != text, "the variant changed nothing")
        // In the library: refused, with the failing part.
        do {
            _ = try verifier.verify(hostile.bytes)
            Issue.record("\(variant.name): accepted")
        } catch let invalid as SignatureInvalid {
            #expect(variant.exit == 10, "\(variant.name): \(invalid)")
            if let part = variant.part { #expect(invalid.part == part, "\(variant.name): \(invalid)") }
        } catch let error as XMLError {
            #expect(variant.exit == 2, "\(variant.name): \(error)")
        }
        // Through the CLI: the exit code, the reason, the bounds, nothing written.
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let input = try workspace.write("hostile.xml", hostile.bytes)
        let before = workspace.contents()
        let run = try HostileCLI.run(["verify", "--cert", HostileKeys.cert, "--signed-content", workspace.path("content.xml"), input])
        expectHostileRefusal(run, exit: variant.exit, mentioning: ["hostile.xml"] + variant.mentions, workspace: workspace, before: before)
    }

    static func slice(_ text: String, from start: String, to end: String) -> String {
        guard let lower = text.range(of: start), let upper = text.range(of: end, range: lower.upperBound..<text.endIndex) else {
            Issue.record("'\(start)' … '\(end)' not found")
            return ""
        }
        return String(text[lower.lowerBound..<upper.upperBound])
    }

    static func replacingContent(of localName: String, in text: String, _ change: (Substring) -> String) -> String {
        guard let open = text.range(of: "<ds:\(localName)>"), let close = text.range(of: "</ds:\(localName)>", range: open.upperBound..<text.endIndex) else {
            Issue.record("ds:\(localName) not found")
            return text
        }
        return text.replacingCharacters(in: open.upperBound..<close.lowerBound, with: change(text[open.upperBound..<close.lowerBound]))
    }
}
