import CoSSignerTestSupport
import Foundation
import Testing

/// The built `cos-signer`, run as users run it.
enum CLI {
    static let executable: String = TestPaths.product("cos-signer")

    @discardableResult
    static func run(_ arguments: [String], stdin: [UInt8]? = nil, environment: [String: String]? = nil) throws -> ProcessResult {
        try TestProcess.run(executable, arguments, stdin: stdin, environment: environment)
    }
}

@Suite struct CLISignVerifyTests {
    static let key = Fixtures.privateKeyCopy("xml-sign-90B3D51F30010000-ds.key.pem")
    static let cert = Fixtures.path("vectors/dccboxed/keys/xml-sign-90B3D51F30010000-ds.pem")
    static let template = Fixtures.path("\(Fixtures.templates)/\(Fixtures.template623Names[0])")

    @Test func signThenVerifyWithExitCodes() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("signed.xml").path
        let sign = try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "-o", out, Self.template])
        #expect(sign.status == 0, "\(sign.stderr)")
        let verify = try CLI.run(["verify", "--cert", Self.cert, out])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains("valid (certificate serial 27572613927499351639968579586655397031"))
        // Through stdin/stdout, and with a certificate directory.
        let piped = try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--deterministic", "-"], stdin: try Fixtures.bytes("\(Fixtures.templates)/\(Fixtures.template623Names[1])"))
        #expect(piped.status == 0)
        let viaDir = try CLI.run(["verify", "--cert-dir", Fixtures.path(Fixtures.keys), "-"], stdin: Array(piped.stdout.utf8))
        #expect(viaDir.status == 0, "\(viaDir.stdout)\(viaDir.stderr)")
    }

    @Test func exitCodes() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.xml").path
        // 1: usage.
        #expect(try CLI.run(["sign"]).status == 1)
        #expect(try CLI.run(["verify", Self.template]).status == 1)
        #expect(try CLI.run(["no-such-command"]).status == 1)
        // 2: unreadable or malformed input; nothing written.
        var r = try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "-o", out, dir.appendingPathComponent("missing.xml").path])
        #expect(r.status == 2)
        #expect(r.stderr.contains("missing.xml"))
        let broken = dir.appendingPathComponent("broken.xml")
        try Data("<sr:Request>\n<a></sr:Request>".utf8).write(to: broken)
        r = try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "-o", out, broken.path])
        #expect(r.status == 2)
        #expect(r.stderr.contains("broken.xml:"), "\(r.stderr)")
        let doctype = dir.appendingPathComponent("doctype.xml")
        try Data("<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>".utf8).write(to: doctype)
        #expect(try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "-o", out, doctype.path]).status == 2)
        #expect(try CLI.run(["verify", "--cert", Self.cert, doctype.path]).status == 2)
        // 3: key or certificate missing or unusable.
        r = try CLI.run(["sign", "--key", dir.appendingPathComponent("nokey.pem").path, "--cert", Self.cert, "-o", out, Self.template])
        #expect(r.status == 3, "\(r.stderr)")
        let otherKey = Fixtures.privateKeyCopy("xml-sign-90B3D51F30020000-ds.key.pem")
        #expect(try CLI.run(["sign", "--key", otherKey, "--cert", Self.cert, "-o", out, Self.template]).status == 3)
        #expect(try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--passphrase-env", "COSSIGNER_NO_SUCH_VARIABLE", "-o", out, Self.template]).status == 3)
        #expect(!FileManager.default.fileExists(atPath: out), "a failed run must write nothing")
        // 10: signature invalid (the template's placeholder).
        r = try CLI.run(["verify", "--cert", Self.cert, Self.template])
        #expect(r.status == 10)
        #expect(r.stdout.contains("invalid (profile): DigestValue must be 32 bytes"))
        // Mixed: the largest code wins.
        #expect(try CLI.run(["verify", "--cert", Self.cert, Self.template, doctype.path]).status == 10)
    }

    @Test func refusalsAreReportedWithReasons() throws {
        let signed = try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--deterministic", Self.template])
        try #require(signed.status == 0)
        let tampered = signed.stdout.replacingOccurrences(of: "1312345678333", with: "1312345678334")
        let r = try CLI.run(["verify", "--cert", Self.cert, "-"], stdin: Array(tampered.utf8))
        #expect(r.status == 10)
        #expect(r.stdout.contains("invalid (referenceDigest)"))
    }

    @Test func helpHasExamples() throws {
        for command in ["sign", "verify"] {
            let r = try CLI.run([command, "--help"])
            #expect(r.status == 0)
            #expect(r.stdout.contains("Examples:"))
        }
    }

    @Test func keepWhitespaceMatchesKAT() throws {
        let r = try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--keep-whitespace", Self.template])
        #expect(r.status == 0)
        #expect(r.stdout.contains("<ds:DigestValue>HoI+i9QrqeRa33Ur2wgbupL7jQa0FcoO6WlzBC6TFQA=</ds:DigestValue>"))
        let compact = try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, Self.template])
        #expect(compact.stdout.contains("<ds:DigestValue>nrWT0fGHG7ix7RDwWABY2tBDCj/4bU0u7CrJpxHBLuw=</ds:DigestValue>"))
    }
}
