import CoSSignerTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import CoSSigner
import CoSSignerTesting

/// `sign --parties` and `verify --parties` end to end with the DCC Boxed keys.
@Suite struct CLIPartiesSignTests {
    /// A registry file in a temporary folder, with 0600 key copies beside it.
    static func registry() throws -> (dir: URL, path: String) {
        let dir = try TestPaths.temporaryDirectory()
        for name in ["xml-sign-90B3D51F30010000-ds", "xml-sign-90B3D51F30020000-ds"] {
            let key = dir.appendingPathComponent("\(name).key.pem").path
            try FileManager.default.copyItem(atPath: Fixtures.path("vectors/dccboxed/keys/\(name).key.pem"), toPath: key)
            chmod(key, 0o600)
            try FileManager.default.copyItem(atPath: Fixtures.path("vectors/dccboxed/keys/\(name).pem"), toPath: dir.appendingPathComponent("\(name).pem").path)
        }
        let toml = """
            # DCC Boxed suppliers
            [[party]]
            id = "gts"
            name = "GIT Test Supplier"
            mpids = ["GTSE", "GTSG"]
            user_ids = ["90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-03-00-00"]
            signing_key = "xml-sign-90B3D51F30010000-ds.key.pem"
            signing_certificate = "xml-sign-90B3D51F30010000-ds.pem"

            [[party]]
            id = "gtn"
            name = "GIT Test Network Operator"
            mpids = ["GTNO"]
            user_ids = ["90-B3-D5-1F-30-02-00-00"]
            signing_key = "xml-sign-90B3D51F30020000-ds.key.pem"
            signing_certificate = "xml-sign-90B3D51F30020000-ds.pem"

            """
        let path = dir.appendingPathComponent("parties.toml").path
        try Data(toml.utf8).write(to: URL(fileURLWithPath: path))
        return (dir, path)
    }

    @Test func eitherMPIDSignsWithTheSameCertificateAndAnotherPartysMPIDIsRefused() throws {
        let (dir, registry) = try Self.registry()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in Fixtures.signable623Names {
            let template = Fixtures.path("\(Fixtures.templates)/\(name)")
            for mpid in ["GTSE", "GTSG"] {
                let r = try CLI.run(["sign", "--parties", registry, "--mpid", mpid, template])
                #expect(r.status == 0, "\(r.stderr)")
                #expect(r.stdout.contains("<ds:X509SerialNumber>27572613927499351639968579586655397031</ds:X509SerialNumber>"))
                let v = try CLI.run(["verify", "--parties", registry, "-"], stdin: Array(r.stdout.utf8))
                #expect(v.status == 0)
                #expect(v.stdout.contains("party gts"))
            }
            // By Business Originator alone.
            #expect(try CLI.run(["sign", "--parties", registry, template]).status == 0)
            // The network operator's MPID on a request from the supplier's User ID: refused, both parties named.
            let refused = try CLI.run(["sign", "--parties", registry, "--mpid", "GTNO", "-o", dir.appendingPathComponent("x.xml").path, template])
            #expect(refused.status == 4)
            #expect(refused.stderr.contains("gts") && refused.stderr.contains("gtn"), "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.xml").path))
            // An unknown MPID.
            let unknown = try CLI.run(["sign", "--parties", registry, "--mpid", "ZZZZ", template])
            #expect(unknown.status == 4)
            #expect(unknown.stderr.contains("ZZZZ"))
        }
    }

