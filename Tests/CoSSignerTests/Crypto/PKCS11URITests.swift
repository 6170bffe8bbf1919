import CoSSignerTestSupport
import Foundation
import Testing

@testable import CoSSigner
@testable import CoSSignerTesting

/// RFC 7512 URIs as the tool reads them: what is accepted, decoded, and refused (with the reason).
@Suite struct PKCS11URITests {
    @Test func readsTheAttributesOfAKey() throws {
        let uri = try PKCS11URI(parsing: "pkcs11:token=cos;object=ts1-xml-sign;type=private")
        #expect(uri.token == "cos")
        #expect(uri.object == "ts1-xml-sign")
        #expect(uri.id == nil && uri.modulePath == nil && uri.slotID == nil)
        #expect(uri.text == "pkcs11:token=cos;object=ts1-xml-sign;type=private")
        #expect(uri.description == uri.text)
    }

    @Test func percentDecodesValuesAndReadsIDsAsBytes() throws {
        let uri = try PKCS11URI(parsing: "pkcs11:token=My%20Token%2Fone;id=%01%02%ff;object=caf%C3%A9;serial=42%3B7")
        #expect(uri.token == "My Token/one")
        #expect(uri.id == [0x01, 0x02, 0xFF])
        #expect(uri.object == "café")
        #expect(uri.serial == "42;7")
    }

    @Test func readsTheOtherAttributes() throws {
        let uri = try PKCS11URI(parsing:
            "pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=abc;slot-id=7;slot-description=SoftHSM%20slot;"
            + "slot-manufacturer=SoftHSM;library-manufacturer=SoftHSM;library-description=Implementation%20of%20PKCS11;"
            + "library-version=2.6?module-path=/usr/lib/softhsm/libsofthsm2.so")
        #expect(uri.manufacturer == "SoftHSM project")
        #expect(uri.model == "SoftHSM v2")
        #expect(uri.serial == "abc")
        #expect(uri.slotID == 7)
        #expect(uri.slotDescription == "SoftHSM slot")
        #expect(uri.slotManufacturer == "SoftHSM")
        #expect(uri.libraryManufacturer == "SoftHSM")
        #expect(uri.libraryDescription == "Implementation of PKCS11")
        #expect(uri.libraryVersion?.major == 2 && uri.libraryVersion?.minor == 6)
        #expect(uri.modulePath == "/usr/lib/softhsm/libsofthsm2.so")
        #expect(try PKCS11URI(parsing: "pkcs11:library-version=3").libraryVersion?.minor == nil)
        // The scheme is case-insensitive; an empty path names any key (the token must then hold exactly one).
        #expect(try PKCS11URI(parsing: "PKCS11:token=a").token == "a")
        #expect(try PKCS11URI(parsing: "pkcs11:").token == nil)
        #expect(PKCS11URI.isPKCS11URI("Pkcs11:token=a"))
        #expect(!PKCS11URI.isPKCS11URI("keys/pkcs11.pem"))
        #expect(!PKCS11URI.isPKCS11URI("pkcs11"))
    }

    @Test(arguments: [
        ("pkcs11:token=cos;object=k?pin-value=1234", "'pin-value' is not accepted: PINs come from --pin-env/--pin-file/pin_env/pin_file only"),
        ("pkcs11:token=cos;object=k?pin-source=file:/tmp/pin", "'pin-source' is not accepted: PINs come from --pin-env/--pin-file/pin_env/pin_file only"),
        ("pkcs11:token=cos;pin-value=1234", "'pin-value' is not accepted: PINs come from --pin-env/--pin-file/pin_env/pin_file only"),
        ("pkcs11:token=cos;object=k?module-name=softhsm2", "'module-name' is not supported"),
        ("pkcs11:token=cos;object=k?foo=bar", "unknown query attribute 'foo'"),
        ("pkcs11:token=cos;x-vendor=1", "unknown attribute 'x-vendor'"),
        ("pkcs11:Token=cos", "unknown attribute 'Token'"),
        ("pkcs11:token=cos;token=other", "'token' is given more than once"),
        ("pkcs11:token=cos;type=public", "type=public: a signing key is a private key object"),
        ("pkcs11:token=cos;type=cert", "type=cert"),
        ("pkcs11:token=c%zzos", "'token': '%' must be followed by two hex digits"),
        ("pkcs11:token=c%4", "'token': '%' must be followed by two hex digits"),
        ("pkcs11:token=my token", "characters other than printable ASCII must be percent-encoded"),
        ("pkcs11:object=%FF%FE", "'object' is not UTF-8 text"),
        ("pkcs11:token=cos;;object=k", "an empty attribute"),
        ("pkcs11:token=cos;", "an empty attribute"),
        ("pkcs11:token", "'token' is not name=value"),
        ("pkcs11:=cos", "an attribute without a name"),
        ("pkcs11:token=cos#frag", "a fragment ('#') is not part of a PKCS#11 URI"),
        ("pkcs11:slot-id=0x10", "slot-id=0x10 is not a decimal slot number"),
        ("pkcs11:library-version=2.x", "library-version=2.x is not M or M.N"),
        ("file:/keys/k.pem", "a PKCS#11 URI starts with 'pkcs11:'"),
    ])
    func refusesWithTheReason(_ text: String, _ reason: String) {
        do throws(PKCS11Error) {
            _ = try PKCS11URI(parsing: text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.code == .invalidURI)
            #expect(error.description.contains(reason), "\(error)")
            #expect(error.failureClass == .keyOrCertificate)
        }
    }

    @Test func aPINInTheURIIsNeverRepeatedInTheError() {
        for text in ["pkcs11:token=cos?pin-value=S3cret-PIN", "pkcs11:token=cos?module-path=/x&pin-value=S3cret-PIN",
                     "pkcs11:token=cos;objekt=a?pin-value=S3cret-PIN"] {
            do throws(PKCS11Error) {
                _ = try PKCS11URI(parsing: text)
                Issue.record("\(text) was accepted")
            } catch {
                #expect(!error.description.contains("S3cret-PIN"), "\(error)")
                #expect(error.uri == "pkcs11:token=cos\(text.contains("objekt") ? ";objekt=a" : "")?…")
            }
        }
    }

    @Test func aDeterministicRequestIsRefusedNamingTheURIOnly() {
        let refusal = AnySigningKey.deterministicRefusal(uri: "pkcs11:token=cos;object=k?pin-value=S3cret")
        #expect(refusal.code == .deterministicUnsupported)
        #expect(refusal.failureClass.exitCode == 3)
        #expect(refusal.description.contains("RFC 6979"))
        #expect(!refusal.description.contains("S3cret"))
    }

    @Test func returnValuesAreNamed() {
        #expect(PKCS11Error.name(ofReturnValue: 0xA0) == "CKR_PIN_INCORRECT")
        #expect(PKCS11Error.name(ofReturnValue: 0xA4) == "CKR_PIN_LOCKED")
        #expect(PKCS11Error.name(ofReturnValue: 0xB3) == "CKR_SESSION_HANDLE_INVALID")
        #expect(PKCS11Error.name(ofReturnValue: 0x8000_0001) == "CKR 0x80000001")
        for lost: UInt in [0xB3, 0xB0, 0x32, 0xE0] { #expect(PKCS11Error.isSessionLost(lost)) }
        #expect(!PKCS11Error.isSessionLost(0xA0))
    }
}
