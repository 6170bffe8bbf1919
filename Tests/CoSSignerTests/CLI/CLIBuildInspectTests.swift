import CoSSignerTestSupport
import Foundation
import Testing

/// `cos-signer build`, `inspect`, and the 6.23 checks `sign` makes.
@Suite struct CLIBuildInspectTests {
    static let embedded = "vectors/dccboxed/template-623-embedded-certs"
    static let ds = Fixtures.path("\(embedded)/GITTESTSUPPLIER2-90B3D51F30030000-ds-2025.pem")
    static let ka = Fixtures.path("\(embedded)/90B3D51F30030000-ka-2025.pem")
    static let topUp = Fixtures.path("\(embedded)/90B3D51F30030000-ka-topup-2025.pem")
    static let ca = Fixtures.path("\(embedded)/Z1-issuing-ca.pem")

    static func templateArguments(counter: String = "1006", floor: String = "0", commandVariant: String = "1", pathCerts: Int = 1) -> [String] {
        var args = ["build", "--originator", "90-B3-D5-1F-30-01-00-00", "--target", "00-db-12-34-56-78-90-a0",
                    "--counter", counter, "--command-variant", commandVariant, "--floor", floor, "--topup-floor", "0",
                    "--signing-cert", ds, "--key-agreement-cert", ka, "--topup-cert", topUp, "--mpxn", "1312345678333"]
        for _ in 0..<pathCerts { args += ["--path-cert", ca] }
        return args
    }