    @Test func theCancellationTemplateIsRefusedUnlessTheCertificatesAreCheckedAtAnotherTime() throws {
        let (dir, registry) = try Self.registry()
        defer { try? FileManager.default.removeItem(at: dir) }
        let template = Fixtures.path("\(Fixtures.templates)/\(Fixtures.template623Names[2])")
        // It executes on 3000-12-31, when its replacement certificates (valid to 2035) have expired.
        let refused = try CLI.run(["sign", "--parties", registry, template])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("sr:DigitalSigningCertificate: validity period: the meter would refuse it")
                    && refused.stderr.contains("3000-12-31T00:00:00.00Z"), "\(refused.stderr)")
        // Checking every certificate at an explicit time instead (the RTDS cancellation scenario) signs it.
        let signed = try CLI.run(["sign", "--parties", registry, "--certificates-valid-at", "now", template])
        #expect(signed.status == 0, "\(signed.stderr)")
    }

    /// The issue's scenario: party gts holds three User IDs and signs for two of them, each with its own XML
    /// signing certificate; a request is signed with its Business Originator's credential, never another's.
    @Test func eachOriginatorIsSignedWithItsOwnCredentialAndXmlsec1AgreesCertificateByCertificate() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("keys"), withIntermediateDirectories: true)
        for name in ["xml-sign-90B3D51F30010000-ds", "xml-sign-90B3D51F30020000-ds"] {
            let key = dir.appendingPathComponent("keys/\(name).key.pem").path
            try FileManager.default.copyItem(atPath: Fixtures.path("vectors/dccboxed/keys/\(name).key.pem"), toPath: key)
            chmod(key, 0o600)
            try FileManager.default.copyItem(atPath: Fixtures.path("vectors/dccboxed/keys/\(name).pem"),
                                             toPath: dir.appendingPathComponent("keys/\(name).pem").path)
        }
        let credentials = GTSRegistry.text(module: nil, first: "signing_key = \"keys/xml-sign-90B3D51F30010000-ds.key.pem\"",
                                           second: "signing_key = \"keys/xml-sign-90B3D51F30020000-ds.key.pem\"")
        let registry = dir.appendingPathComponent("p.toml").path
        try Data(credentials.utf8).write(to: URL(fileURLWithPath: registry))
        let template = try Fixtures.template623(Fixtures.template623Names[0]).utf8String
        let serials = ["01": "27572613927499351639968579586655397031", "02": "40938316298935008147424226388667426413"]
        var signedFiles = [String: String]()
        for originator in ["01", "02"] {
            let request = template.replacingOccurrences(of: "<sr:RequestID>90-B3-D5-1F-30-01-00-00:",
                                                        with: "<sr:RequestID>90-B3-D5-1F-30-\(originator)-00-00:")
            let input = dir.appendingPathComponent("req-\(originator).xml").path
            try Data(request.utf8).write(to: URL(fileURLWithPath: input))
            let output = dir.appendingPathComponent("out-\(originator).xml").path
            let r = try CLI.run(["sign", "--parties", registry, "--mpid", "GTSE", "-o", output, input])
            #expect(r.status == 0, "\(r.stderr)")
            let signed = try String(contentsOfFile: output, encoding: .utf8)
            #expect(signed.contains("<ds:X509SerialNumber>\(serials[originator] ?? "")</ds:X509SerialNumber>"))
            // xmlsec1 verifies it under that certificate, and not under the other User ID's.
            let certificate = Fixtures.path("vectors/dccboxed/keys/xml-sign-90B3D51F30\(originator)0000-ds.pem")
            let other = Fixtures.path("vectors/dccboxed/keys/xml-sign-90B3D51F30\(originator == "01" ? "02" : "01")0000-ds.pem")
            let xmlsec = try TestProcess.run("xmlsec1", ["--verify", "--enabled-reference-uris", "empty", "--pubkey-cert-pem", certificate, output])
            #expect(xmlsec.status == 0, "\(xmlsec.stderr)")
            #expect(try TestProcess.run("xmlsec1", ["--verify", "--enabled-reference-uris", "empty", "--pubkey-cert-pem", other, output]).status != 0)
            let v = try CLI.run(["verify", "--parties", registry, output])
            #expect(v.status == 0 && v.stdout.contains("party gts"), "\(v.stdout)\(v.stderr)")
            let select = try CLI.run(["parties", "select", registry, "--request", input])
            #expect(select.status == 0 && select.stdout.contains("credential: User ID 90-B3-D5-1F-30-\(originator)-00-00, certificate serial \(serials[originator] ?? "")"),
                    "\(select.stdout)\(select.stderr)")
            signedFiles[originator] = output
        }

        // The same party with the one shorthand credential (of …30-01): an originator-…30-02 request is refused,
        // naming the originator and the User ID the party can sign for; it is never signed with …30-01's certificate.
        let shorthand = dir.appendingPathComponent("short.toml").path
        try Data("""
            [[party]]
            id = "gts"
            name = "GIT Test Supplier"
            mpids = ["GTSE", "GTSG"]
            user_ids = ["90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-02-00-00", "90-B3-D5-1F-30-03-00-00"]
            signing_key = "keys/xml-sign-90B3D51F30010000-ds.key.pem"
            signing_certificate = "keys/xml-sign-90B3D51F30010000-ds.pem"

            """.utf8).write(to: URL(fileURLWithPath: shorthand))
        let out = dir.appendingPathComponent("refused.xml").path
        let refused = try CLI.run(["sign", "--parties", shorthand, "--mpid", "GTSE", "-o", out, dir.appendingPathComponent("req-02.xml").path])
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("party gts has no XML signing credential for the Business Originator 90-B3-D5-1F-30-02-00-00")
                    && refused.stderr.contains("it can sign for User ID 90-B3-D5-1F-30-01-00-00"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // Nor with --key/--cert of another User ID.
        let fixed = try CLI.run(["sign", "--key", dir.appendingPathComponent("keys/xml-sign-90B3D51F30010000-ds.key.pem").path,
                                 "--cert", dir.appendingPathComponent("keys/xml-sign-90B3D51F30010000-ds.pem").path,
                                 "-o", out, dir.appendingPathComponent("req-02.xml").path])
        #expect(fixed.status == 4)
        #expect(fixed.stderr.contains("Business Originator 90-B3-D5-1F-30-02-00-00 is not the entity of the signing certificate"), "\(fixed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func verifyRefusesARequestSignedByAnotherUserIDsCertificate() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A forgery the CLI never writes: an originator-…30-02 request signed (by the library's bare XML signer)
        // with …30-01's key and certificate. The signature itself is sound; the signer is the wrong User ID.
        let request = try Fixtures.template623(Fixtures.template623Names[0]).utf8String
            .replacingOccurrences(of: "<sr:RequestID>90-B3-D5-1F-30-01-00-00:", with: "<sr:RequestID>90-B3-D5-1F-30-02-00-00:")
        let key = try SigningKey(contentsOfFile: Fixtures.path("vectors/dccboxed/keys/xml-sign-90B3D51F30010000-ds.key.pem"))
        let certificatePath = Fixtures.path("vectors/dccboxed/keys/xml-sign-90B3D51F30010000-ds.pem")
        let signed = try DUISSigner(key: key, certificate: try Certificate(contentsOfFile: certificatePath)).sign(Array(request.utf8))
        let path = dir.appendingPathComponent("forged.xml").path
        try Data(signed.bytes).write(to: URL(fileURLWithPath: path))
        #expect(try TestProcess.run("xmlsec1", ["--verify", "--enabled-reference-uris", "empty", "--pubkey-cert-pem", certificatePath, path]).status == 0)
        let v = try CLI.run(["verify", "--cert", certificatePath, path])
        #expect(v.status == 10)
        #expect(v.stdout.contains("invalid (originator)") && v.stdout.contains("Business Originator 90-B3-D5-1F-30-02-00-00")
                    && v.stdout.contains("entity 90-B3-D5-1F-30-01-00-00"), "\(v.stdout)")
    }

    @Test func verifyReadsNoPrivateKey() throws {
        let (dir, registry) = try Self.registry()
        defer { try? FileManager.default.removeItem(at: dir) }
        let template = Fixtures.path("\(Fixtures.templates)/\(Fixtures.template623Names[0])")
        let signed = try CLI.run(["sign", "--parties", registry, template])
        #expect(signed.status == 0, "\(signed.stderr)")
        // Keys that the verifier may not read (and the flag that used to allow them, still accepted), then none.
        for name in ["xml-sign-90B3D51F30010000-ds", "xml-sign-90B3D51F30020000-ds"] {
            chmod(dir.appendingPathComponent("\(name).key.pem").path, 0o644)
        }
        for extra in [[], ["--allow-insecure-key-file"]] {
            let v = try CLI.run(["verify", "--parties", registry] + extra + ["-"], stdin: Array(signed.stdout.utf8))
            #expect(v.status == 0, "\(v.stderr)")
            #expect(v.stdout.contains("party gts"))
        }
        for name in ["xml-sign-90B3D51F30010000-ds", "xml-sign-90B3D51F30020000-ds"] {
            try FileManager.default.removeItem(at: dir.appendingPathComponent("\(name).key.pem"))
        }
        let v = try CLI.run(["verify", "--parties", registry, "-"], stdin: Array(signed.stdout.utf8))
        #expect(v.status == 0, "\(v.stderr)")
        #expect(v.stdout.contains("party gts"))
        // Signing with that registry is refused: the keys are gone (exit 3).
        #expect(try CLI.run(["sign", "--parties", registry, template]).status == 3)
        // A registry problem other than keys still refuses verifying, naming it.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("xml-sign-90B3D51F30020000-ds.pem"))
        let refused = try CLI.run(["verify", "--parties", registry, "-"], stdin: Array(signed.stdout.utf8))
        #expect(refused.status == 3, "\(refused.stderr)")
        #expect(refused.stderr.contains("gtn") && refused.stderr.contains("signing_certificate"), "\(refused.stderr)")
    }

    @Test func anotherPartysReplacementCertificatesAreRefused() throws {
        let (dir, registry) = try Self.registry()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The supplier's request carrying the network operator's... entity: take the template and change the
        // originator to the network operator's User ID; its replacement certificates belong to gts.
        let text = try Fixtures.template623(Fixtures.template623Names[0]).utf8String
            .replacingOccurrences(of: "<sr:RequestID>90-B3-D5-1F-30-01-00-00:", with: "<sr:RequestID>90-B3-D5-1F-30-02-00-00:")
        let r = try CLI.run(["sign", "--parties", registry, "-"], stdin: Array(text.utf8))
        #expect(r.status == 4)
        #expect(r.stderr.contains("90-B3-D5-1F-30-02-00-00") && r.stderr.contains("90-B3-D5-1F-30-03-00-00"), "\(r.stderr)")
    }

    @Test func aRegistryWithOneMPIDInTwoPartiesDoesNotLoad() throws {
        let (dir, registry) = try Self.registry()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = try String(contentsOfFile: registry, encoding: .utf8).replacingOccurrences(of: #"mpids = ["GTNO"]"#, with: #"mpids = ["GTNO", "GTSE"]"#)
        try Data(text.utf8).write(to: URL(fileURLWithPath: registry))
        let r = try CLI.run(["sign", "--parties", registry, Fixtures.path("\(Fixtures.templates)/\(Fixtures.template623Names[0])")])
        #expect(r.status == 4)
        #expect(r.stderr.contains("GTSE"), "\(r.stderr)")
    }
}
