import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// `cos-signer verify --explain / --json / --dump-pre-digest / --accept-java-length-signatures / --dsp-cert /
/// --allow-unsigned-acknowledgements` and `inspect` of DCC messages, through the built binary.
@Suite struct CLIVerifyExplainTests {
    static let kit = KitPaths.kit
    static let userCertificate = "\(kit)/\(KitMaker.explainUserCertificatePath)"
    static let dspCertificate = "\(kit)/\(KitMaker.responsesDSPCertificatePath)"

    static func jsonObjects(_ stdout: String) throws -> [[String: Any]] {
        try stdout.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
    }

    @Test func explainSaysWhyAndHowToFix() throws {
        let result = try CLI.run(["verify", "--cert", Self.userCertificate, "--explain", "\(Self.kit)/explain/pretty-printed-6.23.xml"])
        #expect(result.status == 10, "\(result.stdout)\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("invalid (referenceDigest)") == true)
        #expect(lines.count > 1 && lines[1].hasPrefix("  reformatted-after-signing: "), "\(result.stdout)")
        #expect(lines.count > 2 && lines[2].hasPrefix("    fix: "), "\(result.stdout)")
        #expect(lines.last == "valid 0, invalid 1")
        // Without --explain: the line as before, no diagnosis.
        let plain = try CLI.run(["verify", "--cert", Self.userCertificate, "\(Self.kit)/explain/pretty-printed-6.23.xml"])
        #expect(plain.status == 10)
        #expect(!plain.stdout.contains("reformatted-after-signing"))
    }

    @Test func jsonHasTheContractedShape() throws {
        let valid = "\(Self.kit)/signing/immediate-cv1.signed.xml"
        let result = try CLI.run(["verify", "--cert", Self.userCertificate, "--cert", "\(Self.kit)/pki/keys/ts1-xml-sign.pem", "--json", "--jobs", "1",
                                  "\(Self.kit)/explain/keyinfo-serial-in-hex.xml", valid])
        #expect(result.status == 10, "\(result.stdout)\(result.stderr)")
        let objects = try Self.jsonObjects(result.stdout)
        #expect(objects.count == 2)
        let invalid = try #require(objects.first { ($0["input"] as? String)?.hasSuffix("keyinfo-serial-in-hex.xml") == true })
        #expect(invalid["valid"] as? Bool == false)
        #expect((invalid["reason"] as? String)?.contains("not a decimal integer") == true)
        let diagnoses = try #require(invalid["diagnoses"] as? [[String: Any]])
        #expect(diagnoses.first?["code"] as? String == "wrong-certificate")
        #expect(diagnoses.first?["detail"] is String && diagnoses.first?["fix"] is String)
        #expect(Set(diagnoses.first?.keys.map { $0 } ?? []) == ["code", "detail", "fix"])
        let ok = try #require(objects.first { ($0["input"] as? String) == valid })
        #expect(ok["valid"] as? Bool == true)
        #expect(ok["reason"] is NSNull)
        #expect((ok["diagnoses"] as? [Any])?.isEmpty == true)
        // The contracted keys come first, in order.
        let firstLine = try #require(result.stdout.split(separator: "\n").first)
        #expect(firstLine.hasPrefix("{\"input\":"))
        #expect(firstLine.range(of: "\"valid\":")!.lowerBound < firstLine.range(of: "\"reason\":")!.lowerBound)
        #expect(firstLine.range(of: "\"reason\":")!.lowerBound < firstLine.range(of: "\"diagnoses\":")!.lowerBound)
        // The summary goes to standard error, so standard output is only JSON.
        #expect(result.stderr.contains("valid 1, invalid 1"))
    }

