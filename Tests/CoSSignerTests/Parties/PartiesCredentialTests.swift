import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// Credentials per User ID in the registry file: each signing User ID has its own XML signing certificate, checked
/// at load (whole registry or nothing, every problem named), and a request is signed with its Business
/// Originator's credential.
@Suite struct PartiesCredentialTests {
    static let pki = try! TestPKI(partyCount: 2, seed: "credentials")
    static var ts1: TestPKIParty { pki.parties[0] }
    static var ts2: TestPKIParty { pki.parties[1] }
    /// A second User ID of ts1 (its gas supplier role), with its own XML signing certificate.
    static let ts1Gas = EUI64(0x90B3_D51F_3F01_0001)
    static let ts1GasCredential = try! pki.issue("ts1-gas-xml-sign", role: "87", entity: ts1Gas, usage: .digitalSignature)

    /// A folder with key (0600) and certificate files of the credentials named.
    struct Folder {
        let url: URL
        init(_ credentials: [TestPKICredential]) throws {
            url = try TestPaths.temporaryDirectory()
            try FileManager.default.createDirectory(at: url.appendingPathComponent("keys"), withIntermediateDirectories: true)
            for credential in credentials { try add(credential) }
        }

        func add(_ credential: TestPKICredential) throws {
            try Data(credential.certificate.pem().utf8).write(to: url.appendingPathComponent(credential.certificatePath))
            let key = url.appendingPathComponent(credential.keyPath)
            try Data(try credential.key.pkcs8PEM().utf8).write(to: key)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key.path)
        }

        func write(_ name: String, _ text: String) throws -> String {
            let path = url.appendingPathComponent(name).path
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }

