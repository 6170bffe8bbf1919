import CoSSignerTestSupport
import Foundation
import Testing

@testable import CoSSigner
@testable import CoSSignerTesting

@Suite struct CryptoDistinguishedNameTests {
    @Test func equalityIgnoresSpacingCaseAndKeywordSpelling() throws {
        let canonical = try DistinguishedName(rfc2253: "CN=Z1,OU=07")
        for text in [
            "CN=Z1, OU=07", "cn=z1,ou=07", " CN = Z1 ;  OU = 07 ", "commonName=Z1,organizationalUnitName=07",
            "2.5.4.3=Z1,OID.2.5.4.11=07", "CN=\"Z1\",OU=07", "CN=#0c025a31,OU=07", "CN=#13025A31,OU=07",
            "CN=  z1  ,OU=07",
        ] {
            let other = try DistinguishedName(rfc2253: text)
            #expect(other == canonical, "\(text)")
            #expect(other.hashValue == canonical.hashValue, "\(text)")
        }
        #expect(canonical.rfc2253 == "CN=Z1,OU=07")
        #expect(try DistinguishedName(rfc2253: "CN=U1, OU=07").rfc2253 == "CN=U1,OU=07")
        #expect(try DistinguishedName(rfc2253: "CN=U1, OU=07").description == "CN=U1,OU=07")
        #expect(Set([canonical, try DistinguishedName(rfc2253: "cn=z1, ou=07")]).count == 1)
    }

    @Test func differentNamesDiffer() throws {
        let z1 = try DistinguishedName(rfc2253: "CN=Z1,OU=07")
        for text in [
            "OU=07,CN=Z1", "CN=Z1,OU=7", "CN=Z1", "CN=Z2,OU=07", "CN=Z1,OU=07,O=DCC", "CN=Z1+OU=07", "CN=Z 1,OU=07",
        ] {
            #expect(try DistinguishedName(rfc2253: text) != z1, "\(text)")
        }
        // Inner white space collapses, but does not vanish.
        #expect(try DistinguishedName(rfc2253: "CN=A  B") == DistinguishedName(rfc2253: "CN=a b"))
        #expect(try DistinguishedName(rfc2253: "CN=A B") != DistinguishedName(rfc2253: "CN=AB"))
    }

    @Test func multiValuedRDNsCompareAsSets() throws {
        #expect(try DistinguishedName(rfc2253: "CN=A+OU=B,O=C") == DistinguishedName(rfc2253: "OU=B + CN=A, O=C"))
    }

    @Test func escapesAndHexValues() throws {
        let name = try DistinguishedName(rfc2253: ##"CN=Smith\, John,O=A\2B B,OU=\#1"##)
        #expect(name.textValues(forOID: AttributeTypes.commonName) == ["Smith, John"])
        #expect(name.rfc2253 == ##"CN=Smith\, John,O=A\+ B,OU=\#1"##)
        #expect(try DistinguishedName(rfc2253: name.rfc2253) == name)
        #expect(
            try DistinguishedName(rfc2253: "CN=caf\\C3\\A9").textValues(forOID: AttributeTypes.commonName) == ["café"])
    }

    @Test func certificateSubjectsMatchParsedNames() throws {
        let certificate = try Certificate(
            contentsOfFile: try CryptoFixtures.path(
                "\(CryptoFixtures.templateCerts)/GITTESTSUPPLIER2-90B3D51F30030000-ds-2025.pem"))
        #expect(certificate.subject.rfc2253 == "x500UniqueIdentifier=#03090090B3D51F30030000,OU=02,CN=GITTESTSUPPLIER2")
        let parsed = try DistinguishedName(rfc2253: "2.5.4.45=#03090090b3d51f30030000, OU=02, CN=gittestsupplier2")
        #expect(parsed == certificate.subject)
        #expect(try DistinguishedName(rfc2253: certificate.subject.rfc2253) == certificate.subject)
        #expect(
            try DistinguishedName(rfc2253: "x500UniqueIdentifier=#03090090B3D51F30030001,OU=02,CN=GITTESTSUPPLIER2")
                != certificate.subject)
    }

    @Test(arguments: [
        "CN", "CN=Z1,", "=Z1", "CN=Z1,OU", "XX=1", "CN=\"Z1", "CN=#0", "CN=#zz", "CN=a\\q", "CN=a\"b",
        "CN=\\", "C N=1", "CN=Z1 OU=07,=x",
    ])
    func malformedNamesAreRefused(_ text: String) {
        #expect(throws: CryptoError(code: .invalidDistinguishedName)) { try DistinguishedName(rfc2253: text) }
    }

    @Test func emptyNameIsAllowed() throws {
        let empty = try DistinguishedName(rfc2253: "")
        #expect(empty.rfc2253 == "")
        #expect(empty == (try DistinguishedName(rfc2253: "  ")))
        #expect(empty != (try DistinguishedName(rfc2253: "CN=Z1")))
    }
}