    @Test func dumpPreDigestWritesTheHashedBytes() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("pre-digest.xml").path
        // Valid: the bytes hash to DigestValue.
        let signed = "\(Self.kit)/signing/immediate-cv1.signed.xml"
        let valid = try CLI.run(["verify", "--cert", "\(Self.kit)/pki/keys/ts1-xml-sign.pem", "--dump-pre-digest", out, signed])
        #expect(valid.status == 0, "\(valid.stdout)\(valid.stderr)")
        let text = try Files.read(signed, maxBytes: 1 << 20).utf8String
        let digest = try KitText.between("<ds:DigestValue>", "</ds:DigestValue>", in: text)
        #expect(Base64.encode(SHA256.hash(try Files.read(out, maxBytes: 1 << 20))) == digest)
        // Invalid: the bytes that were hashed, which do not hash to DigestValue.
        let pretty = "\(Self.kit)/explain/pretty-printed-6.23.xml"
        let invalid = try CLI.run(["verify", "--cert", Self.userCertificate, "--dump-pre-digest", out, pretty])
        #expect(invalid.status == 10)
        let dumped = try Files.read(out, maxBytes: 1 << 20)
        #expect(invalid.stdout.contains(Base64.encode(SHA256.hash(dumped))), "the reason names the digest of the dumped bytes")
        #expect(try CLI.run(["verify", "--cert", Self.userCertificate, "--dump-pre-digest", out, pretty, signed]).status == 1)
    }

    @Test func javaLengthSignaturesOnlyWhenAsked() throws {
        let file = "\(Self.kit)/explain/java-length-signature-value-66.xml"
        let refused = try CLI.run(["verify", "--cert", Self.userCertificate, file])
        #expect(refused.status == 10)
        let accepted = try CLI.run(["verify", "--cert", Self.userCertificate, "--accept-java-length-signatures", file])
        #expect(accepted.status == 0, "\(accepted.stdout)\(accepted.stderr)")
        #expect(accepted.stdout.contains("  warning: SignatureValue is 66 bytes"), "\(accepted.stdout)")
        let json = try CLI.run(["verify", "--cert", Self.userCertificate, "--accept-java-length-signatures", "--json", file])
        let object = try #require(try Self.jsonObjects(json.stdout).first)
        #expect((object["warnings"] as? [String])?.count == 1)
        // No warning where it did not matter.
        let plain = try CLI.run(["verify", "--cert", "\(Self.kit)/pki/keys/ts1-xml-sign.pem", "--accept-java-length-signatures",
                                 "\(Self.kit)/signing/immediate-cv1.signed.xml"])
        #expect(plain.status == 0 && !plain.stdout.contains("warning"))
    }

    @Test func dccMessages() throws {
        let responses = "\(Self.kit)/responses"
        let signed = ["response-6.23-immediate", "response-6.23-future-dated", "device-alert", "dcc-alert"].map { "\(responses)/\($0).xml" }
        let ok = try CLI.run(["verify", "--dsp-cert", Self.dspCertificate] + signed)
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        // Through a certificate directory too.
        let viaDirectory = try CLI.run(["verify", "--cert-dir", "\(responses)/certificates"] + signed)
        #expect(viaDirectory.status == 0, "\(viaDirectory.stdout)\(viaDirectory.stderr)")
        // DCC's unsigned acknowledgement: "unsigned", exit 10, unless allowed.
        let ack = Fixtures.path("vectors/dccboxed/signing-tool/acknowledgement-error.xml")
        let unsigned = try CLI.run(["verify", "--dsp-cert", Self.dspCertificate, ack])
        #expect(unsigned.status == 10)
        #expect(unsigned.stdout.contains("acknowledgement-error.xml: unsigned: "), "\(unsigned.stdout)")
        let allowed = try CLI.run(["verify", "--dsp-cert", Self.dspCertificate, "--allow-unsigned-acknowledgements", ack])
        #expect(allowed.status == 0, "\(allowed.stdout)\(allowed.stderr)")
        #expect(allowed.stdout.contains("unsigned") && allowed.stdout.contains("valid 1, invalid 0"))
        // An unsigned response is not an acknowledgement: missing, even when acknowledgements are allowed.
        let missing = try CLI.run(["verify", "--dsp-cert", Self.dspCertificate, "--allow-unsigned-acknowledgements", "\(responses)/response-unsigned.xml"])
        #expect(missing.status == 10)
        #expect(missing.stdout.contains("invalid (missing)"))
        // Tampered: content-changed.
        let tampered = try CLI.run(["verify", "--dsp-cert", Self.dspCertificate, "--explain", "\(Self.kit)/explain/device-alert-tampered.xml"])
        #expect(tampered.status == 10)
        #expect(tampered.stdout.contains("  content-changed: "))
        // --dsp-cert takes DSP XML signing certificates only.
        let wrongRole = try CLI.run(["verify", "--dsp-cert", Self.userCertificate, ack])
        #expect(wrongRole.status == 3, "\(wrongRole.stdout)\(wrongRole.stderr)")
        #expect(wrongRole.stderr.contains("OU is 87"))
    }

    @Test func inspectReadsAResponseHeader() throws {
        let response = "\(Self.kit)/responses/response-6.23-immediate.xml"
        let text = try CLI.run(["inspect", response])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("RequestID:        \(KitMaker.requestID)"))
        #expect(text.stdout.contains("ResponseCode:     I0"))
        #expect(text.stdout.contains("ResponseDateTime: 2030-01-02T00:00:05.123Z"))
        let json = try CLI.run(["inspect", "--json", Fixtures.path("vectors/dccboxed/signing-tool/acknowledgement-error.xml")])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["kind"] as? String == "acknowledgement")
        #expect(object["responseCode"] as? String == "E65")
        #expect(object["requestID"] as? String == "90-B3-D5-1F-30-01-00-00:88-73-84-57-00-2F-96-6C:1658482675800")
        #expect(object["responseDateTime"] as? String == "2022-07-22T09:37:56.134Z")
        #expect(object["signed"] as? Bool == false)
        // Requests are inspected as before.
        let request = try CLI.run(["inspect", "\(Self.kit)/signing/immediate-cv1.xml"])
        #expect(request.status == 0 && request.stdout.contains("6.23"))
    }
}
