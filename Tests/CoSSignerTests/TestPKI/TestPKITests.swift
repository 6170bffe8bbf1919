import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// Helpers for the test PKI tests.
enum TestPKITestSupport {
    static let seed = "cossigner-tests"
    static let wrapperXSD = Fixtures.path("schema/duis-5.4/duis-5.4-xmllint-wrapper.xsd")

    static func pki(parties: Int = 2) throws -> TestPKI { try TestPKI(partyCount: parties, seed: seed) }

    /// Writes a seeded PKI to a fresh directory.
    static func written(parties: Int = 2) throws -> (TestPKI, URL) {
        let pki = try pki(parties: parties)
        let directory = try TestPaths.temporaryDirectory().appendingPathComponent("pki")
        try pki.write(to: directory.path)
        return (pki, directory)
    }

    /// Every regular file under `directory`, by relative path.
    static func tree(_ directory: URL) throws -> [String: Data] {
        var result: [String: Data] = [:]
        let base = directory.path.hasSuffix("/") ? directory.path : directory.path + "/"
        guard let walker = FileManager.default.enumerator(atPath: directory.path) else { return [:] }
        for case let relative as String in walker {
            var isDirectory: ObjCBool = false
            let full = base + relative
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                result[relative] = try Data(contentsOf: URL(fileURLWithPath: full))
            }
        }
        return result
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }

    static func permissions(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }
}

@Suite struct TestPKITests {
    typealias Support = TestPKITestSupport

    static let policyExtension: [UInt8] = [0x06, 0x03, 0x55, 0x1D, 0x20, 0x01, 0x01, 0xFF, 0x04, 0x13, 0x30, 0x11, 0x30, 0x0F,
                                           0x06, 0x0D, 0x2A, 0x86, 0x3A, 0x00, 0x01, 0x84, 0x8F, 0xB9, 0x0F, 0x01, 0x02, 0x01, 0x04]
    static let skiPrefix: [UInt8] = [0x06, 0x03, 0x55, 0x1D, 0x0E, 0x04, 0x0A, 0x04, 0x08]
    static let akiPrefix: [UInt8] = [0x06, 0x03, 0x55, 0x1D, 0x23, 0x04, 0x0C, 0x30, 0x0A, 0x80, 0x08]