    static func compactTemplate() throws -> String {
        var text = try Fixtures.template623(Fixtures.template623Names[0]).utf8String
        text = text.replacingOccurrences(of: #"(?s)<ds:Signature.*</ds:Signature>"#, with: "", options: .regularExpression)
        text = text.replacingOccurrences(of: #"(?s)<!--.*?-->"#, with: "", options: .regularExpression)
        return text.replacingOccurrences(of: #">\s+<"#, with: "><", options: .regularExpression)
    }

    @Test func buildEqualsTheCompactTemplateAndIsSchemaValid() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("built.xml").path
        let r = try CLI.run(Self.templateArguments() + ["-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        let built = try String(contentsOfFile: out, encoding: .utf8)
        #expect(built == (try Self.compactTemplate()))
        let lint = try TestProcess.run("xmllint", ["--nonet", "--noout", "--schema", Fixtures.path("schema/duis-5.4/duis-5.4-xmllint-wrapper.xsd"), out])
        #expect(lint.status == 0, "\(lint.stderr)")
        // And with --schema our own libxml2 validation passes.
        let schema = try CLI.run(Self.templateArguments() + ["--schema", Fixtures.path("schema/duis-5.4/duis-5.4-xmllint-wrapper.xsd")])
        #expect(schema.status == 0, "\(schema.stderr)")
    }

    @Test func buildAndSignInOneStep() throws {
        let r = try CLI.run(Self.templateArguments() + ["--key", CLISignVerifyTests.key, "--cert", CLISignVerifyTests.cert])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("<ds:DigestValue>nrWT0fGHG7ix7RDwWABY2tBDCj/4bU0u7CrJpxHBLuw=</ds:DigestValue>"))
        let v = try CLI.run(["verify", "--cert", CLISignVerifyTests.cert, "-"], stdin: Array(r.stdout.utf8))
        #expect(v.status == 0)
    }

    @Test(arguments: [
        (["--command-variant": "5"], "sr:Header/sr:CommandVariant"),
        (["--counter": "0"], "RequestID"),
        (["--counter": "18446744073709551616"], "RequestID"),
        (["--floor": "9223372036854775808"], "SupplierFloorSeqNumber"),
    ])
    func buildRefusesOutOfRangeValues(_ change: [String: String], field: String) throws {
        var args = Self.templateArguments()
        for (flag, value) in change {
            let i = try #require(args.firstIndex(of: flag))
            args[i + 1] = value
        }
        let r = try CLI.run(args)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains(field), "\(r.stderr)")
    }

    @Test(arguments: [0, 4])
    func buildRefusesPathCertificateCounts(_ count: Int) throws {
        let r = try CLI.run(Self.templateArguments(pathCerts: count))
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("CertificationPathCertificates"), "\(r.stderr)")
    }

    @Test func buildRefusesWrongCertificates() throws {
        var args = Self.templateArguments()
        let i = try #require(args.firstIndex(of: "--signing-cert"))
        args[i + 1] = Self.ka  // keyAgreement usage in the digital signing slot
        let r = try CLI.run(args)
        #expect(r.status == 2)
        #expect(r.stderr.contains("DigitalSigningCertificate"), "\(r.stderr)")
        args[i + 1] = Fixtures.path("vectors/dccboxed/keys/Z1-supplier-ds.pem")  // another entity identifier
        let mixed = try CLI.run(args)
        #expect(mixed.status == 2)
        #expect(mixed.stderr.contains("90-B3-D5-1F-30-01-00-00") || mixed.stderr.contains("90B3D51F30010000"), "\(mixed.stderr)")
    }

    @Test func signRefusesABroken623ButSignsOtherRequests() throws {
        let template = try Fixtures.template623(Fixtures.template623Names[0]).utf8String
        let cv5 = template.replacingOccurrences(of: "<sr:CommandVariant>1</sr:CommandVariant>", with: "<sr:CommandVariant>5</sr:CommandVariant>")
        var r = try CLI.run(["sign", "--key", CLISignVerifyTests.key, "--cert", CLISignVerifyTests.cert, "-"], stdin: Array(cv5.utf8))
        #expect(r.status == 2)
        #expect(r.stderr.contains("sr:Header/sr:CommandVariant"), "\(r.stderr)")
        let srv = template.replacingOccurrences(of: "<sr:ServiceReference>6.23</sr:ServiceReference>", with: "<sr:ServiceReference>6.15</sr:ServiceReference>")
        r = try CLI.run(["sign", "--key", CLISignVerifyTests.key, "--cert", CLISignVerifyTests.cert, "-"], stdin: Array(srv.utf8))
        #expect(r.status == 2)
        #expect(r.stderr.contains("ServiceReference"), "\(r.stderr)")
        let noMPxN = template.replacingOccurrences(of: #"<sr:ImportMPxN>1312345678333</sr:ImportMPxN>"#, with: "")
        r = try CLI.run(["sign", "--key", CLISignVerifyTests.key, "--cert", CLISignVerifyTests.cert, "-"], stdin: Array(noMPxN.utf8))
        #expect(r.status == 2)
        #expect(r.stderr.contains("ImportMPxN"), "\(r.stderr)")
        // A non-6.23 DUIS request is signed with the generic checks only.
        let other = Fixtures.path("\(Fixtures.templates)/8.2_READ_INVENTORY_REQUEST_DUIS.XML")
        r = try CLI.run(["sign", "--key", CLISignVerifyTests.key, "--cert", CLISignVerifyTests.cert, other])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func inspectPrintsTextAndJSON() throws {
        let template = Fixtures.path("\(Fixtures.templates)/\(Fixtures.template623Names[1])")
        let text = try CLI.run(["inspect", template])
        #expect(text.status == 0)
        #expect(text.stdout.contains("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1007"))
        #expect(text.stdout.contains("2030-01-02T00:00:00.00Z"))
        let json = try CLI.run(["inspect", "--json", template])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["counter"] as? String == "1007")
        let certificates = try #require(object["certificates"] as? [[String: Any]])
        #expect(certificates.count == 4)
        #expect(certificates[0]["role"] as? String == "02")
        #expect(certificates[0]["entityIdentifier"] as? String == "90-B3-D5-1F-30-03-00-00")
        #expect(certificates[0]["keyUsage"] as? [String] == ["digitalSignature"])
        #expect(try CLI.run(["inspect", Fixtures.path("\(Fixtures.templates)/8.2_READ_INVENTORY_REQUEST_DUIS.XML")]).status == 2)
    }
}