@Suite struct CryptoSerialNumberTests {
    @Test func decimalRoundTripsFor128BitSerials() throws {
        let pairs = [
            ("14BE4AD2EA1D0E4EC7F7156BD24624A7", "27572613927499351639968579586655397031"),
            ("7DAC7283AAD29BDD23C9EFBFDDB52A41", "167048897159233642262001557408276884033"),
            ("0F4889EF197D41E9016966F9D5AB0402", "20315062944123339095836004026371736578"),
            ("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "340282366920938463463374607431768211455"),
            ("01", "1"),
            ("00", "0"),
        ]
        for (hex, decimal) in pairs {
            let fromBytes = SerialNumber(bytes: hexBytes(hex))
            let fromDecimal = try SerialNumber(decimal: decimal)
            #expect(fromBytes == fromDecimal, "\(hex)")
            #expect(fromBytes.decimal == decimal)
            #expect(fromBytes.description == decimal)
            #expect(fromDecimal.hex == (hex == "00" ? "00" : hex))
            #expect(fromBytes.hashValue == fromDecimal.hashValue)
        }
    }

    @Test func leadingZerosAreNumericallyIrrelevant() throws {
        #expect(SerialNumber(bytes: [0, 0, 5]) == SerialNumber(bytes: [5]))
        #expect(SerialNumber(bytes: [0, 0, 5]).bytes == [5])
        #expect(try SerialNumber(decimal: "0005") == SerialNumber(bytes: [5]))
        #expect(SerialNumber(bytes: []) == SerialNumber(bytes: [0, 0]))
        #expect(SerialNumber(bytes: []).decimal == "0")
        let leadingZeroByte = SerialNumber(bytes: [0x00, 0x80, 0x01])
        #expect(leadingZeroByte.decimal == "32769")
    }

    /// Serials are signed DER integers: −n is a serial of its own, never equal to n (RFC 5280 forbids negative
    /// serials, but a certificate that has one must not be taken for the one with the positive serial).
    @Test func negativeSerialsAreNotTheirMagnitude() throws {
        let negative = try SerialNumber(decimal: "-27572613927499351639968579586655397031")
        let positive = try SerialNumber(decimal: "27572613927499351639968579586655397031")
        #expect(negative != positive && negative.isNegative && !positive.isNegative)
        #expect(negative.bytes == positive.bytes)
        #expect(negative.decimal == "-27572613927499351639968579586655397031")
        #expect(negative.hex == "-" + positive.hex)
        #expect(try SerialNumber(decimal: "-0") == SerialNumber(bytes: [0]))
        #expect(negative < positive)
        #expect(try SerialNumber(decimal: "-2") < SerialNumber(decimal: "-1"))
        #expect(SerialNumber(bytes: [5], negative: true) == (try SerialNumber(decimal: "-5")))
    }

    @Test func ordering() throws {
        let values = try ["0", "9", "10", "255", "256", "1234567890", "27572613927499351639968579586655397031"]
            .map { try SerialNumber(decimal: $0) }
        #expect(values == values.sorted())
        #expect(values.shuffled().sorted() == values)
    }

    @Test func lengthBoundAndCharacters() throws {
        let twoHundred = String(repeating: "9", count: 200)
        #expect(try SerialNumber(decimal: twoHundred).decimal == twoHundred)
        for bad in ["", "-", "--1", "1-", String(repeating: "1", count: 201), "12a", "+1", " 1", "1 ", "1.0", "١٢", "0x10"] {
            #expect(throws: CryptoError(code: .invalidSerialNumber), "\(bad)") { try SerialNumber(decimal: bad) }
        }
        do {
            _ = try SerialNumber(decimal: "12a")
        } catch {
            #expect(error.failureClass == .input)
        }
    }
}