    @Test func certificatesHaveTheSMKIShape() throws {
        let pki = try Support.pki()
        let root = pki.root.certificate
        let issuing = pki.issuingCA.certificate
        #expect(root.subjectOrganizationalUnit == "00")
        #expect(root.subjectCommonName == "COSSIGNER TEST ROOT")
        #expect(root.isIssued(by: root))
        #expect(root.keyUsage == [.keyCertSign, .cRLSign])
        #expect(issuing.subjectOrganizationalUnit == "07")
        #expect(issuing.subjectCommonName == "COSSIGNER TEST ISSUING")
        #expect(issuing.keyUsage == [.keyCertSign, .cRLSign])
        #expect(issuing.isIssued(by: root))
        #expect(!issuing.isIssued(by: issuing))
        // basicConstraints critical, CA:TRUE, pathLenConstraint 0.
        #expect(Support.contains(issuing.derBytes, [0x06, 0x03, 0x55, 0x1D, 0x13, 0x01, 0x01, 0xFF, 0x04, 0x08,
                                                     0x30, 0x06, 0x01, 0x01, 0xFF, 0x02, 0x01, 0x00]))
        #expect(Support.contains(root.derBytes, [0x06, 0x03, 0x55, 0x1D, 0x13, 0x01, 0x01, 0xFF, 0x04, 0x05,
                                                 0x30, 0x03, 0x01, 0x01, 0xFF]))
        #expect(!Support.contains(root.derBytes, Self.akiPrefix), "a self-signed root carries no AKI")

        let expected: [(KeyPath<TestPKIParty, TestPKICredential>, String, KeyUsage, String?)] = [
            (\.xmlSigning, "87", .digitalSignature, nil),
            (\.digitalSigning, "02", .digitalSignature, "TESTSUPPLIER"),
            (\.keyAgreement, "02", .keyAgreement, nil),
            (\.keyAgreementTopUp, "02", .keyAgreement, nil),
        ]
        var serials: Set<SerialNumber> = [root.serialNumber, issuing.serialNumber]
        for (index, party) in pki.parties.enumerated() {
            #expect(party.id == "ts\(index + 1)")
            #expect(party.name == "Test Supplier \(index + 1)")
            #expect(party.mpids == ["TS\(index + 1)E", "TS\(index + 1)G"])
            #expect(party.userID.description == "90-B3-D5-1F-3F-0\(index + 1)-00-00")
            for (path, ou, usage, commonName) in expected {
                let credential = party[keyPath: path]
                let certificate = credential.certificate
                #expect(certificate.subjectOrganizationalUnit == ou, "\(credential.stem)")
                #expect(certificate.subjectCommonName == commonName.map { "\($0)\(index + 1)" })
                #expect(certificate.entityIdentifier == party.userID)
                #expect(certificate.keyUsage == usage)
                #expect(certificate.policies == [TestPKI.policyOID])
                #expect(certificate.isP256)
                #expect(certificate.signatureAlgorithmOID == "1.2.840.10045.4.3.2")
                #expect(certificate.isIssued(by: issuing))
                #expect(!certificate.isIssued(by: root))
                #expect(certificate.matches(credential.key))
                #expect(!certificate.matches(pki.root.key))
                let der = certificate.derBytes
                // x500UniqueIdentifier as a 64-bit BIT STRING: 03 09 00 <8 octets>.
                #expect(Support.contains(der, [0x06, 0x03, 0x55, 0x04, 0x2D, 0x03, 0x09, 0x00] + party.userID.octets))
                // keyUsage critical.
                #expect(Support.contains(der, [0x06, 0x03, 0x55, 0x1D, 0x0F, 0x01, 0x01, 0xFF]))
                #expect(Support.contains(der, Self.policyExtension))
                #expect(Support.contains(der, Self.skiPrefix))
                #expect(Support.contains(der, Self.akiPrefix))
                // 16-byte positive serial: INTEGER of length 16, top bit clear.
                #expect(certificate.serialNumber.bytes.count == 16)
                #expect(certificate.serialNumber.bytes[0] & 0x80 == 0)
                serials.insert(certificate.serialNumber)
                // Long validity, independent of the clock.
                #expect(certificate.notBefore == Date(timeIntervalSince1970: 1_735_689_600))  // 2025-01-01
                #expect(certificate.notAfter > Date(timeIntervalSince1970: 4_890_000_000))  // after 2124-12
            }
        }
        #expect(serials.count == 2 + 4 * pki.parties.count)
        // The AKI of each end entity is the issuing CA's SKI.
        let issuingSKI = try TestCertificateBuilder.keyIdentifier(pki.issuingCA.key.publicKey)
        #expect(Support.contains(pki.parties[0].xmlSigning.certificate.derBytes, Self.akiPrefix + issuingSKI))
        #expect(Support.contains(issuing.derBytes, Self.skiPrefix + issuingSKI))
    }

    @Test func sampleRequestsAreValid623s() throws {
        let pki = try Support.pki()
        let schema = try DUISSchema(xsdPath: Support.wrapperXSD)
        for party in pki.parties {
            for (request, counter, futureDated) in [(party.immediateRequest, UInt64(1000), false),
                                                    (party.futureDatedRequest, UInt64(1001), true)] {
                let bytes = request.xmlBytes()
                let parsed = try ServiceRequest623(parsing: bytes, source: party.id)
                #expect(parsed == request)
                #expect(parsed.requestID.businessOriginator == party.userID)
                #expect(parsed.requestID.businessTarget == party.businessTarget)
                #expect(parsed.requestID.counter == counter)
                #expect(parsed.body.isFutureDated == futureDated)
                #expect(parsed.body.importMPxN == party.importMPxN)
                #expect(parsed.body.supplierReplacementCertificates.digitalSigningCertificate == party.digitalSigning.certificate.derBytes)
                #expect(parsed.body.supplierReplacementCertificates.keyAgreementCertificate == party.keyAgreement.certificate.derBytes)
                #expect(parsed.body.supplierReplacementCertificates.keyAgreementTopUpCertificate == party.keyAgreementTopUp.certificate.derBytes)
                #expect(parsed.body.certificationPathCertificates == [pki.issuingCA.certificate.derBytes])
                try parsed.validateCertificates(at: Date())
                try parsed.checkFutureDated(now: Date())
                try schema.validate(bytes, source: party.immediateRequestPath)
            }
        }
        #expect(pki.parties[0].businessTarget.description == "00-DB-12-34-56-78-90-A0")
        #expect(pki.parties[1].businessTarget.description == "00-DB-12-34-56-78-91-A0")
    }

    @Test func sampleMPxNsHaveValidCheckDigits() throws {
        let pki = try Support.pki(parties: 12)
        let weights = [3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43]
        for party in pki.parties {
            let digits = party.importMPxN.compactMap { $0.wholeNumberValue }
            #expect(digits.count == 13)
            #expect(zip(digits, weights).reduce(0) { $0 + $1.0 * $1.1 } % 11 % 10 == digits[12])
        }
        #expect(Set(pki.parties.map(\.importMPxN)).count == 12)
        #expect(pki.parties[9].mpids == ["T10E", "T10G"])
        #expect(pki.parties[11].userID.description == "90-B3-D5-1F-3F-0C-00-00")
    }

    @Test func signingASampleRequestVerifiesHereAndWithXmlsec1() throws {
        let (pki, directory) = try Support.written()
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        let party = pki.parties[1]
        // Load the key and certificate back from the files, as a user would.
        let key = try SigningKey(contentsOfFile: directory.appendingPathComponent(party.xmlSigning.keyPath).path)
        let certificatePath = directory.appendingPathComponent(party.xmlSigning.certificatePath).path
        let certificate = try Certificate(contentsOfFile: certificatePath)
        #expect(certificate == party.xmlSigning.certificate)
        let request = try Support.tree(directory)[party.immediateRequestPath].map { [UInt8]($0) } ?? []
        let signed = try DUISSigner(key: key, certificate: certificate).sign(request, source: party.immediateRequestPath)
        let verified = try DUISVerifier(certificates: [certificate]).verify(signed.bytes)
        #expect(verified.certificate == certificate)
        let signedPath = directory.appendingPathComponent("signed.xml").path
        try Data(signed.bytes).write(to: URL(fileURLWithPath: signedPath))
        let xmlsec = try TestProcess.run("xmlsec1", ["--verify", "--enabled-reference-uris", "empty", "--pubkey-cert-pem", certificatePath, signedPath])
        #expect(xmlsec.status == 0, "\(xmlsec.stderr)")
        #expect(xmlsec.stderr.contains("OK"))
        // The wrong party's certificate does not verify it.
        let other = directory.appendingPathComponent(pki.parties[0].xmlSigning.certificatePath).path
        #expect(try TestProcess.run("xmlsec1", ["--verify", "--enabled-reference-uris", "empty", "--pubkey-cert-pem", other, signedPath]).status != 0)
    }

    @Test func opensslVerifiesEveryCertificateAgainstTheRoot() throws {
        let (pki, directory) = try Support.written()
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        let rootPath = directory.appendingPathComponent(pki.root.certificatePath).path
        let issuingPath = directory.appendingPathComponent(pki.issuingCA.certificatePath).path
        let paths = [issuingPath] + pki.parties.flatMap(\.credentials).map { directory.appendingPathComponent($0.certificatePath).path }
        let result = try TestProcess.run("openssl", ["verify", "-CAfile", rootPath, "-untrusted", issuingPath] + paths)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        for path in paths { #expect(result.stdout.contains("\(path): OK"), "\(result.stdout)") }
        // A certificate of another PKI fails.
        let stranger = try TestPKI(partyCount: 1, seed: "someone else")
        let strangerPath = directory.appendingPathComponent("stranger.pem").path
        try Data(stranger.parties[0].xmlSigning.certificate.pem().utf8).write(to: URL(fileURLWithPath: strangerPath))
        #expect(try TestProcess.run("openssl", ["verify", "-CAfile", rootPath, "-untrusted", issuingPath, strangerPath]).status != 0)
        // And the key files match the certificates, per openssl too.
        let keyPath = directory.appendingPathComponent(pki.parties[0].keyAgreement.keyPath).path
        let certPath = directory.appendingPathComponent(pki.parties[0].keyAgreement.certificatePath).path
        let fromKey = try TestProcess.run("openssl", ["pkey", "-in", keyPath, "-pubout"])
        let fromCert = try TestProcess.run("openssl", ["x509", "-in", certPath, "-noout", "-pubkey"])
        #expect(fromKey.status == 0 && !fromKey.stdout.isEmpty)
        #expect(fromKey.stdout == fromCert.stdout)
    }

    @Test func filesLayoutModesAndRegistry() throws {
        let (pki, directory) = try Support.written()
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        let tree = try Support.tree(directory)
        let expectedPaths: Set<String> = Set(
            ["keys/root-ca", "keys/issuing-ca"].flatMap { ["\($0).pem", "\($0).key.pem"] }
                + ["ts1", "ts2"].flatMap { id in
                    ["xml-sign", "ds", "ka", "ka-topup"].flatMap { ["keys/\(id)-\($0).pem", "keys/\(id)-\($0).key.pem"] }
                        + ["requests/\(id)-immediate.xml", "requests/\(id)-future-dated.xml"]
                }
                + ["parties.toml", "registration.csv", "README.txt"])
        #expect(Set(tree.keys) == expectedPaths)
        for path in expectedPaths {
            let mode = try Support.permissions(directory.appendingPathComponent(path).path)
            #expect(mode == (path.hasSuffix(".key.pem") ? 0o600 : 0o644), "\(path) has mode \(String(mode, radix: 8))")
            if path.hasSuffix(".key.pem") {
                #expect(String(decoding: tree[path] ?? Data(), as: UTF8.self).hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
            } else if path.hasSuffix(".pem") {
                #expect(String(decoding: tree[path] ?? Data(), as: UTF8.self).hasPrefix("-----BEGIN CERTIFICATE-----\n"))
            }
        }
        #expect(try Support.permissions(directory.appendingPathComponent("keys").path) == 0o700)
        #expect(String(decoding: tree["parties.toml"] ?? Data(), as: UTF8.self) == """
            # CoSSigner test PKI — NOT FOR PRODUCTION
            [[party]]
            id = "ts1"
            name = "Test Supplier 1"
            mpids = ["TS1E", "TS1G"]
            user_ids = ["90-B3-D5-1F-3F-01-00-00"]
            signing_key = "keys/ts1-xml-sign.key.pem"
            signing_certificate = "keys/ts1-xml-sign.pem"

            [[party]]
            id = "ts2"
            name = "Test Supplier 2"
            mpids = ["TS2E", "TS2G"]
            user_ids = ["90-B3-D5-1F-3F-02-00-00"]
            signing_key = "keys/ts2-xml-sign.key.pem"
            signing_certificate = "keys/ts2-xml-sign.pem"

            """)
        #expect(String(decoding: tree["registration.csv"] ?? Data(), as: UTF8.self) == """
            mpxn,mpid,effective_from
            \(pki.parties[0].importMPxN),TS1E,2020-01-01
            \(pki.parties[1].importMPxN),TS2E,2020-01-01

            """)
        // Every registered MPxN is the ImportMPxN of that party's sample requests.
        for party in pki.parties {
            let request = try ServiceRequest623(parsing: [UInt8](tree[party.futureDatedRequestPath] ?? Data()))
            #expect(request.body.importMPxN == party.importMPxN)
        }
    }

    @Test func sameSeedSameBytesOtherwiseDifferent() throws {
        let a = try Support.pki().files()
        let b = try Support.pki().files()
        #expect(a == b)
        let other = try TestPKI(partyCount: 2, seed: "another seed").files()
        let random1 = try TestPKI(partyCount: 1).files()
        let random2 = try TestPKI(partyCount: 1).files()
        for (x, y) in [(a, other), (random1, random2)] {
            let keysX = x.filter(\.isSecret).map(\.bytes)
            let keysY = y.filter(\.isSecret).map(\.bytes)
            #expect(Set(keysX).isDisjoint(with: Set(keysY)))
        }
        // Every key of one PKI is different.
        #expect(Set(a.filter(\.isSecret).map(\.bytes)).count == 2 + 4 * 2)
    }

    @Test func refusesBadOptionsAndNonEmptyDirectories() throws {
        #expect(throws: TestPKIError(kind: .invalidOptions, reason: "")) { try TestPKI(partyCount: 0) }
        #expect(throws: TestPKIError(kind: .invalidOptions, reason: "")) { try TestPKI(partyCount: 100) }
        #expect(throws: TestPKIError(kind: .invalidOptions, reason: "")) { try TestPKI(name: "Ünïcode") }
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("mine".utf8).write(to: directory.appendingPathComponent("notes.txt"))
        let pki = try TestPKI(partyCount: 1, seed: "x")
        do {
            try pki.write(to: directory.path)
            Issue.record("a non-empty directory must be refused")
        } catch {
            #expect(error.kind == .directoryNotEmpty)
            #expect(error.failureClass == .usage)
            #expect(error.path == directory.path)
        }
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("keys").path))
        try pki.write(to: directory.path, force: true)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("parties.toml").path))
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("notes.txt").path))
        #expect(throws: TestPKIError(kind: .io, reason: "")) {
            try pki.write(to: "/proc/cossigner-cannot-create-this")
        }
    }
}

@Suite struct TestPKICLITests {
    typealias Support = TestPKITestSupport

    @Test func cliIsReproducibleRefusesToOverwriteAndSignsEndToEnd() throws {
        let base = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: base) }
        let first = base.appendingPathComponent("one").path
        let second = base.appendingPathComponent("two").path
        var r = try CLI.run(["testpki", first, "--seed", "S", "--parties", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("ts3: User ID 90-B3-D5-1F-3F-03-00-00"))
        r = try CLI.run(["testpki", second, "--seed", "S", "--parties", "3"])
        #expect(r.status == 0)
        let a = try Support.tree(URL(fileURLWithPath: first))
        let b = try Support.tree(URL(fileURLWithPath: second))
        #expect(a.count == 2 * 2 + 3 * 10 + 3)
        #expect(a == b, "the same seed must give byte-identical files")
        // The library with the same seed writes the same bytes as the CLI.
        let library = try TestPKI(partyCount: 3, seed: "S").files()
        for file in library { #expect(a[file.path] == Data(file.bytes), "\(file.path)") }

        // Refuses a non-empty directory (usage, exit 1) unless --force.
        r = try CLI.run(["testpki", first, "--seed", "S"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("--force"))
        #expect(try CLI.run(["testpki", first, "--seed", "S", "--force"]).status == 0)
        #expect(try CLI.run(["testpki", base.appendingPathComponent("x").path, "--parties", "0"]).status == 1)

        // Sign a sample request with the CLI and verify it (our verifier and xmlsec1).
        let key = "\(first)/keys/ts1-xml-sign.key.pem"
        let cert = "\(first)/keys/ts1-xml-sign.pem"
        let signed = base.appendingPathComponent("signed.xml").path
        r = try CLI.run(["sign", "--key", key, "--cert", cert, "-o", signed, "\(first)/requests/ts1-future-dated.xml"])
        #expect(r.status == 0, "\(r.stderr)")
        r = try CLI.run(["verify", "--cert", cert, signed])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let xmlsec = try TestProcess.run("xmlsec1", ["--verify", "--enabled-reference-uris", "empty", "--pubkey-cert-pem", cert, signed])
        #expect(xmlsec.status == 0, "\(xmlsec.stderr)")
        // xmllint agrees the unsigned samples are schema-valid.
        let lint = try TestProcess.run("xmllint", ["--noout", "--nonet", "--schema", Support.wrapperXSD,
                                              "\(first)/requests/ts1-immediate.xml", "\(first)/requests/ts3-future-dated.xml"])
        #expect(lint.status == 0, "\(lint.stderr)")

        let help = try CLI.run(["testpki", "--help"])
        #expect(help.stdout.contains("Examples:"))
        #expect(help.stdout.contains("reproducible"))
    }
}
