import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

/// Registries on disk with the DCC Boxed keys, and the 6.23 templates.
@Suite struct PartiesDCCBoxedTests {
    @Test func onePartyWithTwoMPIDsSignsTheTemplatesWithOneCertificate() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let path = try workspace.registry([.gts, .other])
        let registry = try PartyRegistry(contentsOfFile: path, loader: .files)
        #expect(registry.parties.map(\.id) == ["gts", "other"])
        #expect(registry.keyLoadCount == 2)
        let selector = KeySelector(registry: registry)
        let verifier = DUISVerifier(certificates: registry.certificates.certificates)
        var signers = [DUISSigner]()
        for index in Fixtures.template623Names.indices {
            let request = try PartiesTemplates.request(index)
            for mpid in [nil, "GTSE", "GTSG"] {
                let selection = try selector.select(for: request, mpid: try mpid.map { try MPID(parsing: $0) })
                #expect(selection.party.id == "gts")
                #expect(selection.certificate?.serialNumber.decimal == PartiesTemplates.gtsSerial)
                #expect(selection.credential?.userID.description == "90-B3-D5-1F-30-01-00-00")
                #expect(selection.reasons.contains("Business Originator 90-B3-D5-1F-30-01-00-00 is a User ID of party gts (GIT Test Supplier)"))
                #expect(selection.reasons.contains("replacement certificates' entity 90-B3-D5-1F-30-03-00-00 is a User ID of party gts (GIT Test Supplier)"))
                if let mpid { #expect(selection.reasons.contains("MPID \(mpid) → party gts (GIT Test Supplier)")) }
                let signer = try #require(selection.signer)
                let signed = try signer.sign(try Fixtures.template623(Fixtures.template623Names[index]))
                let verified = try verifier.verify(signed.bytes)
                #expect(verified.certificate.serialNumber.decimal == PartiesTemplates.gtsSerial)
                signers.append(signer)
            }
        }
        // One signer (one key, loaded once) for every selection.
        #expect(signers.allSatisfy { $0 === signers[0] })
        #expect(registry.keyLoadCount == 2)
        // verify --parties resolves by IssuerSerial.
        let gtsCertificate = try #require(registry.party(id: "gts")?.credentials.first?.certificate)
        #expect(registry.certificates.certificate(issuer: gtsCertificate.issuer, serial: gtsCertificate.serialNumber) == gtsCertificate)
        #expect(registry.party(issuer: gtsCertificate.issuer, serial: gtsCertificate.serialNumber)?.id == "gts")
    }

