import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// `sign --parties` and `verify --parties` end to end with the DCC Boxed keys.
@Suite struct CLIPartiesSignTests {
    /// A registry file in a temporary folder, with 0600 key copies beside it.
    static func registry() throws -> (dir: URL, path: String) {
        let dir = try Fixtures.temporaryDirectory()
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
        for name in Fixtures.template623Names {
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
