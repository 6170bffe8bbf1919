import CoSSignerTestSupport
import Foundation
import Testing

@testable import CoSSigner
@testable import CoSSignerTesting

/// What `openssl x509` says about a certificate, parsed here independently of the library.
private struct OpenSSLView {
    let serialHex: String
    let issuer: String
    let subject: String
    let keyUsage: Set<String>?
    let policies: [String]
    let notBefore: Date
    let notAfter: Date

    init(path: String) throws {
        let fields = try OpenSSLTool.run([
            "x509", "-in", path, "-noout", "-serial", "-issuer", "-subject", "-dates", "-nameopt", "RFC2253",
        ])
        func value(_ key: String) -> String {
            fields.split(separator: "\n").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
                ?? ""
        }
        serialHex = value("serial")
        issuer = value("issuer")
        subject = value("subject")
        notBefore = try Self.parseDate(value("notBefore"))
        notAfter = try Self.parseDate(value("notAfter"))

        let text = try OpenSSLTool.run(["x509", "-in", path, "-noout", "-text"])
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        if let index = lines.firstIndex(where: { $0.hasPrefix("X509v3 Key Usage") }), index + 1 < lines.count {
            keyUsage = Set(lines[index + 1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        } else {
            keyUsage = nil
        }
        policies = lines.filter { $0.hasPrefix("Policy: ") }.map { String($0.dropFirst("Policy: ".count)) }
    }

    /// "Sep  1 00:00:00 2025 GMT"
    static func parseDate(_ text: String) throws -> Date {
        let parts = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 5, let month = months.firstIndex(of: String(parts[0])), let day = Int(parts[1]),
            let year = Int(parts[3])
        else { throw OpenSSLTool.Failure(description: "unexpected date '\(text)'") }
        let time = parts[2].split(separator: ":").compactMap { Int($0) }
        var components = DateComponents()
        components.timeZone = TimeZone(identifier: "UTC")
        (components.year, components.month, components.day) = (year, month + 1, day)
        (components.hour, components.minute, components.second) = (time[0], time[1], time[2])
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        guard let date = calendar.date(from: components) else {
            throw OpenSSLTool.Failure(description: "bad date '\(text)'")
        }
        return date
    }

    /// Hex to decimal by schoolbook long division in base 10 (independent of SerialNumber).
    var serialDecimal: String {
        var digits = serialHex.compactMap { $0.hexDigitValue }
        var out: [Int] = []
        while !digits.isEmpty {
            var remainder = 0
            var quotient: [Int] = []
            for digit in digits {
                let value = remainder * 16 + digit
                if !(quotient.isEmpty && value / 10 == 0) { quotient.append(value / 10) }
                remainder = value % 10
            }
            out.append(remainder)
            digits = quotient
        }
        return out.isEmpty ? "0" : out.reversed().map(String.init).joined()
    }
}

private let keyUsageNames: [String: KeyUsage] = [
    "Digital Signature": .digitalSignature, "Non Repudiation": .nonRepudiation,
    "Key Encipherment": .keyEncipherment, "Data Encipherment": .dataEncipherment, "Key Agreement": .keyAgreement,
    "Certificate Sign": .keyCertSign, "CRL Sign": .cRLSign, "Encipher Only": .encipherOnly,
    "Decipher Only": .decipherOnly,
]

@Suite struct CryptoCertificateTests {
    static let certificates = [
        "\(CryptoFixtures.keys)/xml-sign-90B3D51F30010000-ds.pem",
        "\(CryptoFixtures.keys)/Z1-supplier2-ds.pem",
        "\(CryptoFixtures.keys)/Z1-accessControlBroker-dSPXmlSign.pem",
        "\(CryptoFixtures.templateCerts)/GITTESTSUPPLIER2-90B3D51F30030000-ds-2025.pem",
        "\(CryptoFixtures.templateCerts)/90B3D51F30030000-ka-2025.pem",
        "\(CryptoFixtures.templateCerts)/90B3D51F30030000-ka-topup-2025.pem",
        "\(CryptoFixtures.templateCerts)/Z1-issuing-ca.pem",
    ]

    @Test(arguments: certificates)
    func fieldsAgreeWithTheOpenSSLCommand(_ relative: String) throws {
        let path = try CryptoFixtures.path(relative)
        let certificate = try Certificate(contentsOfFile: path)
        let view = try OpenSSLView(path: path)

        #expect(certificate.issuer.rfc2253 == view.issuer)
        #expect(certificate.subject.rfc2253 == view.subject)
        #expect(certificate.serialNumber.hex == view.serialHex)
        #expect(certificate.serialNumber.decimal == view.serialDecimal)
        #expect(certificate.serialNumber.description == view.serialDecimal)
        #expect(certificate.notBefore == view.notBefore)
        #expect(certificate.notAfter == view.notAfter)
        #expect(certificate.policies == view.policies)
        #expect(certificate.policies == ["1.2.826.0.1.8641679.1.2.1.4"])
        if let names = view.keyUsage {
            var expected = KeyUsage()
            for name in names {
                guard let usage = keyUsageNames[name] else {
                    Issue.record("unknown key usage name '\(name)'")
                    continue
                }
                expected.insert(usage)
            }
            #expect(certificate.keyUsage == expected)
        } else {
            #expect(certificate.keyUsage == nil)
        }
        // OU and EUI-64 straight from the subject text ("x500UniqueIdentifier=#030900<16 hex>,OU=02,...").
        let subjectParts = view.subject.split(separator: ",")
        let ou = subjectParts.first { $0.hasPrefix("OU=") }.map { String($0.dropFirst(3)) }
        #expect(certificate.subjectOrganizationalUnit == ou)
        if let unique = subjectParts.first(where: { $0.hasPrefix("x500UniqueIdentifier=#030900") }) {
            let eui = try EUI64(compactHex: unique.dropFirst("x500UniqueIdentifier=#030900".count))
            #expect(certificate.entityIdentifier == eui)
        } else {
            #expect(certificate.entityIdentifier == nil)
        }
        #expect(certificate.signatureAlgorithmOID == "1.2.840.10045.4.3.2")
        #expect(certificate.isP256)
        let point = try certificate.publicKey().uncompressedPoint
        #expect(point.count == 65 && point[0] == 0x04)
    }

    @Test func knownValuesFromTheVectorsReadme() throws {
        let xmlSign = try Certificate(
            contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.keys)/xml-sign-90B3D51F30010000-ds.pem"))
        #expect(xmlSign.issuer.rfc2253 == "CN=Z1,OU=07")
        #expect(xmlSign.issuer == (try DistinguishedName(rfc2253: "CN=Z1, OU=07")))
        #expect(xmlSign.serialNumber.decimal == "27572613927499351639968579586655397031")
        #expect(xmlSign.subjectOrganizationalUnit == "87")
        #expect(xmlSign.entityIdentifier == (try EUI64(parsing: "90-B3-D5-1F-30-01-00-00")))
        #expect(xmlSign.keyUsage == .digitalSignature)

        let supplier2 = try Certificate(
            contentsOfFile: try CryptoFixtures.path(
                "\(CryptoFixtures.templateCerts)/GITTESTSUPPLIER2-90B3D51F30030000-ds-2025.pem"))
        #expect(supplier2.subjectOrganizationalUnit == "02")
        #expect(supplier2.subjectCommonName == "GITTESTSUPPLIER2")
        #expect(supplier2.entityIdentifier == (try EUI64(parsing: "90-B3-D5-1F-30-03-00-00")))
        let keyAgreement = try Certificate(
            contentsOfFile: try CryptoFixtures.path(
                "\(CryptoFixtures.templateCerts)/90B3D51F30030000-ka-2025.pem"))
        #expect(keyAgreement.keyUsage == .keyAgreement)
        #expect(keyAgreement.subjectCommonName == nil)

        let ca = try Certificate(
            contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.templateCerts)/Z1-issuing-ca.pem"))
        #expect(ca.subject.rfc2253 == "CN=Z1,OU=07")
        #expect(ca.issuer.rfc2253 == "CN=ZA,OU=00")
        #expect(ca.keyUsage == [.keyCertSign, .cRLSign])
        #expect(ca.entityIdentifier == nil)

        let leadingZero = try Certificate(
            contentsOfFile: try CryptoFixtures.path(
                "\(CryptoFixtures.keys)/Z1-accessControlBroker-dSPXmlSign.pem"))
        #expect(leadingZero.serialNumber.decimal == "20315062944123339095836004026371736578")
        #expect(leadingZero.serialNumber.hex == "0F4889EF197D41E9016966F9D5AB0402")
    }

    @Test func issuedByTheZ1CA() throws {
        let ca = try Certificate(
            contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.templateCerts)/Z1-issuing-ca.pem"))
        let issued = [
            "\(CryptoFixtures.keys)/Z1-supplier2-ds.pem",
            "\(CryptoFixtures.keys)/Z1-accessControlBroker-dSPXmlSign.pem",
            "\(CryptoFixtures.templateCerts)/GITTESTSUPPLIER2-90B3D51F30030000-ds-2025.pem",
            "\(CryptoFixtures.templateCerts)/90B3D51F30030000-ka-2025.pem",
            "\(CryptoFixtures.templateCerts)/90B3D51F30030000-ka-topup-2025.pem",
        ]
        for relative in issued {
            let certificate = try Certificate(contentsOfFile: try CryptoFixtures.path(relative))
            #expect(certificate.isIssued(by: ca), "\(relative)")
            #expect(!ca.isIssued(by: certificate))
        }
        // The xml-sign certificates name CN=Z1,OU=07 as issuer but were not signed by this CA key.
        for name in [
            "xml-sign-90B3D51F30010000-ds", "xml-sign-90B3D51F30020000-ds", "xml-sign-00DB123456780004-ds",
            "dsp-xml-sign-90B3D51F30000002-ds",
        ] {
            let certificate = try Certificate(
                contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.keys)/\(name).pem"))
            #expect(certificate.issuer == ca.subject)
            #expect(!certificate.isIssued(by: ca), "\(name)")
        }
        // The CA is not self-issued (its issuer is ZA, which is not available).
        #expect(!ca.isIssued(by: ca))
        #expect(OpenSSLErrorQueue.drain().isEmpty)
    }

    @Test func encodingsPEMDERAndBase64AllGiveTheSameCertificate() throws {
        let path = try CryptoFixtures.path(
            "\(CryptoFixtures.templateCerts)/GITTESTSUPPLIER2-90B3D51F30030000-ds-2025.pem")
        let fromPEM = try Certificate(contentsOfFile: path)
        let fromDER = try Certificate(encoded: fromPEM.derBytes)
        // As DUIS carries it: base64 with line breaks and indentation.
        let base64 = Base64.encode(fromPEM.derBytes)
        var wrapped = "\n    "
        for (index, character) in base64.enumerated() {
            if index > 0, index % 76 == 0 { wrapped += "\r\n    " }
            wrapped.append(character)
        }
        let fromBase64 = try Certificate(encoded: Array(wrapped.utf8), source: "sr:DigitalSigningCertificate")
        #expect(fromPEM == fromDER)
        #expect(fromPEM == fromBase64)
        #expect(Set([fromPEM, fromDER, fromBase64]).count == 1)
        #expect(try Certificate(encoded: Array(fromPEM.pem().utf8)) == fromPEM)
        #expect(fromPEM.pem() == (try String(contentsOfFile: path, encoding: .utf8)))

        #expect(throws: CryptoError(code: .invalidCertificate)) { try Certificate(encoded: []) }
        #expect(throws: CryptoError(code: .invalidCertificate)) { try Certificate(encoded: Array("not*base64".utf8)) }
        #expect(throws: CryptoError(code: .invalidCertificate)) { try Certificate(encoded: fromPEM.derBytes + [0]) }
        #expect(throws: CryptoError(code: .invalidCertificate)) {
            try Certificate(encoded: Array(fromPEM.derBytes.dropLast()))
        }
        let keyPEM = try CryptoFixtures.bytes("\(CryptoFixtures.keys)/Z1-supplier2-ds.key.pem")
        #expect(throws: CryptoError(code: .invalidCertificate)) { try Certificate(encoded: keyPEM) }
        #expect(throws: CryptoError(code: .unreadableFile)) { try Certificate(contentsOfFile: "/nonexistent/cert.pem") }
        #expect(OpenSSLErrorQueue.drain().isEmpty)
    }

    /// Every entry of the DCC Boxed keystore: serial, EUI-64, role and key all agree.
    @Test func keystoreEntriesAreConsistent() throws {
        let data = try Data(
            contentsOf: URL(fileURLWithPath: try CryptoFixtures.path("vectors/dccboxed/keystore/keystore.json")))
        let root = try #require(
            try JSONSerialization.jsonObject(with: data) as? [String: [String: [String: [String: Any]]]])
        var entries = 0
        for (eui, usages) in root {
            for (usage, bySerial) in usages {
                for (serial, entry) in bySerial {
                    let name = entry["name"] as? String ?? "?"
                    let certificate = try Certificate(
                        encoded: Array((entry["certificate"] as? String ?? "").utf8), source: name)
                    let key = try SigningKey(encoded: Array((entry["privateKey"] as? String ?? "").utf8), source: name)
                    #expect(certificate.serialNumber == (try SerialNumber(decimal: serial)), "\(name)")
                    #expect(certificate.entityIdentifier?.compactHex.lowercased() == eui, "\(name)")
                    #expect(certificate.matches(key), "\(name)")
                    if let role = entry["role"] as? Int, let ou = certificate.subjectOrganizationalUnit {
                        #expect(Int(ou, radix: 16) == role, "\(name): OU \(ou) vs role \(role)")
                    }
                    let expectedUsage: KeyUsage = usage == "digitalSignature" ? .digitalSignature : .keyAgreement
                    #expect(certificate.keyUsage == expectedUsage, "\(name)")
                    entries += 1
                }
            }
        }
        #expect(entries == 33)
    }

