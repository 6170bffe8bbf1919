import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// Signer = Business Originator, everywhere; only a valid XML signing certificate signs or verifies a request;
/// a request whose RequestID cannot be read is never signed; certificates are found by issuer and serial without
/// a first-come match.
@Suite struct CLISignerIsOriginatorTests {
    static let pki = try! TestPKI(partyCount: 2, seed: "signer is originator")
    static var ts1: TestPKIParty { pki.parties[0] }

    /// A folder holding the PKI's files and `extra` credentials.
    static func folder(_ extra: [TestPKICredential] = []) throws -> URL {
        let url = try TestPaths.temporaryDirectory()
        try pki.write(to: url.path, force: true)
        for credential in extra {
            try Data(credential.certificate.pem().utf8).write(to: url.appendingPathComponent(credential.certificatePath))
            let key = url.appendingPathComponent(credential.keyPath)
            try Data(try credential.key.pkcs8PEM().utf8).write(to: key)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key.path)
        }
        return url
    }

    @Test func keyAndCertSignOnlyTheirOwnUserIDsRequests() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ relative: String) -> String { dir.appendingPathComponent(relative).path }
        let ts1 = Self.ts1, ts2 = Self.pki.parties[1]
        let key = ["--key", path(ts1.xmlSigning.keyPath), "--cert", path(ts1.xmlSigning.certificatePath)]
        #expect(try CLI.run(["sign"] + key + [path(ts1.immediateRequestPath)]).status == 0)
        let out = path("out.xml")
        let refused = try CLI.run(["sign"] + key + ["-o", out, path(ts2.immediateRequestPath)])
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("the request's Business Originator \(ts2.userID) is not the entity of the signing certificate (serial \(ts1.xmlSigning.certificate.serialNumber), entity \(ts1.userID))"),
                "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // build signs through the same pipeline.
        let built = try CLI.run(["build", "--originator", "\(ts2.userID)", "--target", "\(ts2.businessTarget)", "--counter", "5000",
                                 "--floor", "0", "--signing-cert", path(ts2.digitalSigning.certificatePath),
                                 "--path-cert", path("keys/issuing-ca.pem"), "--mpxn", ts2.importMPxN] + key)
        #expect(built.status == 4, "\(built.stderr)")
    }

    @Test func aCertificateThatIsNotAValidXMLSigningCertificateNeverSigns() throws {
        let ts1 = Self.ts1
        let expired = try Self.pki.issue("ts1-expired-xml-sign", role: "87", entity: ts1.userID, usage: .digitalSignature,
                                         notBefore: DER.time(year: 1999, month: 1, day: 1), notAfter: DER.time(year: 2001, month: 1, day: 1))
        let ca = try Self.pki.issue("ts1-ca-87", kind: .issuingCA, role: "87", commonName: "SIGNING CA", entity: ts1.userID,
                                    usage: [.digitalSignature, .keyCertSign])
        let dir = try Self.folder([expired, ca])
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ relative: String) -> String { dir.appendingPathComponent(relative).path }
        let cases: [(TestPKICredential, String)] = [
            (ts1.digitalSigning, "its subject has OU 02 (Supplier (device certificate))"),
            (ts1.keyAgreement, "its key usage is [keyAgreement]"),
            (ca, "it is a CA certificate"),
            (Self.pki.issuingCA, "its subject has OU 07"),
        ]
        for (credential, reason) in cases {
            let r = try CLI.run(["sign", "--key", path(credential.keyPath), "--cert", path(credential.certificatePath), path(ts1.immediateRequestPath)])
            #expect(r.status == 3, "\(credential.stem): \(r.stderr)")
            #expect(r.stderr.contains("is not an XML signing certificate and cannot sign DUIS requests") && r.stderr.contains(reason),
                    "\(credential.stem): \(r.stderr)")
        }
        // Expired in 2001: refused at signing time.
        let old = try CLI.run(["sign", "--key", path(expired.keyPath), "--cert", path(expired.certificatePath), path(ts1.immediateRequestPath)])
        #expect(old.status == 3)
        #expect(old.stderr.contains("is expired at") && old.stderr.contains("2001-01-01T00:00:00Z"), "\(old.stderr)")
    }

    @Test func aRequestWhoseRequestIDCannotBeReadIsNeverSigned() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ relative: String) -> String { dir.appendingPathComponent(relative).path }
        // A non-6.23 request of ts1 (the 4.1.1 template with ts1's originator), then broken RequestIDs.
        let good = try Fixtures.bytes("\(Fixtures.templates)/ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML").utf8String
            .replacingOccurrences(of: "90-B3-D5-1F-30-01-00-00:", with: "\(Self.ts1.userID):")
        let registry = path("parties.toml")
        let key = ["--key", path(Self.ts1.xmlSigning.keyPath), "--cert", path(Self.ts1.xmlSigning.certificatePath)]
        #expect(try CLI.run(["sign", "--parties", registry, "-"], stdin: Array(good.utf8)).status == 0)
        #expect(try CLI.run(["sign"] + key + ["-"], stdin: Array(good.utf8)).status == 0)
        let requestID = try #require(good.range(of: "<sr:RequestID>").map { good[$0.upperBound...].prefix { $0 != "<" } })
        let broken = [
            " \(requestID) ",
            String(requestID.prefix { $0 != ":" }) + ":" + requestID.split(separator: ":")[1] + ":12x",
            requestID + ":7",
        ]
        for text in broken {
            let document = good.replacingOccurrences(of: "<sr:RequestID>\(requestID)<", with: "<sr:RequestID>\(text)<")
            for options in [["--parties", registry], key] {
                let r = try CLI.run(["sign"] + options + ["-"], stdin: Array(document.utf8))
                #expect(r.status == 2, "\(text): \(r.stderr)")
                #expect(r.stderr.contains("sr:Header/sr:RequestID"), "\(text): \(r.stderr)")
                #expect(r.stdout.isEmpty)
            }
        }
        // A document that is not a DUIS request at all.
        let r = try CLI.run(["sign"] + key + ["-"], stdin: Array("<a>text</a>".utf8))
        #expect(r.status == 2 && r.stderr.contains("only DUIS requests") == false && r.stderr.contains("not a DUIS request"), "\(r.stderr)")
    }

    @Test func verifyChecksTheSignersRoleAndValidityAtTheTimeGiven() throws {
        let ts1 = Self.ts1
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ relative: String) -> String { dir.appendingPathComponent(relative).path }
        let request = ts1.immediateRequest.xmlBytes()
        // Signed (by the bare XML signer) with ts1's device certificate: a sound signature by a certificate that
        // may not sign requests.
        let device = try DUISSigner(key: ts1.digitalSigning.key, certificate: ts1.digitalSigning.certificate).sign(request)
        try Data(device.bytes).write(to: URL(fileURLWithPath: path("device.xml")))
        let v = try CLI.run(["verify", "--cert", path(ts1.digitalSigning.certificatePath), path("device.xml")])
        #expect(v.status == 10)
        #expect(v.stdout.contains("invalid (signingCertificate)") && v.stdout.contains("may not sign a request: its subject has OU 02"), "\(v.stdout)")

        let signed = try CLI.run(["sign", "--key", path(ts1.xmlSigning.keyPath), "--cert", path(ts1.xmlSigning.certificatePath),
                                  "-o", path("signed.xml"), path(ts1.immediateRequestPath)])
        #expect(signed.status == 0, "\(signed.stderr)")
        let cert = ["--cert", path(ts1.xmlSigning.certificatePath)]
        #expect(try CLI.run(["verify"] + cert + [path("signed.xml")]).status == 0)
        #expect(try CLI.run(["verify"] + cert + ["--at", "2030-01-01", path("signed.xml")]).status == 0)
        for at in ["2125-06-01T00:00:00Z", "2024-06-01"] {
            let late = try CLI.run(["verify"] + cert + ["--at", at, path("signed.xml")])
            #expect(late.status == 10, "\(late.stdout)")
            #expect(late.stdout.contains("invalid (certificateValidity)"), "\(late.stdout)")
        }
        let bad = try CLI.run(["verify"] + cert + ["--at", "yesterday", path("signed.xml")])
        #expect(bad.status == 1 && bad.stderr.contains("--at"), "\(bad.stderr)")
    }

    @Test func aCertificateDirectoryWithTwoCertificatesOfOneIssuerAndSerialIsRefused() throws {
        let ts1 = Self.ts1
        let serial = ts1.xmlSigning.certificate.serialNumber.bytes
        let clash = try Self.pki.issue("clash", role: "87", entity: Self.pki.parties[1].userID, usage: .digitalSignature, serial: serial)
        var negative = TestCertificateBuilder.Deviations()
        negative.negativeSerial = true
        let minus = try Self.pki.issue("minus", role: "87", entity: Self.pki.parties[1].userID, usage: .digitalSignature,
                                       deviations: negative, serial: serial)
        let dir = try Self.folder([clash, minus])
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ relative: String) -> String { dir.appendingPathComponent(relative).path }
        let signed = try CLI.run(["sign", "--key", path(ts1.xmlSigning.keyPath), "--cert", path(ts1.xmlSigning.certificatePath),
                                  "-o", path("signed.xml"), path(ts1.immediateRequestPath)])
        #expect(signed.status == 0, "\(signed.stderr)")
        // ts1's certificate and the clash, in one directory: refused before anything is verified, both named.
        let certs = path("certs")
        try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: path(ts1.xmlSigning.certificatePath), toPath: certs + "/a-ts1.pem")
        try FileManager.default.copyItem(atPath: path(clash.certificatePath), toPath: certs + "/b-clash.pem")
        let r = try CLI.run(["verify", "--cert-dir", certs, path("signed.xml")])
        #expect(r.status == 3)
        #expect(r.stderr.contains("a-ts1.pem") && r.stderr.contains("b-clash.pem") && r.stderr.contains("could not tell them apart"), "\(r.stderr)")
        // The same certificate twice is one certificate; the negative serial is another serial.
        try FileManager.default.removeItem(atPath: certs + "/b-clash.pem")
        try FileManager.default.copyItem(atPath: path(ts1.xmlSigning.certificatePath), toPath: certs + "/c-ts1-again.pem")
        try FileManager.default.copyItem(atPath: path(minus.certificatePath), toPath: certs + "/d-minus.pem")
        let ok = try CLI.run(["verify", "--cert-dir", certs, path("signed.xml")])
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
    }
}