    @Test func anotherPartysMPIDOnARequestOfTheFirstPartyIsRefused() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let registry = try PartyRegistry(contentsOfFile: try workspace.registry([.gts, .other]), loader: .files)
        let selector = KeySelector(registry: registry)
        let request = try PartiesTemplates.request()
        let error = #expect(throws: KeySelectionRefused.self) {
            try selector.select(for: request, mpid: try MPID(parsing: "OTHR"))
        }
        let refused = try #require(error)
        #expect(refused.failureClass.exitCode == 4)
        #expect(Set(refused.parties) == ["gts", "other"])
        for word in ["gts (GIT Test Supplier)", "other (Other Supplier)", "OTHR", "90-B3-D5-1F-30-01-00-00", "split supplier"] {
            #expect(refused.description.contains(word), "\(refused.description) lacks \(word)")
        }
    }

    @Test func replacementCertificatesOfAnotherPartyAreRefused() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        // 90-B3-D5-1F-30-03-00-00 (the templates' replacement certificates) belongs to another party.
        var gts = PartiesEntry.gts
        gts.userIDs = ["90-B3-D5-1F-30-01-00-00"]
        let supplier2 = PartiesEntry(id: "gts2", name: "GIT Test Supplier 2", mpids: ["GTS2"],
                                     userIDs: ["90-B3-D5-1F-30-03-00-00", "00-DB-12-34-56-78-00-04"],
                                     identity: "xml-sign-00DB123456780004-ds")
        let selector = KeySelector(registry: try PartyRegistry(contentsOfFile: try workspace.registry([gts, supplier2]), loader: .files))
        let request = try PartiesTemplates.request()
        for mpid in [nil, "GTSE"] {
            let refused = try #require(#expect(throws: KeySelectionRefused.self) {
                try selector.select(for: request, mpid: try mpid.map { try MPID(parsing: $0) })
            })
            #expect(Set(refused.parties) == ["gts", "gts2"])
            #expect(refused.description.contains("90-B3-D5-1F-30-03-00-00"))
        }
        // ... or to nobody.
        let alone = KeySelector(registry: try PartyRegistry(contentsOfFile: try workspace.registry([gts], name: "alone.toml"), loader: .files))
        let refused = try #require(#expect(throws: KeySelectionRefused.self) { try alone.select(for: request) })
        #expect(refused.reasons.contains(.unknownUserID(try EUI64(parsing: "90-B3-D5-1F-30-03-00-00"), role: "replacement certificates' entity")))
    }

    @Test func unknownMPIDAndUnknownOriginatorAreRefused() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let selector = KeySelector(registry: try PartyRegistry(contentsOfFile: try workspace.registry([.gts, .other]), loader: .files))
        let refused = try #require(#expect(throws: KeySelectionRefused.self) {
            try selector.select(for: try PartiesTemplates.request(), mpid: try MPID(parsing: "ZZZZ"))
        })
        #expect(refused.reasons.first == .unknownMPID(try MPID(parsing: "ZZZZ")))
        #expect(refused.failureClass == .selectionRefused)
        #expect(throws: KeySelectionRefused.self) {
            try selector.select(KeySelectionQuery(businessOriginator: try EUI64(parsing: "00-DB-12-34-56-78-00-04")))
        }
    }

    @Test func oneMPIDInTwoPartiesDoesNotLoad() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        var other = PartiesEntry.other
        other.mpids = ["OTHR", "GTSG"]
        let error = try #require(#expect(throws: PartyRegistryError.self) {
            try PartyRegistry(contentsOfFile: try workspace.registry([.gts, other]), loader: .files)
        })
        #expect(error.failureClass.exitCode == 4)
        let problem = try #require(error.problems.first { $0.kind == .duplicateMPID })
        #expect(problem.reason.contains("GTSG") && problem.reason.contains("gts (GIT Test Supplier, line 2)") && problem.reason.contains("other (Other Supplier, line 11)"))
        #expect(problem.line != nil)
    }

    @Test func keyCertificateMismatchAndForeignCertificateDoNotLoad() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        var mismatched = PartiesEntry.gts
        mismatched.keyIdentity = "xml-sign-90B3D51F30020000-ds"
        try workspace.copyIdentity("xml-sign-90B3D51F30020000-ds")
        var error = try #require(#expect(throws: PartyRegistryError.self) {
            try PartyRegistry(contentsOfFile: try workspace.registry([mismatched], name: "mismatch.toml"), loader: .files)
        })
        #expect(error.problems.map(\.kind) == [.keyCertificateMismatch])
        #expect(error.failureClass.exitCode == 4)

        // The certificate's x500UniqueIdentifier (90B3D51F30020000) is not a User ID of the party.
        var foreign = PartiesEntry.gts
        foreign.identity = "xml-sign-90B3D51F30020000-ds"
        error = try #require(#expect(throws: PartyRegistryError.self) {
            try PartyRegistry(contentsOfFile: try workspace.registry([foreign], name: "foreign.toml"), loader: .files)
        })
        #expect(error.problems.map(\.kind) == [.certificateIdentity])
        #expect(error.problems[0].reason.contains("90-B3-D5-1F-30-02-00-00"))
        #expect(error.failureClass.exitCode == 4)
    }

    @Test func unreadableKeysGiveExitThreeAndStructuralProblemsOutrankThem() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        var missing = PartiesEntry.gts
        missing.keyIdentity = "no-such-key"
        try workspace.copyIdentity("xml-sign-90B3D51F30010000-ds")
        var error = try #require(#expect(throws: PartyRegistryError.self) {
            try PartyRegistry(contentsOfFile: try workspace.write("missing.toml", missing.toml), loader: .files)
        })
        #expect(error.problems.map(\.kind) == [.credentialsUnusable])
        #expect(error.problems[0].reason.contains("no-such-key.key.pem"))
        #expect(error.failureClass.exitCode == 3)

        // Both kinds: every problem is listed and the larger exit code (4) wins.
        var other = PartiesEntry.other
        other.mpids = ["GTSE"]
        try workspace.copyIdentity(other.identity)
        error = try #require(#expect(throws: PartyRegistryError.self) {
            try PartyRegistry(contentsOfFile: try workspace.write("both.toml", missing.toml + other.toml), loader: .files)
        })
        #expect(Set(error.problems.map(\.kind)) == [.credentialsUnusable, .duplicateMPID])
        #expect(error.failureClass.exitCode == 4)

        // A registry file that cannot be read.
        error = try #require(#expect(throws: PartyRegistryError.self) { try PartyRegistry(contentsOfFile: workspace.path("absent.toml"), loader: .files) })
        #expect(error.failureClass == .input)
    }

    @Test func encryptedKeysAreDecryptedOnceWithTheDeclaredPassphraseAndSecretsStayOut() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        try workspace.copyIdentity("xml-sign-90B3D51F30010000-ds")
        let secret = "correct horse battery staple"
        let encrypted = workspace.path("keys/gts-encrypted.key.pem")
        let made = try TestProcess.run("openssl", ["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", workspace.path("keys/xml-sign-90B3D51F30010000-ds.key.pem"),
                                              "-out", encrypted, "-passout", "pass:\(secret)"])
        try #require(made.status == 0, "\(made.stderr)")
        // Passphrase files follow the key-file permission rule: owner only.
        for name in ["secrets/gts.pass", "secrets/wrong.pass"] {
            try workspace.write(name, name.hasSuffix("gts.pass") ? secret + "\n" : "not the passphrase\n")
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: workspace.path(name))
        }
        func entry(_ passphraseFile: String?) -> String {
            var gts = PartiesEntry.gts
            gts.keyIdentity = "gts-encrypted"
            gts.extra = passphraseFile.map { "passphrase_file = \"\($0)\"" } ?? ""
            return gts.toml
        }
        let good = try PartyRegistry(contentsOfFile: try workspace.write("good.toml", entry("secrets/gts.pass")), loader: .files)
        #expect(good.keyLoadCount == 1)
        #expect(good.parties[0].credentials[0].certificate.serialNumber.decimal == PartiesTemplates.gtsSerial)
        for (name, file) in [("wrong.toml", Optional("secrets/wrong.pass")), ("none.toml", nil), ("nofile.toml", "secrets/absent.pass")] {
            let error = try #require(#expect(throws: PartyRegistryError.self) {
                try PartyRegistry(contentsOfFile: try workspace.write(name, entry(file)), loader: .files)
            })
            #expect(error.failureClass.exitCode == 3, "\(error)")
            #expect(!error.description.contains(secret))
            #expect(!error.description.contains("not the passphrase"))
        }
        // A passphrase file others may read: refused by the strict rule, accepted when the caller allows insecure
        // permissions (the registry passes its key-file policy on to passphrase files too).
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: workspace.path("secrets/gts.pass"))
        let loose = try workspace.write("loose.toml", entry("secrets/gts.pass"))
        let strict = try #require(#expect(throws: PartyRegistryError.self) { try PartyRegistry(contentsOfFile: loose, loader: .files) })
        #expect(strict.failureClass.exitCode == 3 && strict.description.contains("gts.pass"), "\(strict)")
        let allowed = try PartyRegistry(contentsOfFile: loose, loader: .files(keyFilePolicy: .allowInsecure))
        #expect(allowed.keyLoadCount == 1)
        // Both passphrase sources: refused as a structural problem.
        var both = PartiesEntry.gts
        both.extra = "passphrase_env = \"X\"\npassphrase_file = \"secrets/gts.pass\""
        let error = try #require(#expect(throws: PartyRegistryError.self) {
            try PartyRegistry(contentsOfFile: try workspace.write("both.toml", both.toml), loader: .files)
        })
        #expect(error.problems.map(\.kind).contains(.conflictingPassphraseSources))
    }

    @Test func selectionByMeterFromRegistrationData() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let registry = try PartyRegistry(contentsOfFile: try workspace.registry([.gts, .other]), loader: .files)
        let csv = try workspace.write("registration.csv", """
            mpxn,mpid,effective_from
            1312345678333,OTHR,2020-01-01
            1312345678333,GTSG,2025-06-01
            9999999999999,ABCD,2021-02-03
            """)
        let data = try RegistrationData(reading: csv)
        #expect(data.count == 3)
        let selector = KeySelector(registry: registry, registrationData: data)
        let request = try PartiesTemplates.request()
        // On or after 2025-06-01 the meter is registered to GTSG, a party of the originator.
        for day in ["2025-06-01", "2026-03-01"] {
            let selection = try selector.select(for: request, date: try CalendarDate(parsing: day))
            #expect(selection.party.id == "gts")
            #expect(selection.reasons.contains { $0.hasPrefix("MPxN 1312345678333 is registered on \(day) to MPID GTSG (from 2025-06-01, \(csv) line 3) → party gts") })
            // With an MPID of the same party: agreement.
            #expect(try selector.select(for: request, mpid: try MPID(parsing: "GTSE"), date: try CalendarDate(parsing: day)).party.id == "gts")
        }
        // Before it, the meter is another party's: refused, never split.
        let refused = try #require(#expect(throws: KeySelectionRefused.self) {
            try selector.select(for: request, date: try CalendarDate(parsing: "2025-05-31"))
        })
        #expect(Set(refused.parties) == ["gts", "other"])
        #expect(refused.description.contains("OTHR"))
        // Before any registration, and a meter registered to an MPID no party holds.
        #expect(throws: KeySelectionRefused.self) { try selector.select(for: request, date: try CalendarDate(parsing: "2019-12-31")) }
        let unknown = try #require(#expect(throws: KeySelectionRefused.self) {
            try selector.select(KeySelectionQuery(importMPxN: "9999999999999", date: try CalendarDate(parsing: "2022-01-01")))
        })
        #expect(unknown.description.contains("ABCD"))
        // By meter alone.
        let byMeter = try selector.select(KeySelectionQuery(importMPxN: "1312345678333", date: try CalendarDate(parsing: "2030-01-01")))
        #expect(byMeter.party.id == "gts")
    }
}