    @Test func validityWindowUsesAPinnedTime() throws {
        let supplier2 = try Certificate(
            contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.keys)/Z1-supplier2-ds.pem"))
        #expect(supplier2.isValid(at: supplier2.notBefore))
        #expect(supplier2.isValid(at: supplier2.notAfter))
        #expect(!supplier2.isValid(at: supplier2.notAfter.addingTimeInterval(1)))
        #expect(!supplier2.isValid(at: supplier2.notBefore.addingTimeInterval(-1)))
        let xmlSign = try Certificate(
            contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.keys)/xml-sign-90B3D51F30010000-ds.pem"))
        // 2018-01-01 to 2118-01-01 (beyond 2038, so 64-bit time is exercised).
        #expect(xmlSign.isValid(at: Date(timeIntervalSince1970: 4_102_444_800)))  // 2100-01-01
        #expect(!xmlSign.isValid(at: Date(timeIntervalSince1970: 1_483_228_800)))  // 2017-01-01
    }

    @Test func signatureMadeWithTheDCCKeyVerifiesUnderItsCertificate() throws {
        let key = try SigningKey(
            contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.keys)/xml-sign-90B3D51F30010000-ds.key.pem"))
        let certificate = try Certificate(
            contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.keys)/xml-sign-90B3D51F30010000-ds.pem"))
        let message = Array("SignedInfo".utf8)
        #expect(try certificate.publicKey().isValidSignature(key.signature(for: message), for: message))
    }
}