        func remove() { try? FileManager.default.removeItem(at: url) }
    }

    static func credentialTable(_ userID: EUI64, _ credential: TestPKICredential) -> String {
        """
        [[party.credential]]
        user_id = "\(userID)"
        signing_key = "\(credential.keyPath)"
        signing_certificate = "\(credential.certificatePath)"

        """
    }

    /// ts1 with its electricity and gas User IDs, each with its credential; ts2 in the shorthand form.
    static var twoCredentials: String {
        """
        [[party]]
        id = "ts1"
        name = "Test Supplier 1"
        mpids = ["TS1E", "TS1G"]
        user_ids = ["\(ts1.userID)", "\(ts1Gas)"]
        \(credentialTable(ts1.userID, ts1.xmlSigning))\(credentialTable(ts1Gas, ts1GasCredential))
        [[party]]
        id = "ts2"
        name = "Test Supplier 2"
        mpids = ["TS2E"]
        user_ids = ["\(ts2.userID)"]
        signing_key = "\(ts2.xmlSigning.keyPath)"
        signing_certificate = "\(ts2.xmlSigning.certificatePath)"

        """
    }

    @Test func eachUserIDSignsWithItsOwnCredential() throws {
        let folder = try Folder([Self.ts1.xmlSigning, Self.ts1GasCredential, Self.ts2.xmlSigning])
        defer { folder.remove() }
        let registry = try PartyRegistry(contentsOfFile: try folder.write("p.toml", Self.twoCredentials), loader: .files)
        #expect(registry.keyLoadCount == 3)
        let ts1 = try #require(registry.party(id: "ts1"))
        #expect(ts1.signingUserIDs == [Self.ts1.userID, Self.ts1Gas])
        #expect(ts1.credentials.map { $0.declaration.line } == [6, 10])
        #expect(registry.party(id: "ts2")?.credentials.map(\.userID) == [Self.ts2.userID])
        let selector = KeySelector(registry: registry)
        for (originator, credential) in [(Self.ts1.userID, Self.ts1.xmlSigning), (Self.ts1Gas, Self.ts1GasCredential)] {
            for mpid in ["TS1E", "TS1G"] {
                let selection = try selector.select(KeySelectionQuery(mpid: try MPID(parsing: mpid), businessOriginator: originator))
                #expect(selection.party.id == "ts1")
                #expect(selection.certificate == credential.certificate)
                #expect(selection.reasons.last == "credential for User ID \(originator): signing certificate serial \(credential.certificate.serialNumber) (issuer \(credential.certificate.issuer.rfc2253))")
            }
        }
        // The registry's certificates, for verifying, and the look-up by issuer and serial.
        #expect(registry.certificates.certificates.count == 3)
        let gas = Self.ts1GasCredential.certificate
        #expect(registry.credential(issuer: gas.issuer, serial: gas.serialNumber)?.credential.userID == Self.ts1Gas)
        let verifying = try PartySigningCertificates(contentsOfFile: folder.url.appendingPathComponent("p.toml").path)
        #expect(verifying.entries.map(\.userID) == [Self.ts1.userID, Self.ts1Gas, Self.ts2.userID])
    }

    /// Loads `toml` (with `credentials` on disk) and returns the problems, which must all be reported at once.
    static func problems(_ toml: String, _ credentials: [TestPKICredential]) throws -> PartyRegistryError {
        let folder = try Folder(credentials)
        defer { folder.remove() }
        let path = try folder.write("p.toml", toml)
        let error = try #require(#expect(throws: PartyRegistryError.self) { try PartyRegistry(contentsOfFile: path, loader: .files) })
        // Verifying reads the same registry, less the keys: the same problems but those of keys.
        let verifying = try #require(#expect(throws: PartyRegistryError.self) { try PartySigningCertificates(contentsOfFile: path) })
        #expect(verifying.problems.map(\.description) == error.problems.filter { !($0.field ?? "").hasSuffix("signing_key") }.map(\.description))
        return error
    }

    static func party(_ body: String, userIDs: [EUI64]) -> String {
        """
        [[party]]
        id = "ts1"
        name = "Test Supplier 1"
        mpids = ["TS1E"]
        user_ids = [\(userIDs.map { "\"\($0)\"" }.joined(separator: ", "))]
        \(body)
        """
    }

    @Test func aCredentialForAUserIDThePartyDoesNotDeclareOrTwoForOneAreRefused() throws {
        let stranger = try Self.problems(Self.party(Self.credentialTable(Self.ts1Gas, Self.ts1GasCredential), userIDs: [Self.ts1.userID]),
                                         [Self.ts1GasCredential])
        #expect(stranger.problems.map(\.kind) == [.credentialUserID])
        #expect(stranger.problems[0].field == "credential[1].user_id" && stranger.problems[0].line == 6)
        #expect(stranger.description.contains("the credential is for User ID \(Self.ts1Gas), which the party does not declare in user_ids (\(Self.ts1.userID))"))
        #expect(stranger.failureClass.exitCode == 4)

        let twice = try Self.problems(
            Self.party(Self.credentialTable(Self.ts1.userID, Self.ts1.xmlSigning) + Self.credentialTable(Self.ts1.userID, Self.ts1.xmlSigning),
                       userIDs: [Self.ts1.userID]),
            [Self.ts1.xmlSigning])
        #expect(twice.problems.map(\.kind).contains(.duplicateCredential))
        #expect(twice.description.contains("2 credentials sign for User ID \(Self.ts1.userID) (lines 6, 10)"), "\(twice)")
        // Its certificate is twice in the registry too.
        #expect(twice.problems.map(\.kind).contains(.duplicateCertificateSerial))
    }

    @Test func aCredentialsCertificateMustBeItsUserIDsOwn() throws {
        // ts1's credential for its gas User ID with the electricity User ID's certificate.
        let swapped = try Self.problems(Self.party(Self.credentialTable(Self.ts1Gas, Self.ts1.xmlSigning), userIDs: [Self.ts1.userID, Self.ts1Gas]),
                                        [Self.ts1.xmlSigning])
        #expect(swapped.problems.map(\.kind) == [.certificateIdentity])
        #expect(swapped.description.contains("belongs to entity \(Self.ts1.userID), not to the credential's User ID \(Self.ts1Gas)"), "\(swapped)")
    }

    @Test func onlyAnXMLSigningCertificateSigns() throws {
        let ca = try Self.pki.issue("ca-as-signer", kind: .issuingCA, role: "07", commonName: "A CA", entity: EUI64(0), usage: [.keyCertSign, .cRLSign])
        let role87CA = try Self.pki.issue("ca-87", kind: .issuingCA, role: "87", commonName: "XMLSIGN CA", entity: EUI64(0), usage: [.digitalSignature])
        let cases: [(TestPKICredential, String)] = [
            (Self.ts1.digitalSigning, "its subject has OU 02 (Supplier (device certificate)); a DCC User's XML signing certificate has OU 87 (XmlSign)"),
            (Self.ts1.keyAgreement, "its key usage is [keyAgreement]; an XML signing certificate has digitalSignature only"),
            (ca, "its subject has OU 07 (Issuing Authority (CA))"),
            (role87CA, "it is a CA certificate (basicConstraints cA TRUE)"),
        ]
        for (credential, reason) in cases {
            let toml = Self.party("signing_key = \"\(credential.keyPath)\"\nsigning_certificate = \"\(credential.certificatePath)\"\n",
                                  userIDs: [Self.ts1.userID])
            let error = try Self.problems(toml, [credential])
            #expect(error.problems.contains { $0.kind == .signingCertificateRole && $0.reason.contains(reason) }, "\(error)")
        }
        // A key agreement certificate of the right entity is refused with exit 3 (a certificate that cannot sign).
        let toml = Self.party("signing_key = \"\(Self.ts1.keyAgreement.keyPath)\"\nsigning_certificate = \"\(Self.ts1.keyAgreement.certificatePath)\"\n",
                              userIDs: [Self.ts1.userID])
        #expect(try Self.problems(toml, [Self.ts1.keyAgreement]).failureClass.exitCode == 3)
    }

    @Test func noTwoCertificatesShareAnIssuerAndSerialAndNegativeSerialsAreTheirOwn() throws {
        let serial = Array(Self.ts1.xmlSigning.certificate.serialNumber.bytes)
        // ts2's XML signing certificate re-issued with ts1's serial.
        let clash = try Self.pki.issue("ts2-clash", role: "87", entity: Self.ts2.userID, usage: .digitalSignature, serial: serial)
        let registry = """
            [[party]]
            id = "ts1"
            name = "Test Supplier 1"
            mpids = ["TS1E"]
            user_ids = ["\(Self.ts1.userID)"]
            signing_key = "\(Self.ts1.xmlSigning.keyPath)"
            signing_certificate = "\(Self.ts1.xmlSigning.certificatePath)"

            [[party]]
            id = "ts2"
            name = "Test Supplier 2"
            mpids = ["TS2E"]
            user_ids = ["\(Self.ts2.userID)"]
            signing_key = "\(clash.keyPath)"
            signing_certificate = "\(clash.certificatePath)"

            """
        let error = try Self.problems(registry, [Self.ts1.xmlSigning, clash])
        #expect(error.problems.map(\.kind) == [.duplicateCertificateSerial])
        #expect(error.problems[0].party == "ts2" && error.problems[0].line == 9)
        #expect(error.description.contains("same issuer (\(Self.ts1.xmlSigning.certificate.issuer.rfc2253)) and serial (\(Self.ts1.xmlSigning.certificate.serialNumber))"))

        // The same serial, negative: a different serial (−n ≠ n), so the registry loads and each is found by its own.
        var negative = TestCertificateBuilder.Deviations()
        negative.negativeSerial = true
        let minus = try Self.pki.issue("ts2-minus", role: "87", entity: Self.ts2.userID, usage: .digitalSignature, deviations: negative, serial: serial)
        #expect(minus.certificate.serialNumber.isNegative && minus.certificate.serialNumber.bytes == Self.ts1.xmlSigning.certificate.serialNumber.bytes)
        let folder = try Folder([Self.ts1.xmlSigning, minus])
        defer { folder.remove() }
        let loaded = try PartyRegistry(contentsOfFile: try folder.write("p.toml", registry.replacingOccurrences(of: "ts2-clash", with: "ts2-minus")), loader: .files)
        let issuer = Self.ts1.xmlSigning.certificate.issuer
        #expect(loaded.party(issuer: issuer, serial: Self.ts1.xmlSigning.certificate.serialNumber)?.id == "ts1")
        #expect(loaded.party(issuer: issuer, serial: minus.certificate.serialNumber)?.id == "ts2")
        // A signature by the negative-serial certificate names "-n" and verifies under it, not under ts1's.
        let request = Self.ts2.immediateRequest.xmlBytes()
        let signed = try DUISSigner(key: minus.key, certificate: minus.certificate).sign(request)
        #expect(signed.bytes.utf8String.contains("<ds:X509SerialNumber>-\(Self.ts1.xmlSigning.certificate.serialNumber)</ds:X509SerialNumber>"))
        #expect(try DUISVerifier(certificates: loaded.certificates.certificates).verify(signed.bytes).certificate == minus.certificate)
        #expect(throws: SignatureInvalid.self) { try DUISVerifier(certificates: [Self.ts1.xmlSigning.certificate]).verify(signed.bytes) }
    }

    @Test func shorthandAndCredentialTablesDoNotMixAndAPartyNeedsACredential() throws {
        let both = try Self.problems(
            Self.party("signing_key = \"\(Self.ts1.xmlSigning.keyPath)\"\nsigning_certificate = \"\(Self.ts1.xmlSigning.certificatePath)\"\n"
                           + Self.credentialTable(Self.ts1.userID, Self.ts1.xmlSigning), userIDs: [Self.ts1.userID]),
            [Self.ts1.xmlSigning])
        #expect(both.problems.contains { $0.kind == .invalidValue && $0.field == "credential" && $0.reason.contains("not both") }, "\(both)")
        let none = try Self.problems(Self.party("", userIDs: [Self.ts1.userID]), [])
        #expect(none.problems.contains { $0.kind == .missingField && $0.field == "credential" }, "\(none)")
        // A credential table without user_id, and with an unknown key.
        let incomplete = try Self.problems(
            Self.party("[[party.credential]]\nsigning_key = \"\(Self.ts1.xmlSigning.keyPath)\"\nsigning_certificate = \"\(Self.ts1.xmlSigning.certificatePath)\"\npin = \"1234\"\n",
                       userIDs: [Self.ts1.userID]),
            [Self.ts1.xmlSigning])
        #expect(incomplete.problems.contains { $0.kind == .missingField && $0.field == "credential[1].user_id" && $0.line == 6 }, "\(incomplete)")
        #expect(incomplete.problems.contains { $0.kind == .unknownKey && $0.field == "credential[1].pin" && $0.line == 9 }, "\(incomplete)")
        #expect(!incomplete.description.contains("1234"))
    }
}
